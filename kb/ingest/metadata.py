"""Validation and normalisation of document metadata from front matter, meta tags or manifests."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kb.errors import ParseError
from kb.types import DOC_STATUSES, DOC_TYPES

LIST_FIELDS = ("surfaces", "regions", "policy_areas")
TEXT_FIELDS = ("title", "platform", "language", "version", "owner")
DATE_FIELDS = ("effective_from", "effective_to", "review_by")
ALIASES = {
    "document_id": "id",
    "doc_type": "type",
    "policy_area": "policy_areas",
    "region": "regions",
    "surface": "surfaces",
}
# Keys policy-kb derives itself; a file that sets them is refused rather than trusted.
DERIVED_KEYS = frozenset(
    {
        "doc_id",
        "clause_id",
        "declared_status",
        "passage_id",
        "version_id",
        "ruling_status",
        "pages",
    }
)
# The keys an `<!-- applies: ... -->` comment may set for one section: its scope, never who
# may see it or which version it is.
SCOPE_KEYS = ("regions", "surfaces", "policy_areas")
# One document's metadata, as stored JSON: a bound on what a few bytes of YAML can become.
MAX_METADATA_BYTES = 64 * 1024
# What a format's own key/value metadata (document properties, a metadata table) may name.
DOCUMENT_KEYS = frozenset(
    {"id", "title", "type", "status", "visibility", *LIST_FIELDS, *DATE_FIELDS, *TEXT_FIELDS}
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
_SLUG_RE = re.compile(r"[^a-z0-9]+")
_KEY_RE = re.compile(r"^\w{1,64}$")


def slugify(text: str) -> str:
    """Lower-case ASCII slug: 'Minors on LIVE!' -> 'minors-on-live'."""
    return _SLUG_RE.sub("-", text.lower()).strip("-") or "section"


def fold_key(key: str) -> str:
    """A key with case, surrounding space and `-`/`_`/inner spaces folded:
    'Effective-From ' -> 'effective_from'."""
    return "_".join(key.strip().lower().replace("-", "_").split())


def canonical_key(key: str) -> str:
    """The one spelling of a document metadata key: `fold_key`, then aliases
    ('Region' -> 'regions').

    Every parser, the manifest and the filter index use it, so no two spellings of one key
    can carry different values past ingest.
    """
    name = fold_key(key)
    return ALIASES.get(name, name)


def is_document_key(name: str) -> bool:
    """True when a property name (any spelling canonical_key folds, an optional `kb:` prefix
    already removed) names document metadata."""
    return bool(name) and len(name) <= 64 and canonical_key(name) in DOCUMENT_KEYS


def canonical_items(
    items: Iterable[tuple[Any, Any, int | None]],
    path: str,
    *,
    line: int | None = None,
    fold: Callable[[str], str] = canonical_key,
) -> list[tuple[str, Any, int | None]]:
    """(canonical key, value, line) for each raw (key, value, line); a ParseError naming file
    and line when a key is not text or when two spellings of one key disagree."""
    seen: dict[str, tuple[Any, int | None, str]] = {}
    out: list[tuple[str, Any, int | None]] = []
    for key, value, at in items:
        at = at if at is not None else line
        if not isinstance(key, str):
            raise ParseError(path, f"metadata key {key!r} is not text", line=at)
        name = fold(key)
        if not _KEY_RE.match(name):
            raise ParseError(
                path, f"metadata key {key!r}: 1-64 letters, digits, '_' or '-'", line=at
            )
        if name in seen:
            first_value, first_line, first_key = seen[name]
            if first_value != value:
                where = f" on line {first_line}" if first_line is not None else ""
                raise ParseError(
                    path,
                    f"{key!r} repeats {first_key!r}{where} with a different value",
                    line=at,
                    field=name,
                )
            continue
        seen[name] = (value, at, key)
        out.append((name, value, at))
    return out


def normalize_metadata(
    raw: Mapping[Any, Any] | Iterable[tuple[Any, Any, int | None]],
    path: str,
    *,
    line: int | None = None,
) -> dict[str, Any]:
    """Canonical metadata: keys folded by `canonical_key`, known fields checked and typed,
    unknown fields kept as scalars/lists.

    `raw` is a mapping, or (key, value, line) triples when the parser knows each key's line.
    Raises ParseError naming the file, line and field of the first bad key or value.
    """
    triples = [(k, v, None) for k, v in raw.items()] if isinstance(raw, Mapping) else list(raw)
    out: dict[str, Any] = {}
    for name, value, at in canonical_items(triples, path, line=line):
        if value is None or value == "":
            continue

        def bad(reason: str, name: str = name, at: int | None = at) -> ParseError:
            return ParseError(path, reason, line=at, field=name)

        if name in DERIVED_KEYS:
            raise bad("is set by policy-kb itself, not by source files")
        if name == "id":
            value = str(value).strip()
            if not _ID_RE.match(value):
                raise bad(f"{value!r} is not a valid id (letters, digits, . _ : -)")
        elif name in ("type", "status", "visibility"):
            if isinstance(value, list | dict):
                raise bad("must be a single value, not a list or mapping")
            value = str(value).strip().lower()
            if name == "type" and value not in DOC_TYPES:
                raise bad(f"{value!r} is not one of {', '.join(DOC_TYPES)}")
            if name == "status" and value not in DOC_STATUSES:
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
    size = len(json.dumps(out, sort_keys=True, default=str))
    if size > MAX_METADATA_BYTES:
        raise ParseError(
            path,
            f"metadata is {size:,} bytes, over the {MAX_METADATA_BYTES:,}-byte limit",
            line=line,
        )
    return out


def scope_metadata(
    raw: Iterable[tuple[str, Any, int | None]], path: str, *, line: int | None = None
) -> dict[str, list[str]]:
    """The scope an `applies` comment sets: only SCOPE_KEYS, as lists; ParseError otherwise."""
    triples = list(raw)
    for key, _, at in canonical_items(triples, path, line=line):
        if key not in SCOPE_KEYS:
            raise ParseError(
                path,
                f"applies: {key!r} is not a scope key (use {', '.join(SCOPE_KEYS)})",
                line=at if at is not None else line,
                field="applies",
            )
    return {k: v for k, v in normalize_metadata(triples, path, line=line).items() if v}


def overlay(own: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """A file's own metadata overlaid with its manifest entry's, except that visibility only
    ever narrows: either side saying anything but `all` keeps the document restricted."""
    merged = {**own, **manifest}
    narrowed = [v for v in (own.get("visibility"), manifest.get("visibility")) if v and v != "all"]
    if narrowed:
        merged["visibility"] = narrowed[0]
    return merged


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
