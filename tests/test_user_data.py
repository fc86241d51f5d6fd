"""User data as a shared store: two servers' stores racing on one folder or database, a
read-only database (a replica), and an unreachable one."""

from __future__ import annotations

import threading
import time

import pytest

from kb.audit import AuditLog
from kb.collections import Collections
from kb.errors import ConfigError, QueryError, StorageError
from kb.pgdb import PostgresPlace
from kb.users import Users

PASSWORD = "a long enough password"


def test_two_servers_removing_each_others_admin_keep_one(user_store):
    """Each server's store counts the admins and removes one in one transaction after the
    other's, so two admins removing each other at once leave one."""
    first, second = Users(user_store), Users(user_store)  # as two servers open it
    for round_ in range(3):
        pair = (f"ann{round_}", f"bea{round_}")
        for name in pair:
            first.add(name, "admin", PASSWORD)
        for name in [u["name"] for u in first.list() if u["name"] not in pair]:
            first.remove(name)  # the two of this round are the only admins
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def remove(store: Users, name: str, start=start, outcomes=outcomes) -> None:
            start.wait()
            try:
                store.remove(name)
                outcomes.append("removed")
            except QueryError as exc:
                outcomes.append(str(exc))

        threads = [
            threading.Thread(target=remove, args=(store, name))
            for store, name in zip((first, second), pair, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes)[1] == "removed" and "last admin" in sorted(outcomes)[0]
        assert first.count("admin") == 1
    first.close()
    second.close()


@pytest.fixture
def place(postgres_database) -> PostgresPlace:
    return PostgresPlace(postgres_database("userdata"), "ro_userdata")


def read_only(place: PostgresPlace) -> PostgresPlace:
    """The same place through connections that may not write, as on a streaming replica."""
    return PostgresPlace(
        place.url + "&options=-c%20default_transaction_read_only%3Don", place.schema
    )


def test_a_read_only_database_is_read_and_refuses_writes_clearly(place, settings):
    Users(place).add("ann", "admin", PASSWORD)
    AuditLog(place).record("ann", "admin", "search", "before")
    Collections(place).close()
    users, audit = Users(read_only(place)), AuditLog(read_only(place))
    assert users.db.read_only and users.get("ann").role == "admin"
    assert [e["target"] for e in audit.events()] == ["before"]
    with pytest.raises(StorageError, match=r"read-only.*KB_USER_DATABASE_URL"):
        users.add("bob", "moderator", PASSWORD)
    with pytest.raises(StorageError, match="read-only"):
        audit.record("ann", "admin", "search", "after")
    # A users-mode server there could not record sign-ins: it refuses to start.
    from kb.web.auth import AuthState

    settings = settings.replace(
        auth="users", backend="postgres", database_url=read_only(place).url, database_schema="ro"
    )
    with pytest.raises(ConfigError, match="KB_USER_DATABASE_URL"):
        AuthState(settings)


def test_a_read_only_database_without_user_data_names_the_fix(place):
    empty = PostgresPlace(read_only(place).url, "empty_userdata")
    with pytest.raises(StorageError, match=r"no user data yet.*KB_USER_DATABASE_URL"):
        Users(empty)


def test_an_unreachable_database_is_one_clear_error(tmp_path):
    nowhere = PostgresPlace(f"postgresql://kb@/kb?host={tmp_path}", "x")
    started = time.monotonic()
    with pytest.raises(
        StorageError, match=r"cannot open users and tokens in schema x .*: connection .* failed"
    ):
        Users(nowhere)
    assert time.monotonic() - started < 5  # told at once, not after the pool's timeout


def test_looking_up_text_with_nul_finds_nothing(user_store):
    """PostgreSQL's text cannot hold NUL; a fuzzed filter with one finds nothing on either
    engine, and storing one is a clear error or a visible escape, never a 500."""
    users, audit = Users(user_store), AuditLog(user_store)
    users.add("ann", "admin", PASSWORD)
    audit.record("a\x00b", "admin", "search", "x")
    assert users.find("ann\x00") is None
    assert audit.events(user="a\x00b") == []
    assert [e["user"] for e in audit.events(user="a\\x00b")] == ["a\\x00b"]
    users.close()
    audit.close()


@pytest.mark.parametrize(
    "url",
    ["postgresql://kb:s3cr%zzet@localhost/kb", "postgresql://kb:s3cret@[::1/kb"],
)
def test_an_address_that_does_not_parse_is_named_without_its_password(url):
    with pytest.raises(StorageError, match="not a valid PostgreSQL address") as caught:
        Users(PostgresPlace(url, "x"))
    assert "s3cr" not in str(caught.value)


def test_connecting_never_waits_longer_than_the_limit(monkeypatch):
    from kb.pgdb import CONNECT_SECONDS, _connect_timeout

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert _connect_timeout("postgresql:///kb") == CONNECT_SECONDS
    assert _connect_timeout("postgresql:///kb?connect_timeout=3") == 3
    assert _connect_timeout("postgresql:///kb?connect_timeout=600") == CONNECT_SECONDS
    assert _connect_timeout("postgresql:///kb?connect_timeout=0") == CONNECT_SECONDS  # no limit
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "2")
    assert _connect_timeout("host=/run/postgresql dbname=kb") == 2


def test_every_pooled_connection_waits_no_longer_than_the_limit(monkeypatch):
    """The pool's own connections (every query's, reconnecting, growing) carry the limit too,
    not only the first one."""
    from kb.pgdb import CONNECT_SECONDS, new_pool

    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    pool = new_pool("postgresql:///kb?connect_timeout=600", lambda conn: None)
    assert pool.kwargs["connect_timeout"] == CONNECT_SECONDS
    assert pool.kwargs["autocommit"] is True
