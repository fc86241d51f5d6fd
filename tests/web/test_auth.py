"""Sessions, API tokens and the sign-in throttle under real use: cookies replayed after
sign-out or after a user is removed and re-added, and many threads at once against the real
app and real SQLite files."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from kb.audit import AuditLog
from kb.users import Users
from kb.web import create_app

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def auth_app(corpus_settings):
    return create_app(corpus_settings.replace(auth="users", secure_cookies=False), testing=True)


@pytest.fixture
def app(auth_app, tmp_path):
    """The users-mode app with its own, empty user store and audit log for this test."""
    state = auth_app.extensions["kb_auth"]
    real = state.users, state.audit
    state.users, state.audit = Users(tmp_path), AuditLog(tmp_path)
    yield auth_app
    state.users.close()
    state.audit.close()
    state.users, state.audit = real


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
