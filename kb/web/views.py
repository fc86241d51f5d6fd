"""What the pages and the API share: the arguments of a search request, results grouped by
authority, and download responses."""

from __future__ import annotations

from typing import Any

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


def group_hits(hits: list[SearchHit]) -> list[tuple[str, str, list[SearchHit]]]:
    """Results by authority (policy, guidance, precedents), each group in rank order."""
    return [
        (key, label, [h for h in hits if h.citation.doc_type == key])
        for key, label in GROUPS
        if any(h.citation.doc_type == key for h in hits)
    ]
