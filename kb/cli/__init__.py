"""The `kb` command line: the click group `main`, with one module per group of commands."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from kb.cli import (
    audit,
    collections,
    evaluation,
    feedback,
    ingest,
    precedents,
    search,
    serve,
    tune,
    users,
    versions,
)
from kb.cli.common import err_console
from kb.config import Settings
from kb.errors import KBError


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


_MODULES = (
    ingest,
    search,
    evaluation,
    tune,
    versions,
    precedents,
    collections,
    feedback,
    users,
    audit,
    serve,
)
for _module in _MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
