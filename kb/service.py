"""The knowledge base as its users see it: one loaded generation with the user data laid over
it. Every entry point (the CLI, the JSON API, the pages) asks here, with the user asking, so
that each rule lives in one place:

- **clearance**: what a user may see is added to every search's filters (so it applies inside
  the retrievers, before top-k) and checked on every direct lookup through the same terms
  (`kb.access`); a link to a ruling the user may not see is left out of what they are shown;
- **roles**: diffs, the consistency report and every write need the policy role;
- **teaching flags**: a ruling's `teaching_example` is what its source file says unless a
  trainer has flagged or unflagged it (`PUT /api/rulings/<id>/teaching`, `kb teaching`). The
  flag decides the `teaching_example=` filter and is what every view of the ruling shows;
- **citations**: built once, in `kb.types.Citation`, for hits and collection items alike.

The entry points parse their input, call one method and render what it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.access import Gate, gate_for, ordinals, restrict
from kb.analytics import Gap, Usage, gaps, usage
from kb.audit import AuditLog
from kb.blank import is_blank
from kb.collections import Collections, Item, Resolution
from kb.config import USER_DATA_FILE, Settings
from kb.errors import ForbiddenError, KBError, NotFoundError, QueryError
from kb.feedback import Feedback, FeedbackStore, Hotspot, hotspots
from kb.search import listing
from kb.search.answer import Answer, Answerer
from kb.search.filters import Filters
from kb.search.fusion import Fused
from kb.search.hybrid import Searcher
from kb.trends import Trends, trends
from kb.types import (
    ENFORCEMENT,
    PAGES,
    DocumentInfo,
    Enforcement,
    Passage,
    Ruling,
    SearchHit,
    SearchResponse,
    VersionInfo,
)
from kb.users import User

if TYPE_CHECKING:
    from kb.precedents import PrecedentStatus
    from kb.review import ReviewItem

TEACHING = "teaching_example"
PRECEDENT = "precedent_status"
# Filter keys the knowledge base answers itself (turned into the matching rulings' ids).
VIRTUAL_KEYS = frozenset({PRECEDENT})
_STATUSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per loaded generation
_REVIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per generation, per day
_CLAUSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per loaded generation


@dataclass
class Section:
    """Consecutive passages of a document version under one heading."""

    anchor: str
    heading_path: list[str]  # below the document title
    depth: int
    passages: list[Passage]


@dataclass
class AppliedClause:
    """A clause a ruling applied, with its passage in the version in force on the decision
    date (None when not found, or `hidden` when the user may not read it)."""

    clause_id: str
    passage: Passage | None
    hidden: bool = False
    # When the version in force then is hidden: the clause today, if the user may read it.
    current: Passage | None = None


@dataclass
class DocumentView:
    """One version of a document as a user may see it: its passages (by section) and, for a
    ruling, the ruling with the clauses it applied and the policy versions then in force."""

    doc: DocumentInfo
    version: VersionInfo
    passages: list[Passage]
    ruling: Ruling | None = None
    clauses: list[AppliedClause] = field(default_factory=list)
    in_force: list[VersionInfo] = field(default_factory=list)
    precedent: PrecedentStatus | None = None  # for an active ruling
    review: ReviewItem | None = None  # when it needs review (past due, or stale)

    @property
    def sections(self) -> list[Section]:
        """The passages grouped under their headings, for rendering and navigation."""
        out: list[Section] = []
        for p in self.passages:
            if out and out[-1].anchor == p.anchor:
                out[-1].passages.append(p)
            else:
                out.append(Section(p.anchor, p.heading_path[1:], len(p.heading_path) - 1, [p]))
        return out

    @property
    def page_marks(self) -> dict[str, int]:
        """For a PDF: the first passage starting on each page -> that page (its anchor)."""
        marks: dict[str, int] = {}
        seen: set[int] = set()
        for p in self.passages:
            pages = p.metadata.get(PAGES)
            if pages and pages[0] not in seen:
                seen.add(pages[0])
                marks[p.passage_id] = pages[0]
        return marks

    def page(self) -> dict[str, Any]:
        """What the document and ruling templates are given."""
        return {
            "doc": self.doc,
            "version": self.version,
            "passages": self.passages,
            "sections": self.sections,
            "page_marks": self.page_marks,
            "ruling": self.ruling,
            "clauses": self.clauses,
            "in_force": self.in_force,
            "precedent": self.precedent,
            "review": self.review,
            "current_version_id": self.doc.current_version_id,
        }

    def to_dict(self, *, passages: bool = True) -> dict[str, Any]:
        """The API form."""
        doc, info = self.doc, self.version
        out: dict[str, Any] = {
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
        }
        if not passages:
            return out
        return out | {
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
            "passages": [p.to_dict() for p in self.passages],
            "ruling": self.ruling.to_dict() if self.ruling else None,
            "precedent": _precedent_json(self.precedent),
            "review": self.review.to_dict() if self.review else None,
            "applied_clauses": [
                {
                    "clause_id": c.clause_id,
                    "passage_id": c.passage.passage_id if c.passage else None,
                }
                for c in self.clauses
            ],
        }


@dataclass
class Ground:
    """A clause a ruling applied, with its default enforcement in the version in force on the
    decision date (None when that version states none)."""

    clause_id: str
    clause_title: str
    version: str | None
    enforcement: Enforcement | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        rule = self.enforcement
        return {
            "clause_id": self.clause_id,
            "clause_title": self.clause_title,
            "version": self.version,
            "enforcement": rule.to_dict() if rule else None,
            "statement": rule.statement_for(self.clause_id, self.clause_title) if rule else None,
        }


@dataclass
class Statement:
    """A ruling's statement of reasons: the decision, the facts, and the grounds (each
    applied clause's statement template, filled in)."""

    ruling: Ruling
    grounds: list[Ground]

    @property
    def text(self) -> str:
        """Plain text, to send or file."""
        r = self.ruling
        lines = [
            f"Statement of reasons: {r.case_id}",
            f"Decision ({r.decision_date}): {r.decision}",
            f"Facts: {r.facts}",
            "Grounds:",
        ]
        for g in self.grounds:
            said = g.to_dict()["statement"]
            where = f"{g.clause_id} {g.clause_title}" + (f", v{g.version}" if g.version else "")
            lines.append(f"- {said or where}")
            if said:
                lines.append(f"  ({where}; reason {g.enforcement.reason})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        r = self.ruling
        return {
            "case_id": r.case_id,
            "decision_date": r.decision_date,
            "outcome": r.outcome,
            "decision": r.decision,
            "facts": r.facts,
            "grounds": [g.to_dict() for g in self.grounds],
            "reason_codes": [g.enforcement.reason for g in self.grounds if g.enforcement],
            "text": self.text,
        }


@dataclass
class Results:
    """A search's hits, and facet counts over its candidates (when facets were asked for)."""

    response: SearchResponse
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    total: int | None = None  # results there are to page through, when known
    offset: int = 0
    sort: str = "relevance"


@dataclass
class DocumentEntry:
    """One row of the document index, as a user may see it."""

    doc_id: str
    doc_type: str
    title: str
    shown: VersionInfo  # the current version, else the newest the user may see
    versions: int  # versions the user may see
    removed: bool
    needs_review: bool

    @property
    def owner(self) -> str:
        """Who owns the document (its shown version's metadata)."""
        return str(self.shown.metadata.get("owner") or "")

    @property
    def review_by(self) -> str:
        """When it is due for review."""
        return str(self.shown.metadata.get("review_by") or "")


@dataclass
class Similar:
    """The rulings closest to a case description, with their outcome distribution."""

    query: str
    hits: list[SearchHit]
    outcomes: Counter

    def to_dict(self) -> dict[str, Any]:
        """The API form."""
        return {
            "query": self.query,
            "outcomes": dict(self.outcomes),
            "rulings": [h.to_dict() for h in self.hits],
        }


class KnowledgeBase:
    """One generation (its searcher and answerer) and the user data beside it (collections
    and flags; None where there is no user data yet, as for a command-line search of a new
    data dir)."""

    def __init__(
        self,
        searcher: Searcher,
        collections: Collections | None,
        answerer: Answerer | None = None,
        feedback: FeedbackStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.searcher = searcher
        self.store = collections
        self._answerer = answerer
        self._feedback = feedback
        self._audit = audit

    @classmethod
    def open(cls, settings: Settings, *, user_data: bool = False) -> KnowledgeBase:
        """The live generation of `settings`' data dir and its user data: the user data only
        if there is some already, unless `user_data` (then it is made if need be)."""
        searcher = Searcher(settings)
        store = Collections(settings.user_store()) if user_data else None
        store = store or user_collections(settings)
        feedback = FeedbackStore(settings.user_store()) if store is not None else None
        audit = None
        if settings.has_user_data("audit.sqlite"):
            audit = AuditLog(settings.user_store())
        return cls(searcher, store, feedback=feedback, audit=audit)

    def close(self) -> None:
        """Release the generation's files and the user data."""
        self.searcher.close()
        if self.store is not None:
            self.store.close()
        if self._feedback is not None:
            self._feedback.close()
        if self._audit is not None:
            self._audit.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def answerer(self) -> Answerer:
        """Extractive answers over the same searcher (made on first use)."""
        if self._answerer is None:
            self._answerer = Answerer(self.searcher, self.searcher.settings.answer_threshold)
        return self._answerer

    # -- who may see what -------------------------------------------------------------------

    def gate(self, user: User) -> Gate:
        """Visibility of single passages, versions and documents for `user`."""
        return gate_for(self.searcher, user)

    def scope(self, filters: Filters | None, user: User) -> Filters:
        """`filters` with `teaching_example=` answered by the flags, narrowed to what `user`
        may see: what every search of this user runs with."""
        filters = self._precedent_filter(self._teaching_filter(filters or Filters()))
        return restrict(filters, user)

    @property
    def filter_keys(self) -> set[str]:
        """The keys a filter may name: the index's, and those answered here."""
        return self.searcher.filter_keys | VIRTUAL_KEYS

    def parse_filters(self, pairs: list[str], **kwargs) -> Filters:
        """Filters from KEY=VALUE pairs (see `Filters.parse`)."""
        return Filters.parse(pairs, known_keys=self.filter_keys, **kwargs)

    def serving(self, user: User | None) -> dict[str, Any]:
        """What is being served: the generation, and its size and indexes for those who may
        see everything (a total counts restricted passages too)."""
        searcher = self.searcher
        out: dict[str, Any] = {"generation": searcher.generation.name}
        if user is not None and user.can("policy"):
            out |= {
                "passages": len(searcher.ids),
                "keyword_backend": searcher.manifest.keyword.backend,
                "dense": searcher.manifest.dense is not None,
            }
        return out

    # -- searching --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        user: User,
        *,
        filters: Filters | None = None,
        k: int = 10,
        mode: str = "hybrid",
        max_per_doc: int | None = None,
        by: str = "clause",
        facets: tuple[str, ...] = (),
        sort: str = "relevance",
        offset: int = 0,
    ) -> Results:
        """Ranked, cited passages (one per clause or ruling `by="clause"`), and with `facets`
        the counts of those keys' values over the query's candidates, as they are shown.

        `sort` (relevance, date: newest first, outcome) and `offset` page through the
        candidates. A blank query lists everything the filters match instead, one row per
        clause, guidance section or ruling, newest first unless sorted by outcome."""
        if sort not in listing.SORTS:
            raise QueryError(f"unknown sort {sort!r}; valid: {', '.join(listing.SORTS)}")
        if offset < 0:
            raise QueryError(f"offset must be at least 0, got {offset}")
        searcher = self.searcher
        scoped = self.scope(filters, user)
        if is_blank(query):
            return self._browse(scoped, user, k, offset, sort, facets)
        paged = offset > 0 or sort != "relevance"
        candidates = None
        if facets or paged:  # one retrieval serves the results, the counts and the pages
            # A query's pages come from its fetch_k candidates; past them a page is empty.
            candidates = searcher.retrieve(
                query, k=max(searcher.settings.fetch_k, k), filters=scoped, mode=mode
            )
        response = searcher.search(
            query,
            k=len(candidates) if paged else k,
            filters=scoped,
            mode=mode,
            max_per_doc=max_per_doc,
            candidates=candidates,
            by=by,
        )
        total = None
        if paged:
            index = ordinals(searcher)
            place = {index[h.passage.passage_id]: h for h in response.results}
            ranked = listing.order(searcher, list(place), sort)
            response.results = [place[o] for o in ranked][offset : offset + k]
            for rank, hit in enumerate(response.results, start=offset + 1):
                hit.rank = rank
            total = len(place)
        self._shown(response.results, user)
        counts: dict[str, list[tuple[str, int]]] = {}
        if candidates is not None:
            if by == "clause":  # counted as the results are shown: clauses and rulings
                shown = [g.best.ordinal for g in searcher.group(candidates)]
            else:
                shown = [c.ordinal for c in candidates]
            counts = self._facets(shown, facets)
            total = len(shown) if total is None else total
        return Results(response, counts, total=total, offset=offset, sort=sort)

    def _browse(
        self, scoped: Filters, user: User, k: int, offset: int, sort: str, facets: tuple[str, ...]
    ) -> Results:
        """One page of everything `scoped` allows, a row per clause, section or ruling."""
        started = time.perf_counter()
        searcher = self.searcher
        found = listing.browse(searcher, scoped, sort)
        hits = [
            searcher.hydrate(Fused(ordinal, 0.0), "", rank=rank)
            for rank, ordinal in enumerate(found[offset : offset + k], start=offset + 1)
        ]
        self._shown(hits, user)
        response = SearchResponse(
            query="",
            mode="browse",
            results=hits,
            filters=scoped.to_dict(),
            took_ms=(time.perf_counter() - started) * 1000,
        )
        sort = "date" if sort == "relevance" else sort
        return Results(response, self._facets(found, facets), len(found), offset, sort)

    def _facets(self, ordinals_: list[int], keys: tuple[str, ...]) -> dict:
        """For each key in `keys`, (value, count) over `ordinals_`, most common first."""
        if not keys:
            return {}
        per_key = self.searcher.filters.facet_counts(ordinals_, keys)
        return {key: sorted(per_key[key].items(), key=lambda kv: (-kv[1], kv[0])) for key in keys}

    def answer(self, query: str, user: User, filters: Filters | None = None) -> Answer:
        """The extractive, cited answer to `query` (or an abstention), with precedents."""
        answer = self.answerer.answer(query, self.scope(filters, user))
        # Sound precedents first; outdated and conflicting ones keep their order below them.
        answer.precedents = sorted(
            self._shown(answer.precedents, user),
            key=lambda h: h.metadata.get(PRECEDENT, "sound") != "sound",
        )
        return answer

    def similar(
        self,
        user: User,
        text: str | None = None,
        *,
        case_id: str | None = None,
        k: int = 10,
        filters: Filters | None = None,
    ) -> Similar:
        """The rulings whose facts are closest to `text`, or to ruling `case_id`'s facts."""
        from kb.precedents import similar_rulings

        if case_id:
            text = self.ruling(case_id, user).facts
        if text is None:
            raise KBError("give a case description or a case id")
        hits, outcomes = similar_rulings(
            self.searcher, text, k=k, filters=self.scope(filters, user), exclude=case_id
        )
        return Similar(text, self._shown(hits, user), outcomes)

    # -- reading ----------------------------------------------------------------------------

    def document(self, doc_id: str, user: User, version: str | None = None) -> DocumentView:
        """A version of a document (the current one by default; `version` is an id or a
        label). Versions `user` may not see do not exist (NotFoundError); passages they may
        not read are left out, and so are links to rulings they may not see."""
        catalog = self.searcher.catalog
        gate = self.gate(user)
        doc = catalog.document(doc_id)
        if not gate.open:
            doc = replace(doc, versions=[v for v in doc.versions if gate.version(v.version_id)])
            if not doc.versions:
                raise NotFoundError(f"no document {doc_id!r}")
        if version:
            chosen = [
                v for v in doc.versions if str(v.version_id) == version or v.version == version
            ]
            if not chosen:
                raise NotFoundError(f"document {doc_id!r} has no version {version!r}")
            info = chosen[0]
        else:
            current = [v for v in doc.versions if v.version_id == doc.current_version_id]
            info = current[0] if current else doc.versions[0]
        # Per passage, with the same terms as search: a version the user may open can still
        # hold passages they may not read.
        passages = [p for p in catalog.passages_of(info.version_id) if gate.passage(p.passage_id)]
        view = DocumentView(doc, info, passages)
        if info.version_id == doc.current_version_id:
            item = next((i for i in self.reviews() if i.doc_id == doc.doc_id), None)
            view.review = self._review_shown(item, gate)
        ruling = catalog.ruling(info.version_id) if doc.doc_type == "ruling" else None
        if ruling is None:
            return view
        for clause in ruling.clauses:
            p = catalog.clause_passage(clause, ruling.decision_date)
            hidden = p is not None and not gate.passage(p.passage_id)
            now = catalog.clause_passage(clause) if hidden else None
            now = now if now is not None and gate.passage(now.passage_id) else None
            view.clauses.append(AppliedClause(clause, None if hidden else p, hidden, now))
        view.in_force = [
            v for v in catalog.versions_in_force(ruling.decision_date) if gate.version(v.version_id)
        ]
        shown = self._ruling_shown(ruling, user)
        view.ruling = shown
        view.precedent = self._precedent_shown(self.precedents().get(ruling.case_id), gate)
        meta = {**info.metadata, TEACHING: shown.teaching_example}
        if shown.superseded_by != ruling.superseded_by:
            meta["superseded_by"] = None
        view.version = replace(info, metadata=meta)
        return view

    def passage(self, passage_id: str, user: User) -> tuple[Passage, DocumentView]:
        """One passage `user` may read, with the document version it belongs to."""
        p = self.gate(user).passage_or_404(passage_id)
        return p, self.document(p.doc_id, user, str(p.version_id))

    def documents(self, user: User, doc_type: str | None = None) -> list[DocumentEntry]:
        """Every document `user` may see (of `doc_type`), by type (policies, guidance,
        rulings) and title, with the versions they may see."""
        gate = self.gate(user)
        stale = {item.doc_id for item in self.reviews()}  # a badge: moderators see it too
        order = {"policy": 0, "guidance": 1, "ruling": 2}
        out = []
        for doc_id, kind, removed, current_id, versions in self.searcher.catalog.document_index():
            if doc_type and kind != doc_type:
                continue
            seen = [v for v in versions if gate.version(v.version_id)]
            if not seen:
                continue
            shown = next((v for v in seen if v.version_id == current_id), seen[0])
            out.append(
                DocumentEntry(doc_id, kind, shown.title, shown, len(seen), removed, doc_id in stale)
            )
        out.sort(key=lambda e: (order.get(e.doc_type, 3), e.title.casefold(), e.doc_id))
        return out

    def locate(self, token: str, user: User) -> tuple[str, str] | None:
        """What an exact id names, when `user` may see it: ("clause", passage id of the
        clause's first passage) or ("document", doc id); None otherwise."""
        token = token.strip()
        if not token or len(token) > 200 or any(c.isspace() for c in token):
            return None
        try:
            return "clause", self.clause(token, user).passage_id
        except NotFoundError:
            pass
        gate = self.gate(user)
        catalog = self.searcher.catalog
        for doc_id in dict.fromkeys((token, token.upper(), token.lower())):
            if catalog.has_document(doc_id) and gate.document(doc_id):
                return "document", doc_id
        return None

    def clause(self, clause_id: str, user: User) -> Passage:
        """The first passage of clause `clause_id` (any case) in its current version, when
        `user` may read it (NotFoundError otherwise, as for an id no policy has)."""
        p = self.searcher.catalog.clause_passage(clause_id.strip().upper())
        if p is None or not self.gate(user).passage(p.passage_id):
            raise NotFoundError(f"no clause {clause_id!r}")
        return p

    def clause_ids(self) -> frozenset[str]:
        """Every clause id any stored version has (worked out once per generation): the ids
        the pages link when a text names them."""
        found = _CLAUSES.get(self.searcher)
        if found is None:
            found = _CLAUSES[self.searcher] = frozenset(self.searcher.catalog.clause_ids())
        return found

    def ruling(self, case_id: str, user: User) -> Ruling:
        """The current ruling `case_id` as `user` may see it (NotFoundError otherwise)."""
        try:
            ruling = self.searcher.catalog.current_ruling(case_id)
        except NotFoundError:
            ruling = None
        if ruling is None or not self.gate(user).document(case_id):
            raise NotFoundError(f"no ruling {case_id!r}")
        return self._ruling_shown(ruling, user)

    def statement(self, case_id: str, user: User) -> Statement:
        """Ruling `case_id`'s statement of reasons, from the enforcement its clauses stated
        on the decision date (clauses the user may not read are left out)."""
        ruling = self.ruling(case_id, user)
        catalog = self.searcher.catalog
        gate = self.gate(user)
        grounds = []
        for clause in ruling.clauses:
            p = catalog.clause_passage(clause, ruling.decision_date)
            if p is None:
                grounds.append(Ground(clause, "", None, None))
                continue
            if not gate.passage(p.passage_id):
                continue
            rule = p.metadata.get(ENFORCEMENT)
            title = p.heading_path[-1] if p.heading_path else clause
            if title.startswith(clause):
                title = title[len(clause) :].strip()
            version = catalog.version(p.version_id).version
            grounds.append(
                Ground(clause, title, version, Enforcement.from_dict(rule) if rule else None)
            )
        return Statement(ruling, grounds)

    def diff(self, doc_id: str, user: User, old: str | None = None, new: str | None = None):
        """What changed between two versions of a document (policy role)."""
        from kb.versions import diff_versions

        _need(user, "policy")
        return diff_versions(self.searcher.catalog, doc_id, old, new)

    def impact(self, doc_id: str, user: User, old: str | None = None, new: str | None = None):
        """What going from version `old` to `new` of a document touches: guidance, rulings
        and collections per changed section (policy role; see `kb.impact`)."""
        from kb.impact import impact

        _need(user, "policy")
        return impact(self.searcher, self.store, doc_id, old, new)

    def consistency(
        self,
        user: User,
        threshold: float | None = None,
        *,
        surface: str | None = None,
        region: str | None = None,
        clause: str | None = None,
    ) -> list:
        """Groups of near-identical rulings, inconsistent ones first (policy role); only those
        on `surface`, with a ruling from `region`, or applying a clause that starts with
        `clause` (an id or its prefix, like LIVE-DNG), when given."""
        from kb.precedents import GROUP_THRESHOLD, consistency_report

        _need(user, "policy")
        groups = [
            g
            for g in consistency_report(self.searcher, threshold or GROUP_THRESHOLD)
            if (not surface or any(r.surface == surface for r in g.rulings))
            and (not region or any(r.region.lower() == region.lower() for r in g.rulings))
            and (not clause or any(c.startswith(clause) for r in g.rulings for c in r.clauses))
        ]
        settled = self._resolutions()
        for group in groups:
            group.rulings = [self._ruling_shown(r, user) for r in group.rulings]
            group.resolution = settled.get(group.case_ids)
        return groups

    # -- collections and teaching flags -----------------------------------------------------

    @property
    def collections(self) -> Collections:
        """The user data (KBError where there is none)."""
        if self.store is None:
            raise KBError("no user data folder to keep collections and teaching flags in")
        return self.store

    def collection_names(self, user: User) -> list[dict[str, Any]]:
        """Every collection, with the number of items `user` may see."""
        return self.collections.names(self.gate(user).item)

    def collection(self, name: str, user: User) -> list[Item]:
        """A collection's items `user` may see, numbered 1..n, with citations."""
        return self.collections.items(name, self.searcher.catalog, self.gate(user).item)

    def export(
        self, name: str, fmt: str, user: User, *, base_url: str = "", bom: bool = False
    ) -> str:
        """A collection as Markdown (`md`) or CSV (`csv`, with a byte-order mark for
        spreadsheets when `bom`), with what `user` may see; links absolute from `base_url`
        (the `base_url` setting wins)."""
        base = self.searcher.settings.base_url or base_url
        return self.collections.export(
            name, self.searcher.catalog, fmt, self.gate(user).item, base_url=base, bom=bom
        )

    def rename_collection(
        self, name: str, user: User, new_name: str, description: str | None = None
    ) -> None:
        """Rename a collection and/or change its description (policy role)."""
        _need(user, "policy")
        self.collections.rename(name, new_name, description)

    def collection_description(self, name: str, user: User) -> str:
        """A collection's description."""
        return self.collections.description(name)

    def create_collection(self, name: str, user: User, description: str = "") -> None:
        """A new, empty collection (policy role)."""
        _need(user, "policy")
        self.collections.create(name, description)

    def delete_collection(self, name: str, user: User) -> None:
        """Remove a collection and its items (policy role)."""
        _need(user, "policy")
        self.collections.delete(name)

    def add(self, name: str, ref: str, user: User, note: str = "") -> int:
        """Append a passage (by id) or a ruling (by case id) to a collection (policy role)."""
        _need(user, "policy")
        return self.collections.add(name, ref, self.searcher.catalog, note)

    def edit_item(
        self, name: str, item_id: int, user: User, *, note: str | None, position: int | None
    ) -> None:
        """Change an item's note and/or position (policy role)."""
        _need(user, "policy")
        store = self.collections
        store.require_item(name, item_id)  # an empty change of a missing item is still a 404
        if note is not None:
            store.annotate(name, item_id, note)
        if position is not None:
            store.move(name, item_id, position)

    def item_position(self, name: str, item_id: int, user: User) -> int:
        """Where an item stands among all of a collection's items (1-based)."""
        return self.collections.position(name, item_id)

    def remove_item(self, name: str, item_id: int, user: User) -> None:
        """Take an item out of a collection (policy role)."""
        _need(user, "policy")
        self.collections.remove(name, item_id)

    # -- feedback ---------------------------------------------------------------------------

    @property
    def feedback_store(self) -> FeedbackStore:
        """Where judgments are kept (KBError where there is no user data)."""
        if self._feedback is None:
            raise KBError("no user data folder to keep feedback in")
        return self._feedback

    def give_feedback(
        self,
        user: User,
        query: str,
        passage_id: str,
        verdict: str,
        right_clause: str | None = None,
        note: str = "",
    ) -> int:
        """Record `user`'s judgment of a result (a passage they may read) for `query`: helpful,
        not_helpful, or wrong_clause (with the clause that was right, if they know it)."""
        p = self.gate(user).passage_or_404(passage_id)
        right = (right_clause or "").strip().upper() or None
        if right is not None and right not in self.clause_ids():
            raise QueryError(f"no clause {right_clause!r}: name the right clause by its id")
        return self.feedback_store.add(
            user.name, query, p.passage_id, p.doc_id, p.clause_id, verdict, right, note.strip()
        )

    def feedback(self, user: User, *, everyone: bool = False) -> list[Feedback]:
        """`user`'s own judgments, newest first; everyone's with `everyone` (policy role: the
        queries may hold personal data)."""
        if everyone:
            _need(user, "policy")
            return self.feedback_store.entries()
        return self.feedback_store.entries(user.name)

    def feedback_hotspots(self, user: User) -> list[Hotspot]:
        """Clauses and documents most often judged wrong or not helpful, with the queries that
        led there (policy role)."""
        return hotspots(self.feedback(user, everyone=True))

    # -- use: search usage and knowledge gaps -------------------------------------------------

    def _searches(self, user: User, since: str | None) -> list[dict[str, Any]]:
        _need(user, "policy")  # raw questions may hold personal data
        if self._audit is None:
            raise KBError("no audit log to read searches from")
        return self._audit.actions("search", since)

    def usage(self, user: User, since: str | None = None) -> Usage:
        """Searches per day, speed, abstentions, top questions and filters (policy role)."""
        return usage(self._searches(user, since))

    def gaps(self, user: User, since: str | None = None) -> list[Gap]:
        """Questions the knowledge base did not answer, grouped into topics (policy role)."""
        events = self._searches(user, since)
        judged = self.feedback(user, everyone=True) if self._feedback is not None else []
        if since:
            judged = [f for f in judged if f.at >= since]
        encoder = self.searcher.encoder
        views = self._audit.actions("view", since) if self._audit is not None else None
        return gaps(events, judged, lambda texts: np.asarray(encoder.encode(texts)), views)

    def trends(self, user: User, **wanted: str | None) -> Trends:
        """How the rulings `user` may see move per month (only those matching `wanted`:
        policy_area, outcome, region, surface, reviewer_tier), with new patterns."""
        gate = self.gate(user)
        catalog = self.searcher.catalog
        index = ordinals(self.searcher)
        dense = self.searcher.dense
        rulings, facts = [], {}
        for ruling, passage_id in catalog.ruling_facts():
            if not gate.document(ruling.case_id) or not _matches(ruling, wanted):
                continue
            rulings.append(ruling)
            if dense is not None and passage_id in index:
                facts[ruling.case_id] = np.asarray(dense.vectors[index[passage_id]])
        return trends(rulings, facts)

    def teaching_flags(self) -> dict[str, bool]:
        """case id -> whether it is a teaching example, for every current ruling."""
        flags = self.searcher.catalog.teaching_flags()
        flags.update(self._overrides())
        return flags

    def set_teaching(self, case_id: str, flagged: bool, user: User, note: str = "") -> None:
        """Flag (or unflag) ruling `case_id` as a teaching example, whatever its source says
        (policy role)."""
        _need(user, "policy")
        self.collections.set_teaching(case_id, flagged, self.searcher.catalog, note)

    def precedents(self) -> dict[str, PrecedentStatus]:
        """case id -> whether it still holds as precedent, for every active ruling (worked
        out once per generation)."""
        found = _STATUSES.get(self.searcher)
        if found is None:
            from kb.precedents import precedent_statuses

            found = _STATUSES[self.searcher] = precedent_statuses(self.searcher)
        settled = self._resolutions()
        if not settled:
            return found
        return {case_id: status.settled(settled) for case_id, status in found.items()}

    def _resolutions(self) -> dict:
        """Settled consistency groups, by their case ids."""
        return self.store.resolutions() if self.store is not None else {}

    def resolve(self, case_id: str, standing: str, note: str, user: User) -> Resolution:
        """Settle the inconsistent group ruling `case_id` is in: `standing` is the outcome
        that stands (rulings decided otherwise are not to be followed), or `both` when the
        divergence is right for a reason the `note` gives (policy role)."""
        _need(user, "policy")
        if is_blank(note):
            raise QueryError("say why in a note")
        group = next(
            (g for g in self.consistency(user) if g.inconsistent and case_id in g.case_ids), None
        )
        if group is None:
            raise NotFoundError(f"{case_id!r} is in no group of rulings decided differently")
        if standing != "both" and standing not in group.outcomes:
            choices = ", ".join([*sorted(group.outcomes), "both"])
            raise QueryError(f"standing must be one of the group's outcomes ({choices})")
        resolution = Resolution(group.case_ids, standing, note.strip(), user.name)
        self.collections.resolve(resolution)
        return resolution

    def reviews(self, today: str | None = None) -> list[ReviewItem]:
        """Every document that needs review, past due first (see `kb.review`); worked out
        once per generation and day."""
        from kb.review import review_list

        today = today or dt.date.today().isoformat()
        cached = _REVIEWS.get(self.searcher)
        if cached is None or cached[0] != today:
            outdated = {c: s.changed + s.removed for c, s in self.precedents().items()}
            cached = (today, review_list(self.searcher.catalog, outdated, today))
            _REVIEWS[self.searcher] = cached
        return cached[1]

    def review(self, user: User, owner: str | None = None) -> list[ReviewItem]:
        """What needs review, of one `owner` if given (policy role)."""
        _need(user, "policy")
        items = self.reviews()
        if owner:
            items = [i for i in items if (i.owner or "").casefold() == owner.casefold()]
        return items

    # -- what a user is shown ---------------------------------------------------------------

    def _overrides(self) -> dict[str, bool]:
        """case id -> flag, for rulings trainers have flagged or unflagged."""
        return self.store.teaching_overrides() if self.store is not None else {}

    def _teaching_filter(self, filters: Filters) -> Filters:
        """`filters` with `teaching_example=` answered by the flags."""
        wanted = filters.terms.get(TEACHING)
        if not wanted:
            return filters
        want = {v in ("true", "1", "yes") for v in wanted}
        ids = [c for c, flag in self.teaching_flags().items() if flag in want]
        return _as_ids(filters, TEACHING, ids)

    def _precedent_filter(self, filters: Filters) -> Filters:
        """`filters` with `precedent_status=` answered by the statuses (documents that are not
        rulings have no precedent status)."""
        wanted = set(filters.terms.get(PRECEDENT) or ())
        if not wanted:
            return filters
        ids = [c for c, status in self.precedents().items() if status.labels & wanted]
        return _as_ids(filters, PRECEDENT, ids)

    @staticmethod
    def _precedent_shown(status: PrecedentStatus | None, gate: Gate) -> PrecedentStatus | None:
        """A ruling's precedent status, naming only rulings the gate lets through."""
        if status is None or not status.conflicts_with or gate.open:
            return status
        return replace(
            status, conflicts_with=[c for c in status.conflicts_with if gate.document(c)]
        )

    @staticmethod
    def _review_shown(item: ReviewItem | None, gate: Gate) -> ReviewItem | None:
        """A review item naming only policies the gate lets through (None when nothing of
        it is left to show)."""
        if item is None or gate.open:
            return item
        stale = [c for c in item.stale if c.doc_id is None or gate.document(c.doc_id)]
        if not stale and not item.past_due:
            return None
        return replace(item, stale=stale)

    def _shown(self, hits: list[SearchHit], user: User) -> list[SearchHit]:
        """Hits whose rulings show their teaching flag as trainers set it and their precedent
        status, and whose metadata no longer names rulings `user` may not see."""
        overrides = self._overrides()
        gate = self.gate(user)
        statuses = None  # worked out for the first ruling among the hits
        for hit in hits:
            case_id = hit.citation.doc_id
            if hit.citation.doc_type == "ruling":
                if case_id in overrides:
                    hit.metadata = {**hit.metadata, TEACHING: overrides[case_id]}
                statuses = self.precedents() if statuses is None else statuses
                precedent = self._precedent_shown(statuses.get(case_id), gate)
                if precedent is not None:
                    hit.metadata = {**hit.metadata, **_precedent_json(precedent)}
            other = hit.metadata.get("superseded_by")
            if other and not gate.document(str(other)):
                hit.metadata = {**hit.metadata, "superseded_by": None}
        return hits

    def _ruling_shown(self, ruling: Ruling, user: User) -> Ruling:
        """`ruling` with its teaching flag as trainers set it, and without a link to a ruling
        `user` may not see."""
        flag = self._overrides().get(ruling.case_id, ruling.teaching_example)
        other = ruling.superseded_by
        if other and not self.gate(user).document(other):
            other = None
        return dataclasses.replace(ruling, teaching_example=flag, superseded_by=other)


def _as_ids(filters: Filters, key: str, case_ids: list[str]) -> Filters:
    """`filters` with the condition on `key` replaced by the rulings that meet it (their
    ids), so that it still applies inside the retrievers."""
    ids = sorted(c.lower() for c in case_ids)
    terms = {k: v for k, v in filters.terms.items() if k != key}
    if "doc_id" in terms:
        ids = [i for i in ids if i in set(terms["doc_id"])]
    terms["doc_id"] = ids or ["__none__"]
    return replace(filters, terms=terms)


def _precedent_json(status: PrecedentStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        PRECEDENT: status.status,
        "outdated_clauses": status.changed + status.removed,
        "conflicts_with": status.conflicts_with,
        "standing": status.resolution.standing if status.resolution else None,
    }


def _need(user: User, role: str) -> None:
    if not user.can(role):
        raise ForbiddenError(f"this needs the {role} role")


def user_collections(settings: Settings) -> Collections | None:
    """The user data of `settings`, or None when there is none yet (reading never creates it)."""
    if not settings.has_user_data(USER_DATA_FILE):
        return None
    return Collections(settings.user_store())


def _matches(ruling: Ruling, wanted: dict[str, str | None]) -> bool:
    """Does a ruling match every given value (policy_area matches any of its areas)?"""
    for key, value in wanted.items():
        if not value:
            continue
        if key == "policy_area":
            if value not in ruling.policy_areas:
                return False
        elif str(getattr(ruling, key, "") or "").casefold() != value.casefold():
            return False
    return True
