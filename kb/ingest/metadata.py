"""Validation and normalisation of document metadata from front matter, meta tags or manifests."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from kb.errors import ParseError
from kb.types import DOC_STATUSES, DOC_TYPES

LIST_FIELDS = ("surfaces", "regions", "policy_areas")
TEXT_FIELDS = ("title", "platform", "language", "version", "visibility")
DATE_FIELDS = ("effective_from", "effective_to")
ALIASES = {"document_id": "id", "doc_type": "type", "policy_area": "policy_areas"}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower-case ASCII slug: 'Minors on LIVE!' -> 'minors-on-live'."""
    return _SLUG_RE.sub("-", text.lower()).strip("-") or "section"


def normalize_metadata(
    raw: dict[str, Any], path: str, *, line: int | None = None
) -> dict[str, Any]:
    """Canonical metadata: known fields checked and typed, unknown fields kept as scalars/lists.

    Raises ParseError naming the file, line and field of the first bad value.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ParseError(path, f"metadata key {key!r} is not a string", line=line)
        name = ALIASES.get(key.strip(), key.strip())
        if value is None or value == "":
            continue

        def bad(reason: str, name: str = name) -> ParseError:
            return ParseError(path, reason, line=line, field=name)

        if name == "id":
            value = str(value).strip()
            if not _ID_RE.match(value):
                raise bad(f"{value!r} is not a valid id (letters, digits, . _ : -)")
        elif name == "type":
            value = str(value).strip().lower()
            if value not in DOC_TYPES:
                raise bad(f"{value!r} is not one of {', '.join(DOC_TYPES)}")
        elif name == "status":
            value = str(value).strip().lower()
            if value not in DOC_STATUSES:
                raise bad(f"{value!r} is not one of {', '.join(DOC_STATUSES)}")
        elif name in LIST_FIELDS:
            value = _as_list(value, bad)
        elif name in DATE_FIELDS:
            value = parse_date(value, bad)
        elif name in TEXT_FIELDS:
            if isinstance(value, list | dict):
                raise bad("must be a single value, not a list or mapping")
            value = str(value).strip()
        else:
            value = _as_extra(value, bad)
        out[name] = value
    frm, to = out.get("effective_from"), out.get("effective_to")
    if frm and to and to < frm:
        raise ParseError(
            path,
            f"effective_to {to} is before effective_from {frm}",
            line=line,
            field="effective_to",
        )
    return out


def parse_date(value: Any, bad: Any = None) -> str:
    """ISO date string from a date, datetime or 'YYYY-MM-DD' text."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        if bad is None:
            raise
        raise bad(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _as_list(value: Any, bad: Any) -> list[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = []
        for v in value:
            if isinstance(v, list | dict):
                raise bad("list items must be plain values")
            items.append(str(v).strip())
    else:
        items = [str(value).strip()]
    return [v for v in items if v]


def _as_extra(value: Any, bad: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple) and all(
        isinstance(v, bool | int | float | str) for v in value
    ):
        return list(value)
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (ValueError, TypeError, RecursionError):  # a YAML alias inside itself, mixed keys
        raise bad("cannot be stored: it contains itself, or mixes key types") from None
