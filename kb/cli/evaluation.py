"""`kb eval`: retrieval measured on a BEIR-layout dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from kb.cli.common import console, json_option
from kb.config import Settings


@click.command("eval")
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
@json_option()
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


COMMANDS = (eval_cmd,)
