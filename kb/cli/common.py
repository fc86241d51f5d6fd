"""What the `kb` commands share: the consoles they print on, the `--json` flag, the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

if TYPE_CHECKING:
    from kb.catalog import Catalog
    from kb.config import Settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def json_option(text: str | None = "Print JSON."):
    """The `--json` flag (the `as_json` parameter), with `text` as its help."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def current_catalog(settings: Settings) -> Catalog:
    """The catalog of the live generation, read-only (IndexNotBuiltError before any ingest)."""
    from kb.catalog import Catalog
    from kb.datadir import DataDir
    from kb.layout import Generation

    return Catalog(Generation(DataDir(settings.data_dir).current()).catalog, readonly=True)
