"""What the pages and the API share: the arguments of a search request, results grouped by
authority, and download responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from kb.csv_export import write_csv
from kb.types import SearchHit
from kb.web.params import FACETS, SearchRequest

GROUPS = (("policy", "Policy"), ("guidance", "Guidance"), ("ruling", "Precedents"))


def search_args(req: SearchRequest) -> dict[str, Any]:
    """`KnowledgeBase.search`'s keyword arguments for a search request, facets included."""
    return {
        "filters": req.filters,
        "k": req.k,
        "mode": req.mode,
        "max_per_doc": req.max_per_doc,
        "by": req.by,
        "facets": tuple(key for key, _ in FACETS),
        "sort": req.sort,
        "offset": (req.page - 1) * req.k,
    }


def attachment(text: str, filename: str, mime: str = "text/csv"):
    """A download response: `text` as a UTF-8 file named `filename`."""
    return (
        text,
        200,
        {
            "Content-Type": f"{mime}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


RESULT_COLUMNS = (
    "rank kind id title clause outcome date regions status precedent_status citation url text"
).split()


def results_csv(hits: list[SearchHit], root: str) -> str:
    """Results as CSV, one row each: a ruling by its case id, a passage by its id; `url`
    absolute from `root` (the app's base URL)."""
    rows = []
    for h in hits:
        meta, c = h.metadata, h.citation
        ruling = c.doc_type == "ruling"
        rows.append(
            [
                h.rank,
                c.doc_type,
                c.doc_id if ruling else h.passage.passage_id,
                c.title,
                ", ".join(meta.get("clauses") or []) if ruling else h.passage.clause_id or "",
                meta.get("outcome", "") if ruling else "",
                meta.get("decision_date", "") if ruling else c.effective_from or "",
                ", ".join(meta.get("regions") or []),
                meta.get("ruling_status", c.status) if ruling else c.status,
                meta.get("precedent_status", "") if ruling else "",
                c.line(status=True),
                urljoin(root, c.url.lstrip("/")),
                h.passage.text,
            ]
        )
    return write_csv(RESULT_COLUMNS, rows)


def filtered(req: SearchRequest) -> bool:
    """Does the request set any filter (so that a blank query lists what it matches)?"""
    f = req.filters
    return bool(f.terms or f.as_of or f.include_historical or f.date_from or f.date_to)


@dataclass(frozen=True)
class Pages:
    """Where a page of results sits in the whole list."""

    page: int
    per_page: int
    total: int | None
    shown: int

    @property
    def first(self) -> int:
        """Rank of the first result shown."""
        return (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        """Rank of the last result shown."""
        return self.first + self.shown - 1

    @property
    def has_next(self) -> bool:
        """Are there results after this page?"""
        if self.total is None:
            return self.shown == self.per_page
        return self.last < self.total


def outcome(found, answer=None) -> dict[str, Any]:
    """What a search found, for the audit log (usage and knowledge-gap reports read it)."""
    out: dict[str, Any] = {
        "results": len(found.response.results),
        "took_ms": round(found.response.took_ms, 1),
    }
    if found.response.results:
        top = found.response.results[0]
        out["top"] = top.passage.clause_id or top.citation.doc_id
    if answer is not None:
        out["answered"] = answer.answered
    return out


def group_hits(hits: list[SearchHit]) -> list[tuple[str, str, list[SearchHit]]]:
    """Results by authority (policy, guidance, precedents), each group in rank order."""
    return [
        (key, label, [h for h in hits if h.citation.doc_type == key])
        for key, label in GROUPS
        if any(h.citation.doc_type == key for h in hits)
    ]
