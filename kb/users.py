"""Users, roles and API tokens of the web app (`auth = users`).

Roles are ordered: `moderator` < `policy` < `admin`; each has every right of the ones before it.

- moderator: current versions of policies and guidance, and rulings, of visibility `all`;
- policy: everything in the knowledge base, plus the consistency report, version diffs,
  teaching flags and editing collections;
- admin: managing users and tokens, and reading the audit log.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are random 256-bit secrets shown
once; only their SHA-256 is stored. Users live in `userdata.sqlite` in the user data folder
(DATA_DIR unless KB_USER_DATA_DIR), like collections, so a re-ingest never touches them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.catalog import now
from kb.errors import NotFoundError, QueryError
from kb.storage import open_store, writing

ROLES = ("moderator", "policy", "admin")
MIN_PASSWORD = 10
TOKEN_PREFIX = "kbt_"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE, label TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
    last_used TEXT);
"""


@dataclass(frozen=True)
class User:
    """Who is making a request. `local` marks single-user local mode (no login)."""

    name: str
    role: str
    epoch: int = 0
    local: bool = False

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
        """Session id: name and epoch, so a password change or removal ends old sessions."""
        return f"{self.epoch}:{self.name}"


LOCAL_USER = User("local", "admin", local=True)


class Users:
    """The user and token store of one user data folder (read-only when it cannot be written)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "userdata.sqlite"
        # Every worker process reads this file on each request; writers must not block them.
        self.db = open_store(self.path, _SCHEMA, wal=True, check_same_thread=False, timeout=10)
        self.db.execute("PRAGMA foreign_keys = ON")
        self._hasher = PasswordHasher()

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def _writing(self):
        return writing(self.db, self.path, "users and tokens", "KB_USER_DATA_DIR")

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
        with self._writing():
            try:
                self.db.execute(
                    "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)",
                    (name, role, self._hasher.hash(password), now()),
                )
            except sqlite3.IntegrityError:
                raise QueryError(f"a user called {name!r} already exists") from None
        return self.get(name)

    def remove(self, name: str) -> None:
        """Delete a user and their tokens; their sessions stop working at once. Never the
        last admin."""
        user = self._keeping_an_admin(name, None)
        with self._writing():
            self.db.execute("DELETE FROM users WHERE name = ?", (user.name,))

    def set_password(self, name: str, password: str) -> None:
        """New password; every existing session of the user ends."""
        user = self.get(name)
        _check_password(password)
        with self._writing():
            self.db.execute(
                "UPDATE users SET password_hash = ?, epoch = epoch + 1 WHERE name = ?",
                (self._hasher.hash(password), user.name),
            )

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role; their sessions end so the new role applies at once. Never
        demotes the last admin."""
        _check_role(role)
        user = self._keeping_an_admin(name, role)
        with self._writing():
            self.db.execute(
                "UPDATE users SET role = ?, epoch = epoch + 1 WHERE name = ?", (role, user.name)
            )

    def _keeping_an_admin(self, name: str, new_role: str | None) -> User:
        """The user, unless removing them (new_role None) or giving them `new_role` would
        leave nobody to manage users."""
        user = self.get(name)
        if user.role == "admin" and new_role != "admin" and self.count("admin") == 1:
            raise QueryError(f"{user.name} is the last admin; make someone else admin first")
        return user

    def get(self, name: str) -> User:
        """A user by name (any case); NotFoundError when there is none."""
        name = (name or "").strip().lower()
        row = self.db.execute(
            "SELECT name, role, epoch FROM users WHERE name = ?", (name,)
        ).fetchone()
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
        rows = self.db.execute(
            "SELECT u.name, u.role, u.created_at, count(t.token_id) FROM users u "
            "LEFT JOIN api_tokens t ON t.user = u.name GROUP BY u.name ORDER BY u.name"
        )
        return [{"name": n, "role": r, "created_at": c, "tokens": k} for n, r, c, k in rows]

    def count(self, role: str | None = None) -> int:
        """How many users (with `role`, when given)."""
        if role:
            return self.db.execute("SELECT count(*) FROM users WHERE role = ?", (role,)).fetchone()[
                0
            ]
        return self.db.execute("SELECT count(*) FROM users").fetchone()[0]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches, else None (same work either way)."""
        row = self.db.execute(
            "SELECT password_hash FROM users WHERE name = ?", ((name or "").strip().lower(),)
        ).fetchone()
        stored = row[0] if row else _DUMMY_HASH
        try:
            self._hasher.verify(stored, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        user = self.get(name)
        if self._hasher.check_needs_rehash(stored):
            with self._writing():
                self.db.execute(
                    "UPDATE users SET password_hash = ? WHERE name = ?",
                    (self._hasher.hash(password), user.name),
                )
        return user

    def session_user(self, session_id: str) -> User | None:
        """The user of a session id from `User.get_id`, if it is still valid."""
        epoch, _, name = (session_id or "").partition(":")
        user = self.find(name)
        if user is None or str(user.epoch) != epoch:
            return None
        return user

    def create_token(self, name: str, label: str = "") -> tuple[str, str]:
        """A new API token for `name`: (token id, secret). The secret is not stored."""
        user = self.get(name)
        token_id = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self._writing():
            self.db.execute(
                "INSERT INTO api_tokens (token_id, user, digest, label, created_at) "
                "VALUES (?,?,?,?,?)",
                (token_id, user.name, _digest(secret), label[:100], now()),
            )
        return token_id, secret

    def tokens(self, name: str | None = None) -> list[dict[str, Any]]:
        """Tokens (never their secrets), of one user or of all."""
        sql = "SELECT token_id, user, label, created_at, last_used FROM api_tokens"
        rows = self.db.execute(
            sql + (" WHERE user = ? ORDER BY created_at" if name else " ORDER BY user, created_at"),
            (name,) if name else (),
        )
        keys = ("token_id", "user", "label", "created_at", "last_used")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        """Delete a token; requests with it fail from now on."""
        with self._writing():
            cur = self.db.execute("DELETE FROM api_tokens WHERE token_id = ?", (token_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"no API token {token_id!r}")

    def token_user(self, secret: str) -> User | None:
        """The user an API token belongs to, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        row = self.db.execute(
            "SELECT token_id, user FROM api_tokens WHERE digest = ?", (_digest(secret),)
        ).fetchone()
        if row is None:
            return None
        stamp = now()
        with self._writing():  # at most one write a minute per token, not one per request
            self.db.execute(
                "UPDATE api_tokens SET last_used = ? WHERE token_id = ? "
                "AND (last_used IS NULL OR last_used < ?)",
                (stamp, row[0], stamp[:16]),
            )
        return self.find(row[1])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise QueryError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise QueryError(f"password: at least {MIN_PASSWORD} characters")


# Verified against when the user does not exist, so timing does not reveal user names.
_DUMMY_HASH = PasswordHasher().hash(secrets.token_hex(16))
