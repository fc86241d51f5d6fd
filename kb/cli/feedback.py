"""`kb feedback`: moderators' judgments of results, listed, and exported as relevance
judgments that `kb eval` measures."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from kb.cli.common import console
from kb.config import Settings
from kb.users import LOCAL_USER


@click.group()
def feedback() -> None:
    """Judgments of results (helpful, not helpful, wrong clause): list, hot spots, export."""


def _kb(settings: Settings):
    from kb.service import KnowledgeBase

    return KnowledgeBase.open(settings, user_data=True)


@feedback.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def feedback_list(settings: Settings, as_json: bool) -> None:
    """Every judgment, newest first, and the clauses most often judged wrong."""
    with _kb(settings) as kb:
        entries = kb.feedback(LOCAL_USER, everyone=True)
        spots = kb.feedback_hotspots(LOCAL_USER)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "feedback": [e.to_dict() for e in entries],
                    "hotspots": [s.to_dict() for s in spots],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for s in spots:
        c = s.counts
        console.print(
            f"[bold]{escape(s.target)}[/bold]: {c['wrong_clause']} wrong clause, "
            f"{c['not_helpful']} not helpful, {c['helpful']} helpful"
        )
        for q in s.queries:
            console.print(f"   {escape(q)}")
    console.print(f"{len(entries)} judgment(s)")


@feedback.command("export")
@click.option(
    "--qrels",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write queries.jsonl and qrels/test.tsv into (BEIR layout).",
)
@click.pass_obj
def feedback_export(settings: Settings, folder: Path) -> None:
    """Judgments as relevance judgments by clause: measure with `kb eval FOLDER`."""
    from kb.feedback import write_beir

    with _kb(settings) as kb:
        entries = kb.feedback(LOCAL_USER, everyone=True)
    queries, rows = write_beir(folder, entries)
    console.print(f"{queries} queries, {rows} judgments -> {escape(str(folder))}")


COMMANDS = (feedback,)
