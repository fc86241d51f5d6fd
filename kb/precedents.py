"""Precedents: similar rulings and the consistency report.

Similar rulings: dense similarity of a case description (or a ruling's facts) to the facts of
active rulings. Consistency: rulings whose facts are near-identical are grouped (facts vectors,
cosine >= `group_threshold`, same surface, single-link); a group whose outcomes diverge is
reported unless the divergence is explained — outcomes split exactly along regions and a
region-scoped clause was applied (region), or along the policy versions in force on the
decision dates (version). Overturned and superseded rulings are left out: they are not
precedent, and their divergence is explained by their status.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kb.access import ordinals
from kb.collections import Resolution
from kb.csv_export import write_csv
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.types import Ruling
from kb.versions import ClauseHistory

# Rough severity order, used to rank how far apart a group's outcomes are.
SEVERITY = {
    "no_action": 0,
    "warn": 1,
    "age_gate": 2,
    "restrict": 2,
    "remove": 3,
    "end_stream": 4,
    "suspend": 5,
    "ban": 6,
}
GROUP_THRESHOLD = 0.78
# What a ruling is worth as precedent: sound, or outdated (a clause it applied changed in
# substance, or went, after its decision) and/or in conflict (in a consistency group whose
# outcomes diverge unexplained), or not to be followed (a policy user settled its group for
# another outcome). Rulings overturned or superseded are not precedent at all.
PRECEDENT_STATUSES = ("sound", "outdated", "conflict", "do_not_follow")


@dataclass
class Group:
    """Near-identical rulings, with what their outcomes say."""

    rulings: list[Ruling]
    outcomes: Counter
    explained_by: str | None
    divergence: float
    cohesion: float
    key_clauses: list[str] = field(default_factory=list)
    resolution: Resolution | None = None  # how a policy user settled it, if they have

    @property
    def case_ids(self) -> frozenset[str]:
        """The group's rulings (what a resolution is recorded under)."""
        return frozenset(r.case_id for r in self.rulings)

    @property
    def topic(self) -> str:
        """One line: the clauses most applied, the surface and the regions."""
        regions = sorted({r.region for r in self.rulings})
        return f"{', '.join(self.key_clauses)} · {self.rulings[0].surface} · {', '.join(regions)}"

    @property
    def open(self) -> bool:
        """Inconsistent and not settled yet."""
        return self.inconsistent and self.resolution is None

    @property
    def inconsistent(self) -> bool:
        """Divergent outcomes that nothing explains."""
        return len(self.outcomes) > 1 and self.explained_by is None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "case_ids": [r.case_id for r in self.rulings],
            "outcomes": dict(self.outcomes),
            "explained_by": self.explained_by,
            "divergence": round(self.divergence, 3),
            "cohesion": round(self.cohesion, 3),
            "inconsistent": self.inconsistent,
            "topic": self.topic,
            "resolution": self.resolution.to_dict() if self.resolution else None,
            "rulings": [r.to_dict() for r in self.rulings],
        }


def load_rulings(
    searcher: Searcher, *, active_only: bool = True
) -> tuple[list[Ruling], np.ndarray]:
    """Rulings of current versions with the dense vectors of their facts passages."""
    ordinal = ordinals(searcher)
    records, vectors = [], []
    for ruling, facts_passage in searcher.catalog.ruling_facts():
        if active_only and ruling.status != "active":
            continue
        if facts_passage not in ordinal:
            continue
        records.append(ruling)
        vectors.append(np.asarray(searcher.dense.vectors[ordinal[facts_passage]]))
    matrix = np.stack(vectors) if vectors else np.zeros((0, searcher.dense.dim), np.float32)
    return records, matrix


