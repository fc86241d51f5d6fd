"""The retention period: audit events and feedback older than it go, the purge is recorded,
and nothing else can delete from the audit log."""

from __future__ import annotations

import sqlite3

import pytest

from kb.audit import AuditLog
from kb.cli import main
from kb.feedback import FeedbackStore


def _age(path, table: str, at: str) -> None:
    """Backdate every row (through SQLite directly, as time passing would)."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    db.execute(f"UPDATE {table} SET at = ?", (at,))
    db.commit()
    db.close()


def test_purge_deletes_what_is_older_and_says_so(settings, runner):
    folder = settings.user_data_path()
    folder.mkdir(parents=True, exist_ok=True)
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "old question")
    store = FeedbackStore(folder)
    store.add("mod", "old question", "p1", "doc", "X-1", "not_helpful")
    log.close()
    store.close()
    _age(folder / "audit.sqlite", "events", "2020-01-01T00:00:00+00:00")
    _age(folder / "userdata.sqlite", "feedback", "2020-01-01T00:00:00+00:00")
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "new question")
    log.close()
    base = ["--data-dir", str(settings.data_dir)]
    out = runner.invoke(main, [*base, "purge"])
    assert "No retention period" in out.output
    out = runner.invoke(main, [*base, "purge", "--days", "30"])
    assert out.exit_code == 0 and "Deleted 1 audit events and 1 judgments" in out.output
    log = AuditLog(folder)
    events = log.events()
    assert [e["target"] for e in events if e["action"] == "search"] == ["new question"]
    done = next(e for e in events if e["action"] == "retention")
    assert done["detail"]["events"] == 1 and done["detail"]["feedback"] == 1
    # The trigger is back: nothing else deletes.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), log.db.write() as db:
        db.execute("DELETE FROM events")
    log.close()
    assert FeedbackStore(folder).entries() == []


def test_a_negative_retention_is_refused(settings):
    from kb.errors import ConfigError

    with pytest.raises(ConfigError, match="retention_days"):
        settings.replace(retention_days=-1).validate()


def test_the_server_purges_when_it_starts(settings):
    from kb.web import create_app

    folder = settings.user_data_path()
    folder.mkdir(parents=True, exist_ok=True)
    log = AuditLog(folder)
    log.record("mod", "moderator", "search", "old question")
    log.close()
    _age(folder / "audit.sqlite", "events", "2020-01-01T00:00:00+00:00")
    create_app(settings.replace(retention_days=30), testing=True)
    log = AuditLog(folder)
    assert [e["action"] for e in log.events()] == ["retention"]
    log.close()
