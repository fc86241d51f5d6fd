"""`kb serve`: the web app and JSON API under gunicorn."""

from __future__ import annotations

import click

from kb.cli.common import console
from kb.config import Settings
from kb.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=int,
    help="Worker processes (each loads the indexes and model once).",
)
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding a non-loopback address in local mode (which has no sign-in).",
)
@click.pass_obj
def serve(
    settings: Settings, host: str, port: int, workers: int, threads: int, allow_remote: bool
) -> None:
    """Serve the web app and JSON API with gunicorn."""
    from kb.live import live_generation
    from kb.web.server import serve as run

    # Fail now, clearly, if nothing was ingested (under backend=postgres this also copies
    # the live generation from the database, once, before the workers start).
    live_generation(settings)
    if settings.auth == "users":
        from kb.web.auth import AuthState

        state = AuthState(settings)  # ConfigError when the user data cannot be written
        admins = state.users.count("admin")
        state.users.close()
        state.audit.close()
        if not admins:
            raise ConfigError(
                "KB_AUTH=users but nobody can manage users yet: create an admin first with "
                "`kb users add NAME --role admin`"
            )
    shown = f"[{host}]" if ":" in host else host
    mode = "local mode, no sign-in" if settings.auth == "local" else "sign-in required"
    console.print(
        f"policy-kb serving {settings.data_dir} at [bold]http://{shown}:{port}/[/bold]"
        f" ({mode}; Ctrl-C to stop)"
    )
    run(settings, host, port, workers, threads, allow_remote)


COMMANDS = (serve,)
