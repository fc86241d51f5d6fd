"""Admin pages: users, API tokens and the audit log (role `admin`)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from kb.errors import QueryError
from kb.users import ROLES
from kb.web.auth import auth, current, require
from kb.web.params import date_param
from kb.web.views import attachment

bp = Blueprint("admin", __name__)


def audit_query(args) -> tuple[list[dict], dict]:
    """Audit events for the filters in `args` (user, action, since, until, limit, before)."""
    filters = {k: args.get(k, "").strip() for k in ("user", "action", "since", "until")}
    for key in ("since", "until"):  # the API and the page take dates; `kb audit` timestamps too
        date_param(filters[key] or None, key)
    if args.get("format", "json") not in ("json", "csv", ""):
        raise QueryError(f"unknown format {args.get('format')!r}; valid: json, csv")
    try:
        limit = int(args.get("limit") or 100)
        before = int(args["before"]) if args.get("before") else None
    except ValueError:
        raise QueryError("limit and before must be integers") from None
    events = auth().audit.events(
        **{k: v or None for k, v in filters.items()}, limit=limit, before=before
    )
    return events, filters


def audit_csv(events: list[dict]):
    """An audit export response."""
    return attachment(auth().audit.to_csv(events), "audit.csv")


@bp.route("/admin/users", methods=["GET", "POST"])
@require("admin")
def users():
    """Users and their tokens; POST adds a user (name, role, password)."""
    store = auth().users
    error = None
    status = 200
    if request.method == "POST":
        try:
            store.add(
                request.form.get("name", ""),
                request.form.get("role", ""),
                request.form.get("password", ""),
            )
            return redirect(url_for("admin.users"))
        except QueryError as exc:
            error, status = str(exc), 400
    return _users_page(error=error), status


def _users_page(**extra):
    store = auth().users
    return render_template(
        "admin_users.html",
        users=store.list(),
        tokens=store.tokens(),
        roles=ROLES,
        local=auth().local,
        **extra,
    )


@bp.post("/admin/users/<name>/remove")
@require("admin")
def user_remove(name: str):
    """Remove a user (never the last admin)."""
    auth().users.remove(name)
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<name>/role")
@require("admin")
def user_role(name: str):
    """Change a user's role (never demoting the last admin)."""
    auth().users.set_role(name, request.form.get("role", ""))
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<name>/tokens")
@require("admin")
def token_create(name: str):
    """A new API token; its secret is shown on this page once and never again."""
    token_id, secret = auth().users.create_token(name, request.form.get("label", ""))
    return _users_page(new_token={"token_id": token_id, "user": name, "secret": secret})


@bp.post("/admin/tokens/<token_id>/revoke")
@require("admin")
def token_revoke(token_id: str):
    """Revoke an API token."""
    auth().users.revoke_token(token_id)
    return redirect(url_for("admin.users"))


@bp.get("/admin/audit")
@require("admin")
def audit():
    """The audit log, newest first, filterable; `format=csv` exports it."""
    events, filters = audit_query(request.args)
    if request.args.get("format") == "csv":
        g.kb_action = "export"
        return audit_csv(events)
    return render_template(
        "admin_audit.html", events=events, filters=filters, viewer=current().name
    )
