"""`kb audit`: the web app's audit log."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from kb.cli.common import console
from kb.config import Settings


@click.command()
@click.option("--user", help="Only this user's events.")
@click.option("--action", help="Only this action (search, answer, view, export, login...).")
@click.option("--since", help="From this date or timestamp (UTC).")
@click.option("--until", help="Up to this date (inclusive) or timestamp (UTC).")
@click.option("--limit", default=100, show_default=True, type=int, help="At most this many.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for export).")
@click.pass_obj
def audit(
    settings: Settings,
    user: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_csv: bool,
) -> None:
    """The audit log of the web app, newest first: who searched, viewed or exported what."""
    from kb.audit import AuditLog

    log = AuditLog(settings.user_data_path())
    events = log.events(user=user, action=action, since=since, until=until, limit=limit)
    if as_csv:
        click.echo(log.to_csv(events), nl=False)
        return
    table = Table("when (UTC)", "user", "role", "action", "what", "status")
    for e in events:
        table.add_row(
            e["at"],
            escape(e["user"]),
            e["role"],
            e["action"],
            escape(f"{e['detail'].get('endpoint', '')} {e['target']}"),
            str(e["status"]),
        )
    console.print(table)


COMMANDS = (audit,)
