"""Metadata filters: the terms a passage is indexed under, and the filters a query asks for.

Every filterable fact about a passage is indexed as a term `key=value` (lower-cased):
`type=policy`, `status=current`, `regions=eu`, `platform=glowcast live`, any free-form
metadata key, and so on. A filter is an AND over keys of an OR over values, so both
retrievers apply it before top-k. Region and surface filters also match passages that apply
everywhere (`regions=global`, or no regions/surfaces recorded at all).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kb.blank import is_blank
from kb.errors import QueryError
from kb.ingest.metadata import SCOPE_KEYS, canonical_key, fold_key
from kb.types import Passage, VersionInfo

# Metadata keys that are not filters (free text, dates handled by as_of, bookkeeping).
_NOT_FILTERS = {
    "title",
    "effective_from",
    "effective_to",
    "review_by",
    "declared_status",
    "decision",
    "facts",
    "rationale",
}
# Terms only the catalog decides (see passage_terms).
_FROM_CATALOG = {"type", "status", "doc_id", "clause_id"}
# key -> values that mean "applies to every value of this key".
WILDCARDS = {"regions": ("global", "*"), "surfaces": ("*",)}
# Friendly singular aliases accepted in filters.
ALIASES = {
    "region": "regions",
    "surface": "surfaces",
    "policy_area": "policy_areas",
    "area": "policy_areas",
    "doc_type": "type",
    "document_id": "doc_id",
}
MAX_FILTER_VALUES = 50
MAX_VALUE_LENGTH = 200
FAR_FUTURE = 99991231


def date_int(value: str | None, default: int) -> int:
    """`YYYY-MM-DD` as the integer YYYYMMDD (default when missing)."""
    return int(value.replace("-", "")) if value else default


def passage_terms(passage: Passage, version: VersionInfo, doc_type: str) -> list[str]:
    """The `key=value` terms a passage is indexed under.

    The terms a user's clearance tests come from the catalog only: type, status, doc_id and
    clause_id are never taken from metadata, a passage's own metadata may only narrow its
    scope, and there is exactly one visibility term (the narrowest any spelling declares).
    """
    meta: dict[str, Any] = {}
    visibility = []
    for key, value in version.metadata.items():
        name = canonical_key(key)
        if name == "visibility":
            visibility.append(_norm(value))
        elif name not in _FROM_CATALOG:
            meta[name] = value
    meta.update({k: v for k, v in passage.metadata.items() if k in SCOPE_KEYS})
    restricted = [v for v in visibility if v != "all"]
    terms = {
        f"type={doc_type}",
        f"status={version.status}",
        f"doc_id={passage.doc_id}",
        f"visibility={restricted[0] if restricted else 'all'}",
    }
    if passage.clause_id:
        terms.add(f"clause_id={passage.clause_id}")
    for key, wild in WILDCARDS.items():
        if not meta.get(key):
            terms.add(f"{key}={wild[-1]}")
    for key, value in meta.items():
        if key in _NOT_FILTERS:
            continue
        for v in value if isinstance(value, list) else [value]:
            terms.add(f"{key}={_norm(v)}")
    return sorted(t.lower() for t in terms)


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split()).lower()


@dataclass
class Filters:
    """What a search is restricted to."""

    terms: dict[str, list[str]] = field(default_factory=dict)
    as_of: str | None = None
    include_historical: bool = False
    date_from: str | None = None  # documents dated (effective / decided) on or after
    date_to: str | None = None  # ... and on or before
    # Extra AND-of-OR term conditions the caller cannot lift: a user's clearance.
    required: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(
        cls,
        pairs: dict[str, Any] | list[str] | None = None,
        *,
        as_of: str | None = None,
        include_historical: bool = False,
        known_keys: set[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Filters:
        """Filters from `{key: value|[values]}` or `["key=value", ...]`; QueryError if bad."""
        terms: dict[str, list[str]] = {}
        items: list[tuple[str, Any]] = []
        if isinstance(pairs, dict):
            items = list(pairs.items())
        elif pairs:
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep or not key.strip():
                    raise QueryError(f"filter {pair!r} is not key=value")
                items.append((key, value))
        for key, value in items:
            key = ALIASES.get(fold_key(key), fold_key(key))
            values = value if isinstance(value, list) else [value]
            for v in values:
                if not isinstance(v, str | int | float | bool) or is_blank(str(v)):
                    raise QueryError(f"filter {key!r} has an empty or invalid value")
                if len(str(v)) > MAX_VALUE_LENGTH:
                    raise QueryError(f"filter {key!r} value is over {MAX_VALUE_LENGTH} characters")
                # "a,b" means either value.
                for part in str(v).split(",") if isinstance(v, str) else [v]:
                    if _norm(part):
                        terms.setdefault(key, []).append(_norm(part))
            if len(terms.get(key, [])) > MAX_FILTER_VALUES:
                raise QueryError(f"filter {key!r} has more than {MAX_FILTER_VALUES} values")
        if known_keys is not None:
            unknown = sorted(set(terms) - known_keys - {"status"})
            if unknown:
                raise QueryError(
                    f"unknown filter {', '.join(map(repr, unknown))}; known filters: "
                    + ", ".join(sorted(known_keys))
                )
        as_of, date_from, date_to = (
            _date(value, name)
            for value, name in ((as_of, "as_of"), (date_from, "date_from"), (date_to, "date_to"))
        )
        if date_from and date_to and date_to < date_from:
            raise QueryError(f"date_to {date_to} is before date_from {date_from}")
        return cls(
            terms=terms,
            as_of=as_of,
            include_historical=include_historical,
            date_from=date_from,
            date_to=date_to,
        )

    def clauses(self) -> list[list[str]]:
        """The filter as AND-of-OR term lists, status included (current unless as_of/history)."""
        out = []
        terms = dict(self.terms)
        if "status" not in terms and self.as_of is None and not self.include_historical:
            terms["status"] = ["current"]
        elif "status" not in terms:
            terms["status"] = ["current", "historical"]
        for key, values in sorted(terms.items()):
            alts = {f"{key}={v}" for v in values}
            for wild in WILDCARDS.get(key, ()):
                alts.add(f"{key}={wild}")
            out.append(sorted(alts))
        out += [sorted(set(alts)) for alts in self.required]
        return out

    def with_terms(self, **terms: list[str]) -> Filters:
        """A copy with some term conditions replaced; dates and history kept."""
        return dataclasses.replace(self, terms={**self.terms, **terms})

    def ranges(self) -> list[tuple[str, int | None, int | None]]:
        """Date conditions as (field, low, high) over the integer fields eff_from / eff_to."""
        out: list[tuple[str, int | None, int | None]] = []
        day = self.as_of_int()
        if day is not None:
            out += [("eff_from", None, day), ("eff_to", day, None)]
        if self.date_from or self.date_to:
            out.append(
                (
                    "eff_from",
                    date_int(self.date_from, 0) if self.date_from else None,
                    date_int(self.date_to, 0) if self.date_to else None,
                )
            )
        return out

    def as_of_int(self) -> int | None:
        """as_of as YYYYMMDD."""
        return date_int(self.as_of, 0) if self.as_of else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "terms": self.terms,
            "as_of": self.as_of,
            "include_historical": self.include_historical,
        }


def _date(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise QueryError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
