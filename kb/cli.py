"""The `kb` command line: ingest, stats, search and friends."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kb.config import Settings
from kb.errors import ConfigError, KBError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _Group(click.Group):
    """Shows KBErrors as one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KBError as exc:
            # Never wrapped, and never read as markup: paths may hold brackets.
            err_console.print(Text.assemble(("error:", "red"), " ", str(exc)), soft_wrap=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="KB_DATA_DIR",
    default="index",
    show_default=True,
    help="Folder holding the catalog and indexes.",
)
@click.version_option(package_name="policy-kb")
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """policy-kb: search policies, guidance and escalation rulings with citations."""
    ctx.obj = Settings.load(data_dir=data_dir)


@main.command()
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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
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
        console.print(
            f"skipped {len(report.skipped)} file(s) with no parser: "
            + ", ".join(report.skipped[:10])
            + (" ..." if len(report.skipped) > 10 else "")
        )
    if report.removed_ids:
        console.print(
            "removed from the current index (source gone): " + ", ".join(report.removed_ids[:20])
        )
    if report.errors:
        # One line per error, never wrapped: `path:line (field 'x'): reason` is easy to jump to.
        console.print(f"[bold red]{len(report.errors)} error(s):[/bold red]")
        for e in report.errors:
            console.print(f"  {e.location}: {e.reason}", soft_wrap=True, markup=False)
    if report.timings:
        console.print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items()))
    console.print(f"live generation: {report.generation}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """Documents by type and status, versions, passages, and the live index manifest."""
    from kb.catalog import Catalog
    from kb.datadir import DataDir

    datadir = DataDir(settings.data_dir)
    generation = datadir.current()
    manifest = datadir.manifest(generation)
    catalog = Catalog(generation / "catalog.sqlite", readonly=True)
    try:
        data = {
            "data_dir": str(settings.data_dir),
            "generation": generation.name,
            **catalog.stats(),
            "manifest": manifest,
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
    table.add_row("built", manifest.get("created_at", "?"))
    table.add_row("chunking", json.dumps(manifest.get("chunking")))
    table.add_row("corpus hash", manifest.get("corpus_hash", "?")[:16])
    console.print(table)


@main.command()
@click.argument("query", required=False)
@click.option("-k", "k", default=10, show_default=True, help="How many results.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Restrict to passages whose metadata has KEY=VALUE (repeatable; "
    "VALUE may be a,b for either).",
)
@click.option("--as-of", help="Search the versions in force on this date (YYYY-MM-DD).")
@click.option(
    "--history",
    "include_historical",
    is_flag=True,
    help="Include historical versions, not only current ones.",
)
@click.option("--date-from", help="Only documents dated (effective, or decided) on or after.")
@click.option("--date-to", help="Only documents dated (effective, or decided) on or before.")
@click.option(
    "--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid", show_default=True
)
@click.option("--max-per-doc", type=int, help="At most this many passages per document.")
@click.option(
    "--by",
    type=click.Choice(["clause", "passage"]),
    default="clause",
    show_default=True,
    help="One result per clause (its best passage, the others listed), or per passage.",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Batch mode: JSONL of {id, query, filters}; prints one JSON line each.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def search(
    settings: Settings,
    query: str | None,
    k: int,
    filters: tuple[str, ...],
    as_of: str | None,
    include_historical: bool,
    date_from: str | None,
    date_to: str | None,
    mode: str,
    max_per_doc: int | None,
    by: str,
    queries: Path | None,
    as_json: bool,
) -> None:
    """Search the knowledge base for QUERY: ranked, cited clauses (or passages)."""
    from kb.search.hybrid import Searcher

    if (query is None) == (queries is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    searcher = Searcher(settings)
    try:
        if queries is not None:
            _batch(searcher, queries, k, mode, max_per_doc, list(filters), as_of, by)
            return
        parsed = searcher.parse_filters(
            list(filters),
            as_of=as_of,
            include_historical=include_historical,
            date_from=date_from,
            date_to=date_to,
        )
        if "teaching_example" in parsed.terms:  # trainers' flags live in the user data
            from kb.collections import Collections

            parsed = Collections(settings.user_data_path()).apply_teaching(parsed, searcher.catalog)
        response = searcher.search(
            query, k=k, filters=parsed, mode=mode, max_per_doc=max_per_doc, by=by
        )
    finally:
        searcher.close()
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
        return
    _print_results(response)


def _batch(
    searcher, path: Path, k: int, mode: str, max_per_doc, base_filters, as_of, by: str
) -> None:
    from kb.errors import QueryError

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("query"), str):
                raise QueryError("each line needs a 'query' string")
            pairs = [
                *base_filters,
                *(f"{key}={v}" for key, v in (item.get("filters") or {}).items()),
            ]
            parsed = searcher.parse_filters(pairs, as_of=item.get("as_of", as_of))
            response = searcher.search(
                item["query"], k=k, filters=parsed, mode=mode, max_per_doc=max_per_doc, by=by
            )
            out = {"id": item.get("id", n), "results": response.to_dict()["results"]}
        except (json.JSONDecodeError, KBError) as exc:
            out = {"id": n, "error": f"{path}:{n}: {exc}"}
        click.echo(json.dumps(out, ensure_ascii=False))


def _print_results(response) -> None:
    from kb.search.highlight import to_terminal

    if not response.results:
        console.print("No passage matches. Try other words, fewer filters, or escalate.")
        return
    for hit in response.results:
        c = hit.citation
        tag = {"policy": "POLICY", "guidance": "GUIDANCE", "ruling": "PRECEDENT"}[c.doc_type]
        extra = ""
        if c.doc_type == "ruling":
            extra = (
                f" — outcome {hit.metadata.get('outcome')}, "
                f"{hit.metadata.get('decision_date')}, {hit.metadata.get('ruling_status')}"
            )
        console.print(
            f"[bold]{hit.rank}. [{tag}][/bold] [cyan]{escape(c.line())}[/cyan]"
            f"{escape(extra)}  [dim]{c.passage_id} · score {hit.score:.4f}"
            + (" · exact id" if hit.scores.get("exact_id") else "")
            + "[/dim]"
        )
        text = hit.passage.text if len(hit.passage.text) < 700 else hit.passage.text[:700] + " …"
        console.print("   " + to_terminal(text, response.query).replace("\n", "\n   "), emoji=False)
        if hit.more:
            console.print(f"   [dim]+{len(hit.more)} more matching passage(s) of this clause[/dim]")
        console.print()
    console.print(
        f"[dim]{len(response.results)} results in {response.took_ms:.0f} ms ({response.mode})[/dim]"
    )


@main.group()
def collection() -> None:
    """Trainers' collections of passages and rulings (create, add, note, move, export)."""


def _store(settings: Settings):
    from kb.catalog import Catalog
    from kb.collections import Collections
    from kb.datadir import DataDir

    catalog = Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)
    return Collections(settings.user_data_path()), catalog


