"""Serving the app with gunicorn (a production WSGI server), one searcher per worker."""

from __future__ import annotations

import ipaddress
import socket

from gunicorn.app.base import BaseApplication

from kb.config import Settings
from kb.errors import ConfigError
from kb.web import MAX_BODY


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def close_after_unreadable_body(worker, req) -> None:
    """gunicorn's pre_request hook: end the connection after answering a request whose body
    the app may refuse unread (over MAX_BODY: 413), since gunicorn drains only 64 KiB of an
    unread body before it hangs up. gunicorn writes the Connection header itself (it drops
    an app's own as hop-by-hop), so this is where `Connection: close` can be said."""
    headers = dict(req.headers)
    length = headers.get("CONTENT-LENGTH", "")
    if "TRANSFER-ENCODING" in headers or (length.isdigit() and int(length) > MAX_BODY):
        req.must_close = True


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from kb.web import create_app

        app = create_app(self.settings)
        app.extensions["kb"].searcher  # noqa: B018 - load indexes and model before serving
        return app


def serve(
    settings: Settings, host: str, port: int, workers: int, threads: int, allow_remote: bool = False
) -> None:
    """Run until interrupted."""
    if settings.auth == "local" and not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to serve on {host}: this is single-user local mode with no login, so "
            "it only binds a loopback address; set KB_AUTH=users (sign-in with roles), or pass "
            "--allow-remote if you really mean it"
        )
    _Gunicorn(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 60,
            "accesslog": "-",
            "loglevel": "warning",
            "pre_request": close_after_unreadable_body,
        },
    ).run()
