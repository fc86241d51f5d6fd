"""User data in PostgreSQL (backend = postgres): the same interface as `kb.dbfile.DBFile`, so
users, sessions, API tokens, the audit log, collections and feedback are shared by every app
server pointed at one database.

Each store's tables live in one schema (`<database_schema>_userdata`), beside the index
generations and never dropped with them. The stores' SQL is written once for both engines:
`?` placeholders (turned into psycopg's here), quoted identifiers where PostgreSQL reserves a
word (`"user"`), `RETURNING` rather than `lastrowid`, `ON CONFLICT` rather than `OR REPLACE`.

A SQLite file takes its write lock when a transaction starts, so what a transaction read stays
true until it commits. Here each `write()` takes a transaction-level advisory lock named after
the file it stands for (users and collections one, the audit log another) before anything else,
so writers of one store still go one after another, across threads, workers and servers;
reads inside `write()` run in the same transaction. Text columns compare bytewise
(`COLLATE "C"`), as SQLite's do: timestamps are ISO text compared as text.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kb.errors import QueryError, StorageError

try:
    import psycopg
    from psycopg import sql
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - reported when backend=postgres is used
    psycopg = None

# How many connections each pool keeps (a server's threads share them).
POOL_SIZE = 4
CONNECT_SECONDS = 10


@dataclass(frozen=True)
class PostgresPlace:
    """Where user data lives under backend=postgres: a database and a schema in it."""

    url: str
    schema: str

    def __str__(self) -> str:
        """The place without credentials, for messages: its database and host only, whether
        the address is a URL or key=value pairs (a unix socket folder as `host=`)."""
        parts: dict = {}
        if psycopg is not None:
            try:
                parts = psycopg.conninfo.conninfo_to_dict(self.url)
            except psycopg.Error:
                parts = {}
        if not parts:
            try:
                split = urlsplit(self.url)
                parts = {"dbname": split.path.lstrip("/"), "host": split.hostname}
            except ValueError:
                parts = {}
        return (
            f"schema {self.schema} of database {parts.get('dbname') or '?'} "
            f"on {parts.get('host') or 'localhost'}"
        )


@functools.lru_cache(maxsize=512)
def paramstyle(statement: str) -> str:
    """A statement with `?` placeholders in psycopg's style (`%s`, a literal % doubled)."""
    return statement.replace("%", "%%").replace("?", "%s")


def new_pool(url: str, configure) -> ConnectionPool:
    """A small pool of autocommit connections, each set up by `configure` and waiting at most
    `_connect_timeout(url)` seconds to connect, not yet open."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        configure=configure,
        kwargs={"autocommit": True, "connect_timeout": _connect_timeout(url)},
        open=False,
    )


class InvalidAddress(Exception):
    """A database address libpq cannot parse (its own words may quote the address, password
    and all, so they are not passed on)."""

    def __str__(self) -> str:
        return (
            "not a valid PostgreSQL address (postgresql://user@host/database, or key=value pairs)"
        )


def connect(url: str, **kwargs) -> psycopg.Connection:
    """One connection to `url`, waiting at most `_connect_timeout(url)` seconds; InvalidAddress
    for an address that does not parse, psycopg's errors otherwise."""
    try:
        return psycopg.connect(url, connect_timeout=_connect_timeout(url), **kwargs)
    except psycopg.ProgrammingError:
        raise InvalidAddress() from None


def _connect_timeout(url: str) -> int:
    """Seconds to wait for one connection: the address's own connect_timeout (or
    PGCONNECT_TIMEOUT) where it is shorter, never more than CONNECT_SECONDS (libpq's 0,
    no limit, included)."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(url).get("connect_timeout")
    except psycopg.Error:
        given = None
    given = given or os.environ.get("PGCONNECT_TIMEOUT")
    try:
        seconds = int(given) if given else 0
    except ValueError:
        seconds = 0
    return min(seconds, CONNECT_SECONDS) if seconds > 0 else CONNECT_SECONDS


class _Transaction:
    """What `write()` yields: execute/executemany as on a sqlite3 connection."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def execute(self, statement: str, args: tuple = ()):
        return self.conn.execute(paramstyle(statement), tuple(args))

    def executemany(self, statement: str, rows) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(paramstyle(statement), list(rows))


