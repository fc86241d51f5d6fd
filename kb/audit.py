"""The audit trail: who searched, viewed or exported what, and when.

Append-only: events live in `audit.sqlite` in the user data folder (DATA_DIR unless
KB_USER_DATA_DIR), whose triggers refuse any UPDATE or DELETE, so nothing in the application can
rewrite history. Admins read and export it (`kb audit`, `/admin/audit`, `/api/audit`).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.catalog import now
from kb.csv_export import write_csv
from kb.dbfile import open_store
from kb.errors import QueryError

if TYPE_CHECKING:
    from kb.pgdb import PostgresPlace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, user TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL DEFAULT 0, ip TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE INDEX IF NOT EXISTS events_user ON events(user, at);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_NO_DELETE = """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"""
_SCHEMA += _NO_DELETE + "\n"
# In PostgreSQL one trigger refuses UPDATE, DELETE and TRUNCATE, except DELETE inside a purge's
# transaction (which sets kb.purging): no DDL in the purge, so it needs no table lock.
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT COLLATE "C" NOT NULL,
    "user" TEXT COLLATE "C" NOT NULL, role TEXT NOT NULL, action TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL DEFAULT '', status INTEGER NOT NULL DEFAULT 0,
    ip TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE INDEX IF NOT EXISTS events_user ON events("user", at);
CREATE INDEX IF NOT EXISTS events_action ON events(action, at);
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('kb.purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
"""

# Recorded before a password is checked (see AuditLog.sign_in_attempt).
SIGN_IN_ATTEMPT = "login_attempt"
FIELDS = ("event_id", "at", "user", "role", "action", "target", "status", "ip", "detail")
_COLUMNS = ", ".join(f'"{f}"' for f in FIELDS)  # "user" is a reserved word in PostgreSQL
MAX_PAGE = 1000
MAX_DETAIL = 4000  # characters of an event's detail (JSON)


