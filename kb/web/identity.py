"""Who is making the current request: the signed-in user (the local user in local mode)."""

from __future__ import annotations

from flask_login import current_user

from kb.errors import AuthError
from kb.users import User


def signed_in() -> User | None:
    """Who is making this request (the local user in local mode), or None before sign-in."""
    user = current_user._get_current_object()
    return user if isinstance(user, User) else None


def current() -> User:
    """Who is making this request; AuthError before sign-in."""
    user = signed_in()
    if user is None:
        raise AuthError("sign in first")
    return user
