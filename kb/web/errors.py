"""One error shape: JSON under /api, a page elsewhere. Never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import KBError

log = logging.getLogger(__name__)


def error_body(status: int, code: str, message: str) -> dict:
    """`{"error": {"status", "code", "message"}}`, the shape every API error has."""
    return {"error": {"status": status, "code": code, "message": message}}


def _respond(status: int, code: str, message: str):
    if request.path.startswith("/api"):
        return jsonify(error_body(status, code, message)), status
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(KBError)
    def kb_error(exc: KBError):
        code = _snake(type(exc).__name__.removesuffix("Error")) or "error"
        return _respond(exc.http_status, code, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = make_response(
            _respond(exc.code or 500, _snake(exc.name.replace(" ", "")), exc.description)
        )
        allow = dict(exc.get_headers()).get("Allow")
        if allow:  # a 405 names the methods that would work (RFC 9110)
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return _respond(500, "internal", "Something went wrong on our side; it has been logged.")


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