@main.command()
@click.argument("case_id")
@click.option("--on/--off", "flagged", default=True, help="Flag or unflag.")
@click.option("--note", default="")
@click.pass_obj
def teaching(settings: Settings, case_id: str, flagged: bool, note: str) -> None:
    """Flag ruling CASE_ID as a good teaching example (or --off), whatever its source says."""
    store, catalog = _store(settings)
    store.set_teaching(case_id, flagged, catalog, note)
    console.print(f"{case_id}: teaching example {'on' if flagged else 'off'}")


@collection.command("list")
@click.pass_obj
def collection_list(settings: Settings) -> None:
    """Every collection and its size."""
    store, _ = _store(settings)
    for c in store.names():
        console.print(f"{escape(c['name'])} ({c['items']} items) {escape(c['description'])}")


@collection.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.pass_obj
def collection_create(settings: Settings, name: str, description: str) -> None:
    """Make an empty collection NAME."""
    store, _ = _store(settings)
    store.create(name, description)


@collection.command("add")
@click.argument("name")
@click.argument("ref")
@click.option("--note", default="")
@click.pass_obj
def collection_add(settings: Settings, name: str, ref: str, note: str) -> None:
    """Append a passage id or ruling case id REF to NAME."""
    store, catalog = _store(settings)
    console.print(f"item {store.add(name, ref, catalog, note)}")


