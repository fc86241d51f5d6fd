"""Sign-in, roles, CSRF and the audit trail of the web app.

`auth = local` (the default for `make run`): one user, no login, every right; `kb serve` binds
loopback only unless told otherwise. `auth = users`: every page and API call needs a signed-in
user (session cookie) or an API token (`Authorization: Bearer kbt_...`); roles decide what
each may see and do (see kb/users.py and kb/access.py). Every form carries a CSRF token, and
API calls that change something with a session cookie need the `X-CSRFToken` header.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from kb.audit import AuditLog
from kb.config import Settings
from kb.errors import AuthError, ConfigError, ForbiddenError
from kb.storage import problem
from kb.users import LOCAL_USER, User, Users
from kb.web.identity import current, signed_in

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Reachable without signing in.
PUBLIC = {"auth.login", "static", "api.health", "api.openapi"}
# Failed sign-ins of one user name within this window before further tries are refused.
MAX_FAILURES, FAILURE_WINDOW = 5, dt.timedelta(minutes=15)
# endpoint -> audit action; endpoints not listed are not audited (static files, health).
ACTIONS = {
    "ui.search": "search",
    "api.search": "search",
    "api.answer": "answer",
    "ui.similar": "search",
    "api.similar_rulings": "search",
    "api.ruling_statement": "view",
    "ui.document": "view",
    "api.document": "view",
    "ui.passage": "view",
    "ui.clause": "view",
    "ui.documents": "view",
    "api.passage": "view",
    "ui.document_diff": "view",
    "api.document_diff": "view",
    "ui.document_impact": "view",
    "api.document_impact": "view",
    "ui.review": "view",
    "api.review": "view",
    "ui.consistency": "view",
    "api.consistency": "view",
    "ui.resolve": "edit",
    "api.resolve": "edit",
    "ui.collections": "view",
    "ui.collection": "view",
    "api.collections": "view",
    "api.collection": "view",
    "api.collection_export": "export",
    "api.collection_add": "edit",
    "api.collection_item": "edit",
    "api.teaching": "edit",
    "ui.collection_add": "edit",
    "ui.feedback": "view",
    "ui.usage": "view",
    "ui.usage_chart": "view",
    "ui.trends": "view",
    "ui.trend_chart": "view",
    "api.trends": "view",
    "api.usage": "view",
    "api.gaps": "view",
    "api.feedback": "view",
    "ui.collection_edit": "edit",
    "ui.collection_delete": "edit",
    "ui.collection_item": "edit",
    "ui.teaching": "edit",
    "auth.login": "login",
    "auth.logout": "logout",
    "admin.users": "admin",
    "admin.user_remove": "admin",
    "admin.user_role": "admin",
    "admin.token_create": "admin",
    "admin.token_revoke": "admin",
    "admin.audit": "audit",
    "api.audit": "audit",
}


class AuthState:
    """The user store and audit log of one user data folder. With `auth = users` the folder
    must be writable (sign-ins and the audit trail are written); local mode also serves from a
    read-only one, without recording the audit log."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        folder = settings.user_store()
        self.users = Users(folder)
        self.audit = AuditLog(folder)
        if not self.audit.writable:
            if not self.local:
                if not isinstance(folder, Path):
                    raise ConfigError(
                        f"KB_AUTH=users needs users and the audit log written, and {folder} "
                        "is read-only; set KB_USER_DATABASE_URL to the primary"
                    )
                raise ConfigError(
                    f"KB_AUTH=users needs a writable folder for users and the audit log, and "
                    f"{folder} cannot be written; set KB_USER_DATA_DIR to a writable folder"
                )
            log.warning("not recording the audit log: %s cannot be written", folder)

    @property
    def local(self) -> bool:
        return self.settings.auth == "local"


def auth() -> AuthState:
    """The auth state of the current app."""
    return current_app.extensions["kb_auth"]


def check_role(role: str) -> None:
    """ForbiddenError unless the current user has `role` (or a higher one)."""
    if not current().can(role):
        raise ForbiddenError(f"this needs the {role} role")


