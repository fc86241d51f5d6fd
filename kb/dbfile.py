"""One SQLite file of user data (users, audit log, collections), opened once per thread;
`open_store` opens it, or its tables in PostgreSQL under backend=postgres (kb.pgdb).

A sqlite3 connection holds one transaction at a time, so one shared between a worker's threads
lets one thread's commit end another's transaction ("cannot commit - no transaction is
active") and their statements interleave. Each thread gets its own connection instead, in
autocommit mode; changes go through `write()`, a BEGIN IMMEDIATE transaction that waits for
the file's other writers (in this process or another) up to a busy timeout instead of failing
the request.

Where the file cannot be written (read-only media, another user's folder) it is read as it is
(`kb.storage.open_read_only`) and every `write()` is one StorageError naming the file and
KB_USER_DATA_DIR; a full disk is one StorageError too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import StorageError

if TYPE_CHECKING:
    from kb.pgdb import PostgresDB, PostgresPlace
from kb.storage import READ_ONLY, fix, open_read_only, problem, why_not_writable, writable

BUSY_SECONDS = 10.0  # how long a statement waits for another writer before giving up


class _Handle:
    """A thread's connection; dropped (and so closed) with the thread's locals."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class DBFile:
    """A SQLite file in WAL mode with foreign keys on and a connection per thread."""

    dialect = "sqlite"
    IntegrityError = sqlite3.IntegrityError

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        what: str,
        setting: str = "KB_USER_DATA_DIR",
        pragmas: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.what, self.setting = what, setting
        self._schema = schema
        self._pragmas = pragmas
        self._local = threading.local()
        self._open: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._open_lock = threading.Lock()
        self.read_only = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Readers (every request of every worker) must not wait for a writer: WAL, which
            # the file keeps once set.
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            here = self.path if self.path.exists() else self.path.parent
            if here.exists() and writable(here):
                found = problem(exc)
                if found is None:
                    raise
                raise StorageError(f"cannot open {self.path}: it {found}") from None
            self.read_only = True
            self.conn  # noqa: B018 - opens (and checks) the read-only connection now

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: use `write()` for changes)."""
        handle = getattr(self._local, "handle", None)
        if handle is None:
            # check_same_thread=False only so that close() may close it from another thread.
            options = {"timeout": BUSY_SECONDS, "isolation_level": None, "check_same_thread": False}
            if self.read_only:
                conn = open_read_only(self.path, self._schema, **options)
            else:
                conn = sqlite3.connect(self.path, **options)
            conn.execute("PRAGMA foreign_keys = ON")
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
            handle = self._local.handle = _Handle(conn)
            with self._open_lock:
                self._open.add(handle)
        return handle.conn

    def fetchall(self, sql: str, args: tuple = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        return self.conn.execute(sql, args).fetchall()

    def fetchone(self, sql: str, args: tuple = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        cur = self.conn.execute(sql, args)
        try:
            return cur.fetchone()
        finally:
            cur.close()

    @contextmanager
    def write(self, exclusive: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction holding the file's write lock from its start: what it reads stays
        true until it commits (on success; rolled back on error). A file that cannot be written
        raises StorageError. (`exclusive` is for PostgresDB; a SQLite file has one writer.)"""
        if self.read_only:
            raise self._cannot_save(why_not_writable(self.path))
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            found = problem(exc)
            if found is None:
                raise
            if found == READ_ONLY:  # SQLite says so whatever the reason; tell which it is
                found = why_not_writable(self.path)
            raise self._cannot_save(found) from None

    def _cannot_save(self, found: str) -> StorageError:
        return StorageError(
            f"cannot save {self.what}: {self.path} {found}; {fix(found, self.setting)}"
        )

    def close(self) -> None:
        """Close every thread's connection."""
        with self._open_lock:
            handles = list(self._open)
            self._open.clear()
        for handle in handles:
            handle.conn.close()
        self._local = threading.local()


def open_store(
    where: Path | PostgresPlace,
    file_name: str,
    sqlite_schema: str,
    postgres_schema: str,
    *,
    what: str,
    pragmas: tuple[str, ...] = (),
) -> DBFile | PostgresDB:
    """A store's tables: in `file_name` of a user data folder, or, for a PostgresPlace, in
    PostgreSQL (`file_name` then names the store's write lock)."""
    if isinstance(where, str | os.PathLike):
        return DBFile(Path(where) / file_name, sqlite_schema, what=what, pragmas=pragmas)
    from kb.pgdb import PostgresDB

    return PostgresDB(where, postgres_schema, what=what, lock=file_name)
