"""BM25F with Whoosh (the maintained `whoosh3` fork, pure Python). The only file importing it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from whoosh import fields, index, matching, qparser, query, scoring
from whoosh.analysis import RegexTokenizer, StemmingAnalyzer

from kb.search.filters import Filters
from kb.search.keyword.base import SEARCH_FIELDS, IndexedPassage, plain_terms, prepare

_SEP = "\x1f"


def _schema() -> fields.Schema:
    text = {
        name: fields.TEXT(analyzer=StemmingAnalyzer(stoplist=None), phrase=True)
        for name in SEARCH_FIELDS
    }
    return fields.Schema(
        ordinal=fields.NUMERIC(stored=True, bits=64),
        terms=fields.TEXT(analyzer=RegexTokenizer(r"[^\x1f]+"), phrase=False),
        eff_from=fields.NUMERIC(bits=64),
        eff_to=fields.NUMERIC(bits=64),
        **text,
    )


class WhooshBackend:
    """Builds and opens Whoosh indexes."""

    name = "whoosh"

    def build(
        self, folder: Path, passages: Iterable[IndexedPassage], boosts: dict[str, float]
    ) -> None:
        """Write all passages into a new index in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(folder), _schema())
        writer = ix.writer(limitmb=256)
        for p in passages:
            writer.add_document(
                ordinal=p.ordinal,
                title=p.title,
                heading=p.heading,
                text=p.text,
                terms=_SEP.join(p.terms),
                eff_from=p.eff_from,
                eff_to=p.eff_to,
            )
        writer.commit()
        ix.close()

    def open(self, folder: Path, boosts: dict[str, float]) -> WhooshIndex:
        """Open the index in `folder`."""
        return WhooshIndex(folder, boosts)


class _AndNotMatcher(matching.AndNotMatcher):
    """Whoosh's AndNotMatcher (whoosh3 3.54) skips the excluded postings ahead at the start
    only when both begin on the same document, so the first match could be one the query
    excludes: "19 -live" returned the passage about going live at 19."""

    def _find_first(self) -> None:
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class _AndNot(query.AndNot):
    """Matches "a ANDNOT b" with the fixed matcher."""

    def matcher(self, searcher, context=None):
        """Postings of a not in b, scored by a."""
        wanted = self.a.matcher(searcher, context)
        return _AndNotMatcher(wanted, self.b.matcher(searcher, searcher.boolean_context()))


def _fixed_and_not(q: query.Query) -> query.Query:
    """`q` with every AndNot node matched by `_AndNotMatcher`."""
    if isinstance(q, query.AndNot):
        return _AndNot(_fixed_and_not(q.a), _fixed_and_not(q.b))
    return q.apply(_fixed_and_not)


class WhooshIndex:
    """Search over one Whoosh index."""

    def __init__(self, folder: Path, boosts: dict[str, float]) -> None:
        self.ix = index.open_dir(str(folder))
        self.searcher = self.ix.searcher(weighting=scoring.BM25F(B=0.75, K1=1.2))
        self.parser = qparser.MultifieldParser(
            list(SEARCH_FIELDS), self.ix.schema, fieldboosts=boosts, group=qparser.OrGroup
        )
        self.parser.add_plugin(qparser.PlusMinusPlugin())  # +must -mustnot, as in Tantivy
        self._doc_sets: dict[str, frozenset[int]] = {}
        # Queries are searched as typed: a small index's unions are cheap.
        self.common: frozenset[str] = frozenset()

    def _parse(self, text: str) -> query.Query:
        try:
            parsed = self.parser.parse(prepare(text))
        except Exception:  # whoosh raises assorted errors on odd syntax
            parsed = query.NullQuery
        # Unreadable, syntax that swallowed the words (":^10"), or brackets read as a range
        # of words ("[{to]" matched whatever sorts between nothing and "to"): plain words.
        if parsed is query.NullQuery or _has_range(parsed):
            parsed = self.parser.parse(plain_terms(text))
        return _fixed_and_not(parsed)

    def _docs(self, q: query.Query) -> frozenset[int]:
        key = repr(q)
        found = self._doc_sets.get(key)
        if found is None:
            found = frozenset(self.searcher.docs_for_query(q))
            self._doc_sets[key] = found
        return found

    def _filter(self, filters: Filters) -> set[int] | None:
        """The allowed document numbers, from per-term sets computed once per index: Whoosh
        evaluating a filter query on every search costs more than the search itself."""
        allowed: set[int] | None = None
        for alternatives in filters.clauses():
            union: set[int] = set()
            for t in alternatives:
                union |= self._docs(query.Term("terms", t))
            allowed = union if allowed is None else allowed & union
        for field, lo, hi in filters.ranges():
            docs = set(self.searcher.docs_for_query(query.NumericRange(field, lo, hi)))
            allowed = docs if allowed is None else allowed & docs
        return allowed

    def search(
        self, query_text: str, filters: Filters, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(ordinal, score) of the best `limit` passages matching the query within `filters`
        (Whoosh applies them itself; `allowed` is not needed)."""
        allowed = self._filter(filters)
        if allowed is not None and not allowed:
            return []
        results = self.searcher.search(self._parse(query_text), limit=limit, filter=allowed)
        return [(int(hit["ordinal"]), float(hit.score)) for hit in results]

    def close(self) -> None:
        """Close the searcher."""
        self.searcher.close()
        self.ix.close()


def _has_range(q: query.Query) -> bool:
    """Does the query hold a range over words (never what a moderator means)?"""
    if isinstance(q, query.TermRange):
        return True
    return any(_has_range(child) for child in q.children())