@collection.command("note")
@click.argument("name")
@click.argument("item_id", type=int)
@click.argument("note")
@click.pass_obj
def collection_note(settings: Settings, name: str, item_id: int, note: str) -> None:
    """Set the note of an item."""
    store, _ = _store(settings)
    store.annotate(name, item_id, note)


@collection.command("move")
@click.argument("name")
@click.argument("item_id", type=int)
@click.argument("position", type=int)
@click.pass_obj
def collection_move(settings: Settings, name: str, item_id: int, position: int) -> None:
    """Move an item to POSITION (1 = first)."""
    store, _ = _store(settings)
    store.move(name, item_id, position)


@collection.command("remove")
@click.argument("name")
@click.argument("item_id", type=int)
@click.pass_obj
def collection_remove(settings: Settings, name: str, item_id: int) -> None:
    """Take an item out of NAME."""
    store, _ = _store(settings)
    store.remove(name, item_id)


@collection.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md")
@click.pass_obj
def collection_export(settings: Settings, name: str, fmt: str) -> None:
    """Print NAME as Markdown or CSV, every item with its full citation."""
    store, catalog = _store(settings)
    click.echo(store.export(name, catalog, fmt))


@main.command()
@click.argument("doc_id")
@click.option("--from", "old", help="Older version (id or label); default: the one before --to.")
@click.option("--to", "new", help="Newer version (id or label); default: the current one.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def diff(settings: Settings, doc_id: str, old: str | None, new: str | None, as_json: bool) -> None:
    """What changed between two versions of DOC_ID, section by section."""
    from kb.catalog import Catalog
    from kb.datadir import DataDir
    from kb.versions import diff_versions, heading

    catalog = Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)
    try:
        result = diff_versions(catalog, doc_id, old, new)
    finally:
        catalog.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    counts = result.to_dict()["counts"]
    console.print(
        f"{doc_id}: v{result.old.version} ({result.old.effective_from}) → "
        f"v{result.new.version} ({result.new.effective_from}): "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
    )
    for change in result.changes:
        title = escape(heading(change.heading_path))
        if change.old_heading_path:
            title = f"{escape(heading(change.old_heading_path))} → {title}"
        console.print(f"\n[bold]{change.kind.upper()}[/bold] {title}")
        if change.kind == "changed":
            console.print(
                " ".join(
                    f"[red][s]{escape(t)}[/s][/red]"
                    if op == "-"
                    else f"[green]{escape(t)}[/green]"
                    if op == "+"
                    else escape(_elide(t))
                    for op, t in change.words
                )
            )


def _elide(text: str, keep: int = 12) -> str:
    words = text.split()
    if len(words) <= 2 * keep:
        return text
    return " ".join([*words[:keep], "…", *words[-keep:]])


