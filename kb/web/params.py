"""Reading search requests (query string or JSON body) into checked values."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from kb.errors import QueryError
from kb.search.filters import Filters
from kb.search.hybrid import MODES, UNITS
from kb.search.listing import SORTS

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
MAX_RESULT_PAGE = 10_000
_RESERVED = {
    "q",
    "query",
    "k",
    "mode",
    "as_of",
    "history",
    "max_per_doc",
    "by",
    "filters",
    "page",
    "sort",
    "format",
    "exact",
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
    by: str = "clause"
    sort: str = "relevance"
    page: int = 1  # 1-based, of k results each


def parse(
    args: dict[str, Any], known_keys: set[str], max_k: int, *, default_k: int = 10
) -> SearchRequest:
    """From a query string (MultiDict) or a JSON object; QueryError with a clear message.

    In a query string an empty value means "not given"; in a JSON object a value that is
    there must have its own type (`"k": 5`, `"history": true`, filters as an object)."""
    strict = not hasattr(args, "getlist")  # a JSON body

    if strict:  # a JSON body: filters go in "filters" (the API's schema says so)
        stray = sorted(set(args) - _RESERVED)
        if stray:
            raise QueryError(
                f"unknown field {', '.join(map(repr, stray))}: filters go in 'filters'"
            )

    def given(name: str) -> Any:
        value = args.get(name)
        if strict and name in args and value is None:
            raise QueryError(f"{name} must not be null")
        return None if value == "" and not strict else value

    query = args.get("q", args.get("query", ""))
    if not isinstance(query, str):
        raise QueryError("'q' must be a string")
    k = given("k")
    k = default_k if k is None else _int(k, "k", strict)
    if not 1 <= k <= max_k:
        raise QueryError(f"k must be between 1 and {max_k}, got {k}")
    mode = given("mode")
    mode = "hybrid" if mode is None else mode
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    max_per_doc = given("max_per_doc")
    if max_per_doc is not None:
        max_per_doc = _int(max_per_doc, "max_per_doc", strict)
        if max_per_doc < 1:
            raise QueryError(f"max_per_doc must be at least 1, got {max_per_doc}")
    by = given("by")
    by = "clause" if by is None else by
    if by not in UNITS:
        raise QueryError(f"unknown unit {by!r}; valid: {', '.join(UNITS)}")
    sort = given("sort")
    sort = "relevance" if sort is None else sort
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}; valid: {', '.join(SORTS)}")
    page = given("page")
    page = 1 if page is None else _int(page, "page", strict)
    if not 1 <= page <= MAX_RESULT_PAGE:
        raise QueryError(f"page must be between 1 and {MAX_RESULT_PAGE}, got {page}")
    if strict and "filters" in args:
        if not isinstance(args["filters"], dict):
            raise QueryError("'filters' must be an object of field: value or [values]")
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
    filters = Filters.parse(
        pairs,
        as_of=date_param(given("as_of"), "as_of"),
        include_historical=_bool(given("history"), "history", strict),
        known_keys=known_keys,
        date_from=date_param(given("date_from"), "date_from"),
        date_to=date_param(given("date_to"), "date_to"),
    )
    return SearchRequest(
        query=query,
        k=k,
        mode=mode,
        filters=filters,
        max_per_doc=max_per_doc,
        by=by,
        sort=sort,
        page=page,
    )


def _int(value: Any, name: str, strict: bool) -> int:
    if strict and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise QueryError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise QueryError(f"{name} must be an integer, got {value!r}") from None


_TRUE = ("1", "true", "on", "yes")
_FALSE = ("", "0", "false", "off", "no")


def flag(args, name: str) -> bool:
    """A query-string flag (1/true/on/yes or 0/false/off/no; absent is false)."""
    return _bool(args.get(name) or None, name, strict=False)


def _bool(value: Any, name: str, strict: bool) -> bool:
    """A flag: JSON true/false, or in a query string 1/true/on/yes and 0/false/off/no."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if not strict and str(value).lower() in _TRUE + _FALSE:
        return str(value).lower() in _TRUE
    raise QueryError(f"{name} must be true or false, got {value!r}")


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date_param(value: Any, name: str) -> str | None:
    """A YYYY-MM-DD date that is a real day, or None when not given."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise QueryError(f"{name} {value!r} is not a date (YYYY-MM-DD)")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
    return value
