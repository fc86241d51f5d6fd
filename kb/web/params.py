"""Reading search requests (query string or JSON body) into checked values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kb.errors import QueryError
from kb.search.filters import Filters
from kb.search.hybrid import MODES

# Filter fields the search page offers, with labels; the API accepts any known metadata key.
FACETS = (
    ("type", "Document type"),
    ("platform", "Platform"),
    ("surfaces", "Surface"),
    ("regions", "Region"),
    ("policy_areas", "Policy area"),
    ("outcome", "Outcome"),
    ("ruling_status", "Ruling status"),
)
_RESERVED = {
    "q",
    "query",
    "k",
    "mode",
    "as_of",
    "history",
    "max_per_doc",
    "filters",
    "page",
    "date_from",
    "date_to",
}


@dataclass
class SearchRequest:
    """A validated search request."""

    query: str
    k: int
    mode: str
    filters: Filters
    max_per_doc: int | None


def parse(
    args: dict[str, Any], known_keys: set[str], max_k: int, *, default_k: int = 10
) -> SearchRequest:
    """From a query string (MultiDict) or a JSON object; QueryError with a clear message."""
    query = args.get("q", args.get("query", ""))
    if not isinstance(query, str):
        raise QueryError("'q' must be a string")
    k = _int(args.get("k", default_k), "k")
    if not 1 <= k <= max_k:
        raise QueryError(f"k must be between 1 and {max_k}, got {k}")
    mode = args.get("mode") or "hybrid"
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    max_per_doc = args.get("max_per_doc")
    max_per_doc = _int(max_per_doc, "max_per_doc") if max_per_doc not in (None, "") else None
    if isinstance(args.get("filters"), dict):
        pairs = dict(args["filters"])
    else:
        pairs = {}
        getlist = getattr(args, "getlist", None)
        for key in args:
            if key in _RESERVED:
                continue
            values = getlist(key) if getlist else [args[key]]
            values = [v for v in values if v not in ("", None)]
            if values:
                pairs[key] = values
    history = str(args.get("history", "")).lower() in ("1", "true", "on", "yes")
    filters = Filters.parse(
        pairs,
        as_of=args.get("as_of") or None,
        include_historical=history,
        known_keys=known_keys,
        date_from=args.get("date_from") or None,
        date_to=args.get("date_to") or None,
    )
    return SearchRequest(query=query, k=k, mode=mode, filters=filters, max_per_doc=max_per_doc)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be an integer, got {value!r}") from None
