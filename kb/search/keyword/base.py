"""The keyword backend protocol and the record both backends index."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.search.filters import Filters

SEARCH_FIELDS = ("title", "heading", "text")
# Characters with a meaning in query syntax; a query that does not parse is retried without them.
_SYNTAX_RE = re.compile(r"[+\-&|!(){}\[\]^\"~*?:\\/']")
# A word the query excludes ("-word", "NOT word"): it stays excluded when the syntax is dropped.
_EXCLUDED_RE = re.compile(r"(?<!\S)(?:-|NOT\s+)(\S+)")
# A stop word in more than this share of the passages is left out of plain queries.
COMMON_SHARE = 0.5
# A filter that allows at least this share of the passages is applied after the search, on
# the allowed mask: a filter clause inside the query makes Tantivy score every passage that
# matches a word (it cannot skip blocks that cannot reach the top): at a million passages
# a keyword search took 17.2 ms at the median with it, 7.4 after (benchmarks/bench_keyword.py).
POST_FILTER_SHARE = 0.5
# How many more hits than the allowed share needs an unfiltered search fetches.
POST_FILTER_MARGIN = 1.5
# Lucene's (and Tantivy's) English stop words.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
# What makes a query more than words: quotes, fields, grouping, wildcards, boosts, operators.
_QUERY_SYNTAX_RE = re.compile(r"[\"():*?^~{}\[\]\\]|(?<!\S)[-+]|\b(?:AND|OR|NOT)\b")
_EDGE = ".,!?;'’"
# A question mark (or stop) ending a word is punctuation, not a wildcard.
_END_PUNCTUATION = re.compile(r"[?!.,;]+(?=\s|$)")


def post_filtered(
    allowed: np.ndarray | None, limit: int, search: Callable[[int], list[tuple[int, float]]]
) -> list[tuple[int, float]] | None:
    """A broad filter applied after the search (POST_FILTER_SHARE): `search(n)` gives the
    best n (ordinal, score) with no filter; those `allowed` leaves out are dropped. Exact
    whenever `limit` remain (any allowed passage further down scores no higher); None when
    the filter is too narrow or too few remain (search with the filter inside then)."""
    if allowed is None or not len(allowed):
        return None
    share = np.count_nonzero(allowed) / len(allowed)
    if share < POST_FILTER_SHARE:
        return None
    fetch = min(int(limit * POST_FILTER_MARGIN / share) + 1, len(allowed))
    hits = search(fetch)
    kept = [(o, score) for o, score in hits if o < len(allowed) and allowed[o]]
    if len(kept) >= limit or len(hits) < fetch:
        return kept[:limit]
    return None


def without_stop_words(query: str, common: frozenset[str] = STOP_WORDS) -> str:
    """A query of plain words without its `common` stop words (those in more than
    COMMON_SHARE of the passages, kb.search.keyword.tantivy_backend), when it has other words:
    they weigh next to nothing in BM25 (an IDF below ln 2, a tenth of a rare word's), but a
    union over their postings made a long fact pattern scan the whole index (at a million
    passages, a keyword search's median 28 ms became 15). A query with syntax, or of stop
    words only, stays as typed."""
    if not common or _QUERY_SYNTAX_RE.search(_END_PUNCTUATION.sub(" ", query)):
        return query
    kept = [w for w in query.split() if w.strip(_EDGE).lower() not in common]
    return " ".join(kept) if any(w.strip(_EDGE) for w in kept) else query


@dataclass
class IndexedPassage:
    """What the retrievers index for one passage (ordinal = row in the generation's id list)."""

    ordinal: int
    title: str
    heading: str
    text: str
    terms: list[str]
    eff_from: int
    eff_to: int


class KeywordIndex(Protocol):
    """An opened keyword index."""

    # Stop words a plain query is searched without (see without_stop_words).
    common: frozenset[str]

    def search(
        self, query: str, filters: Filters, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(ordinal, BM25 score) best first; syntax errors fall back to plain terms.
        `allowed`: the filters' mask over ordinals, when the caller has it (a backend may
        apply the filters through it)."""
        ...

    def close(self) -> None:
        """Release files and threads."""
        ...


class KeywordBackend(Protocol):
    """Builds and opens keyword indexes of one engine."""

    name: str

    def build(
        self, folder: Path, passages: Iterable[IndexedPassage], boosts: dict[str, float]
    ) -> None:
        """Write a new index of `passages` into `folder`."""
        ...

    def open(self, folder: Path, boosts: dict[str, float]) -> KeywordIndex:
        """Open an index written by `build`."""
        ...


_FIELD_RE = re.compile(r"(?:^|[\s(+\-])([^\s:()\"+\-][^\s:()\"]*):")
# A field whose value is only wildcards (`text:*`, `title:?`) restricts nothing (and Tantivy
# cannot run it on a text field); a connective left dangling by removing it goes too.
_FIELD_ANY_RE = re.compile(
    r"(?:\s+(?:AND|OR)\s+|^\s*)?[+\-]?[^\s:()\"+\-][^\s:()\"]*:[*?]+(?=[\s)]|$)"
    r"(?:\s+(?:AND|OR)(?=\s))?"
)
# A field value starting with a wildcard (`text:*ark`): searched as plain words.
_FIELD_WILDCARD_RE = re.compile(r"(?:^|[\s(+\-])[^\s:()\"+\-][^\s:()\"]*:\(?[*?]")
_NOT_RE = re.compile(r"\s*\b(?:AND\s+)?NOT\s+")


def prepare(query: str) -> str:
    """The query as the parser should see it: `word:` prefixes that are not one of our fields
    (a clause id followed by a colon, a time like 10:30) would be read as unknown fields, so
    such queries are searched as plain terms. A field whose value is only wildcards
    (`text:*`) is dropped, one starting with a wildcard is searched as plain terms. "a NOT b"
    and "a AND NOT b" become "a -b", which is what people mean by them (Tantivy reads
    "AND NOT b" as a clause that can match nothing, Whoosh's OR grouping reads "a NOT b" as
    "a OR (NOT b)")."""
    query = _NOT_RE.sub(" -", query)
    query = _FIELD_ANY_RE.sub(" ", query)
    if _FIELD_WILDCARD_RE.search(query):
        return plain_terms(query)
    for m in _FIELD_RE.finditer(query):
        if m.group(1) not in SEARCH_FIELDS:
            return plain_terms(query)
    return query


def plain_terms(query: str) -> str:
    """The query's words with every syntax character replaced by a space; words it excludes
    are kept as `-word` (searching for them instead would invert the query)."""
    excluded: list[str] = []

    def exclude(m: re.Match) -> str:
        excluded.extend("-" + w for w in _SYNTAX_RE.sub(" ", m[1]).split())
        return " "

    return " ".join(_SYNTAX_RE.sub(" ", _EXCLUDED_RE.sub(exclude, query)).split() + excluded)
