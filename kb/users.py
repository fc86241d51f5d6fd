"""Users, roles and API tokens of the web app (`auth = users`).

Roles are ordered: `moderator` < `policy` < `admin`; each has every right of the ones before it.

- moderator: current versions of policies and guidance, and rulings, of visibility `all`;
- policy: everything in the knowledge base, plus the consistency report, version diffs,
  teaching flags and editing collections;
- admin: managing users and tokens, and reading the audit log.

Passwords are hashed with Argon2id (argon2-cffi). Sign-ins and API tokens are random 256-bit
secrets; only their SHA-256 is stored. A sign-in (session) lasts `session_hours` from the
moment it starts, however busy it is, and ends at sign-out, when the user's password or role
changes, or when the user is removed: the session cookie only names a row of the `sessions`
table, which those events delete, so a copied cookie dies with its row, and a user removed and
added again under the same name starts with no sessions and no tokens. API tokens are separate
credentials that admins issue and revoke one by one: a password change keeps them, removing
the user deletes them, and a token always acts with its user's current role. Users live in
`userdata.sqlite` in the user data folder (DATA_DIR unless KB_USER_DATA_DIR), like
collections, so a re-ingest never touches them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.catalog import now
from kb.config import USER_DATA_FILE
from kb.dbfile import open_store
from kb.errors import NotFoundError, QueryError

if TYPE_CHECKING:
    from kb.pgdb import PostgresPlace

ROLES = ("moderator", "policy", "admin")
MIN_PASSWORD = 10
TOKEN_PREFIX = "kbt_"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
# Files made before sessions had a table keep an unused `epoch` column in `users`.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE, label TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
    last_used TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT COLLATE "C" PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE, label TEXT NOT NULL DEFAULT '',
    created_at TEXT COLLATE "C" NOT NULL, last_used TEXT COLLATE "C");
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at TEXT COLLATE "C" NOT NULL, expires_at TEXT COLLATE "C" NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions("user");
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
"""


@dataclass(frozen=True)
class User:
    """Who is making a request. `local` marks single-user local mode (no login);
    `session_id` is the secret of the sign-in the request came with, if any."""

    name: str
    role: str
    local: bool = False
    session_id: str = field(default="", repr=False)

    def can(self, role: str) -> bool:
        """True when this user's role includes every right of `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)

    # Flask-Login's user protocol.
    is_active = True
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    def get_id(self) -> str:
        """What the session cookie holds: the sign-in's secret (see `Users.start_session`)."""
        return self.session_id


LOCAL_USER = User("local", "admin", local=True)


