"""Typed records passed between ingest, catalog and search."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kb.errors import ParseError

DOC_TYPES = ("policy", "guidance", "ruling")
# The types the answer card quotes from (rulings are precedents, shown beside it).
AUTHORITY_TYPES = ("policy", "guidance")
DOC_STATUSES = ("current", "historical", "draft")
RULING_STATUSES = ("active", "overturned", "superseded")
OUTCOMES = ("remove", "restrict", "age_gate", "warn", "end_stream", "suspend", "ban", "no_action")
HEADING_SEPARATOR = " › "
# A clause's default enforcement (`<!-- enforcement ... -->` under its heading).
ENFORCEMENT = "enforcement"
# A passage of a paged format (PDF): its first and last page.
PAGES = "pages"
ENFORCEMENT_KEYS = ("actions", "severity", "strike", "reason", "statement")
SEVERITIES = ("S0", "S1", "S2", "S3", "S4")
STRIKES = ("none", "standard", "severe", "zero_tolerance")
STATEMENT_PLACEHOLDERS = ("clause_id", "clause_title")
MAX_STATEMENT_CHARS = 300
_REASON_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


@dataclass
class Block:
    """A structural unit of a section: a paragraph, list, table, code or quote block.

    `start`/`end` are character offsets into the document body. `parts` are the spans of the
    block's natural sub-units (list items, table rows with the header first), used only when
    the block is too long to keep whole.
    """

    kind: str
    start: int
    end: int
    parts: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Enforcement:
    """What a clause's violation gets by default: the actions (ruling outcomes; none for a
    clause that sets no enforcement of its own), severity tier, strike, reason code and the
    statement of reasons sent to the creator (with {clause_id} and {clause_title})."""

    actions: tuple[str, ...]
    reason: str
    severity: str | None = None
    strike: str | None = None
    statement: str | None = None

    @property
    def enforced(self) -> bool:
        """Does the clause set enforcement of its own?"""
        return bool(self.actions)

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Enforcement:
        """From the comment's `key: value` lines; ValueError saying what is wrong."""
        raw = [a.strip().lower() for a in fields.get("actions", "").split(",") if a.strip()]
        if not raw:
            raise ValueError("actions is missing")
        reason = fields.get("reason", "")
        if not _REASON_RE.match(reason):
            raise ValueError(f"reason {reason!r}: capitals, digits and '-', like DNG-DRIVING")
        if raw == ["none"]:
            extra = sorted(set(fields) - {"actions", "reason"})
            if extra:
                raise ValueError(f"actions none takes only a reason, not {', '.join(extra)}")
            return cls((), reason)
        bad = [a for a in raw if a not in OUTCOMES]
        if bad:
            raise ValueError(f"actions {', '.join(bad)}: not one of {', '.join(OUTCOMES)}")
        missing = [k for k in ENFORCEMENT_KEYS if not fields.get(k)]
        if missing:
            raise ValueError(f"{', '.join(missing)} missing")
        if fields["severity"] not in SEVERITIES:
            raise ValueError(f"severity {fields['severity']!r}: one of {', '.join(SEVERITIES)}")
        if fields["strike"] not in STRIKES:
            raise ValueError(f"strike {fields['strike']!r}: one of {', '.join(STRIKES)}")
        statement = fields["statement"]
        if len(statement) > MAX_STATEMENT_CHARS:
            raise ValueError(f"statement is over {MAX_STATEMENT_CHARS} characters")
        unknown = set(_PLACEHOLDER_RE.findall(statement)) - set(STATEMENT_PLACEHOLDERS)
        if unknown or statement.count("{") != statement.count("}"):
            raise ValueError(
                "statement may only use {clause_id} and {clause_title}"
                + (f", not {{{', '.join(sorted(unknown))}}}" if unknown else "")
            )
        return cls(tuple(raw), reason, fields["severity"], fields["strike"], statement)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Enforcement:
        """From `to_dict`'s form (as stored with a clause's passages)."""
        return cls(
            tuple(data.get("actions") or ()),
            data["reason"],
            data.get("severity"),
            data.get("strike"),
            data.get("statement"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "actions": list(self.actions),
            "severity": self.severity,
            "strike": self.strike,
            "reason": self.reason,
            "statement": self.statement,
        }

    def statement_for(self, clause_id: str, clause_title: str) -> str | None:
        """The statement of reasons with the clause filled in."""
        if self.statement is None:
            return None
        return self.statement.replace("{clause_id}", clause_id).replace(
            "{clause_title}", clause_title
        )


@dataclass
class Section:
    """Text under one heading: its heading path (below the document title) and its blocks."""

    heading_path: list[str]
    anchor: str
    clause_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Ruling:
    """An escalation ruling: a precedent with facts, outcome and rationale."""

    case_id: str
    title: str
    decision_date: str
    surface: str
    region: str
    policy_areas: list[str]
    clauses: list[str]
    facts: str
    outcome: str
    decision: str
    rationale: str
    status: str
    superseded_by: str | None = None
    reviewer_tier: str | None = None
    visibility: str = "all"
    teaching_example: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: every field, named here so that a new one is never public by accident."""
        return {
            "case_id": self.case_id,
            "title": self.title,
            "decision_date": self.decision_date,
            "surface": self.surface,
            "region": self.region,
            "policy_areas": self.policy_areas,
            "clauses": self.clauses,
            "facts": self.facts,
            "outcome": self.outcome,
            "decision": self.decision,
            "rationale": self.rationale,
            "status": self.status,
            "superseded_by": self.superseded_by,
            "reviewer_tier": self.reviewer_tier,
            "visibility": self.visibility,
            "teaching_example": self.teaching_example,
            "extra": self.extra,
        }


@dataclass
class ParsedDocument:
    """One document (or one version of it) as a parser read it from a source file."""

    doc_id: str
    title: str
    doc_type: str
    source_path: str
    body: str
    metadata: dict[str, Any]
    sections: list[Section]
    ruling: Ruling | None = None
    source_line: int | None = None
    # Paged formats (PDF): the body offset where each page's text starts, page 1 first.
    page_starts: list[int] = field(default_factory=list)


@dataclass
class Passage:
    """A retrievable, citable span of one document version."""

    passage_id: str
    doc_id: str
    ordinal: int
    heading_path: list[str]
    anchor: str
    clause_id: str | None
    text: str
    start: int
    end: int
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    version_id: int | None = None

    @property
    def embed_text(self) -> str:
        """What the dense encoder sees: heading path, then the passage text."""
        return HEADING_SEPARATOR.join(self.heading_path) + "\n" + self.text

    def to_dict(self) -> dict[str, Any]:
        """The API form (its metadata and content hash stay inside)."""
        return {
            "passage_id": self.passage_id,
            "doc_id": self.doc_id,
            "version_id": self.version_id,
            "ordinal": self.ordinal,
            "heading_path": self.heading_path,
            "anchor": self.anchor,
            "clause_id": self.clause_id,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "pages": self.metadata.get(PAGES),
        }


@dataclass
class VersionInfo:
    """One stored version of a document."""

    version_id: int
    doc_id: str
    version: str
    effective_from: str | None
    effective_to: str | None
    status: str
    content_hash: str
    title: str
    source_path: str
    metadata: dict[str, Any]
    ingested_at: str


@dataclass
class DocumentInfo:
    """A document with its versions, newest effective first."""

    doc_id: str
    doc_type: str
    title: str
    removed: bool
    current_version_id: int | None
    versions: list[VersionInfo] = field(default_factory=list)


@dataclass
class IngestReport:
    """What an ingest did, for the summary table and `--json`."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    versions_added: int = 0
    passages_added: int = 0
    embedded: int = 0
    files_seen: int = 0
    files_unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    generation: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the catalog differs from before the ingest."""
        return bool(self.added or self.updated or self.removed or self.versions_added)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "removed_ids": self.removed_ids,
            "versions_added": self.versions_added,
            "passages_added": self.passages_added,
            "embedded": self.embedded,
            "files_seen": self.files_seen,
            "files_unchanged": self.files_unchanged,
            "skipped": self.skipped,
            "errors": [
                {"path": e.path, "line": e.line, "field": e.field, "reason": e.reason}
                for e in self.errors
            ],
            "notices": self.notices,
            "generation": self.generation,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass
class Citation:
    """Where a passage comes from, precisely enough to find it again."""

    doc_id: str
    title: str
    doc_type: str
    version: str
    version_id: int
    effective_from: str | None
    effective_to: str | None
    status: str
    heading_path: list[str]
    anchor: str
    passage_id: str
    url: str
    pages: list[int] | None = None  # first and last page, for paged formats (PDF)

    @classmethod
    def of(cls, passage: Passage, version: VersionInfo, doc_type: str) -> Citation:
        """The citation of a passage of `version`, a version of a document of `doc_type`; a
        PDF's passage links to its first page's text."""
        pages = passage.metadata.get(PAGES)
        pages = list(pages) if pages else None
        return cls(
            doc_id=passage.doc_id,
            title=version.title,
            doc_type=doc_type,
            version=version.version,
            version_id=version.version_id,
            effective_from=version.effective_from,
            effective_to=version.effective_to,
            status=version.status,
            heading_path=passage.heading_path,
            anchor=passage.anchor,
            passage_id=passage.passage_id,
            url=document_url(
                passage.doc_id,
                version.version_id,
                page_anchor(pages[0]) if pages else passage.anchor,
            ),
            pages=pages,
        )

    def line(self, *, status: bool = False) -> str:
        """'Title › Section, v2.0 (effective 2025-10-01)', with the version's status when it is
        not current, or always with `status` (for exports read later, when it may not be)."""
        when = f"effective {self.effective_from}" if self.effective_from else "undated"
        shown = f", {self.status}" if status or self.status != "current" else ""
        line = f"{HEADING_SEPARATOR.join(self.heading_path)}, v{self.version} ({when}{shown})"
        return line + (f", {page_label(self.pages)}" if self.pages else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "doc_type": self.doc_type,
            "version": self.version,
            "version_id": self.version_id,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
            "status": self.status,
            "heading_path": self.heading_path,
            "anchor": self.anchor,
            "passage_id": self.passage_id,
            "url": self.url,
            "pages": self.pages,
            "text": self.line(),
        }


def document_url(doc_id: str, version_id: int | None = None, anchor: str | None = None) -> str:
    """Where the pages show a document (a version of it, scrolled to a section)."""
    url = f"/documents/{doc_id}"
    if version_id is not None:
        url += f"?version={version_id}"
    return url + (f"#{anchor}" if anchor else "")


def page_anchor(page: int) -> str:
    """The anchor of a PDF page's text in its document page ("page:3": no heading's slug
    holds a colon, so a heading "Page 3" cannot take it)."""
    return f"page:{page}"


def page_label(pages: list[int]) -> str:
    """'p. 3', or 'pp. 3-4' for a passage over two pages."""
    first, last = pages[0], pages[-1]
    return f"p. {first}" if first == last else f"pp. {first}\u2013{last}"


def passage_url(passage_id: str) -> str:
    """The deep link to a passage (it redirects to its document version and section)."""
    return f"/passages/{passage_id}"


@dataclass
class SearchHit:
    """One ranked, cited passage."""

    rank: int
    passage: Passage
    citation: Citation
    score: float
    scores: dict[str, Any]
    metadata: dict[str, Any]
    highlighted: str
    # Other passages of the same clause (or section, or ruling) that matched, best first.
    more: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The `kb search --json` / API shape."""
        return {
            "rank": self.rank,
            "passage_id": self.passage.passage_id,
            "document_id": self.passage.doc_id,
            "title": self.citation.title,
            "doc_type": self.citation.doc_type,
            "heading_path": self.passage.heading_path,
            "clause_id": self.passage.clause_id,
            "text": self.passage.text,
            "highlighted": self.highlighted,
            "score": self.score,
            "scores": self.scores,
            "metadata": self.metadata,
            "citation": self.citation.to_dict(),
            "more_passages": self.more,
        }


@dataclass
class SearchResponse:
    """Results of one search."""

    query: str
    mode: str
    results: list[SearchHit]
    filters: dict[str, Any]
    took_ms: float
    # Where the time went (kb.search.stages): stage -> milliseconds.
    stages: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "query": self.query,
            "mode": self.mode,
            "filters": self.filters,
            "took_ms": round(self.took_ms, 2),
            "results": [h.to_dict() for h in self.results],
        }
