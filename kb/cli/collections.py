"""`kb collection` and `kb teaching`: trainers' collections and teaching examples."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.markup import escape

from kb.cli.common import console
from kb.config import Settings
from kb.users import LOCAL_USER

if TYPE_CHECKING:
    from kb.service import KnowledgeBase


@click.group()
def collection() -> None:
    """Trainers' collections of passages and rulings (create, add, note, move, rename,
    export)."""


def _kb(settings: Settings) -> KnowledgeBase:
    """The knowledge base with its user data (made here when there is none yet)."""
    from kb.service import KnowledgeBase

    return KnowledgeBase.open(settings, user_data=True)


@click.command()
@click.argument("case_id")
@click.option("--on/--off", "flagged", default=True, help="Flag or unflag.")
@click.option("--note", default="")
@click.pass_obj
def teaching(settings: Settings, case_id: str, flagged: bool, note: str) -> None:
    """Flag ruling CASE_ID as a good teaching example (or --off), whatever its source says."""
    with _kb(settings) as kb:
        kb.set_teaching(case_id, flagged, LOCAL_USER, note)
    console.print(f"{case_id}: teaching example {'on' if flagged else 'off'}")


@collection.command("list")
@click.pass_obj
def collection_list(settings: Settings) -> None:
    """Every collection and its size."""
    with _kb(settings) as kb:
        names = kb.collection_names(LOCAL_USER)
    for c in names:
        console.print(f"{escape(c['name'])} ({c['items']} items) {escape(c['description'])}")


@collection.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.pass_obj
def collection_create(settings: Settings, name: str, description: str) -> None:
    """Make an empty collection NAME."""
    with _kb(settings) as kb:
        kb.create_collection(name, LOCAL_USER, description)


@collection.command("add")
@click.argument("name")
@click.argument("ref")
@click.option("--note", default="")
@click.pass_obj
def collection_add(settings: Settings, name: str, ref: str, note: str) -> None:
    """Append a passage id or ruling case id REF to NAME."""
    with _kb(settings) as kb:
        console.print(f"item {kb.add(name, ref, LOCAL_USER, note)}")


@collection.command("note")
@click.argument("name")
@click.argument("item_id", type=int)
@click.argument("note")
@click.pass_obj
def collection_note(settings: Settings, name: str, item_id: int, note: str) -> None:
    """Set the note of an item."""
    with _kb(settings) as kb:
        kb.edit_item(name, item_id, LOCAL_USER, note=note, position=None)


@collection.command("move")
@click.argument("name")
@click.argument("item_id", type=int)
@click.argument("position", type=int)
@click.pass_obj
def collection_move(settings: Settings, name: str, item_id: int, position: int) -> None:
    """Move an item to POSITION (1 = first)."""
    with _kb(settings) as kb:
        kb.edit_item(name, item_id, LOCAL_USER, note=None, position=position)


@collection.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.option("--description", default=None, help="A new description too.")
@click.pass_obj
def collection_rename(
    settings: Settings, name: str, new_name: str, description: str | None
) -> None:
    """Rename collection NAME to NEW_NAME (its items follow)."""
    with _kb(settings) as kb:
        kb.rename_collection(name, LOCAL_USER, new_name, description)
    console.print(f"{escape(name)} is now {escape(new_name)}")


@collection.command("delete")
@click.argument("name")
@click.pass_obj
def collection_delete(settings: Settings, name: str) -> None:
    """Delete collection NAME and its items."""
    with _kb(settings) as kb:
        kb.delete_collection(name, LOCAL_USER)
    console.print(f"deleted {escape(name)}")


@collection.command("remove")
@click.argument("name")
@click.argument("item_id", type=int)
@click.pass_obj
def collection_remove(settings: Settings, name: str, item_id: int) -> None:
    """Take an item out of NAME."""
    with _kb(settings) as kb:
        kb.remove_item(name, item_id, LOCAL_USER)


@collection.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md")
@click.option("--bom", is_flag=True, help="Start a CSV with a UTF-8 byte-order mark (Excel).")
@click.pass_obj
def collection_export(settings: Settings, name: str, fmt: str, bom: bool) -> None:
    """Print NAME as Markdown or CSV, every item with its full citation (links absolute with
    the base_url setting)."""
    with _kb(settings) as kb:
        click.echo(kb.export(name, fmt, LOCAL_USER, bom=bom), nl=False)


COMMANDS = (collection, teaching)