class AuditLog:
    """The audit trail of one user data folder (safe to share between threads and processes;
    read-only when the folder cannot be written)."""

    def __init__(self, where: Path | PostgresPlace) -> None:
        # Written on every request: a crash may lose the last events, never corrupt the file.
        self.db = open_store(
            where,
            "audit.sqlite",
            _SCHEMA,
            _POSTGRES_SCHEMA,
            what="the audit log",
            pragmas=("synchronous = NORMAL",),
        )
        self.writable = not self.db.read_only

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def record(
        self,
        user: str,
        role: str,
        action: str,
        target: str = "",
        *,
        status: int = 200,
        ip: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one event. Text a client sent may hold lone surrogates (JSON `\\udbd8`),
        which UTF-8 cannot store: they are kept as visible escapes, never dropped."""
        text = _json(detail or {})
        if len(text) > MAX_DETAIL:  # cut the text, keep the JSON valid
            text = _json({"truncated": text[: MAX_DETAIL - 100]})
        with self.db.write(exclusive=False) as db:
            _insert(db, (now(), user, role, action, target[:500], status, ip, text))

    def sign_in_attempt(
        self, user: str, ip: str, *, limit: int, window: dt.timedelta
    ) -> int | None:
        """Record that someone is signing in as `user`: the attempt's event id, or None (and
        nothing recorded) when `limit` attempts of the last `window` failed or are still being
        checked. The outcome event names its attempt as target `#id`; only a `login` clears
        one. Counting and recording are one transaction, so parallel attempts, in any worker,
        are counted one after another."""
        since = (dt.datetime.now(dt.UTC) - window).replace(microsecond=0).isoformat()
        with self.db.write() as db:
            (failed,) = db.execute(
                'SELECT count(*) FROM events a WHERE a."user" = ? AND a.action = ? AND a.at >= ? '
                'AND NOT EXISTS (SELECT 1 FROM events s WHERE s."user" = a."user" '
                "AND s.action = 'login' AND s.status < 400 AND s.at >= a.at "
                "AND s.target = '#' || a.event_id)",
                (_storable(user), SIGN_IN_ATTEMPT, since),
            ).fetchone()
            if failed >= limit:
                return None
            event_id = _insert(db, (now(), user, "", SIGN_IN_ATTEMPT, "", 0, ip, "{}"))
        return event_id

    def events(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `since`/`until` are ISO dates or timestamps; `before` pages by id."""
        if not 1 <= limit <= MAX_PAGE:
            raise QueryError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if before is not None and not -(2**63) <= before < 2**63:
            raise QueryError(f"before {before} is outside the 64-bit integer range")
        for name, value in (("since", since), ("until", until)):
            if value:
                try:  # events are stored as ISO UTC timestamps, compared as text
                    dt.datetime.fromisoformat(value)
                except ValueError:
                    raise QueryError(
                        f"{name} {value!r} is not a date (YYYY-MM-DD) or timestamp"
                    ) from None
        where, args = [], []
        for column, op, value in (
            ('"user"', "=", user),
            ("action", "=", action),
            ("at", ">=", since),
            ("at", "<", _next_day(until) if until else None),
            ("event_id", "<", before),
        ):
            if value not in (None, ""):
                where.append(f"{column} {op} ?")
                args.append(value)
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.fetchall(sql + " ORDER BY event_id DESC LIMIT ?", (*args, limit))
        out = []
        for row in rows:
            event = dict(zip(FIELDS, row, strict=True))
            event["detail"] = json.loads(event["detail"])
            out.append(event)
        return out

    def actions(self, action: str, since: str | None = None) -> list[dict[str, Any]]:
        """Every event of one action (since a date or timestamp, if given), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE action = ?"
        args: tuple = (action,)
        if since:
            sql += " AND at >= ?"
            args = (action, since)
        out = []
        for row in self.db.fetchall(sql + " ORDER BY event_id", args):
            event = dict(zip(FIELDS, row, strict=True))
            event["detail"] = json.loads(event["detail"])
            out.append(event)
        return out

    def purge(self, before: str, also: dict[str, int] | None = None) -> int:
        """Delete the events recorded before `before` (an ISO timestamp), for a retention
        period, and record that it was done: how many went, with `also` (what else was
        purged). The only deletion there is: the append-only trigger is lifted for it inside
        the same transaction."""
        with self.db.write() as db:
            if self.db.dialect == "postgres":
                db.execute("SET LOCAL kb.purging = 'on'")
            else:
                db.execute("DROP TRIGGER IF EXISTS events_no_delete")
            deleted = db.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
            if self.db.dialect == "postgres":
                db.execute("SET LOCAL kb.purging = 'off'")
            else:
                db.execute(_NO_DELETE)
            if deleted or any((also or {}).values()):
                detail = _json({"before": before, "events": deleted, **(also or {})})
                _insert(db, (now(), "system", "", "retention", before, 200, "", detail))
        return deleted

    def to_csv(self, events: list[dict[str, Any]]) -> str:
        """Events as CSV (detail as JSON)."""
        return write_csv(
            FIELDS,
            ([_json(e[f]) if f == "detail" else e[f] for f in FIELDS] for e in events),
        )


def _insert(db: sqlite3.Connection, row: tuple) -> int:
    """Append an event; its id. (Every row of a RETURNING is read before the transaction
    ends: SQLite cannot commit while the statement is still open.)"""
    (row,) = db.execute(
        'INSERT INTO events (at, "user", role, action, target, status, ip, detail) '
        "VALUES (?,?,?,?,?,?,?,?) RETURNING event_id",
        tuple(_storable(v) if isinstance(v, str) else v for v in row),
    ).fetchall()
    return int(row[0])


def _storable(text: str) -> str:
    """`text` as valid UTF-8 that either engine stores: lone surrogates become backslash
    escapes, and so does NUL (which PostgreSQL's text cannot hold)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _json(value: Any) -> str:
    """Readable JSON that is valid UTF-8 (a lone surrogate stays a `\\u` escape)."""
    return _storable(json.dumps(value, ensure_ascii=False))


def _next_day(value: str) -> str:
    """`until` is inclusive: a bare date covers that whole day."""
    if len(value) == 10:
        try:
            return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()
        except ValueError:
            raise QueryError(f"until {value!r} is not a date (YYYY-MM-DD)") from None
    return value + "\uffff"
