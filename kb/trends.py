"""How rulings move: counts and shares by policy area, outcome, region, surface and reviewer
tier per month, the overturn rate, and new patterns (recent rulings whose facts have no close
earlier precedent); drawn as SVG charts with matplotlib, each with a text alternative."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.csv_export import write_csv
from kb.types import Ruling

# What trends can be narrowed to (a ruling's policy_areas hold several: any one matches).
FILTERS = ("policy_area", "outcome", "region", "surface", "reviewer_tier")
DIMENSIONS = ("policy_areas", "clauses", "outcome", "region", "surface", "reviewer_tier")
# A recent ruling is a new pattern when no earlier ruling's facts are this close (cosine).
NEW_PATTERN_BELOW = 0.55
RECENT_MONTHS = 3


@dataclass
class NewPattern:
    """A recent ruling unlike any earlier one."""

    ruling: Ruling
    nearest: str | None  # the closest earlier ruling
    similarity: float


@dataclass
class Trends:
    """Rulings per month, by dimension."""

    months: list[str]
    totals: Counter
    counts: dict[str, dict[str, Counter]]  # dimension -> month -> value -> rulings
    overturned: Counter
    new_patterns: list[NewPattern] = field(default_factory=list)

    def series(self, dimension: str, top: int = 6) -> dict[str, list[int]]:
        """value -> count per month for the `top` commonest values, the rest as "other"."""
        overall: Counter = Counter()
        for month in self.months:
            overall.update(self.counts[dimension].get(month, Counter()))
        keep = [v for v, _ in overall.most_common(top)]
        out = {v: [self.counts[dimension].get(m, Counter())[v] for m in self.months] for v in keep}
        rest = [
            sum(n for v, n in self.counts[dimension].get(m, Counter()).items() if v not in keep)
            for m in self.months
        ]
        if any(rest):
            out["other"] = rest
        return out

    def overturn_rate(self) -> list[float]:
        """Share of each month's rulings later overturned."""
        return [self.overturned[m] / self.totals[m] if self.totals[m] else 0.0 for m in self.months]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "months": self.months,
            "totals": [self.totals[m] for m in self.months],
            "overturn_rate": [round(r, 3) for r in self.overturn_rate()],
            "by": {d: self.series(d) for d in DIMENSIONS},
            "new_patterns": [
                {
                    "case_id": p.ruling.case_id,
                    "title": p.ruling.title,
                    "decision_date": p.ruling.decision_date,
                    "nearest": p.nearest,
                    "similarity": round(p.similarity, 3),
                }
                for p in self.new_patterns
            ],
        }

    def to_csv(self) -> str:
        """One row per month, dimension and value."""
        rows = []
        for d in DIMENSIONS:
            for m in self.months:
                for value, n in sorted(self.counts[d].get(m, Counter()).items()):
                    rows.append([m, d, value, n, round(n / self.totals[m], 3)])
        return write_csv(["month", "dimension", "value", "rulings", "share"], rows)


def trends(rulings: list[Ruling], facts: dict[str, np.ndarray] | None = None) -> Trends:
    """Trends of `rulings` (those a user may see); `facts`: case id -> unit vector of its
    facts, for new patterns."""
    dated = sorted((r for r in rulings if r.decision_date), key=lambda r: r.decision_date)
    months = _months(dated[0].decision_date[:7], dated[-1].decision_date[:7]) if dated else []
    totals: Counter = Counter()
    overturned: Counter = Counter()
    counts: dict[str, dict[str, Counter]] = {d: {} for d in DIMENSIONS}
    for r in dated:
        m = r.decision_date[:7]
        totals[m] += 1
        overturned[m] += r.status == "overturned"
        for d in DIMENSIONS:
            values = getattr(r, d)
            for v in values if isinstance(values, list) else [values or "unknown"]:
                counts[d].setdefault(m, Counter())[v] += 1
    out = Trends(months, totals, counts, overturned)
    if facts and months:
        recent = set(months[-RECENT_MONTHS:])
        for i, r in enumerate(dated):
            if r.decision_date[:7] not in recent or r.case_id not in facts:
                continue
            earlier = [e for e in dated[:i] if e.case_id in facts]
            if not earlier:
                continue
            sims = np.stack([facts[e.case_id] for e in earlier]) @ facts[r.case_id]
            best = int(np.argmax(sims))
            if sims[best] < NEW_PATTERN_BELOW:
                out.new_patterns.append(NewPattern(r, earlier[best].case_id, float(sims[best])))
    return out


def _months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), none skipped."""
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# -- charts ----------------------------------------------------------------------------------

# Every breakdown can be drawn; the page shows one of them (policy area unless asked), the
# outcomes and the overturn rate.
CHARTS = (*DIMENSIONS, "overturn")
_LABELS = {
    "policy_areas": "Rulings per month by policy area",
    "clauses": "Rulings per month by clause applied",
    "outcome": "Rulings per month by outcome",
    "region": "Rulings per month by region",
    "surface": "Rulings per month by surface",
    "reviewer_tier": "Rulings per month by reviewer tier",
    "overturn": "Share of each month's rulings later overturned",
}


def chart_text(t: Trends, name: str) -> str:
    """What chart `name` shows, in words (its text alternative)."""
    if name == "overturn":
        return _rate_text(t, t.overturn_rate())
    return _series_text(t, t.series(name), _LABELS[name])


def chart_svg(t: Trends, name: str) -> str:
    """One chart as an SVG document."""
    from kb import charts

    if name == "overturn":
        rate = [r * 100 for r in t.overturn_rate()]
        return charts.line(t.months, rate, _LABELS[name], "% overturned")
    # A ruling touching two policy areas (or applying two clauses) counts in each.
    ylabel = {"policy_areas": "rulings per area", "clauses": "rulings per clause"}
    ylabel = ylabel.get(name, "rulings")
    return charts.stacked_bars(t.months, t.series(name), _LABELS[name], ylabel)


def label(name: str) -> str:
    """What a breakdown is called."""
    return _LABELS[name].removeprefix("Rulings per month by ")


def _series_text(t: Trends, series: dict[str, list[int]], label: str) -> str:
    """What the chart shows, in words: total, busiest month, what rose most lately."""
    if not t.months:
        return f"{label}: no rulings."
    busiest = max(t.months, key=lambda m: t.totals[m])
    half = max(1, len(t.months) // 2)
    rises = {
        v: sum(c[half:]) / max(1, len(c) - half) - sum(c[:half]) / half for v, c in series.items()
    }
    up = max(rises, key=rises.get)
    return (
        f"{label}, {t.months[0]} to {t.months[-1]}: {sum(t.totals.values())} rulings, the most "
        f"in {busiest} ({t.totals[busiest]}). Largest per-month rise from the first half of "
        f"the period to the second: {up.replace('_', ' ')} ({rises[up]:+.1f} a month)."
    )


def _rate_text(t: Trends, rate: list[float]) -> str:
    if not t.months:
        return "No rulings."
    worst = max(range(len(rate)), key=rate.__getitem__)
    overall = sum(t.overturned.values()) / max(1, sum(t.totals.values()))
    return (
        f"{_LABELS['overturn']}, {t.months[0]} to {t.months[-1]}: {overall:.0%} overall, the "
        f"highest in {t.months[worst]} ({rate[worst]:.0%})."
    )