def require(role: str):
    """View decorator: the current user needs `role` (or a higher one)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            check_role(role)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def init_app(app: Flask, settings: Settings) -> None:
    """Secret key, cookies, CSRF, login and the audit hook."""
    state = AuthState(settings)
    app.extensions["kb_auth"] = state
    app.secret_key = state.users.shared_secret() or _secret_key(
        settings.user_data_path(), state.local
    )
    app.config.update(
        SESSION_COOKIE_NAME="kb_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not state.local and settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        # The CSRF token lives as long as the session that holds it.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    csrf.init_app(app)
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    if state.local:
        manager.anonymous_user = lambda: LOCAL_USER
    manager.user_loader(user_from_session)
    manager.request_loader(user_from_token)
    app.before_request(guard)
    app.after_request(record)
    app.context_processor(identity)


def user_from_session(session_id: str) -> User | None:
    """The user a session cookie names (Flask-Login's user loader)."""
    state = auth()
    return None if state.local else state.users.session_user(session_id)


def user_from_token(req) -> User | None:
    """The user an `Authorization: Bearer` API token names (Flask-Login's request loader)."""
    state = auth()
    header = req.headers.get("Authorization", "")
    if state.local or not header.lower().startswith("bearer "):
        return None
    user = state.users.token_user(header[7:].strip())
    g.kb_token = user is not None
    return user


def guard():
    """Before each request: signed in (or a public page), and forms sent from our own pages."""
    g.kb_started = time.perf_counter()
    if auth().local:
        # No accounts, but forms still prove they came from our own pages.
        if request.method not in SAFE_METHODS and not request.path.startswith("/api/"):
            csrf.protect()
        return None
    if request.endpoint in PUBLIC:
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            raise AuthError(
                "sign in, or send an API token: Authorization: Bearer <token> "
                "(create one with `kb users token NAME`)"
            )
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    # A session cookie rides along with any request the browser makes, so changes need
    # proof that they came from our pages; an API token cannot be sent by another site.
    if request.method not in SAFE_METHODS and not g.get("kb_token"):
        csrf.protect()
    return None


def record(response):
    """After each request: the audit trail's line for what it did, if anything."""
    state = auth()
    action = g.pop("kb_action", None) or ACTIONS.get(request.endpoint or "")
    if action is None or not g.get("kb_started") or not state.audit.writable:
        return response
    if action == "search" and request.method == "GET" and not request.args.get("q"):
        return response  # an empty search page is not a search
    if action in ("admin", "login", "logout") and request.method in SAFE_METHODS:
        return response  # showing a form is not an action
    user = signed_in()
    name = g.pop("kb_login_name", None) or (user.name if user else "anonymous")
    role = user.role if user else ""
    state.audit.record(
        name,
        role,
        action,
        g.pop("kb_target", None) or _target(),
        status=response.status_code,
        ip=request.remote_addr or "",
        detail=_detail(),
    )
    return response


def identity() -> dict:
    """What every template knows: who is signed in, and whether this is local mode."""
    return {"user": signed_in(), "local_mode": auth().local}


def _body() -> dict | None:
    """The JSON object the request sent, if any (never raises: this runs after errors too)."""
    if not request.is_json:
        return None
    try:
        body = request.get_json(silent=True)
    except HTTPException:  # e.g. over the size limit
        return None
    return body if isinstance(body, dict) else None


def _target() -> str:
    if request.view_args:
        return " ".join(str(v) for v in request.view_args.values())
    body = _body()
    if body is not None:
        return str(body.get("q") or body.get("query") or "")
    return request.args.get("q", "")


def _detail() -> dict:
    detail: dict = {"endpoint": request.endpoint, "method": request.method}
    args = {k: v for k, v in request.args.items(multi=True) if k != "q"}
    if args:
        detail["args"] = args
    body = _body()
    if body is not None:
        detail["body"] = {k: v for k, v in body.items() if "password" not in k}
    outcome = g.get("kb_outcome")
    if outcome:  # what a search found: results, time, whether the answer card answered
        detail["outcome"] = {**outcome, "ms": round((time.perf_counter() - g.kb_started) * 1000, 1)}
    return detail


def _secret_key(folder: Path, local: bool) -> bytes:
    """The session signing key of the user data folder, created on first use (readable by its
    owner only)."""
    path = folder / "secret.key"
    if not path.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker won the race
        except OSError as exc:
            if not local or problem(exc) is None:
                raise
            # Local mode has no sign-in: the key only signs the forms' CSRF tokens, and every
            # form that posts would write to this read-only folder anyway.
            return secrets.token_bytes(32)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
    return path.read_bytes()


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host."""
    if not target:
        return url_for("ui.search")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.search")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Password sign-in."""
    state = auth()
    if state.local:
        return redirect(url_for("ui.search"))
    target = _safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip().lower()[:64]
        g.kb_login_name = name or "?"
        attempt = state.audit.sign_in_attempt(
            g.kb_login_name,
            request.remote_addr or "",
            limit=MAX_FAILURES,
            window=FAILURE_WINDOW,
        )
        if attempt is None:
            error = "Too many failed sign-ins for this name; wait 15 minutes and try again."
            status = 429
            g.kb_action = "login_refused"
        else:
            g.kb_target = f"#{attempt}"  # the outcome event names its attempt
            user = state.users.authenticate(name, request.form.get("password", ""))
            if user is not None:
                previous = signed_in()
                if previous is not None and previous.session_id:
                    state.users.end_session(previous.session_id)  # not two live cookies
                session.clear()
                login_user(state.users.start_session(user, state.settings.session_hours))
                session.permanent = True
                return redirect(target)
            error = "Wrong name or password."
            status = 401
            g.kb_action = "login_failed"
    return render_template("login.html", error=error, next=target), status


@bp.post("/logout")
def logout():
    """End the session, on the server too: a copy of the cookie stops working."""
    user = signed_in()
    if user is not None and user.session_id:
        auth().users.end_session(user.session_id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login") if not auth().local else url_for("ui.search"))
