"""Fusing ranked lists. Pure functions, no I/O. Raw BM25 and cosine are never added together."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class Fused:
    """One fused candidate with its score breakdown."""

    ordinal: int
    score: float
    parts: dict[str, dict[str, float]] = field(default_factory=dict)


def rrf(
    lists: dict[str, list[tuple[int, float]]], k: int = 60, weights: dict[str, float] | None = None
) -> list[Fused]:
    """Reciprocal rank fusion: score = sum over lists of weight / (k + rank), rank from 1."""
    fused: dict[int, Fused] = {}
    for name, hits in lists.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, (ordinal, score) in enumerate(hits, start=1):
            item = fused.setdefault(ordinal, Fused(ordinal, 0.0))
            item.score += w / (k + rank)
            item.parts[name] = {"rank": rank, "score": score}
    return sorted(fused.values(), key=lambda f: (-f.score, f.ordinal))


def weighted(
    lists: dict[str, list[tuple[int, float]]],
    weights: dict[str, float],
    lower: dict[str, float] | None = None,
) -> list[Fused]:
    """Convex combination of normalised scores (a list's missing items count 0).

    Each list is scaled to [0, 1] by (score - low) / (max - low), where low is the list's own
    minimum (min-max) or, for names in `lower`, a fixed theoretical minimum (0 for BM25 and
    for cosine): the fixed floor keeps a weak list weak instead of stretching its best
    candidate to 1.
    """
    fused: dict[int, Fused] = {}
    for name, hits in lists.items():
        if not hits:
            continue
        scores = [s for _, s in hits]
        hi = max(scores)
        lo = lower[name] if lower and name in lower else min(scores)
        span = hi - lo
        weight = weights.get(name, 0.0)
        for rank, (ordinal, score) in enumerate(hits, start=1):
            norm = max(0.0, (score - lo) / span) if span > 0 else 1.0
            item = fused.get(ordinal)
            if item is None:
                item = fused[ordinal] = Fused(ordinal, 0.0)
            item.score += weight * norm
            item.parts[name] = {"rank": rank, "score": score}
    return sorted(fused.values(), key=lambda f: (-f.score, f.ordinal))


def single(name: str, hits: list[tuple[int, float]]) -> list[Fused]:
    """One retriever's list in the same shape as a fused one."""
    return [Fused(o, s, {name: {"rank": r, "score": s}}) for r, (o, s) in enumerate(hits, 1)]


@dataclass
class Group:
    """Candidates that are one unit for a reader (a clause, a section, a ruling): shown as one
    result, its best passage first."""

    key: Hashable  # the unit's number (Searcher.unit_key)
    best: Fused
    score: float
    members: list[Fused] = field(default_factory=list)


def group(candidates: list[Fused], key_of, share: float = 0.1) -> list[Group]:
    """Candidates grouped by `key_of(ordinal)`, each group scored by its best member plus
    `share` of the others' scores, best group first.

    A clause split into three passages takes one place, not three; the small share lets a
    clause whose several passages match edge out one with a single equally good passage,
    without letting many weak passages outvote one strong one.
    """
    groups: dict[str, Group] = {}
    for item in candidates:
        key = key_of(item.ordinal)
        found = groups.get(key)
        if found is None:
            groups[key] = Group(key, item, item.score, [item])
        else:
            found.members.append(item)
            found.score += share * item.score
    return sorted(groups.values(), key=lambda g: (-g.score, g.best.ordinal))
