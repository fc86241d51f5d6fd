"""Sign-in, roles, visibility, CSRF, tokens and the audit trail, on the shipped corpus with
`auth = users`. The route walk covers every route of the app as every role: a route added
without an entry here fails `test_every_route_is_walked`."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sqlite3
from urllib.parse import quote_plus

import pytest

from kb.web import create_app
from tests.conftest import raw_user_data

PASSWORD = "correct horse battery"
ROLES = ("moderator", "policy", "admin")


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def kb_settings(request, corpus_settings):
    """The sample corpus with its indexes in files, and in PostgreSQL: every walk runs on both."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_corpus_settings")
    return corpus_settings


@pytest.fixture(scope="module")
def users_app(kb_settings):
    app = create_app(kb_settings.replace(auth="users", secure_cookies=False), testing=True)
    store = app.extensions["kb_auth"].users
    for role in ROLES:
        if store.find(f"t-{role}") is None:
            store.add(f"t-{role}", role, PASSWORD)
    return app


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(app, name: str, password: str = PASSWORD):
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


@pytest.fixture(scope="module")
def clients(users_app):
    return {role: login(users_app, f"t-{role}") for role in ROLES}


@pytest.fixture(scope="module")
def hidden(users_app):
    """What moderators must never see: restricted rulings, policy-team guidance and
    historical policy versions, as ids and as text that appears nowhere they may look."""
    searcher = users_app.extensions["kb"].searcher
    # The generation's catalog file, whichever store the server reads it from.
    db = sqlite3.connect(searcher.generation / "catalog.sqlite")
    restricted = [
        r[0]
        for r in db.execute(
            "SELECT d.doc_id FROM documents d JOIN versions v ON v.doc_id = d.doc_id "
            "WHERE d.doc_type = 'ruling' AND json_extract(v.metadata, '$.visibility') != 'all'"
        )
    ]
    team = [
        r[0]
        for r in db.execute(
            "SELECT d.doc_id FROM documents d JOIN versions v ON v.doc_id = d.doc_id "
            "WHERE d.doc_type = 'guidance' AND json_extract(v.metadata, '$.visibility') != 'all'"
        )
    ]
    old = db.execute(
        "SELECT v.doc_id, v.version_id FROM versions v JOIN documents d ON d.doc_id = v.doc_id "
        "WHERE d.doc_type = 'policy' AND v.status = 'historical' ORDER BY v.doc_id"
    ).fetchone()
    assert restricted and team and old
    visible_text = " ".join(
        r[0]
        for r in db.execute(
            "SELECT p.text FROM passages p JOIN versions v ON v.version_id = p.version_id "
            "WHERE v.status = 'current' AND json_extract(v.metadata, '$.visibility') = 'all'"
        )
    )
    markers = {f'"{case}"' for case in restricted} | {f"/documents/{case}" for case in restricted}
    for doc in (*restricted, *team):
        version = searcher.catalog.document(doc).versions[0]
        markers |= {f'"{p.passage_id}"' for p in searcher.catalog.passages_of(version.version_id)}
        markers.add(version.title)
    # A link to the old version, however it ends (not version=25 inside version=251).
    markers |= {f'"{p.passage_id}"' for p in searcher.catalog.passages_of(old[1])} | {
        f"version={old[1]}{end}" for end in ('"', "#", "&", "\n", ",")
    }
    markers = {m for m in markers if m.strip('"') not in visible_text}
    team_passage = searcher.catalog.passages_of(
        searcher.catalog.document(team[0]).versions[0].version_id
    )[0]
    case = restricted[0]
    facts = searcher.catalog.current_ruling(case).facts
    return {
        "ruling": case,
        "facts": facts,
        "guidance": team[0],
        "guidance_passage": team_passage.passage_id,
        "guidance_title": searcher.catalog.document(team[0]).title,
        "old_doc": old[0],
        "old_version": old[1],
        "old_passage": searcher.catalog.passages_of(old[1])[0].passage_id,
        "markers": markers,
    }


