"""What the audit log and the feedback say about use: search volume, speed and abstentions per
day, the top questions and filters; and knowledge gaps, the questions the knowledge base could
not answer (the answer card abstained, nothing matched, or a moderator judged the result not
helpful or the wrong clause), grouped into topics by meaning.

Topics are clusters of the questions' embeddings (scikit-learn's agglomerative clustering,
cosine distance, average linkage), each named by its most central question and its commonest
words: the list of guidance a policy team should write next.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.csv_export import write_csv
from kb.feedback import Feedback

# Query-string keys that shape a search but do not filter it.
_NOT_FILTERS = frozenset({"q", "k", "mode", "page", "sort", "by", "max_per_doc", "format", "exact"})
_SEARCH_ENDPOINTS = frozenset({"ui.search", "api.search", "api.answer"})
_WORD_RE = re.compile(r"[a-z][a-z'-]{2,}")
_STOP = frozenset(
    "the and for with what when where who how does can his her their them they this that "
    "from are was were has have not but you your our its into out about after before there "
    "then than just any all some".split()
)
# Questions closer than this (cosine distance) share a topic.
GAP_DISTANCE = 0.45
# A search page whose user opened nothing within this many minutes counts as "no click".
NO_CLICK_MINUTES = 10
_OPENS = frozenset({"ui.passage", "ui.document", "ui.clause"})


@dataclass
class Day:
    """One day of searching."""

    day: str
    searches: int = 0
    answered: int = 0
    abstained: int = 0
    no_results: int = 0
    ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (latency percentiles in ms)."""
        p50, p95 = np.percentile(self.ms, [50, 95]).tolist() if self.ms else (None, None)
        return {
            "day": self.day,
            "searches": self.searches,
            "answered": self.answered,
            "abstained": self.abstained,
            "no_results": self.no_results,
            "abstention_rate": round(self.abstained / max(1, self.answered + self.abstained), 3),
            "p50_ms": None if p50 is None else round(p50, 1),
            "p95_ms": None if p95 is None else round(p95, 1),
        }


@dataclass
class Usage:
    """Search usage over a period."""

    days: list[Day]
    queries: Counter
    filters: Counter

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """JSON form."""
        return {
            "days": [d.to_dict() for d in self.days],
            "searches": sum(d.searches for d in self.days),
            "top_queries": [{"query": q, "count": n} for q, n in self.queries.most_common(top)],
            "top_filters": [{"filter": f, "count": n} for f, n in self.filters.most_common(top)],
        }


