"""What the `kb` commands share: the consoles they print on and the `--json` flag."""

from __future__ import annotations

import click
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def json_option(text: str | None = "Print JSON."):
    """The `--json` flag (the `as_json` parameter), with `text` as its help."""
    return click.option("--json", "as_json", is_flag=True, help=text)
