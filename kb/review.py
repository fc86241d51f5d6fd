"""What needs a policy team's attention: documents past their review date, guidance that
cites a clause changed since the guidance took effect, and rulings that rest on a clause
changed since they were decided (see `kb.precedents.precedent_statuses`).

Documents may name an `owner` and a `review_by` date (front matter, meta tags or a manifest
entry). Guidance *cites* a clause when its text names the clause id; the clause *changed*
when its words (case, spacing and punctuation aside) differ between the policy version in
force on the guidance's effective date and the current one, or it is in no current policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kb.catalog import Catalog
from kb.csv_export import write_csv
from kb.types import VersionInfo
from kb.versions import ClauseHistory, cited_clauses


@dataclass
class StaleClause:
    """A clause a document relies on that changed after the document's own date."""

    clause_id: str
    doc_id: str | None  # the policy that has it now (None: in no current policy)
    changed_on: str | None  # when the current version of it took effect

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class ReviewItem:
    """One document that needs review, and why."""

    doc_id: str
    title: str
    doc_type: str
    owner: str | None
    review_by: str | None
    past_due: bool = False
    stale: list[StaleClause] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """Why, one line each."""
        out = [f"review was due {self.review_by}"] if self.past_due else []
        verb = "applied" if self.doc_type == "ruling" else "cites"
        for s in self.stale:
            when = f"changed {s.changed_on}" if s.doc_id else "no longer in any policy"
            out.append(f"{verb} {s.clause_id}, {when}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "doc_type": self.doc_type,
            "owner": self.owner,
            "review_by": self.review_by,
            "past_due": self.past_due,
            "stale_clauses": [s.to_dict() for s in self.stale],
            "reasons": self.reasons,
        }


def review_list(
    catalog: Catalog, outdated: dict[str, list[str]], today: str | None = None
) -> list[ReviewItem]:
    """Every document that needs review, past due first, then by owner and title.
    `outdated`: case id -> the clauses changed or gone since that ruling was decided."""
    today = today or dt.date.today().isoformat()
    known = catalog.clause_ids()
    history = ClauseHistory(catalog)
    items: list[ReviewItem] = []
    for doc_type in ("policy", "guidance"):
        for version in catalog.current_versions(doc_type):
            item = _item(version, doc_type, today)
            if doc_type == "guidance" and version.effective_from:
                item.stale = _stale(catalog, history, version, known)
            if item.past_due or item.stale:
                items.append(item)
    for ruling in catalog.current_rulings():
        clauses = outdated.get(ruling.case_id)
        if clauses:
            item = ReviewItem(ruling.case_id, ruling.title, "ruling", None, None)
            item.stale = [_changed(catalog, c) for c in clauses]
            items.append(item)
    items.sort(key=lambda i: (not i.past_due, i.owner or "~", i.doc_type, i.title))
    return items


def to_csv(items: list[ReviewItem]) -> str:
    """One row per document."""
    return write_csv(
        ["doc_id", "title", "doc_type", "owner", "review_by", "past_due", "reasons"],
        (
            (i.doc_id, i.title, i.doc_type, i.owner or "", i.review_by or "", i.past_due, why)
            for i in items
            for why in ["; ".join(i.reasons)]
        ),
    )


def _item(version: VersionInfo, doc_type: str, today: str) -> ReviewItem:
    owner, review_by = version.metadata.get("owner"), version.metadata.get("review_by")
    return ReviewItem(
        version.doc_id,
        version.title,
        doc_type,
        str(owner) if owner else None,
        str(review_by) if review_by else None,
        past_due=bool(review_by) and str(review_by) < today,
    )


def _stale(
    catalog: Catalog, history: ClauseHistory, version: VersionInfo, known: set[str]
) -> list[StaleClause]:
    """The clauses a guidance version cites that changed after it took effect."""
    text = "\n".join(p.text for p in catalog.passages_of(version.version_id))
    cited = sorted(cited_clauses(text) & known)
    return [
        _changed(catalog, clause)
        for clause in cited
        if history.change(clause, version.effective_from)
    ]


def _changed(catalog: Catalog, clause: str) -> StaleClause:
    now = catalog.clause_passage(clause)
    if now is None:
        return StaleClause(clause, None, None)
    return StaleClause(clause, now.doc_id, catalog.version(now.version_id).effective_from)