@main.command()
@click.argument("text", required=False)
@click.option("--case", "case_id", help="Use this ruling's facts as the description.")
@click.option("-k", "k", default=10, show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def similar(
    settings: Settings,
    text: str | None,
    case_id: str | None,
    k: int,
    filters: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rulings most similar to a case description TEXT (or to --case ID), with outcomes."""
    from kb.precedents import similar_rulings
    from kb.search.hybrid import Searcher

    if (text is None) == (case_id is None):
        raise click.UsageError("give a case description TEXT or --case ID (not both)")
    searcher = Searcher(settings)
    try:
        if case_id:
            ruling = searcher.catalog.current_ruling(case_id)
            if ruling is None:
                raise click.UsageError(f"{case_id} is not a ruling")
            text = ruling["facts"]
        hits, outcomes = similar_rulings(
            searcher, text, k=k, exclude=case_id, filters=searcher.parse_filters(list(filters))
        )
    finally:
        searcher.close()
    if as_json:
        click.echo(
            json.dumps(
                {"query": text, "outcomes": dict(outcomes), "rulings": [h.to_dict() for h in hits]},
                ensure_ascii=False,
            )
        )
        return
    console.print("outcomes: " + ", ".join(f"{n} {o}" for o, n in outcomes.most_common()))
    for h in hits:
        m = h.metadata
        flag = "" if m.get("ruling_status") == "active" else f" [{m.get('ruling_status')}]"
        console.print(
            f"{h.rank}. {escape(h.citation.title)} — [bold]{m.get('outcome')}[/bold], "
            f"{m.get('decision_date')}, {', '.join(m.get('regions', []))}{flag} "
            f"[dim](similarity {h.scores['dense_score']:.2f})[/dim]"
        )


@main.command()
@click.option("--threshold", type=float, help="Facts similarity that makes rulings a group.")
@click.option("--all", "show_all", is_flag=True, help="Also list consistent and explained groups.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True, help="One row per ruling of each reported group.")
@click.pass_obj
def consistency(
    settings: Settings, threshold: float | None, show_all: bool, as_json: bool, as_csv: bool
) -> None:
    """Groups of near-identical rulings whose outcomes diverge with no explanation."""
    from kb.precedents import GROUP_THRESHOLD, consistency_report
    from kb.search.hybrid import Searcher

    searcher = Searcher(settings)
    try:
        groups = consistency_report(searcher, threshold or GROUP_THRESHOLD)
    finally:
        searcher.close()
    shown = groups if show_all else [g for g in groups if g.inconsistent]
    if as_json:
        click.echo(
            json.dumps(
                {"threshold": threshold or GROUP_THRESHOLD, "groups": [g.to_dict() for g in shown]},
                ensure_ascii=False,
            )
        )
        return
    if as_csv:
        from kb.csv_export import write_csv

        header = ["group", "explained_by", "case_id", "decision_date", "surface", "region"]
        header += ["outcome", "clauses", "rationale"]
        rows = [
            (
                *(n, g.explained_by or "", r.case_id, r.decision_date, r.surface, r.region),
                *(r.outcome, ";".join(r.clauses), r.rationale),
            )
            for n, g in enumerate(shown, start=1)
            for r in g.rulings
        ]
        click.echo(write_csv(header, rows), nl=False)
        return
    console.print(
        f"{sum(g.inconsistent for g in groups)} inconsistent group(s) among "
        f"{len(groups)} groups of near-identical rulings"
    )
    for n, g in enumerate(shown, start=1):
        label = "INCONSISTENT" if g.inconsistent else (g.explained_by or "consistent")
        console.print(
            f"\n[bold]{n}. {label}[/bold] — "
            + ", ".join(f"{c} {o}" for o, c in g.outcomes.most_common())
        )
        for r in g.rulings:
            console.print(
                f"   {r.case_id} {r.decision_date} {r.region} [bold]{r.outcome}"
                f"[/bold]: {escape(r.rationale[:160])}"
            )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=int,
    help="Worker processes (each loads the indexes and model once).",
)
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding a non-loopback address in local mode (which has no sign-in).",
)
@click.pass_obj
def serve(
    settings: Settings, host: str, port: int, workers: int, threads: int, allow_remote: bool
) -> None:
    """Serve the web app and JSON API with gunicorn."""
    from kb.datadir import DataDir
    from kb.web.server import serve as run

    DataDir(settings.data_dir).current()  # fail now, clearly, if nothing was ingested
    if settings.auth == "users":
        from kb.web.auth import AuthState

        state = AuthState(settings)  # ConfigError when the user data cannot be written
        admins = state.users.count("admin")
        state.users.close()
        state.audit.close()
        if not admins:
            raise ConfigError(
                "KB_AUTH=users but nobody can manage users yet: create an admin first with "
                "`kb users add NAME --role admin`"
            )
    shown = f"[{host}]" if ":" in host else host
    mode = "local mode, no sign-in" if settings.auth == "local" else "sign-in required"
    console.print(
        f"policy-kb serving {settings.data_dir} at [bold]http://{shown}:{port}/[/bold]"
        f" ({mode}; Ctrl-C to stop)"
    )
    run(settings, host, port, workers, threads, allow_remote)


@main.command()
@click.option("--epochs", type=int, default=3, show_default=True, help="At most this many.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--learning-rate", type=float, default=2e-5, show_default=True)
@click.option(
    "--holdout",
    type=float,
    default=0.15,
    show_default=True,
    help="Share of rulings held out to decide when to stop.",
)
@click.option(
    "--sentences",
    type=int,
    default=0,
    show_default=True,
    help="Also pair up to this many of each clause's own sentences with the rest of it.",
)
@click.option(
    "--hard-negatives",
    is_flag=True,
    help="Give each pair the base model's best wrong clause as a negative.",
)
@click.option("--force", is_flag=True, help="Train again even if this exact model exists.")
@click.option(
    "--check",
    "check_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Keep the tuned model only if it beats the base model on these BEIR questions "
    "(judged per clause).",
)
@click.option("--split", default="dev", show_default=True, help="qrels/<split>.tsv for --check.")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@click.pass_obj
def tune(
    settings: Settings,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    holdout: float,
    sentences: int,
    hard_negatives: bool,
    force: bool,
    check_dir: Path | None,
    split: str,
    as_json: bool,
) -> None:
    """Fine-tune the embedding model on this knowledge base's own rulings, clause headings and
    guidance citations (CPU, minutes); then KB_MODEL=tuned (or auto) uses it."""
    from kb.config import TUNED_POINTER
    from kb.tune import TuneParams, check, record_model
    from kb.tune import tune as run_tune

    params = TuneParams(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        holdout=holdout,
        sentences=sentences,
        hard_negatives=hard_negatives,
    )

    def say(message: str) -> None:
        if not as_json:
            console.print(message, markup=False)

    result = run_tune(settings, params, force=force, record=check_dir is None, log=say)
    if result.path is not None and check_dir is not None:
        scores = check(settings, result.path, check_dir, split)
        result.card["check"] = {"dataset": str(check_dir), "split": split, **scores}
        say(
            f"{check_dir} ({split}), dense clause MRR@10: base {scores['base']:.3f}, "
            f"tuned {scores['tuned']:.3f}"
        )
        if scores["tuned"] > scores["base"]:
            record_model(settings, result.path, result.card)
        else:
            (settings.data_dir / TUNED_POINTER).unlink(missing_ok=True)
            say("the tuned model does not win there: the base model stays (KB_MODEL=auto)")
            if as_json:
                click.echo(json.dumps({"path": None, **result.card}))
            return
    if as_json:
        click.echo(json.dumps({"path": str(result.path) if result.path else None, **result.card}))
        return
    v = result.card["validation"]
    if result.path is None:
        console.print(
            f"no epoch beat the base model on the held-out rulings (clause MRR@10 "
            f"{v['base_mrr']:.3f}); nothing saved, the base model stays"
        )
        return
    console.print(
        f"{'reused' if result.reused else 'saved'} {result.path.name}: held-out rulings' clause "
        f"MRR@10 {v['base_mrr']:.3f} -> {v['best_mrr']:.3f} (epoch {v['best_epoch']}); "
        f"pairs {result.card['pairs']}"
    )
    console.print("use it: KB_MODEL=tuned kb ingest ... (re-embeds), then KB_MODEL=tuned kb serve")


@main.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to use.")
@click.option(
    "--mode",
    "mode",
    type=click.Choice(["all", "hybrid", "keyword", "dense"]),
    default="all",
    show_default=True,
)
@click.option(
    "--unit",
    type=click.Choice(["document", "clause", "section"]),
    help="What a hit counts for (default: document with a corpus.jsonl, else clause).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def eval_cmd(
    settings: Settings, dataset: Path, split: str, mode: str, unit: str | None, as_json: bool
) -> None:
    """Measure retrieval on a BEIR-layout DATASET: nDCG@10, Recall and MRR@10 per document, or
    MRR@10 and Success@1/3/10 per clause or section, overall and per kind of question."""
    from kb.evaluation import evaluate

    modes = ("keyword", "dense", "hybrid") if mode == "all" else (mode,)
    result = evaluate(
        settings,
        dataset,
        split=split,
        modes=modes,
        progress=not as_json and sys.stderr.isatty(),
        unit=unit,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(
        title=f"{result.dataset} ({split}, {result.queries} queries, judged per {result.unit})"
    )
    table.add_column("mode")
    table.add_column("kind")
    table.add_column("n", justify="right")
    names = list(next(iter(result.metrics.values())))
    for name in names:
        shown = name.replace("Success@", "S@").replace("Recall@", "R@")
        table.add_column(shown + ("*" if name == result.primary else ""), justify="right")
    table.add_column("ms/q", justify="right")
    for m, scores in result.metrics.items():
        table.add_row(
            m,
            "all",
            str(result.queries),
            *(f"{scores[n]:.3f}" for n in names),
            f"{result.latency_ms[m]:.1f}",
            end_section=not result.by_kind.get(m),
        )
        kinds = list(result.by_kind.get(m, {}).items())
        for i, (kind, (count, kscores)) in enumerate(kinds):
            table.add_row(
                "",
                kind,
                str(count),
                *(f"{kscores[n]:.3f}" for n in names),
                "",
                end_section=i == len(kinds) - 1,
            )
    console.print(table)


@main.group()
def users() -> None:
    """Accounts and API tokens for the web app with KB_AUTH=users (roles: moderator, policy,
    admin)."""


def _users(settings: Settings):
    from kb.users import Users

    return Users(settings.user_data_path())


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["moderator", "policy", "admin"]),
    required=True,
    help="What the user may see and do.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_add(settings: Settings, name: str, role: str, password_stdin: bool) -> None:
    """Create a user (asks for the password twice unless --password-stdin)."""
    user = _users(settings).add(name, role, _password(password_stdin))
    console.print(f"added {user.name} ({user.role})")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(settings: Settings, name: str) -> None:
    """Delete a user with their sessions and API tokens (a new user of the same name gets
    neither)."""
    _users(settings).remove(name)
    console.print(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_passwd(settings: Settings, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end (API tokens stay valid: `kb users revoke`)."""
    store = _users(settings)
    store.set_password(name, _password(password_stdin))
    tokens = len(store.tokens(store.get(name).name))
    note = f"; {tokens} API token(s) still valid (kb users revoke)" if tokens else ""
    console.print(f"password of {name} changed; signed out everywhere{note}")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["moderator", "policy", "admin"]))
