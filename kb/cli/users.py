"""`kb users`: accounts, roles and API tokens for the web app (KB_AUTH=users)."""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from kb.cli.common import console, err_console, json_option
from kb.config import Settings
from kb.users import ROLES, Users


@click.group(
    help=f"Accounts and API tokens for the web app with KB_AUTH=users (roles: {', '.join(ROLES)})."
)
def users() -> None:
    pass


def _users(settings: Settings) -> Users:
    return Users(settings.user_store())


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="What the user may see and do.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_add(settings: Settings, name: str, role: str, password_stdin: bool) -> None:
    """Create a user (asks for the password twice unless --password-stdin)."""
    user = _users(settings).add(name, role, _password(password_stdin))
    console.print(f"added {user.name} ({user.role})")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(settings: Settings, name: str) -> None:
    """Delete a user with their sessions and API tokens (a new user of the same name gets
    neither)."""
    _users(settings).remove(name)
    console.print(f"removed {name}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_passwd(settings: Settings, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end (API tokens stay valid: `kb users revoke`)."""
    store = _users(settings)
    store.set_password(name, _password(password_stdin))
    tokens = len(store.tokens(store.get(name).name))
    note = f"; {tokens} API token(s) still valid (kb users revoke)" if tokens else ""
    console.print(f"password of {name} changed; signed out everywhere{note}")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_obj
def users_role(settings: Settings, name: str, role: str) -> None:
    """Change a user's role; their sessions end."""
    _users(settings).set_role(name, role)
    console.print(f"{name} is now {role}")


@users.command("list")
@json_option()
@click.pass_obj
def users_list(settings: Settings, as_json: bool) -> None:
    """Users, roles and API tokens (never their secrets)."""
    store = _users(settings)
    found = store.list()
    if as_json:
        click.echo(json.dumps({"users": found, "tokens": store.tokens()}, indent=2))
        return
    table = Table("user", "role", "since", "tokens")
    for u in found:
        table.add_row(u["name"], u["role"], u["created_at"][:10], str(u["tokens"]))
    console.print(table)


@users.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@click.pass_obj
def users_token(settings: Settings, name: str, label: str) -> None:
    """Create an API token for NAME and print it once (send it as Authorization: Bearer)."""
    token_id, secret = _users(settings).create_token(name, label)
    err_console.print(f"token {token_id} for {name}; it is not shown again:")
    click.echo(secret)


@users.command("revoke")
@click.argument("token_id")
@click.pass_obj
def users_revoke(settings: Settings, token_id: str) -> None:
    """Revoke an API token by its id (see `kb users list`)."""
    _users(settings).revoke_token(token_id)
    console.print(f"revoked {token_id}")


COMMANDS = (users,)