def consistency_report(searcher: Searcher, threshold: float = GROUP_THRESHOLD) -> list[Group]:
    """Groups of near-identical rulings, inconsistent ones first (by divergence, then size)."""
    rulings, vectors = load_rulings(searcher)
    sims = vectors @ vectors.T
    parent = list(range(len(rulings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(rulings)):
        for j in range(i + 1, len(rulings)):
            if sims[i, j] >= threshold and rulings[i].surface == rulings[j].surface:
                parent[find(i)] = find(j)
    members: dict[int, list[int]] = {}
    for i in range(len(rulings)):
        members.setdefault(find(i), []).append(i)
    groups = []
    for idx in members.values():
        if len(idx) < 2:
            continue
        group_rulings = [rulings[i] for i in idx]
        outcomes = Counter(r.outcome for r in group_rulings)
        sub = sims[np.ix_(idx, idx)]
        cohesion = float(sub[np.triu_indices(len(idx), 1)].mean())
        levels = [SEVERITY.get(o, 3) for o in outcomes]
        divergence = (max(levels) - min(levels)) / 6 + (len(outcomes) - 1) / 4
        clauses = [
            c for c, _ in Counter(c for r in group_rulings for c in r.clauses).most_common(3)
        ]
        groups.append(
            Group(
                rulings=group_rulings,
                outcomes=outcomes,
                explained_by=_explanation(searcher, group_rulings) if len(outcomes) > 1 else None,
                divergence=divergence if len(outcomes) > 1 else 0.0,
                cohesion=cohesion,
                key_clauses=clauses,
            )
        )
    groups.sort(key=lambda g: (not g.inconsistent, -g.divergence, -len(g.rulings), -g.cohesion))
    return groups


@dataclass
class PrecedentStatus:
    """Whether a ruling still holds as precedent, and why not."""

    outcome: str = ""
    changed: list[str] = field(default_factory=list)  # clauses changed since the decision
    removed: list[str] = field(default_factory=list)  # clauses no longer in any policy
    conflicts_with: list[str] = field(default_factory=list)  # its unexplained group, open
    group: frozenset[str] = frozenset()  # that group's case ids, settled or not
    resolution: Resolution | None = None  # how the group was settled
    do_not_follow: bool = False  # settled for another outcome

    @property
    def labels(self) -> set[str]:
        """The statuses it has (a `precedent_status=` filter matches any of them)."""
        out = {"outdated"} if self.changed or self.removed else set()
        if self.conflicts_with:
            out.add("conflict")
        if self.do_not_follow:
            out.add("do_not_follow")
        return out or {"sound"}

    def settled(self, resolutions: dict[frozenset[str], Resolution]) -> PrecedentStatus:
        """This status once its group's resolution (if any) is applied: no longer in conflict;
        not to be followed when another outcome stands."""
        found = resolutions.get(self.group) if self.group else None
        if found is None:
            return self
        follow = found.standing in ("both", self.outcome)
        return replace(self, conflicts_with=[], resolution=found, do_not_follow=not follow)

    @property
    def status(self) -> str:
        """The one shown: do not follow, then conflict, then outdated, then sound."""
        return next(s for s in reversed(PRECEDENT_STATUSES) if s in self.labels)


def report_csv(groups: list[Group]) -> str:
    """One row per ruling of each group."""
    header = ["group", "topic", "explained_by", "resolution", "case_id", "decision_date"]
    header += ["surface", "region", "outcome", "clauses", "rationale"]
    return write_csv(
        header,
        (
            (
                *(n, g.topic, g.explained_by or "", g.resolution.standing if g.resolution else ""),
                *(r.case_id, r.decision_date, r.surface, r.region, r.outcome),
                *(";".join(r.clauses), r.rationale),
            )
            for n, g in enumerate(groups, start=1)
            for r in g.rulings
        ),
    )


def precedent_statuses(searcher: Searcher) -> dict[str, PrecedentStatus]:
    """case id -> status, for every active ruling of the generation. A clause changed "in
    substance" when its words differ (case, spacing and punctuation aside) between the policy
    version in force on the decision date and the current one."""
    catalog = searcher.catalog
    history = ClauseHistory(catalog)
    out: dict[str, PrecedentStatus] = {}
    for ruling in catalog.current_rulings():
        if ruling.status != "active":
            continue
        status = out[ruling.case_id] = PrecedentStatus(ruling.outcome)
        for clause in ruling.clauses:
            change = history.change(clause, ruling.decision_date)
            if change == "removed":
                status.removed.append(clause)
            elif change == "changed":
                status.changed.append(clause)
    for group in consistency_report(searcher):
        if group.inconsistent:
            ids = [r.case_id for r in group.rulings]
            for case_id in ids:
                if case_id in out:
                    out[case_id].conflicts_with = [c for c in ids if c != case_id]
                    out[case_id].group = frozenset(ids)
    return out


def _partitions(rulings: list[Ruling], key) -> bool:
    """True when each value of `key` maps to one outcome and there are several values."""
    seen: dict[Any, set[str]] = {}
    for r in rulings:
        seen.setdefault(key(r), set()).add(r.outcome)
    return len(seen) > 1 and all(len(v) == 1 for v in seen.values())


def _explanation(searcher: Searcher, rulings: list[Ruling]) -> str | None:
    catalog = searcher.catalog
    if _partitions(rulings, lambda r: r.region) and any(
        (p := catalog.clause_passage(c, r.decision_date)) is not None and "regions" in p.metadata
        for r in rulings
        for c in r.clauses
    ):
        return "region"

    def versions_in_force(r: Ruling) -> tuple:
        out = []
        for clause in sorted(set(c for g in rulings for c in g.clauses)):
            p = catalog.clause_passage(clause, r.decision_date)
            out.append(p.version_id if p else None)
        return tuple(out)

    if _partitions(rulings, versions_in_force):
        return "version"
    return None


def similar_rulings(
    searcher: Searcher,
    text: str,
    *,
    k: int = 10,
    filters: Filters | None = None,
    exclude: str | None = None,
):
    """The rulings whose facts are closest to `text`, with the outcome distribution."""
    response = searcher.search(
        text,
        k=min(k + 1, searcher.settings.max_k),
        mode="dense",
        max_per_doc=1,
        filters=(filters or Filters()).with_terms(type=["ruling"]),
    )
    hits = [h for h in response.results if h.passage.doc_id != exclude][:k]
    return hits, Counter(h.metadata.get("outcome") for h in hits)