@pytest.fixture(scope="module")
def collection(clients, hidden, users_app):
    """A collection holding one visible passage and the hidden ruling and guidance passage."""
    policy = clients["policy"]
    headers = {"X-CSRFToken": csrf_of(policy.get("/").get_data(as_text=True))}
    r = policy.post("/api/collections", json={"name": "walk"}, headers=headers)
    assert r.status_code in (201, 409), r.get_json()
    visible = policy.get("/api/search", query_string={"q": "sparkler child", "k": 1}).get_json()
    refs = [
        visible["results"][0]["passage_id"],
        hidden["ruling"],
        hidden["guidance_passage"],
    ]
    for ref in refs:
        r = policy.post("/api/collections/walk/items", json={"ref": ref}, headers=headers)
        assert r.status_code == 201, r.get_json()
    return "walk"


def _walk(hidden, collection):
    """(method, url, kwargs, {role: expected status}) for every route; `None` expects a
    2xx/3xx answer. Moderators must get 404 for hidden things and 403 for policy tools."""
    h = hidden
    ok = {"moderator": None, "policy": None, "admin": None}
    policy_only = {"moderator": 403, "policy": None, "admin": None}
    admin_only = {"moderator": 403, "policy": 403, "admin": None}
    hide = {"moderator": 404, "policy": None, "admin": None}
    search = {"q": h["facts"][:300]}
    title_search = {"q": h["guidance_title"]}
    return {
        "/": [
            ("get", "/", {"query_string": search}, ok),
            # Lists without a query: every ruling, and the hidden one asked for by id.
            ("get", "/", {"query_string": {"type": "ruling", "k": 100}}, ok),
            ("get", "/", {"query_string": {"doc_id": h["ruling"]}}, ok),
        ],
        "/api/search": [
            ("get", "/api/search", {"query_string": search}, ok),
            ("post", "/api/search", {"json": {**title_search, "k": 50}}, ok),
            ("get", "/api/search", {"query_string": {**search, "history": "1"}}, ok),
            ("get", "/api/search", {"query_string": {**title_search, "as_of": "2023-01-01"}}, ok),
            ("get", "/api/search", {"query_string": {"type": "ruling", "format": "csv"}}, ok),
            ("get", "/api/search", {"query_string": {**search, "format": "csv"}}, ok),
            ("get", "/api/search", {"query_string": {"type": "guidance", "sort": "date"}}, ok),
        ],
        "/api/answer": [("get", "/api/answer", {"query_string": title_search}, ok)],
        "/api/rulings/similar": [
            ("get", "/api/rulings/similar", {"query_string": search}, ok),
            ("get", "/api/rulings/similar", {"query_string": {"case_id": h["ruling"]}}, hide),
        ],
        "/rulings/similar": [("get", "/rulings/similar", {"query_string": search}, ok)],
        "/documents": [
            ("get", "/documents", {}, ok),
            ("get", "/documents", {"query_string": {"type": "ruling"}}, ok),
            ("get", "/documents", {"query_string": {"type": "guidance", "owner": "x"}}, ok),
            ("get", "/documents", {"query_string": {"page": "2"}}, ok),
        ],
        "/documents/<doc_id>": [
            ("get", f"/documents/{h['ruling']}", {}, hide),
            ("get", f"/documents/{h['guidance']}", {}, hide),
            (
                "get",
                f"/documents/{h['old_doc']}",
                {"query_string": {"version": h["old_version"]}},
                hide,
            ),
            ("get", f"/documents/{h['old_doc']}", {}, ok),
        ],
        "/api/documents/<doc_id>": [
            ("get", f"/api/documents/{h['ruling']}", {}, hide),
            ("get", f"/api/documents/{h['guidance']}", {}, hide),
            (
                "get",
                f"/api/documents/{h['old_doc']}",
                {"query_string": {"version": h["old_version"]}},
                hide,
            ),
            ("get", f"/api/documents/{h['old_doc']}", {}, ok),
        ],
        "/documents/<doc_id>/diff": [("get", f"/documents/{h['old_doc']}/diff", {}, policy_only)],
        "/api/documents/<doc_id>/diff": [
            ("get", f"/api/documents/{h['old_doc']}/diff", {}, policy_only)
        ],
        "/review": [("get", "/review", {}, policy_only)],
        "/api/review": [
            ("get", "/api/review", {}, policy_only),
            ("get", "/api/review?format=csv", {}, policy_only),
        ],
        "/documents/<doc_id>/impact": [
            ("get", f"/documents/{h['old_doc']}/impact", {}, policy_only)
        ],
        "/api/documents/<doc_id>/impact": [
            ("get", f"/api/documents/{h['old_doc']}/impact", {}, policy_only),
            ("get", f"/api/documents/{h['old_doc']}/impact?format=csv", {}, policy_only),
        ],
        "/passages/<passage_id>": [
            ("get", f"/passages/{h['guidance_passage']}", {}, hide),
            ("get", f"/passages/{h['old_passage']}", {}, hide),
        ],
        "/clauses/<clause_id>": [
            ("get", "/clauses/live-dng-3.1", {}, ok),
            ("get", "/clauses/NO-SUCH-1", {}, {role: 404 for role in ok}),
        ],
        "/api/passages/<passage_id>": [
            ("get", f"/api/passages/{h['guidance_passage']}", {}, hide),
            ("get", f"/api/passages/{h['old_passage']}", {}, hide),
        ],
        "/consistency": [("get", "/consistency", {}, policy_only)],
        "/api/consistency": [
            ("get", "/api/consistency", {}, policy_only),
            ("get", "/api/consistency?format=csv", {}, policy_only),
        ],
        "/api/consistency/resolve": [
            (
                "post",
                "/api/consistency/resolve",
                {"json": {"case_id": "ESC-0000", "standing": "both", "note": "x"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/consistency/resolve": [
            (
                "post",
                "/consistency/resolve",
                {"data": {"case_id": "ESC-0000", "standing": "both", "note": "x"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/feedback": [
            ("get", "/feedback", {}, ok),
            (
                "post",
                "/feedback",
                {"data": {"q": "x", "judgment": f"{h['guidance_passage']} helpful"}},
                hide,
            ),
        ],
        "/usage": [("get", "/usage", {}, policy_only)],
        "/usage/searches.svg": [("get", "/usage/searches.svg", {}, policy_only)],
        "/trends": [("get", "/trends", {}, ok)],
        "/trends/<name>.svg": [
            ("get", "/trends/outcome.svg", {}, ok),
            ("get", "/trends/nope.svg", {}, {role: 404 for role in ok}),
        ],
        "/api/trends": [
            ("get", "/api/trends", {}, ok),
            ("get", "/api/trends", {"query_string": {"format": "csv", "region": "uk"}}, ok),
        ],
        "/api/usage": [("get", "/api/usage", {}, policy_only)],
        "/api/gaps": [
            ("get", "/api/gaps", {}, policy_only),
            ("get", "/api/gaps?format=csv", {}, policy_only),
        ],
        "/api/feedback": [
            ("get", "/api/feedback", {}, ok),
            ("get", "/api/feedback", {"query_string": {"all": "1"}}, policy_only),
            (
                "post",
                "/api/feedback",
                {"json": {"q": "x", "passage_id": h["old_passage"], "verdict": "not_helpful"}},
                hide,
            ),
        ],
        "/collections": [
            ("get", "/collections", {}, ok),
            (
                "post",
                "/collections",
                {"data": {"name": "bad name!"}},
                {**policy_only, "policy": 400, "admin": 400},
            ),
        ],
        "/collections/<name>": [("get", f"/collections/{collection}", {}, ok)],
        "/collections/<name>/edit": [
            (
                "post",
                "/collections/nope/edit",
                {"data": {"name": "other"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/collections/<name>/delete": [
            ("post", "/collections/nope/delete", {}, {**policy_only, "policy": 404, "admin": 404})
        ],
        "/collections/<name>/items/<int(max=9223372036854775807):item_id>": [
            (
                "post",
                "/collections/nope/items/1",
                {"data": {"action": "up"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/api/collections": [
            ("get", "/api/collections", {}, ok),
            ("post", "/api/collections", {"json": {"name": "mine"}}, policy_only),
        ],
        "/api/collections/<name>": [
            ("get", f"/api/collections/{collection}", {}, ok),
            ("delete", "/api/collections/nope", {}, {**policy_only, "policy": 404, "admin": 404}),
            (
                "patch",
                "/api/collections/nope",
                {"json": {"name": "other"}},
                {**policy_only, "policy": 404, "admin": 404},
            ),
        ],
        "/api/collections/<name>/export": [
            ("get", f"/api/collections/{collection}/export", {"query_string": {"format": f}}, ok)
            for f in ("md", "csv")
        ],
        "/api/collections/<name>/items": [
            (
                "post",
                "/api/collections/nope/items",
                {"json": {"ref": "x"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/api/collections/<name>/items/<int(max=9223372036854775807):item_id>": [
            (
                "patch",
                "/api/collections/nope/items/1",
                {"json": {"note": "x"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/api/rulings/<case_id>/statement": [
            ("get", f"/api/rulings/{h['ruling']}/statement", {}, hide)
        ],
        "/api/rulings/<case_id>/teaching": [
            (
                "put",
                "/api/rulings/ESC-0000/teaching",
                {"json": {"teaching_example": True}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/collections/add": [
            (
                "post",
                "/collections/add",
                {"data": {"collection": collection, "ref": "nope"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/rulings/<case_id>/teaching": [
            (
                "post",
                "/rulings/ESC-0000/teaching",
                {"data": {"teaching_example": "true"}},
                {**policy_only, "policy": 404, "admin": 404},
            )
        ],
        "/admin/users": [("get", "/admin/users", {}, admin_only)],
        "/admin/users/<name>/remove": [
            ("post", "/admin/users/nobody/remove", {}, {**admin_only, "admin": 404})
        ],
        "/admin/users/<name>/role": [
            (
                "post",
                "/admin/users/nobody/role",
                {"data": {"role": "policy"}},
                {**admin_only, "admin": 404},
            )
        ],
        "/admin/users/<name>/tokens": [
            ("post", "/admin/users/nobody/tokens", {}, {**admin_only, "admin": 404})
        ],
        "/admin/tokens/<token_id>/revoke": [
            ("post", "/admin/tokens/nope/revoke", {}, {**admin_only, "admin": 404})
        ],
        "/admin/audit": [("get", "/admin/audit", {}, admin_only)],
        "/api/audit": [("get", "/api/audit", {}, admin_only)],
        "/api/health": [("get", "/api/health", {}, ok)],
        "/api/openapi.json": [("get", "/api/openapi.json", {}, ok)],
        "/login": [("get", "/login", {}, ok)],
        "/logout": [],  # ends the session: covered by test_logout_ends_the_session
        "/static/<path:filename>": [("get", "/static/app.css", {}, ok)],
    }


def test_every_route_is_walked(users_app, hidden):
    rules = {r.rule for r in users_app.url_map.iter_rules()}
    assert rules == set(_walk(hidden, "walk"))


def _call(client, method, url, kwargs):
    kwargs = dict(kwargs)
    if method != "get":
        page = client.get("/").get_data(as_text=True)
        token = csrf_of(page)
        if "data" in kwargs or "json" not in kwargs:
            kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": token}
        else:
            kwargs["headers"] = {"X-CSRFToken": token}
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("role", ROLES)
def test_walk_every_route_as_each_role(users_app, clients, hidden, collection, role):
    client = clients[role]
    store = users_app.extensions["kb"].collections
    if any(c["name"] == "mine" for c in store.names()):
        store.delete("mine")  # each role's walk creates it afresh
    seen_hidden = False
    for calls in _walk(hidden, collection).values():
        for method, url, kwargs, expected in calls:
            r = _call(client, method, url, kwargs)
            want = expected[role]
            where = f"{role} {method.upper()} {url} {kwargs}"
            if want is None:
                assert r.status_code < 400, (where, r.status_code, r.get_data(as_text=True)[:300])
            else:
                assert r.status_code == want, (where, r.status_code)
            body = r.get_data(as_text=True)
            r.close()
            asked = (kwargs.get("query_string") or kwargs.get("json") or {}).get("q")
            if asked:  # the query itself is echoed back; it is not a leak
                for form in (asked, html.escape(asked), json.dumps(asked)[1:-1], quote_plus(asked)):
                    body = body.replace(form, "")
            leaked = {m for m in hidden["markers"] if m in body}
            if role == "moderator":
                assert not leaked, (where, leaked)
            else:
                seen_hidden |= bool(leaked)
    if role != "moderator":
        # The same walk shows the hidden things to those cleared for them.
        assert seen_hidden


def test_moderator_search_filters_inside_the_retrievers(clients, hidden):
    """Filtering happens before top-k: a moderator asking with a restricted ruling's own
    facts still gets a full page of (visible) rulings, and facets count only visible ones."""
    for role, expect_hidden in (("moderator", False), ("policy", True)):
        body = (
            clients[role]
            .get(
                "/api/search",
                query_string={"q": hidden["facts"], "type": "ruling", "k": 10},
            )
            .get_json()
        )
        ids = [h["document_id"] for h in body["results"]]
        assert len(ids) == 10
        assert (hidden["ruling"] in ids) is expect_hidden
    # Asking for the hidden ruling by id: nothing, not even a facet count, for moderators.
    asked = {"q": "stream", "doc_id": hidden["ruling"]}
    mod = clients["moderator"].get("/api/search", query_string=asked).get_json()
    pol = clients["policy"].get("/api/search", query_string=asked).get_json()
    assert mod["results"] == [] and mod["facets"]["type"] == {}
    assert pol["results"] and pol["facets"]["type"] == {"ruling": len(pol["results"])}


def test_collection_export_and_counts_leave_hidden_items_out(clients, collection):
    listed = {
        c["name"]: c["items"]
        for c in clients["moderator"].get("/api/collections").get_json()["collections"]
    }
    full = {
        c["name"]: c["items"]
        for c in clients["policy"].get("/api/collections").get_json()["collections"]
    }
    assert (listed[collection], full[collection]) == (1, 3)
    csv_text = (
        clients["moderator"]
        .get(f"/api/collections/{collection}/export", query_string={"format": "csv"})
        .get_data(as_text=True)
    )
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["kind"] for r in rows] == ["passage"]  # only the one visible item


def test_not_signed_in_gets_401_from_the_api_and_the_login_page_elsewhere(users_app):
    client = users_app.test_client()
    r = client.get("/api/search", query_string={"q": "x"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "auth"
    r = client.get("/documents/x")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert client.get("/api/health").status_code == 200


def test_login_needs_csrf_and_sets_a_hardened_cookie(kb_settings, users_app):
    client = users_app.test_client()
    r = client.post("/login", data={"name": "t-policy", "password": PASSWORD})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    secure = create_app(kb_settings.replace(auth="users"), testing=True)
    c = secure.test_client()
    token = csrf_of(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"name": "t-policy", "password": PASSWORD, "csrf_token": token})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_wrong_passwords_are_throttled(users_app):
    store = users_app.extensions["kb_auth"].users
    if store.find("t-throttle") is None:
        store.add("t-throttle", "moderator", PASSWORD)
    client = users_app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    codes = [
        client.post(
            "/login",
            data={"name": "t-throttle", "password": "wrong password!", "csrf_token": token},
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    r = client.post(
        "/login", data={"name": "t-throttle", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 429  # even the right password waits out the window


def test_session_api_changes_need_the_csrf_header_tokens_do_not(users_app, clients):
    policy = clients["policy"]
    r = policy.post("/api/collections", json={"name": "csrf-check"})
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]["message"]
    store = users_app.extensions["kb_auth"].users
    token_id, secret = store.create_token("t-policy", "test")
    bearer = users_app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert (
        bearer.post("/api/collections", json={"name": "csrf-check"}, headers=auth).status_code
        == 201
    )
    assert bearer.get("/api/search", query_string={"q": "gift"}, headers=auth).status_code == 200
    store.revoke_token(token_id)
    assert bearer.get("/api/search", query_string={"q": "gift"}, headers=auth).status_code == 401
    assert (
        bearer.get(
            "/api/search",
            query_string={"q": "gift"},
            headers={"Authorization": "Bearer kbt_forged"},
        ).status_code
        == 401
    )


def test_removing_a_user_or_changing_a_password_ends_their_sessions(users_app):
    store = users_app.extensions["kb_auth"].users
    store.add("t-leaver", "policy", PASSWORD)
    client = login(users_app, "t-leaver")
    assert client.get("/api/consistency").status_code == 200
    store.set_role("t-leaver", "moderator")
    assert client.get("/api/consistency").status_code == 401
    client = login(users_app, "t-leaver")
    assert client.get("/api/consistency").status_code == 403
    store.remove("t-leaver")
    assert client.get("/api/search", query_string={"q": "x"}).status_code == 401


def test_logout_ends_the_session(users_app):
    client = login(users_app, "t-moderator")
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/search", query_string={"q": "x"}).status_code == 401


def test_admin_manages_users_and_tokens_through_forms(users_app, clients):
    admin = clients["admin"]
    token = csrf_of(admin.get("/admin/users").get_data(as_text=True))
    r = admin.post(
        "/admin/users",
        data={"name": "t-new", "role": "moderator", "password": "short", "csrf_token": token},
    )
    assert r.status_code == 400 and "at least 10" in r.get_data(as_text=True)
    r = admin.post(
        "/admin/users",
        data={"name": "t-new", "role": "moderator", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 302
    page = admin.post(
        "/admin/users/t-new/tokens", data={"label": "bot", "csrf_token": token}
    ).get_data(as_text=True)
    secret = re.search(r"(kbt_[\w-]+)", page).group(1)
    r = users_app.test_client().get(
        "/api/search", query_string={"q": "gift"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert r.status_code == 200
    assert admin.post("/admin/users/t-new/remove", data={"csrf_token": token}).status_code == 302
    r = users_app.test_client().get(
        "/api/search", query_string={"q": "gift"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert r.status_code == 401
    assert "t-new" not in admin.get("/admin/users").get_data(as_text=True)


def test_audit_records_who_did_what_and_cannot_be_rewritten(users_app, clients, kb_settings):
    clients["moderator"].get(
        "/api/search", query_string={"q": "audit trail probe", "type": "policy"}
    )
    clients["moderator"].get("/api/collections/walk/export", query_string={"format": "md"})
    events = (
        clients["admin"]
        .get("/api/audit", query_string={"user": "t-moderator"})
        .get_json()["events"]
    )
    probe = next(e for e in events if e["target"] == "audit trail probe")
    assert probe["action"] == "search" and probe["role"] == "moderator" and probe["status"] == 200
    assert probe["detail"]["args"] == {"type": "policy"}
    assert any(e["action"] == "export" and e["target"] == "walk" for e in events)
    csv_text = (
        clients["admin"]
        .get("/admin/audit", query_string={"format": "csv", "user": "t-moderator"})
        .get_data(as_text=True)
    )
    assert csv_text.startswith("event_id,at,user") and "audit trail probe" in csv_text
    with raw_user_data(kb_settings.user_store(), "audit.sqlite") as (db, refused):
        for sql in ("UPDATE events SET \"user\" = 'x'", "DELETE FROM events"):
            with pytest.raises(refused, match="append-only"):
                db.execute(sql)
    # Passwords never reach the log.
    raw = json.dumps(clients["admin"].get("/api/audit", query_string={"limit": 1000}).get_json())
    assert PASSWORD not in raw


def test_local_mode_is_shown_and_needs_no_sign_in(client):
    page = client.get("/").get_data(as_text=True)
    assert "local mode" in page and "Sign out" not in page
    assert client.get("/api/consistency").status_code == 200
    assert client.get("/login").status_code == 302


def test_health_tells_sizes_only_to_those_who_see_everything(users_app, clients):
    anonymous = users_app.test_client().get("/api/health").get_json()
    assert set(anonymous) == {"status", "generation"}
    assert "passages" not in clients["moderator"].get("/api/health").get_json()
    assert clients["policy"].get("/api/health").get_json()["passages"] > 0


def test_policy_adds_results_to_collections_and_flags_teaching_examples_from_the_pages(
    clients, collection
):
    policy = clients["policy"]
    page = policy.get("/", query_string={"q": "sparkler toddler"}).get_data(as_text=True)
    assert "Add to collection" in page
    assert "Add to collection" not in clients["moderator"].get(
        "/", query_string={"q": "sparkler toddler"}
    ).get_data(as_text=True)
    ref = re.search(r'name="ref" value="([^"]+)"', page).group(1)
    before = len(policy.get(f"/api/collections/{collection}").get_json()["items"])
    r = policy.post(
        "/collections/add",
        data={"collection": collection, "ref": ref, "csrf_token": csrf_of(page)},
    )
    assert r.status_code == 302
    assert len(policy.get(f"/api/collections/{collection}").get_json()["items"]) == before + 1
    case = "ESC-1010"
    ruling = policy.get(f"/documents/{case}").get_data(as_text=True)
    flag = re.search(r'name="teaching_example" value="(true|false)"', ruling).group(1)
    r = policy.post(
        f"/rulings/{case}/teaching",
        data={"teaching_example": flag, "csrf_token": csrf_of(ruling)},
    )
    assert r.status_code == 302
    after = policy.get(f"/documents/{case}").get_data(as_text=True)
    shown = "yes" if flag == "true" else "no"
    assert f"<dt>Teaching example</dt><dd>{shown}" in after


def test_collection_positions_are_numbered_over_what_the_reader_may_see(clients, hidden):
    policy, moderator = clients["policy"], clients["moderator"]
    headers = {"X-CSRFToken": csrf_of(policy.get("/").get_data(as_text=True))}
    assert (
        policy.post("/api/collections", json={"name": "gaps"}, headers=headers).status_code == 201
    )
    found = moderator.get(
        "/api/search", query_string={"q": "sparkler child", "k": 2, "type": "policy"}
    ).get_json()["results"]
    visible = [r["passage_id"] for r in found]
    refs = [hidden["ruling"], visible[0], hidden["guidance_passage"], visible[1]]
    ids = [
        policy.post("/api/collections/gaps/items", json={"ref": r}, headers=headers).get_json()[
            "item_id"
        ]
        for r in refs
    ]
    seen = moderator.get("/api/collections/gaps").get_json()["items"]
    assert [(i["position"], i["ref"]) for i in seen] == [(1, visible[0]), (2, visible[1])]
    md = moderator.get("/api/collections/gaps/export", query_string={"format": "md"})
    assert re.findall(r"^## (\d+)\.", md.get_data(as_text=True), re.M) == ["1", "2"]
    rows = csv.DictReader(
        io.StringIO(
            moderator.get("/api/collections/gaps/export", query_string={"format": "csv"}).get_data(
                as_text=True
            )
        )
    )
    assert [r["position"] for r in rows] == ["1", "2"]
    everything = policy.get("/api/collections/gaps").get_json()["items"]
    assert [i["position"] for i in everything] == [1, 2, 3, 4]
    # Removing an item leaves no gap either.
    assert (
        policy.delete(f"/api/collections/gaps/items/{ids[1]}", headers=headers).status_code == 204
    )
    after = policy.get("/api/collections/gaps").get_json()["items"]
    assert [(i["position"], i["ref"]) for i in after] == [(1, refs[0]), (2, refs[2]), (3, refs[3])]