@click.pass_obj
def users_role(settings: Settings, name: str, role: str) -> None:
    """Change a user's role; their sessions end."""
    _users(settings).set_role(name, role)
    console.print(f"{name} is now {role}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def users_list(settings: Settings, as_json: bool) -> None:
    """Users, roles and API tokens (never their secrets)."""
    store = _users(settings)
    found = store.list()
    if as_json:
        click.echo(json.dumps({"users": found, "tokens": store.tokens()}, indent=2))
        return
    table = Table("user", "role", "since", "tokens")
    for u in found:
        table.add_row(u["name"], u["role"], u["created_at"][:10], str(u["tokens"]))
    console.print(table)


@users.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@click.pass_obj
def users_token(settings: Settings, name: str, label: str) -> None:
    """Create an API token for NAME and print it once (send it as Authorization: Bearer)."""
    token_id, secret = _users(settings).create_token(name, label)
    err_console.print(f"token {token_id} for {name}; it is not shown again:")
    click.echo(secret)


@users.command("revoke")
@click.argument("token_id")
@click.pass_obj
def users_revoke(settings: Settings, token_id: str) -> None:
    """Revoke an API token by its id (see `kb users list`)."""
    _users(settings).revoke_token(token_id)
    console.print(f"revoked {token_id}")


@main.command()
@click.option("--user", help="Only this user's events.")
@click.option("--action", help="Only this action (search, answer, view, export, login...).")
@click.option("--since", help="From this date or timestamp (UTC).")
@click.option("--until", help="Up to this date (inclusive) or timestamp (UTC).")
@click.option("--limit", default=100, show_default=True, type=int, help="At most this many.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for export).")
@click.pass_obj
def audit(
    settings: Settings,
    user: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_csv: bool,
) -> None:
    """The audit log of the web app, newest first: who searched, viewed or exported what."""
    from kb.audit import AuditLog

    log = AuditLog(settings.user_data_path())
    events = log.events(user=user, action=action, since=since, until=until, limit=limit)
    if as_csv:
        click.echo(log.to_csv(events), nl=False)
        return
    table = Table("when (UTC)", "user", "role", "action", "what", "status")
    for e in events:
        table.add_row(
            e["at"],
            escape(e["user"]),
            e["role"],
            e["action"],
            escape(f"{e['detail'].get('endpoint', '')} {e['target']}"),
            str(e["status"]),
        )
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
