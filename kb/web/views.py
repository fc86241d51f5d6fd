"""Data the pages and the API share: search results with facets, and document views."""

from __future__ import annotations

import dataclasses
from typing import Any

from kb.access import Gate
from kb.errors import NotFoundError
from kb.search.hybrid import Searcher
from kb.types import SearchHit, SearchResponse
from kb.web.params import FACETS, SearchRequest

GROUPS = (("policy", "Policy"), ("guidance", "Guidance"), ("ruling", "Precedents"))


def run_search(searcher: Searcher, req: SearchRequest) -> tuple[SearchResponse, dict[str, Any]]:
    """The search, and facet counts over the query's candidates (filters applied)."""
    # One retrieval serves both the results and the facet counts.
    candidates = searcher.retrieve(
        req.query, k=max(searcher.settings.fetch_k, req.k), filters=req.filters, mode=req.mode
    )
    response = searcher.search(
        req.query,
        k=req.k,
        filters=req.filters,
        mode=req.mode,
        max_per_doc=req.max_per_doc,
        candidates=candidates,
        by=req.by,
    )
    # Counted as the results are shown: clauses (and rulings) when results are grouped.
    if req.by == "clause":
        shown = [g.best.ordinal for g in searcher.group(candidates)]
    else:
        shown = [c.ordinal for c in candidates]
    counts = searcher.filters.facet_counts(shown, tuple(k for k, _ in FACETS))
    facets = {key: sorted(counts[key].items(), key=lambda kv: (-kv[1], kv[0])) for key, _ in FACETS}
    return response, facets


def group_hits(hits: list[SearchHit]) -> list[tuple[str, str, list[SearchHit]]]:
    """Results by authority (policy, guidance, precedents), each group in rank order."""
    return [
        (key, label, [h for h in hits if h.citation.doc_type == key])
        for key, label in GROUPS
        if any(h.citation.doc_type == key for h in hits)
    ]


def document_view(
    searcher: Searcher, doc_id: str, version: str | None, gate: Gate | None = None
) -> dict[str, Any]:
    """A document version with its passages (and ruling), for the document page and API.
    With a `gate`, versions the user may not see do not exist (404), passages they may not see
    are left out, and so are links to documents they may not see."""
    catalog = searcher.catalog
    doc = catalog.document(doc_id)
    if gate is not None and not gate.open:
        doc = dataclasses.replace(
            doc, versions=[v for v in doc.versions if gate.version(v.version_id)]
        )
        if not doc.versions:
            raise NotFoundError(f"no document {doc_id!r}")
    if version:
        chosen = [v for v in doc.versions if str(v.version_id) == version or v.version == version]
        if not chosen:
            raise NotFoundError(f"document {doc_id!r} has no version {version!r}")
        info = chosen[0]
    else:
        current = [v for v in doc.versions if v.version_id == doc.current_version_id]
        info = current[0] if current else doc.versions[0]
    passages = catalog.passages_of(info.version_id)
    if gate is not None and not gate.open:
        # Per passage, with the same terms as search: a version the user may open can still
        # hold passages they may not read.
        passages = [p for p in passages if gate.passage(p.passage_id)]
    ruling = catalog.ruling(info.version_id) if doc.doc_type == "ruling" else None
    clauses = []
    in_force = []
    if ruling:
        for clause in ruling["clauses"]:
            p = catalog.clause_passage(clause, ruling["decision_date"])
            hidden = p is not None and gate is not None and not gate.passage(p.passage_id)
            clauses.append(
                {"clause_id": clause, "passage": None if hidden else p, "hidden": hidden}
            )
        in_force = catalog.versions_in_force(ruling["decision_date"])
        if gate is not None:
            in_force = [v for v in in_force if gate.version(v.version_id)]
            if ruling.get("superseded_by") and not gate.document(ruling["superseded_by"]):
                ruling = {**ruling, "superseded_by": None}
                info = dataclasses.replace(info, metadata={**info.metadata, "superseded_by": None})
    return {
        "doc": doc,
        "version": info,
        "passages": passages,
        "sections": _sections(passages),
        "ruling": ruling,
        "clauses": clauses,
        "in_force": in_force,
        "current_version_id": doc.current_version_id,
    }


def scrub_hits(hits: list[SearchHit], gate: Gate) -> list[SearchHit]:
    """Hits whose metadata no longer names rulings the user may not see."""
    if gate.open:
        return hits
    for hit in hits:
        other = hit.metadata.get("superseded_by")
        if other and not gate.document(str(other)):
            hit.metadata = {**hit.metadata, "superseded_by": None}
    return hits


def _sections(passages) -> list[dict[str, Any]]:
    """Consecutive passages under the same heading, for rendering and navigation."""
    out: list[dict[str, Any]] = []
    for p in passages:
        if out and out[-1]["anchor"] == p.anchor:
            out[-1]["passages"].append(p)
        else:
            out.append(
                {
                    "anchor": p.anchor,
                    "heading_path": p.heading_path[1:],
                    "depth": len(p.heading_path) - 1,
                    "passages": [p],
                }
            )
    return out


def document_json(view: dict[str, Any]) -> dict[str, Any]:
    """API form of a document view."""
    doc, info = view["doc"], view["version"]
    return {
        "doc_id": doc.doc_id,
        "title": info.title,
        "doc_type": doc.doc_type,
        "removed": doc.removed,
        "version": {
            "version_id": info.version_id,
            "version": info.version,
            "effective_from": info.effective_from,
            "effective_to": info.effective_to,
            "status": info.status,
            "metadata": info.metadata,
            "source_path": info.source_path,
        },
        "versions": [
            {
                "version_id": v.version_id,
                "version": v.version,
                "status": v.status,
                "effective_from": v.effective_from,
                "effective_to": v.effective_to,
            }
            for v in doc.versions
        ],
        "passages": [passage_json(p) for p in view["passages"]],
        "ruling": view["ruling"],
        "applied_clauses": [
            {
                "clause_id": c["clause_id"],
                "passage_id": c["passage"].passage_id if c["passage"] else None,
            }
            for c in view["clauses"]
        ],
    }


def passage_json(p) -> dict[str, Any]:
    """API form of a passage."""
    return {
        "passage_id": p.passage_id,
        "doc_id": p.doc_id,
        "version_id": p.version_id,
        "ordinal": p.ordinal,
        "heading_path": p.heading_path,
        "anchor": p.anchor,
        "clause_id": p.clause_id,
        "text": p.text,
        "start": p.start,
        "end": p.end,
    }
