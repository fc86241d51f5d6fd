"""Sessions, API tokens and the sign-in throttle under real use: cookies replayed after
sign-out or after a user is removed and re-added, and many threads at once against the real
app and real user data: SQLite files, and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kb.audit import AuditLog
from kb.users import Users
from kb.web import create_app
from tests.conftest import user_store_env

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def auth_app(corpus_settings):
    return create_app(corpus_settings.replace(auth="users", secure_cookies=False), testing=True)


@pytest.fixture
def app(auth_app, user_store):
    """The users-mode app with its own, empty user store and audit log for this test (in a
    folder, and in PostgreSQL)."""
    state = auth_app.extensions["kb_auth"]
    real = state.users, state.audit
    state.users, state.audit = Users(user_store), AuditLog(user_store)
    yield auth_app
    state.users.close()
    state.audit.close()
    state.users, state.audit = real


def on_store(app, where):
    """`app` with the user store and audit log at `where` (another worker of one server)."""
    state = app.extensions["kb_auth"]
    state.users.close()
    state.audit.close()
    state.users, state.audit = Users(where), AuditLog(where)
    return app


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_many_new_api_tokens_used_at_once_never_fail(app):
    store = app.extensions["kb_auth"].users
    store.add("t-admin", "admin", PASSWORD)

    def use(secret: str, start: threading.Barrier) -> list[int]:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        start.wait()
        return [
            client.get("/api/audit", query_string={"limit": 1}, headers=headers).status_code
            for _ in range(8)
        ]

    codes = []
    for _ in range(3):  # 24 new tokens at once, 8 requests each, three times
        secrets = [store.create_token("t-admin", f"bot {i}")[1] for i in range(24)]
        start = [threading.Barrier(len(secrets))] * len(secrets)
        with ThreadPoolExecutor(len(secrets)) as pool:
            codes += [c for cs in pool.map(use, secrets, start) for c in cs]
    assert codes == [200] * 3 * 192
    assert all(t["last_used"] for t in store.tokens("t-admin"))


def sign_in(app, name: str, password: str = PASSWORD):
    """A test client signed in as `name`, and its session cookie's value."""
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client, client.get_cookie("kb_session").value


def replay(app, cookie: str, url: str = "/api/audit") -> int:
    """The status a fresh client gets for `url` with a copied session cookie."""
    client = app.test_client()
    client.set_cookie("kb_session", cookie)
    return client.get(url, query_string={"limit": 1}).status_code


def test_a_session_cookie_replayed_after_sign_out_is_refused(app):
    app.extensions["kb_auth"].users.add("t-admin", "admin", PASSWORD)
    client, cookie = sign_in(app, "t-admin")
    assert replay(app, cookie) == 200
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert replay(app, cookie) == 401


def test_a_removed_user_added_again_does_not_get_old_sessions_back(
    app, user_store, tmp_path, runner
):
    from kb.cli import main

    def kb_users(*args: str, password: str = "") -> None:
        result = runner.invoke(
            main,
            ["--data-dir", str(tmp_path), "users", *args],
            input=password + "\n",
            env=user_store_env(user_store),
        )
        assert result.exit_code == 0, result.output

    kb_users("add", "t-admin", "--role", "admin", "--password-stdin", password=PASSWORD)
    kb_users("add", "bob", "--role", "moderator", "--password-stdin", password=PASSWORD)
    _, cookie = sign_in(app, "bob")
    assert replay(app, cookie) == 403  # bob is signed in, and a moderator
    kb_users("remove", "bob")
    assert replay(app, cookie) == 401
    kb_users("add", "bob", "--role", "admin", "--password-stdin", password=PASSWORD)
    assert replay(app, cookie) == 401  # the new bob is someone else
    _, fresh = sign_in(app, "bob")
    assert replay(app, fresh) == 200


def test_password_and_role_changes_end_sessions_but_keep_api_tokens(app):
    store = app.extensions["kb_auth"].users
    store.add("t-admin", "admin", PASSWORD)
    store.add("bob", "admin", PASSWORD)
    _, secret = store.create_token("bob", "bot")
    bearer = {"Authorization": f"Bearer {secret}"}
    _, cookie = sign_in(app, "bob")
    store.set_password("bob", "another long password")
    assert replay(app, cookie) == 401
    _, cookie = sign_in(app, "bob", "another long password")
    store.set_role("bob", "policy")
    assert replay(app, cookie) == 401
    # Tokens are separate credentials an admin issues and revokes: they survive a password
    # change, and always carry the user's current role.
    r = app.test_client().get("/api/audit", headers=bearer)
    assert r.status_code == 403
    store.set_role("bob", "admin")
    assert app.test_client().get("/api/audit", headers=bearer).status_code == 200


