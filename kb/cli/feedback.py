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


@click.command()
@click.option("--since", default=None, help="From this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def usage(settings: Settings, since: str | None, as_json: bool) -> None:
    """Searches per day from the audit log: volume, answers, abstentions, speed; top
    questions and filters."""
    with _kb(settings) as kb:
        found = kb.usage(LOCAL_USER, since).to_dict()
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for d in found["days"]:
        console.print(
            f"{d['day']}  {d['searches']} searches, {d['abstained']} abstained, "
            f"{d['no_results']} found nothing, p95 {d['p95_ms']} ms"
        )
    for t in found["top_queries"][:10]:
        console.print(f"  {t['count']}× {escape(t['query'])}")


@click.command()
@click.option("--since", default=None, help="From this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.pass_obj
def gaps(settings: Settings, since: str | None, as_json: bool, as_csv: bool) -> None:
    """Questions the knowledge base did not answer (abstained, nothing found, judged not
    helpful or the wrong clause), grouped into topics: the guidance to write next."""
    from kb.analytics import gaps_csv

    with _kb(settings) as kb:
        topics = kb.gaps(LOCAL_USER, since)
    if as_csv:
        click.echo(gaps_csv(topics), nl=False)
    elif as_json:
        click.echo(json.dumps([t.to_dict() for t in topics], indent=2, ensure_ascii=False))
    else:
        for t in topics:
            console.print(f"[bold]{escape(t.label)}[/bold] ({t.count}×; {', '.join(t.terms)})")
            for q in list(t.questions)[:5]:
                console.print(f"   {escape(q)}")
        console.print(f"{len(topics)} topic(s)")


COMMANDS = (feedback, usage, gaps)
