"""`kb diff`: what changed between two versions of a document."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from kb.cli.common import console, json_option
from kb.config import Settings
from kb.users import LOCAL_USER


@click.command()
@click.argument("doc_id")
@click.option("--from", "old", help="Older version (id or label); default: the one before --to.")
@click.option("--to", "new", help="Newer version (id or label); default: the current one.")
@json_option(None)
@click.pass_obj
def diff(settings: Settings, doc_id: str, old: str | None, new: str | None, as_json: bool) -> None:
    """What changed between two versions of DOC_ID, section by section."""
    from kb.service import KnowledgeBase
    from kb.versions import heading

    with KnowledgeBase.open(settings) as kb:
        result = kb.diff(doc_id, LOCAL_USER, old, new)
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


@click.command()
@click.argument("doc_id")
@click.option("--from", "old", help="Older version (id or label); default: the one before --to.")
@click.option("--to", "new", help="Newer version, a draft too (id or label); default: current.")
@json_option(None)
@click.option("--csv", "as_csv", is_flag=True, help="One row per guidance, ruling or item.")
@click.pass_obj
def impact(
    settings: Settings, doc_id: str, old: str | None, new: str | None, as_json: bool, as_csv: bool
) -> None:
    """What a change to DOC_ID touches: guidance, rulings and collections per section."""
    from kb.service import KnowledgeBase

    with KnowledgeBase.open(settings) as kb:
        result = kb.impact(doc_id, LOCAL_USER, old, new)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if as_csv:
        click.echo(result.to_csv(), nl=False)
        return
    d = result.diff
    console.print(
        f"{doc_id}: v{d.old.version} ({d.old.effective_from}) → v{d.new.version} "
        f"({d.new.effective_from}{', draft' if d.new.status == 'draft' else ''}): "
        f"{len(result.sections)} sections differ; "
        f"{len(result.rulings_now_outdated)} rulings decided before it applied a clause it "
        "changed or removed"
    )
    for s in result.sections:
        console.print(f"\n[bold]{s.change.kind.upper()}[/bold] {escape(s.heading)}")
        for g in s.guidance:
            why = "cites it" if g.why == "cites" else f"close ({g.similarity:.2f})"
            console.print(f"   guidance  {escape(g.title)} › {escape(g.heading)} — {why}")
        for r in s.rulings:
            when = "before" if r.before_change else "after"
            console.print(
                f"   ruling    {r.case_id} {r.outcome} {r.decision_date} (decided {when})"
            )
        for c in s.collections:
            console.print(f"   collection {escape(c['collection'])} ({c['ref']})")


def _elide(text: str, keep: int = 12) -> str:
    words = text.split()
    if len(words) <= 2 * keep:
        return text
    return " ".join([*words[:keep], "…", *words[-keep:]])


COMMANDS = (diff, impact)
