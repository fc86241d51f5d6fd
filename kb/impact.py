"""What a policy change touches: for each section the new version adds, changes or removes,
the guidance that cites it or is closest to it, the rulings that applied it, and the
collections that hold it.

Guidance *cites* a clause when its text names the clause id; it is *close* when one of its
passages is among the nearest to the section's passages in meaning (cosine of the stored
passage vectors at least CLOSE_GUIDANCE, at most CLOSE_PER_SECTION of them). Rulings are the
active ones that applied the clause: those decided before the new version took effect now
rest on a rule that changed. Run against a draft version, the report previews a change before
it takes effect (the default when the newest version is a draft).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.access import ordinals
from kb.collections import Collections
from kb.csv_export import write_csv
from kb.errors import NotFoundError
from kb.search.hybrid import Searcher
from kb.types import HEADING_SEPARATOR, Passage
from kb.versions import SectionChange, VersionDiff, cited_clauses, diff_versions

CLOSE_GUIDANCE = 0.55
CLOSE_PER_SECTION = 3


@dataclass
class GuidanceLink:
    """A guidance passage a change touches, and why."""

    passage_id: str
    doc_id: str
    title: str
    heading: str
    why: str  # "cites" | "close"
    similarity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "passage_id": self.passage_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "heading": self.heading,
            "why": self.why,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
        }


@dataclass
class RulingLink:
    """An active ruling that applied a changed clause."""

    case_id: str
    title: str
    outcome: str
    decision_date: str
    before_change: bool  # decided before the new version took effect

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class SectionImpact:
    """One added, changed, moved or removed section and what it touches."""

    change: SectionChange
    guidance: list[GuidanceLink] = field(default_factory=list)
    rulings: list[RulingLink] = field(default_factory=list)
    collections: list[dict[str, str]] = field(default_factory=list)  # {collection, ref}

    @property
    def heading(self) -> str:
        """The section's heading path as one line."""
        return HEADING_SEPARATOR.join(self.change.heading_path) or "(introduction)"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.change.kind,
            "clause_id": self.change.clause_id,
            "heading": self.heading,
            "guidance": [g.to_dict() for g in self.guidance],
            "rulings": [r.to_dict() for r in self.rulings],
            "collections": self.collections,
        }


