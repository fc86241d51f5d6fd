"""Writing to disks that may be read-only or full: SQLite stores that fall back to reading what
is there, and failures told apart from bugs, so each becomes one StorageError naming the path."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kb.errors import StorageError

# Each completes "PATH ...".
READ_ONLY = "is on a read-only file system"
DENIED = "is not writable by this user"
FULL = "is on a disk with no space left"
TOO_BIG = "hit a file-size limit (ulimit -f, or the file system's)"
# SQLite's word for a write refused for a reason it does not tell (EFBIG, EIO...).
FAILED = "could not be written (a disk I/O error: full, past a file-size limit, or failing)"

_ERRNOS = {
    errno.EROFS: READ_ONLY,
    errno.EACCES: DENIED,
    errno.EPERM: DENIED,
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EFBIG: TOO_BIG,
}
# How Rust (Tantivy), C++ (FAISS) and SQLite word the same failures in their messages.
_MESSAGES = (
    (re.compile(r"os error 30|read-only file system|readonly database", re.I), READ_ONLY),
    # numpy's short writes, no errno: "141312 requested and 7136 written", or (numpy 2, when
    # it checks first) "Not enough free space to write 25675264 bytes".
    (
        re.compile(
            r"os error 28|no space left|disk is full|disk quota|requested and \d+ written"
            r"|not enough free space",
            re.I,
        ),
        FULL,
    ),
    (re.compile(r"os error 27|file too large", re.I), TOO_BIG),
    (re.compile(r"disk I/O error"), FAILED),
    (re.compile(r"os error 13|permission denied", re.I), DENIED),
)


def link_file(source: Path, target: Path) -> None:
    """Make `target` the same file as `source` (a hard link: no bytes copied), or a copy
    where they lie on different file systems. Only for files never changed once written:
    a generation's index files, shared with the next generation."""
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


def problem(exc: BaseException) -> str | None:
    """What about the disk caused `exc` (READ_ONLY, DENIED, FULL, TOO_BIG, FAILED), or None
    when it is not a storage failure. Looks through the exceptions `exc` was raised from."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in _ERRNOS:
            return _ERRNOS[seen.errno]
        if isinstance(seen, (sqlite3.Error, ValueError, RuntimeError, OSError)):
            for pattern, found in _MESSAGES:
                if pattern.search(str(seen)):
                    return found
        seen = seen.__cause__ or seen.__context__
    return None


def fix(found: str, setting: str | None = None) -> str:
    """What to do about a `problem`: free space, or write somewhere else (`setting`)."""
    if found in (FULL, TOO_BIG, FAILED):
        return "free some space (or raise the limit)"
    return f"set {setting} to a writable folder" if setting else "make it writable"


def writable(path: Path) -> bool:
    """Whether this process may create files in folder `path` (or write file `path`)."""
    return os.access(path, os.W_OK)


def open_store(path: Path, schema: str, *, wal: bool = False, **connect: Any) -> sqlite3.Connection:
    """A connection to the SQLite file `path` with the tables of `schema`. Where the file cannot
    be written (read-only media, another user's folder), it reads what is there, tables missing
    from the file read as empty, and every write fails with "attempt to write a readonly
    database" (see `writing`); `is_read_only` tells which."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, **connect)
        try:
            if wal:
                db.execute("PRAGMA journal_mode = WAL")
            db.executescript(schema)
        except sqlite3.Error:
            db.close()
            raise
        return db
    except (OSError, sqlite3.Error) as exc:
        if writable(path if path.exists() else path.parent):
            found = problem(exc)
            if found is None:
                raise
            raise StorageError(f"cannot open {path}: it {found}") from None
    return open_read_only(path, schema, **connect)


def open_read_only(path: Path, schema: str, **connect: Any) -> sqlite3.Connection:
    """A read-only connection to `path` (an empty in-memory one when there is no file), with
    the tables of `schema` the file lacks as empty temporary tables; StorageError when the
    file exists but cannot be read."""
    db = None
    if path.is_file():
        # A WAL file on read-only media cannot be opened with mode=ro alone (SQLite would
        # create its -shm file); immutable=1 tells it nothing can change the file.
        for params in ("mode=ro", "mode=ro&immutable=1"):
            db = sqlite3.connect(uri(path, params), uri=True, **connect)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.OperationalError:
                db.close()
                db = None
        if db is None:
            raise StorageError(f"cannot read {path}: check that this user may read it")
    else:
        db = sqlite3.connect(":memory:", **connect)
    have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for statement in schema.split(";"):
        table = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
        if table and table[1] not in have:
            db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
    db.execute("PRAGMA query_only = ON")
    return db


def uri(path: Path, params: str) -> str:
    """The SQLite URI of file `path` with query `params` ("mode=ro"); "#", "?" and "%" in the
    path are escaped."""
    return f"file:{quote(str(Path(path).absolute()))}?{params}"


def is_read_only(db: sqlite3.Connection) -> bool:
    """Whether `db` was opened by `open_store` as read-only."""
    return bool(db.execute("PRAGMA query_only").fetchone()[0])


@contextlib.contextmanager
def writing(db: sqlite3.Connection, path: Path, what: str, setting: str) -> Iterator[None]:
    """`with db:` (commit, or roll back on error), where a read-only or full disk raises a
    StorageError "cannot save WHAT: PATH PROBLEM; FIX" (FIX may name `setting`)."""
    try:
        with db:
            yield
    except sqlite3.OperationalError as exc:
        found = problem(exc)
        if found is None:
            raise
        if found == READ_ONLY:  # SQLite says so whatever the reason; tell which it is
            found = why_not_writable(path)
        raise StorageError(f"cannot save {what}: {path} {found}; {fix(found, setting)}") from None


def why_not_writable(path: Path) -> str:
    """READ_ONLY when `path` (or the folder it would be in) is on read-only media, else DENIED."""
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    return READ_ONLY if os.statvfs(existing).f_flag & os.ST_RDONLY else DENIED
