"""Two real app servers on one PostgreSQL database (backend = postgres): each has a data dir
of its own (the second's empty at start: it copies the live generation from the database)
and an empty user data folder of its own, yet they answer from one catalog and share users,
sign-ins, API tokens, the audit log, collections and feedback, as servers behind one load
balancer must."""

from __future__ import annotations

import contextlib
import re

import pytest
import requests

from kb.cli import main
from tests.web.conftest import serve

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def second_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("server-b") / "index"


@pytest.fixture(scope="module")
def servers(second_data_dir, postgres_corpus_settings, tmp_path_factory):
    settings = postgres_corpus_settings
    env = {
        "KB_BACKEND": "postgres",
        "KB_DATABASE_URL": settings.database_url,
        "KB_DATABASE_SCHEMA": settings.database_schema,
        "KB_AUTH": "users",
        "KB_SECURE_COOKIES": "false",
    }
    from click.testing import CliRunner

    runner = CliRunner()
    for name, role in (("ms-admin", "admin"), ("ms-mod", "moderator")):
        args = ["--data-dir", str(settings.data_dir), "users", "add", name, "--role", role]
        out = runner.invoke(main, [*args, "--password-stdin"], input=PASSWORD + "\n", env=env)
        assert out.exit_code == 0 or "already exists" in out.output, out.output
    # The second server (as on another machine) starts with an empty data dir: it copies the
    # live generation's files from the database and reads the catalog there; neither server
    # has user data of its own.
    second = second_data_dir
    with contextlib.ExitStack() as stack:
        bases = []
        for data_dir in (settings.data_dir, second):
            own = {**env, "KB_USER_DATA_DIR": str(tmp_path_factory.mktemp("userdata"))}
            bases.append(stack.enter_context(contextlib.contextmanager(serve)(data_dir, **own)))
        yield bases


def sign_in(base: str, name: str) -> requests.Session:
    http = requests.Session()
    page = http.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = http.post(
        base + "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text
    return http


def csrf(http: requests.Session, base: str) -> dict[str, str]:
    page = http.get(base + "/", timeout=30).text
    return {"X-CSRFToken": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}


def test_a_sign_in_on_one_server_works_on_the_other_until_it_signs_out(servers):
    a, b = servers
    http = sign_in(a, "ms-admin")
    assert http.get(a + "/api/audit?limit=1", timeout=30).status_code == 200
    # The same cookie at the other server: same signing key, same sessions table.
    assert http.get(b + "/api/audit?limit=1", timeout=30).status_code == 200
    token = csrf(http, b)["X-CSRFToken"]
    cookie = http.cookies.get("kb_session")
    r = http.post(b + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    # Signed out on B: the cookie, copied before, no longer works on A either.
    copied = requests.Session()
    copied.cookies.set("kb_session", cookie)
    assert copied.get(a + "/api/audit?limit=1", timeout=30).status_code == 401


def test_users_tokens_collections_and_the_audit_log_are_shared(servers):
    a, b = servers
    admin = sign_in(a, "ms-admin")
    r = admin.post(
        a + "/api/collections", json={"name": "shared-walk"}, headers=csrf(admin, a), timeout=30
    )
    assert r.status_code in (201, 409), r.text
    names = [c["name"] for c in admin.get(b + "/api/collections", timeout=30).json()["collections"]]
    assert "shared-walk" in names
    # A token issued on B answers on A, with its user's role.
    page = admin.get(b + "/admin/users", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = admin.post(
        b + "/admin/users/ms-mod/tokens",
        data={"label": "bot", "csrf_token": token},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    secret = re.search(r"kbt_[A-Za-z0-9_-]+", r.text).group(0)
    bearer = {"Authorization": f"Bearer {secret}"}
    r = requests.get(
        a + "/api/search", params={"q": "many servers probe"}, headers=bearer, timeout=30
    )
    assert r.status_code == 200
    assert requests.get(a + "/api/audit", headers=bearer, timeout=30).status_code == 403
    # What a moderator did on A is in the audit log an admin reads on B.
    events = admin.get(b + "/api/audit", params={"user": "ms-mod"}, timeout=30).json()["events"]
    assert any(e["target"] == "many servers probe" for e in events)


def test_both_servers_answer_alike_from_one_catalog(servers):
    a, b = servers
    http = sign_in(a, "ms-admin")
    answers = [
        http.get(base + "/api/search", params={"q": "strmr drunk n driving"}, timeout=30).json()
        for base in (a, b)
    ]
    assert answers[0]["results"], answers[0]
    for key in ("passage_id", "text", "citation"):
        assert [h.get(key) for h in answers[0]["results"]] == [
            h.get(key) for h in answers[1]["results"]
        ]


def test_the_second_server_copied_the_live_generation_from_the_database(
    servers, second_data_dir, postgres_corpus_settings
):
    from kb.live import MIRRORED, live_name

    name = live_name(postgres_corpus_settings)
    copied = second_data_dir / "generations" / name
    assert (copied / MIRRORED).is_file() and (copied / "manifest.json").is_file()
    assert not (copied / "catalog.sqlite").exists()
    original = postgres_corpus_settings.data_dir / "generations" / name
    for path in ("passage_ids.txt", "units.npy", "filters.npz", "dense/vectors.npy"):
        assert (copied / path).read_bytes() == (original / path).read_bytes(), path