@dataclass
class Impact:
    """What going from one version of a document to another touches."""

    diff: VersionDiff
    sections: list[SectionImpact]

    @property
    def rulings_now_outdated(self) -> list[str]:
        """Rulings decided before the change that applied a clause it changed or removed."""
        return sorted(
            {
                r.case_id
                for s in self.sections
                if s.change.kind in ("changed", "removed")
                for r in s.rulings
                if r.before_change
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        diff = self.diff.to_dict()
        return {
            "doc_id": self.diff.doc_id,
            "from": diff["from"],
            "to": diff["to"],
            "rulings_now_outdated": self.rulings_now_outdated,
            "sections": [s.to_dict() for s in self.sections],
        }

    def to_csv(self) -> str:
        """One row per thing touched (a section that touches nothing gets one empty row)."""
        rows = []
        for s in self.sections:
            start = [s.change.kind, s.change.clause_id or "", s.heading]
            touched = [
                *(
                    ["guidance", g.passage_id, f"{g.title} › {g.heading}", g.why]
                    for g in s.guidance
                ),
                *(
                    [
                        "ruling",
                        r.case_id,
                        f"{r.title} ({r.outcome}, {r.decision_date})",
                        "decided before" if r.before_change else "decided after",
                    ]
                    for r in s.rulings
                ),
                *(["collection", c["ref"], c["collection"], ""] for c in s.collections),
            ]
            rows += [start + t for t in touched] or [[*start, "", "", "", ""]]
        return write_csv(["change", "clause_id", "section", "touches", "ref", "what", "why"], rows)


def impact(
    searcher: Searcher,
    collections: Collections | None,
    doc_id: str,
    old: str | None = None,
    new: str | None = None,
) -> Impact:
    """The impact of going from version `old` to `new` of `doc_id` (default: the newest
    version, a draft too, against the one before it)."""
    catalog = searcher.catalog
    if new is None:  # the newest version, a draft included: a preview of what it will touch
        versions = catalog.document(doc_id).versions
        newest = max(versions, key=lambda v: (v.effective_from or "", v.version_id))
        new = str(newest.version_id)
    diff = diff_versions(catalog, doc_id, old, new)
    ordinal = ordinals(searcher)
    guidance = [p for p in catalog.current_passages("guidance") if p.passage_id in ordinal]
    cites = {p.passage_id: cited_clauses(p.text) for p in guidance}
    matrix = (
        np.stack([np.asarray(searcher.dense.vectors[ordinal[p.passage_id]]) for p in guidance])
        if guidance and searcher.dense is not None
        else None
    )
    titles = {p.doc_id: catalog.version(p.version_id).title for p in guidance}
    rulings = [r for r in catalog.current_rulings() if r.status == "active"]
    held = _collection_items(catalog, collections)
    sections = []
    for change in diff.changes:
        version = diff.old if change.kind == "removed" else diff.new
        passages = _section_passages(catalog.passages_of(version.version_id), change)
        section = SectionImpact(change)
        clause = change.clause_id
        cited: set[str] = set()
        if clause:
            seen: set[tuple[str, str]] = set()  # one link per guidance section
            for p in guidance:
                if clause in cites[p.passage_id]:
                    cited.add(p.passage_id)
                    if (p.doc_id, p.anchor) not in seen:
                        seen.add((p.doc_id, p.anchor))
                        section.guidance.append(_link(p, titles, "cites"))
        if matrix is not None and passages:
            vectors = _vectors(searcher, ordinal, passages)
            sims = (matrix @ vectors.T).max(axis=1)
            for i in np.argsort(-sims)[:CLOSE_PER_SECTION]:
                if sims[i] >= CLOSE_GUIDANCE and guidance[i].passage_id not in cited:
                    section.guidance.append(_link(guidance[i], titles, "close", float(sims[i])))
        if clause:
            section.rulings = [
                RulingLink(
                    r.case_id,
                    r.title,
                    r.outcome,
                    r.decision_date,
                    r.decision_date < (diff.new.effective_from or "9999"),
                )
                for r in rulings
                if clause in r.clauses
            ]
            applied = {r.case_id for r in section.rulings}
        else:
            applied = set()
        ids = {p.passage_id for p in passages}
        section.collections = [
            {"collection": name, "ref": ref}
            for name, ref, passage in held
            if (passage is not None and (ref in ids or (clause and passage == (doc_id, clause))))
            or (passage is None and ref in applied)
        ]
        sections.append(section)
    return Impact(diff, sections)


def _vectors(searcher: Searcher, ordinal: dict[str, int], passages: list[Passage]) -> np.ndarray:
    """The passages' stored vectors; those not in the index (a version outside it) are
    embedded here, as the index would have embedded them."""
    missing = [p for p in passages if p.passage_id not in ordinal]
    fresh = iter(searcher.encoder.encode([p.embed_text for p in missing]) if missing else [])
    return np.stack(
        [
            np.asarray(searcher.dense.vectors[ordinal[p.passage_id]])
            if p.passage_id in ordinal
            else next(fresh)
            for p in passages
        ]
    )


def _section_passages(passages: list[Passage], change: SectionChange) -> list[Passage]:
    """The passages of one version that make up a changed section."""
    if change.clause_id:
        return [p for p in passages if p.clause_id == change.clause_id]
    # (a removed section's heading path is its path in the old version)
    return [p for p in passages if not p.clause_id and p.heading_path[1:] == change.heading_path]


def _link(p: Passage, titles: dict[str, str], why: str, sim: float | None = None) -> GuidanceLink:
    return GuidanceLink(
        p.passage_id,
        p.doc_id,
        titles[p.doc_id],
        HEADING_SEPARATOR.join(p.heading_path[1:]),
        why,
        sim,
    )


def _collection_items(
    catalog, collections: Collections | None
) -> list[tuple[str, str, tuple[str, str | None] | None]]:
    """(collection, ref, (doc id, clause id) of a passage item, or None for a ruling) of
    every item of every collection; an item whose passage is gone touches nothing."""
    out = []
    for name, kind, ref in collections.refs() if collections is not None else []:
        if kind != "passage":
            out.append((name, ref, None))
            continue
        try:
            p = catalog.passage(ref)
        except NotFoundError:
            continue
        out.append((name, ref, (p.doc_id, p.clause_id)))
    return out