def test_a_removed_users_tokens_die_with_them_and_are_not_inherited(app):
    store = app.extensions["kb_auth"].users
    store.add("t-admin", "admin", PASSWORD)
    store.add("bob", "admin", PASSWORD)
    _, secret = store.create_token("bob", "bot")
    store.remove("bob")
    store.add("bob", "admin", PASSWORD)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/audit", headers=bearer).status_code == 401
    assert store.tokens("bob") == []


def test_sessions_expire_on_the_server_after_session_hours(corpus_settings, tmp_path, user_store):
    settings = corpus_settings.replace(
        auth="users", secure_cookies=False, data_dir=tmp_path, session_hours=1.5 / 3600
    )
    app = on_store(create_app(settings, testing=True), user_store)  # no index is needed here
    app.extensions["kb_auth"].users.add("t-admin", "admin", PASSWORD)
    _, cookie = sign_in(app, "t-admin")
    assert replay(app, cookie) == 200
    time.sleep(2)
    assert replay(app, cookie) == 401  # the cookie is still sent; the server refuses it


def test_a_session_in_constant_use_still_ends_after_session_hours(
    corpus_settings, tmp_path, user_store
):
    settings = corpus_settings.replace(
        auth="users", secure_cookies=False, data_dir=tmp_path, session_hours=1.5 / 3600
    )
    app = on_store(create_app(settings, testing=True), user_store)
    app.extensions["kb_auth"].users.add("t-admin", "admin", PASSWORD)
    client, _ = sign_in(app, "t-admin")
    codes = []
    for _ in range(8):  # each answer sends a fresh cookie; the sign-in still ages
        codes.append(client.get("/api/audit", query_string={"limit": 1}).status_code)
        time.sleep(0.4)
    assert codes[0] == 200 and codes[-1] == 401


def test_parallel_wrong_passwords_for_one_name_let_at_most_five_through(
    app, corpus_settings, tmp_path, user_store
):
    app.extensions["kb_auth"].users.add("bob", "moderator", PASSWORD)
    # A second app on the same user data: another gunicorn worker, or another server.
    other = create_app(
        corpus_settings.replace(auth="users", secure_cookies=False, data_dir=tmp_path),
        testing=True,
    )
    on_store(other, user_store)
    start = threading.Barrier(30)

    def attempt(i: int) -> int:
        client = (app, other)[i % 2].test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        form = {"name": "bob", "password": f"wrong password {i}", "csrf_token": token}
        start.wait()
        return client.post("/login", data=form).status_code

    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(attempt, range(30)))
    assert sorted(set(codes)) == [401, 429]
    assert codes.count(401) <= 5
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429  # the right password waits out the window too


def test_successful_sign_ins_are_not_counted_as_failures(app):
    app.extensions["kb_auth"].users.add("bob", "moderator", PASSWORD)
    for _ in range(6):
        sign_in(app, "bob")
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    codes = [
        client.post(
            "/login", data={"name": "bob", "password": "wrong password", "csrf_token": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    events = app.extensions["kb_auth"].audit.events(user="bob", limit=1000)
    attempts = {e["event_id"] for e in events if e["action"] == "login_attempt"}
    outcomes = [e for e in events if e["action"] in ("login", "login_failed")]
    assert len(attempts) == 11 and {e["target"] for e in outcomes} == {f"#{a}" for a in attempts}


def test_signing_in_again_ends_the_sign_in_it_replaces(app):
    app.extensions["kb_auth"].users.add("t-admin", "admin", PASSWORD)
    client, first = sign_in(app, "t-admin")
    token = csrf_of(client.get("/login").get_data(as_text=True))
    form = {"name": "t-admin", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    assert client.get_cookie("kb_session").value != first
    assert replay(app, first) == 401
    assert client.get("/api/audit", query_string={"limit": 1}).status_code == 200
