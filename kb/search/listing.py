"""Lists without a query: every clause, guidance section or ruling a filter matches, one row
each, sorted by date or outcome; and the same orders for a query's results."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from kb.access import ordinals
from kb.search.filters import Filters
from kb.search.units import unit_name

SORTS = ("relevance", "date", "outcome")


@dataclass(frozen=True)
class Row:
    """What a list needs to know about one passage."""

    unit: str  # the clause, section or ruling it belongs to (kb.search.units.unit_name)
    date: str  # the ruling's decision date, else its version's effective date
    title: str
    outcome: str


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per loaded generation


def rows(searcher) -> list[Row | None]:
    """Row per ordinal of a searcher's generation (read in one query, once per generation)."""
    found = _TABLES.get(searcher)
    if found is None:
        index = ordinals(searcher)
        found = [None] * len(searcher.ids)
        for r in searcher.catalog.listing_rows():
            ordinal = index.get(r["passage_id"])
            if ordinal is None:  # stored but not indexed (a removed document)
                continue
            unit = unit_name(
                r["doc_id"], r["version_id"], r["clause_id"], r["anchor"], r["doc_type"]
            )
            found[ordinal] = Row(unit, r["date"] or "", r["title"], r["outcome"])
        _TABLES[searcher] = found
    return found


def browse(searcher, filters: Filters, sort: str = "date") -> list[int]:
    """The first passage (ordinal) of every clause, section or ruling `filters` allow, in
    `sort` order ("relevance" has no meaning without a query: it is "date" here)."""
    table = rows(searcher)
    first: dict[str, int] = {}
    for ordinal in np.flatnonzero(searcher.filters.mask(filters)).tolist():
        row = table[ordinal]
        if row is not None and row.unit not in first:
            first[row.unit] = ordinal
    return order(searcher, list(first.values()), "date" if sort == "relevance" else sort)


def order(searcher, ordinals_: list[int], sort: str) -> list[int]:
    """`ordinals_` newest first (`date`), or by outcome and then newest (`outcome`); ties
    keep document order. `relevance` keeps the order given."""
    if sort == "relevance":
        return list(ordinals_)
    table = rows(searcher)

    def row(o: int) -> Row:
        return table[o] or Row("", "", "", "")

    out = sorted(ordinals_, key=lambda o: (row(o).title, o))
    out.sort(key=lambda o: row(o).date, reverse=True)
    if sort == "outcome":
        out.sort(key=lambda o: (row(o).outcome == "", row(o).outcome))
    return out
