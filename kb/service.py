"""The knowledge base as its users see it: one loaded generation with the user data laid over
it. Every entry point (the CLI, the JSON API, the pages) goes through here for what depends on
both, so that each rule lives in one place.

Today that is trainers' teaching flags: a ruling's `teaching_example` is what its source file
says unless a trainer has flagged or unflagged it (`PUT /api/rulings/<id>/teaching`,
`kb teaching`). The flag decides the `teaching_example=` filter and is what every view of the
ruling shows: search hits, the answer card's precedents, similar rulings, the ruling page and
`/api/documents/<id>`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

from kb.collections import Collections
from kb.config import USER_DATA_FILE, Settings
from kb.errors import KBError
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.types import SearchHit, SearchResponse

TEACHING = "teaching_example"


class KnowledgeBase:
    """One generation (its searcher) and the user data beside it (collections and flags;
    None where there is no user data yet, as for a command-line search of a new data dir)."""

    def __init__(self, searcher: Searcher, collections: Collections | None) -> None:
        self.searcher = searcher
        self.collections = collections

    def overrides(self) -> dict[str, bool]:
        """case id -> flag, for rulings trainers have flagged or unflagged."""
        return self.collections.teaching_overrides() if self.collections is not None else {}

    # -- teaching flags ---------------------------------------------------------------------

    def teaching_flags(self) -> dict[str, bool]:
        """case id -> whether it is a teaching example, for every current ruling."""
        flags = self.searcher.catalog.teaching_flags()
        flags.update(self.overrides())
        return flags

    def set_teaching(self, case_id: str, flagged: bool, note: str = "") -> None:
        """Flag (or unflag) ruling `case_id` as a teaching example, whatever its source says."""
        if self.collections is None:
            raise KBError("no user data folder to keep teaching flags in")
        self.collections.set_teaching(case_id, flagged, self.searcher.catalog, note)

    def filters(self, filters: Filters) -> Filters:
        """`filters` with `teaching_example=` answered by the flags: it becomes the matching
        rulings' ids, so it still applies inside the retrievers."""
        wanted = filters.terms.get(TEACHING)
        if not wanted:
            return filters
        want = {v in ("true", "1", "yes") for v in wanted}
        ids = sorted(c.lower() for c, f in self.teaching_flags().items() if f in want)
        terms = {k: v for k, v in filters.terms.items() if k != TEACHING}
        if "doc_id" in terms:
            ids = [i for i in ids if i in set(terms["doc_id"])]
        terms["doc_id"] = ids or ["__none__"]
        return replace(filters, terms=terms)

    def hits(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Hits whose rulings show their teaching flag as trainers set it."""
        overrides = self.overrides()
        for hit in hits:
            case_id = hit.citation.doc_id
            if hit.citation.doc_type == "ruling" and case_id in overrides:
                hit.metadata = {**hit.metadata, TEACHING: overrides[case_id]}
        return hits

    def document_view(self, view: dict[str, Any]) -> dict[str, Any]:
        """A document view (see `kb.web.views.document_view`) whose ruling shows its flag."""
        ruling = view.get("ruling")
        if not ruling:
            return view
        flag = self.overrides().get(view["doc"].doc_id)
        if flag is None:
            return view
        version = view["version"]
        return {
            **view,
            "ruling": {**ruling, TEACHING: flag},
            "version": dataclasses.replace(version, metadata={**version.metadata, TEACHING: flag}),
        }

    # -- searching --------------------------------------------------------------------------

    def search(self, query: str, *, filters: Filters | None = None, **kwargs) -> SearchResponse:
        """`Searcher.search` with the flags applied to the filters and shown in the hits."""
        response = self.searcher.search(query, filters=self.filters(filters or Filters()), **kwargs)
        self.hits(response.results)
        return response


def user_collections(settings: Settings) -> Collections | None:
    """The user data of `settings`, or None when there is none yet (reading never creates it)."""
    if not (settings.user_data_path() / USER_DATA_FILE).exists():
        return None
    return Collections(settings.user_data_path())
