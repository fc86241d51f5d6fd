"""The web app: search page, document and ruling views, and the JSON API."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from kb.config import Settings

MAX_BODY = 64 * 1024  # bytes of a request body; more is refused with 413


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """Build the Flask app on a data dir (catalog, indexes and encoder loaded once, lazily)."""
    from kb.web import admin, api, auth, errors, ui
    from kb.web.state import KBState

    settings = settings or Settings.load()
    app = Flask(__name__)
    app.config.update(TESTING=testing, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=MAX_BODY)
    app.extensions["kb"] = KBState(settings)

    @app.before_request
    def refuse_long_streams():
        # A body sent without a length (chunked) is cut at MAX_CONTENT_LENGTH by werkzeug
        # without an error, and a cut form still parses: read it first, refuse it whole.
        if request.content_length is None and request.headers.get("Transfer-Encoding"):
            request.get_data(cache=True)
            stream = request.stream
            if isinstance(stream, LimitedStream) and stream.is_exhausted:
                raise RequestEntityTooLarge()

    auth.init_app(app, settings)
    if settings.retention_days and app.extensions["kb_auth"].audit.writable:
        from kb.retention import purge

        purge(settings)  # and again at each start: a retention period, not a one-off
    app.register_blueprint(ui.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    errors.register(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            # Pages and answers may hold restricted text: no shared or back-button caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
