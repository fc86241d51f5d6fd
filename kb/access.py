"""What a user may see: one clearance, applied inside the retrievers and to direct lookups.

A clearance is a set of term conditions (the same `key=value` terms every passage is indexed
under), added to every search's filters so both retrievers apply it before top-k: results,
facet counts, highlights, answer cards and similar rulings all come from filtered retrieval.
Direct lookups (document pages, passage links, collection items) go through a `Gate` built
from the very same terms, so a search and a URL can never disagree about what is visible.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from kb.errors import NotFoundError
from kb.search.filters import Filters
from kb.users import User

# Moderators: current versions only, of documents and rulings with visibility `all`.
MODERATOR_CLEARANCE: tuple[tuple[str, ...], ...] = (("visibility=all",), ("status=current",))


def clearance(user: User) -> tuple[tuple[str, ...], ...]:
    """The term conditions a user's searches must meet (none for policy and admin)."""
    return () if user.can("policy") else MODERATOR_CLEARANCE


def restrict(filters: Filters, user: User) -> Filters:
    """`filters` narrowed to what `user` may see."""
    extra = clearance(user)
    if not extra:
        return filters
    return dataclasses.replace(filters, required=tuple(filters.required) + extra)


class Gate:
    """Visibility of single passages, versions and documents for one clearance."""

    def __init__(self, searcher, user: User) -> None:
        self.searcher = searcher
        self.open = not clearance(user)
        self._mask: np.ndarray | None = None
        if not self.open:
            self._mask = searcher.filters.mask(restrict(Filters(include_historical=True), user))
        self._ordinals = ordinals(searcher)

    def passage(self, passage_id: str) -> bool:
        """May the user see this passage?"""
        if self.open:
            return True
        ordinal = self._ordinals.get(passage_id)
        return ordinal is not None and bool(self._mask[ordinal])

    def version(self, version_id: int) -> bool:
        """May the user see this document version (any of its passages)?"""
        if self.open:
            return True
        return any(self.passage(pid) for pid in self.searcher.catalog.passage_ids(version_id))

    def document(self, doc_id: str) -> bool:
        """May the user see any version of this document?"""
        if self.open:
            return True
        return any(self.version(v) for v in self.searcher.catalog.version_ids(doc_id))

    def item(self, kind: str, ref: str) -> bool:
        """May the user see a collection item (a passage id or a ruling case id)?"""
        return self.passage(ref) if kind == "passage" else self.document(ref)

    def passage_or_404(self, passage_id: str):
        """The passage, or NotFoundError (the same as for one that does not exist)."""
        passage = self.searcher.catalog.passage(passage_id)
        if not self.passage(passage_id):
            raise NotFoundError(f"no passage {passage_id!r}")
        return passage


_ORDINALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gate_for(searcher, user: User) -> Gate:
    """The (cached) gate of one searcher's generation for a user's clearance."""
    per_searcher = _GATES.setdefault(searcher, {})
    key = clearance(user)
    found = per_searcher.get(key)
    if found is None:
        found = per_searcher[key] = Gate(searcher, user)
    return found


def ordinals(searcher) -> dict[str, int]:
    """passage id -> ordinal of one searcher's generation (built once per generation)."""
    found = _ORDINALS.get(searcher)
    if found is None:
        found = {pid: i for i, pid in enumerate(searcher.ids)}
        _ORDINALS[searcher] = found
    return found
