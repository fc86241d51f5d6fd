"""`kb collection` and `kb teaching`: trainers' collections and teaching examples."""

from __future__ import annotations

import click
from rich.markup import escape

from kb.cli.common import console, current_catalog
from kb.config import Settings


@click.group()
def collection() -> None:
    """Trainers' collections of passages and rulings (create, add, note, move, export)."""


def _store(settings: Settings):
    from kb.collections import Collections

    catalog = current_catalog(settings)
    return Collections(settings.user_data_path()), catalog


@click.command()
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


COMMANDS = (collection, teaching)
