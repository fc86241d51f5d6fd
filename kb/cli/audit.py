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

    log = AuditLog(settings.user_store())
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


@click.command()
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep this many days (default: the retention_days setting).",
)
@click.pass_obj
def purge(settings: Settings, days: int | None) -> None:
    """Delete audit events and feedback older than the retention period (they hold
    moderators' raw questions); the deletion is recorded in the audit log."""
    from kb.retention import purge as run

    done = run(settings, days)
    if done is None:
        console.print("No retention period: set KB_RETENTION_DAYS or pass --days.")
        return
    console.print(
        f"Deleted {done.events} audit events and {done.feedback} judgments before {done.before}."
    )


COMMANDS = (audit, purge)