def search_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit events that are searches with a question (pages, API, answers)."""
    return [
        e
        for e in events
        if e["action"] == "search"
        and e["detail"].get("endpoint") in _SEARCH_ENDPOINTS
        and (e["target"] or "").strip()
        and e["status"] < 400
    ]


def usage(events: list[dict[str, Any]]) -> Usage:
    """Searches per day (oldest first), with answers, abstentions, empty results and request
    times; the commonest questions and filters."""
    days: dict[str, Day] = {}
    queries: Counter = Counter()
    filters: Counter = Counter()
    for e in search_events(events):
        day = days.setdefault(e["at"][:10], Day(e["at"][:10]))
        detail = e["detail"]
        out = detail.get("outcome") or {}
        if detail.get("endpoint") != "api.answer":
            day.searches += 1
            queries[" ".join(e["target"].split()).casefold()] += 1
            for key, value in (detail.get("args") or {}).items():
                if key not in _NOT_FILTERS:
                    for v in value if isinstance(value, list) else [value]:
                        if v not in ("", None):  # an empty form field filters nothing
                            filters[f"{key}={v}"] += 1
            if out.get("results") == 0:
                day.no_results += 1
        if "answered" in out:
            if out["answered"]:
                day.answered += 1
            else:
                day.abstained += 1
        if "ms" in out:
            day.ms.append(float(out["ms"]))
    return Usage(sorted(days.values(), key=lambda d: d.day), queries, filters)


_USAGE_TITLE = "Searches per day, by what came of them"


def usage_chart_svg(found: dict[str, Any]) -> str:
    """Searches per day, split by what came of them, as an SVG chart (`found`:
    `Usage.to_dict()`)."""
    from kb import charts

    days = found["days"]
    series: dict[str, list[float]] = {"answered": [], "abstained": [], "nothing found": []}
    series["other searches"] = []
    for d in days:
        series["answered"].append(d["answered"])
        series["abstained"].append(d["abstained"])
        series["nothing found"].append(d["no_results"])
        rest = d["searches"] - d["answered"] - d["abstained"] - d["no_results"]
        series["other searches"].append(max(0, rest))
    return charts.stacked_bars([d["day"] for d in days], series, _USAGE_TITLE, "searches")


def usage_chart_text(found: dict[str, Any]) -> str:
    """What the usage chart shows, in words (its text alternative)."""
    title, days = _USAGE_TITLE, found["days"]
    if not days:
        return f"{title}: none yet."
    busiest = max(days, key=lambda d: d["searches"])
    asked = sum(d["answered"] + d["abstained"] for d in days)
    rate = sum(d["abstained"] for d in days) / max(1, asked)
    return (
        f"{title}, {days[0]['day']} to {days[-1]['day']}: {found['searches']} searches, the "
        f"most on {busiest['day']} ({busiest['searches']}); the answer card abstained on "
        f"{rate:.0%} of the questions it was asked."
    )


@dataclass
class Gap:
    """A topic moderators asked about and did not get an answer to."""

    label: str  # its most central question
    terms: list[str]
    questions: Counter  # question -> times asked (or judged)
    reasons: Counter  # abstained, no results, not helpful, wrong clause
    weeks: Counter  # ISO week -> events
    filters: Counter
    closest: Counter  # the clause (or document) the search put first
    first_seen: str = ""
    last_seen: str = ""

    @property
    def count(self) -> int:
        """How many times the topic came up."""
        return sum(self.questions.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "label": self.label,
            "terms": self.terms,
            "count": self.count,
            "questions": dict(self.questions.most_common()),
            "reasons": dict(self.reasons.most_common()),
            "weeks": dict(sorted(self.weeks.items())),
            "filters": dict(self.filters.most_common()),
            "closest": self.closest.most_common(1)[0][0] if self.closest else None,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


def _opened(views: list[dict[str, Any]]) -> dict[str, list[tuple[int, str]]]:
    """user -> (event id, time) of each time they opened a passage, document or clause, in
    the order the audit log recorded them."""
    out: dict[str, list[tuple[int, str]]] = {}
    for v in views:
        if v["detail"].get("endpoint") in _OPENS and v["status"] < 400:
            out.setdefault(v["user"], []).append((v["event_id"], v["at"]))
    for opens in out.values():
        opens.sort()
    return out


def _clicked(opened: dict[str, list[tuple[int, str]]], search: dict, until: int | None) -> bool:
    """Did the user open anything after `search` (an audit event) and before their next
    search page (event id `until`), within NO_CLICK_MINUTES? Event ids order events that
    share a second."""
    import bisect

    opens = opened.get(search["user"], [])
    i = bisect.bisect_right(opens, (search["event_id"], "\uffff"))
    if i == len(opens) or (until is not None and opens[i][0] > until):
        return False
    gap = dt.datetime.fromisoformat(opens[i][1]) - dt.datetime.fromisoformat(search["at"])
    return gap <= dt.timedelta(minutes=NO_CLICK_MINUTES)


def gaps(
    events: list[dict[str, Any]],
    feedback: list[Feedback],
    embed: Callable[[list[str]], np.ndarray],
    views: list[dict[str, Any]] | None = None,
) -> list[Gap]:
    """Unanswered questions grouped into topics, the most asked first. `embed` gives unit
    vectors for texts (the knowledge base's own model); `views` (the audit log's view
    events), when given, also count search pages after which the user opened nothing."""
    misses: list[tuple[str, str, str, dict, str | None]] = []  # (question, at, reason, args, top)
    opened = _opened(views) if views is not None else None
    searched = search_events(events)
    following: dict[int, int] = {}  # a search page's event id -> the user's next one's
    last: dict[str, dict[str, Any]] = {}
    for e in searched:  # oldest first
        if e["detail"].get("endpoint") == "ui.search":
            before = last.get(e["user"])
            if before is not None:
                following[before["event_id"]] = e["event_id"]
            last[e["user"]] = e
    for e in searched:
        out = e["detail"].get("outcome") or {}
        reason = None
        if out.get("answered") is False:
            reason = "abstained"
        elif out.get("results") == 0:
            reason = "no results"
        elif (
            opened is not None
            and e["detail"].get("endpoint") == "ui.search"
            and not _clicked(opened, e, following.get(e["event_id"]))
        ):
            reason = "no click"
        if reason:
            args = e["detail"].get("args") or {}
            misses.append((e["target"], e["at"], reason, args, out.get("top")))
    for f in feedback:
        if f.verdict != "helpful":
            misses.append((f.query, f.at, f.verdict.replace("_", " "), {}, f.target))
    if not misses:
        return []
    texts = sorted({" ".join(m[0].split()).casefold() for m in misses})
    vectors = embed(texts)
    labels = _clusters(vectors) if len(texts) > 1 else np.zeros(1, dtype=int)
    topic_of = dict(zip(texts, labels.tolist(), strict=True))
    found: dict[int, Gap] = {}
    for question, at, reason, args, top in misses:
        key = " ".join(question.split()).casefold()
        gap = found.setdefault(
            topic_of[key], Gap("", [], Counter(), Counter(), Counter(), Counter(), Counter())
        )
        gap.questions[key] += 1
        gap.reasons[reason] += 1
        gap.weeks[_week(at)] += 1
        for k, v in args.items():
            if k not in _NOT_FILTERS:
                for value in v if isinstance(v, list) else [v]:
                    if value not in ("", None):
                        gap.filters[f"{k}={value}"] += 1
        if top:
            gap.closest[top] += 1
        gap.first_seen = min(gap.first_seen or at, at)
        gap.last_seen = max(gap.last_seen, at)
    index = {t: i for i, t in enumerate(texts)}
    for gap in found.values():
        members = list(gap.questions)
        vecs = vectors[[index[m] for m in members]]
        central = int(np.argmax((vecs @ vecs.T).mean(axis=1)))
        gap.label = members[central]
        words = Counter(w for m in members for w in set(_WORD_RE.findall(m)) if w not in _STOP)
        gap.terms = [w for w, _ in words.most_common(5)]
    return sorted(found.values(), key=lambda g: (-g.count, g.label))


def gaps_csv(topics: list[Gap]) -> str:
    """Topics as CSV, one row each."""
    return write_csv(
        ["topic", "terms", "count", "questions", "reasons", "closest", "first_seen", "last_seen"],
        (
            [
                g.label,
                " ".join(g.terms),
                g.count,
                " | ".join(g.questions),
                "; ".join(f"{r} {n}" for r, n in g.reasons.most_common()),
                g.to_dict()["closest"] or "",
                g.first_seen,
                g.last_seen,
            ]
            for g in topics
        ),
    )


def _clusters(vectors: np.ndarray) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=GAP_DISTANCE
    )
    return model.fit_predict(vectors)


def _week(at: str) -> str:
    """The ISO week of a timestamp, as 2026-W48."""
    year, week, _ = dt.date.fromisoformat(at[:10]).isocalendar()
    return f"{year}-W{week:02d}"