class Users:
    """The user, session and token store of one user data folder (read-only when it cannot be
    written)."""

    def __init__(self, where: Path | PostgresPlace) -> None:
        self.db = open_store(
            where, USER_DATA_FILE, _SCHEMA, _POSTGRES_SCHEMA, what="users and tokens"
        )
        self._hasher = PasswordHasher()
        self._dummy_hash = _dummy_hash()  # now, so the first unknown name takes no longer

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def shared_secret(self) -> bytes | None:
        """Under backend=postgres, the web sessions' signing key every app server shares (made
        on first use); None for a user data folder, which keeps it in a file beside."""
        if self.db.dialect != "postgres":
            return None
        found = self.db.fetchone("SELECT value FROM secrets WHERE name = 'session'")
        if found is None:
            with self.db.write() as db:
                db.execute(
                    "INSERT INTO secrets VALUES ('session', ?) ON CONFLICT DO NOTHING",
                    (secrets.token_bytes(32),),
                )
            found = self.db.fetchone("SELECT value FROM secrets WHERE name = 'session'")
        return bytes(found[0])

    def add(self, name: str, role: str, password: str) -> User:
        """A new user; QueryError names the bad field."""
        name = (name or "").strip().lower()
        if not _NAME_RE.match(name):
            raise QueryError(
                f"user name {name!r}: 1-64 lower-case letters, digits and . _ @ -, "
                "starting with a letter or digit"
            )
        _check_role(role)
        _check_password(password)
        hashed = self._hasher.hash(password)
        with self.db.write() as db:
            try:
                db.execute(
                    "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)",
                    (name, role, hashed, now()),
                )
            except self.db.IntegrityError:
                raise QueryError(f"a user called {name!r} already exists") from None
        return self.get(name)

    def remove(self, name: str) -> None:
        """Delete a user with their sessions and tokens. Never the last admin."""
        with self.db.write() as db:
            user = self._keeping_an_admin(name, None)
            _end_sessions(db, user.name)
            db.execute('DELETE FROM api_tokens WHERE "user" = ?', (user.name,))
            db.execute("DELETE FROM users WHERE name = ?", (user.name,))

    def set_password(self, name: str, password: str) -> None:
        """New password; every session of the user ends (API tokens stay valid)."""
        user = self.get(name)
        _check_password(password)
        hashed = self._hasher.hash(password)
        with self.db.write() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, user.name))
            _end_sessions(db, user.name)

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role; their sessions end so the new role applies at once. Never
        demotes the last admin."""
        _check_role(role)
        with self.db.write() as db:
            user = self._keeping_an_admin(name, role)
            db.execute("UPDATE users SET role = ? WHERE name = ?", (role, user.name))
            _end_sessions(db, user.name)

    def _keeping_an_admin(self, name: str, new_role: str | None) -> User:
        """The user, unless removing them (new_role None) or giving them `new_role` would
        leave nobody to manage users. Called inside `write()`, whose transaction these reads
        share (same thread, same connection), so two admins cannot remove each other."""
        user = self.get(name)
        if user.role == "admin" and new_role != "admin" and self.count("admin") == 1:
            raise QueryError(f"{user.name} is the last admin; make someone else admin first")
        return user

    def get(self, name: str) -> User:
        """A user by name (any case); NotFoundError when there is none."""
        name = (name or "").strip().lower()
        row = self.db.fetchone("SELECT name, role FROM users WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no user {name!r}")
        return User(*row)

    def find(self, name: str) -> User | None:
        """A user by name, or None."""
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def list(self) -> list[dict[str, Any]]:
        """Every user with their token count."""
        rows = self.db.fetchall(
            "SELECT u.name, u.role, u.created_at, count(t.token_id) FROM users u "
            'LEFT JOIN api_tokens t ON t."user" = u.name GROUP BY u.name ORDER BY u.name'
        )
        return [{"name": n, "role": r, "created_at": c, "tokens": k} for n, r, c, k in rows]

    def count(self, role: str | None = None) -> int:
        """How many users (with `role`, when given)."""
        if role:
            return self.db.fetchone("SELECT count(*) FROM users WHERE role = ?", (role,))[0]
        return self.db.fetchone("SELECT count(*) FROM users")[0]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches, else None (same work either way)."""
        row = self.db.fetchone(
            "SELECT password_hash FROM users WHERE name = ?", ((name or "").strip().lower(),)
        )
        stored = row[0] if row else self._dummy_hash
        try:
            self._hasher.verify(stored, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        user = self.get(name)
        if self._hasher.check_needs_rehash(stored):
            hashed = self._hasher.hash(password)
            with self.db.write() as db:
                db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, user.name))
        return user

    def start_session(self, user: User, hours: float) -> User:
        """A new sign-in of `user` lasting `hours`: the user with its session id (a secret
        for the cookie; only its SHA-256 is stored). NotFoundError if the user is gone."""
        session_id = secrets.token_urlsafe(32)
        start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expires = (start + dt.timedelta(hours=hours)).isoformat()
        with self.db.write() as db:
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (start.isoformat(),))
            cur = db.execute(
                'INSERT INTO sessions (digest, "user", created_at, expires_at) '
                "SELECT ?, name, ?, ? FROM users WHERE name = ?",
                (_digest(session_id), start.isoformat(), expires, user.name),
            )
        if cur.rowcount == 0:
            raise NotFoundError(f"no user {user.name!r}")
        return replace(user, session_id=session_id)

    def session_user(self, session_id: str) -> User | None:
        """The user of a session id from `start_session`, while that sign-in lasts."""
        if not session_id:
            return None
        row = self.db.fetchone(
            'SELECT u.name, u.role FROM sessions s JOIN users u ON u.name = s."user" '
            "WHERE s.digest = ? AND s.expires_at > ?",
            (_digest(session_id), now()),
        )
        return User(*row, session_id=session_id) if row else None

    def end_session(self, session_id: str) -> None:
        """Sign out: the session id stops working, wherever its cookie was copied."""
        with self.db.write() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (_digest(session_id),))

    def create_token(self, name: str, label: str = "") -> tuple[str, str]:
        """A new API token for `name`: (token id, secret). The secret is not stored."""
        user = self.get(name)
        token_id = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self.db.write() as db:
            db.execute(
                'INSERT INTO api_tokens (token_id, "user", digest, label, created_at) '
                "VALUES (?,?,?,?,?)",
                (token_id, user.name, _digest(secret), label[:100], now()),
            )
        return token_id, secret

    def tokens(self, name: str | None = None) -> list[dict[str, Any]]:
        """Tokens (never their secrets), of one user or of all."""
        sql = 'SELECT token_id, "user", label, created_at, last_used FROM api_tokens'
        rows = self.db.fetchall(
            sql
            + (' WHERE "user" = ? ORDER BY created_at' if name else ' ORDER BY "user", created_at'),
            (name,) if name else (),
        )
        keys = ("token_id", "user", "label", "created_at", "last_used")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        """Delete a token; requests with it fail from now on."""
        with self.db.write() as db:
            cur = db.execute("DELETE FROM api_tokens WHERE token_id = ?", (token_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"no API token {token_id!r}")

    def token_user(self, secret: str) -> User | None:
        """The user an API token belongs to, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        row = self.db.fetchone(
            'SELECT token_id, "user", last_used FROM api_tokens WHERE digest = ?',
            (_digest(secret),),
        )
        if row is None:
            return None
        token_id, name, last_used = row
        stamp = now()
        if last_used is None or last_used < stamp[:16]:  # one write a minute, not per request
            with self.db.write() as db:
                db.execute(
                    "UPDATE api_tokens SET last_used = ? WHERE token_id = ? "
                    "AND (last_used IS NULL OR last_used < ?)",
                    (stamp, token_id, stamp[:16]),
                )
        return self.find(name)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _end_sessions(db: sqlite3.Connection, name: str) -> None:
    db.execute('DELETE FROM sessions WHERE "user" = ?', (name,))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise QueryError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise QueryError(f"password: at least {MIN_PASSWORD} characters")


@functools.cache
def _dummy_hash() -> str:
    """A hash verified against when the user does not exist, so timing does not reveal user
    names. Made once per process when the first store opens, not at import: it takes a fifth
    of a second, and the command line imports this module for ROLES."""
    return PasswordHasher().hash(secrets.token_hex(16))
