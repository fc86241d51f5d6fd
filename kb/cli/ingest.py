"""`kb ingest` and `kb stats`: build the knowledge base from files, and describe what is live."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from kb.cli.common import console, json_option
from kb.config import Settings

# What a wiki or web export carries besides its pages.
ASSET_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .svg .webp .bmp .ico .css .js .map .woff .woff2 .ttf .eot".split()
)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL listing the files to ingest (path relative to it) and their metadata.",
)
@click.option("--strict", is_flag=True, help="Exit non-zero if any file or line had an error.")
@click.option(
    "--allow-outside",
    is_flag=True,
    help="Also read files that symlinks or manifest paths place outside the folders ingested.",
)
@json_option("Print the report as JSON.")
@click.pass_obj
def ingest(
    settings: Settings,
    paths: tuple[Path, ...],
    manifest: Path | None,
    strict: bool,
    allow_outside: bool,
    as_json: bool,
) -> None:
    """Ingest PATHS (files or folders) into the knowledge base."""
    from kb.ingest.pipeline import ingest as run_ingest

    if not paths and manifest is None:
        raise click.UsageError("give at least one PATH, or --manifest FILE")
    report = run_ingest(
        settings,
        list(paths),
        manifest,
        progress=not as_json and sys.stderr.isatty(),
        allow_outside=allow_outside,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    if strict and report.errors:
        sys.exit(1)


def _print_report(report) -> None:
    table = Table(title="Ingest summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    for label, value in (
        ("documents added", report.added),
        ("documents updated", report.updated),
        ("documents unchanged", report.unchanged),
        ("documents removed", report.removed),
        ("new versions", report.versions_added),
        ("new passages", report.passages_added),
        ("files read / unchanged", f"{report.files_seen} / {report.files_unchanged}"),
        ("errors", len(report.errors)),
        ("time", f"{report.seconds:.1f} s"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    if report.skipped:
        # A wiki export's images, stylesheets and scripts would hide a document left unread.
        assets = [p for p in report.skipped if Path(p).suffix.lower() in ASSET_SUFFIXES]
        others = [p for p in report.skipped if p not in set(assets)]
        console.print(
            f"skipped {len(report.skipped)} file(s) with no parser"
            + (
                ": " + ", ".join(others[:10]) + (" ..." if len(others) > 10 else "")
                if others
                else ""
            )
            + (f" ({len(assets)} of them images, stylesheets, scripts or fonts)" if assets else "")
        )
    if report.removed_ids:
        console.print(
            "removed from the current index (source gone): " + ", ".join(report.removed_ids[:20])
        )
    for notice in report.notices:
        console.print(notice, soft_wrap=True, markup=False)
    if report.errors:
        # One line per error, never wrapped: `path:line (field 'x'): reason` is easy to jump to.
        console.print(f"[bold red]{len(report.errors)} error(s):[/bold red]")
        for e in report.errors:
            console.print(f"  {e.location}: {e.reason}", soft_wrap=True, markup=False)
    if report.timings:
        console.print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items()))
    console.print(f"live generation: {report.generation}")


@click.command()
@json_option("Print as JSON.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """Documents by type and status, versions, passages, and the live index manifest."""
    from kb.catalog import Catalog
    from kb.datadir import DataDir
    from kb.layout import Generation

    datadir = DataDir(settings.data_dir)
    generation = datadir.current()
    manifest = datadir.manifest(generation)
    catalog = Catalog(Generation(generation).catalog, readonly=True)
    try:
        data = {
            "data_dir": str(settings.data_dir),
            "generation": generation.name,
            **catalog.stats(),
            "manifest": manifest.to_dict(),
        }
    finally:
        catalog.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"policy-kb — {settings.data_dir} ({generation.name})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("documents", str(data["documents"]))
    for key, n in data["documents_by_type"].items():
        table.add_row(f"  {key}", str(n))
    table.add_row("versions", str(data["versions"]))
    for key, n in data["versions_by_status"].items():
        table.add_row(f"  {key}", str(n))
    table.add_row("passages (all versions)", str(data["passages"]))
    table.add_row("passages (current versions)", str(data["current_passages"]))
    table.add_row("rulings", str(data["rulings"]))
    table.add_row("ingest runs", str(data["ingest_runs"]))
    table.add_row("built", manifest.created_at)
    table.add_row("chunking", json.dumps(manifest.chunking))
    table.add_row("corpus hash", manifest.corpus_hash[:16])
    console.print(table)


COMMANDS = (ingest, stats)
