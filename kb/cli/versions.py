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

    kb = KnowledgeBase.open(settings)
    try:
        result = kb.diff(doc_id, LOCAL_USER, old, new)
    finally:
        kb.close()
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


COMMANDS = (diff,)