class PostgresDB:
    """One store's tables in PostgreSQL, with DBFile's interface."""

    dialect = "postgres"

    def __init__(self, place: PostgresPlace, schema: str, *, what: str, lock: str) -> None:
        if psycopg is None:
            raise StorageError(
                "backend=postgres needs the PostgreSQL client libraries: "
                "pip install 'policy-kb[postgres]'"
            )
        self.place, self.what = place, what
        self.IntegrityError = psycopg.errors.IntegrityError
        # One advisory lock per store file it stands for (64-bit key from the names).
        digest = hashlib.sha256(f"{place.schema}/{lock}".encode()).digest()
        self._lock = int.from_bytes(digest[:8], "big", signed=True)
        self._local = threading.local()
        self.read_only = False
        namespace = sql.Identifier(place.schema)

        def configure(conn) -> None:
            conn.execute(sql.SQL("SET search_path = {}").format(namespace))

        # One connection first: a wrong address is told at once, in libpq's words (the pool
        # would retry for its whole timeout and then say only that it timed out).
        try:
            connect(place.url).close()
        except InvalidAddress as exc:
            raise StorageError(
                f"cannot open {self.what}: the database address for schema {place.schema} is {exc}"
            ) from None
        except psycopg.Error as exc:
            raise self._error(exc, "open") from None
        self.pool = new_pool(place.url, configure)
        try:
            self.pool.open(wait=True, timeout=CONNECT_SECONDS)
            self._create(namespace, schema)
        except psycopg.Error as exc:
            self.pool.close()
            raise self._error(exc, "open") from None
        except BaseException:
            self.pool.close()
            raise

    def _create(self, namespace, schema: str) -> None:
        """The schema and tables, unless they are there already. A read-only server (a
        replica) is read as it is: `read_only`, and every write() is one StorageError."""
        with self.pool.connection() as conn:
            names = [s.split("(")[0].split()[-1] for s in _tables(schema)]
            found, read_only = conn.execute(
                "SELECT count(*), current_setting('transaction_read_only') = 'on' "
                "FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                (self.place.schema, names),
            ).fetchone()
            self.read_only = bool(read_only)
            if found == len(names):
                return
            if self.read_only:
                raise StorageError(
                    f"cannot open {self.what}: {self.place} is read-only (a replica?) and has "
                    "no user data yet; set KB_USER_DATABASE_URL to the primary"
                )
            with conn.transaction():
                # Servers starting together would race on the catalog: one at a time.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock,))
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(namespace))
                conn.execute(schema)

    @contextmanager
    def _connection(self):
        held = getattr(self._local, "conn", None)
        if held is not None:  # inside this thread's write(): its transaction
            yield held
            return
        try:
            with self.pool.connection(timeout=CONNECT_SECONDS) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise self._error(exc, "read") from None
        except psycopg.DataError as exc:
            raise _bad_text(exc) from None

    def fetchall(self, statement: str, args: tuple = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        if has_nul(args):
            return []
        with self._connection() as conn:
            return conn.execute(paramstyle(statement), tuple(args)).fetchall()

    def fetchone(self, statement: str, args: tuple = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        if has_nul(args):
            return None
        with self._connection() as conn:
            return conn.execute(paramstyle(statement), tuple(args)).fetchone()

    @contextmanager
    def write(self, exclusive: bool = True) -> Iterator[_Transaction]:
        """A transaction (committed on success, rolled back on error); `exclusive`: after
        every other exclusive writer of this store, as SQLite's BEGIN IMMEDIATE."""
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("write() inside write()")
        if self.read_only:
            raise StorageError(self._read_only_message())
        try:
            with self.pool.connection(timeout=CONNECT_SECONDS) as conn, conn.transaction():
                if exclusive:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock,))
                self._local.conn = conn
                try:
                    yield _Transaction(conn)
                finally:
                    self._local.conn = None
        except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction) as exc:
            raise self._error(exc, "save") from None
        except psycopg.DataError as exc:
            raise _bad_text(exc) from None

    def _error(self, exc: Exception, doing: str) -> StorageError:
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return StorageError(self._read_only_message())
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if doing == "save":
            return StorageError(f"cannot save {self.what} in {self.place}: {first}")
        return StorageError(f"cannot {doing} {self.what} in {self.place}: {first}")

    def _read_only_message(self) -> str:
        return (
            f"cannot save {self.what}: {self.place} is read-only (a replica?); "
            "set KB_USER_DATABASE_URL to the primary"
        )

    def close(self) -> None:
        """Close the connections."""
        self.pool.close()


def has_nul(args) -> bool:
    """Does a query look a text with NUL up? PostgreSQL refuses NUL in text, and none is
    stored (writes refuse or escape it), so such a lookup finds nothing, as in SQLite."""
    return any(isinstance(a, str) and "\x00" in a for a in args)


def _bad_text(exc: Exception) -> QueryError | Exception:
    """PostgreSQL stores no NUL character in text (SQLite does): the request's fault."""
    if "NUL" in str(exc):
        return QueryError("text with a NUL character (\\x00) cannot be stored")
    return exc


def _tables(schema: str) -> list[str]:
    """The CREATE TABLE statements of a schema script."""
    return [
        s.strip()
        for s in schema.split(";")
        if s.strip().upper().startswith("CREATE TABLE IF NOT EXISTS")
    ]
