"""The retention period: audit events and feedback older than it go, the purge is recorded,
and nothing else can delete from the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.audit import AuditLog
from kb.cli import main
from kb.feedback import FeedbackStore
from tests.conftest import raw_user_data, user_store_env, with_user_store


def _age(where, file_name: str, table: str, at: str) -> None:
    """Backdate every row (past the application, as time passing would)."""
    with raw_user_data(where, file_name) as (db, _):
        if isinstance(where, Path):
            db.execute("DROP TRIGGER IF EXISTS events_no_update")
            db.execute(f"UPDATE {table} SET at = ?", (at,))
        else:
            db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            db.execute(f"UPDATE {table} SET at = %s", (at,))
            db.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.fixture
def settings(settings, user_store):
    """Settings whose user data is in a folder, or in PostgreSQL."""
    return with_user_store(settings, user_store)


def test_purge_deletes_what_is_older_and_says_so(settings, runner, user_store):
    folder = settings.user_store()
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "old question")
    store = FeedbackStore(folder)
    store.add("mod", "old question", "p1", "doc", "X-1", "not_helpful")
    log.close()
    store.close()
    _age(folder, "audit.sqlite", "events", "2020-01-01T00:00:00+00:00")
    _age(folder, "userdata.sqlite", "feedback", "2020-01-01T00:00:00+00:00")
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "new question")
    log.close()
    base = ["--data-dir", str(settings.data_dir)]
    env = user_store_env(user_store)
    out = runner.invoke(main, [*base, "purge"], env=env)
    assert "No retention period" in out.output
    out = runner.invoke(main, [*base, "purge", "--days", "30"], env=env)
    assert out.exit_code == 0 and "Deleted 1 audit events and 1 judgments" in out.output
    log = AuditLog(folder)
    events = log.events()
    assert [e["target"] for e in events if e["action"] == "search"] == ["new question"]
    done = next(e for e in events if e["action"] == "retention")
    assert done["detail"]["events"] == 1 and done["detail"]["feedback"] == 1
    # The trigger is back: nothing else deletes.
    with raw_user_data(folder, "audit.sqlite") as (db, refused):
        for sql in ("DELETE FROM events", "UPDATE events SET target = ''"):
            with pytest.raises(refused, match="append-only"):
                db.execute(sql)
    log.close()
    assert FeedbackStore(folder).entries() == []


def test_a_negative_retention_is_refused(settings):
    from kb.errors import ConfigError

    with pytest.raises(ConfigError, match="retention_days"):
        settings.replace(retention_days=-1).validate()


def test_the_server_purges_when_it_starts(settings):
    from kb.web import create_app

    folder = settings.user_store()
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "old question")
    log.close()
    _age(folder, "audit.sqlite", "events", "2020-01-01T00:00:00+00:00")
    create_app(settings.replace(retention_days=30), testing=True)
    log = AuditLog(folder)
    assert [e["action"] for e in log.events()] == ["retention"]
    log.close()
