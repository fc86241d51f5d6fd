"""Filters evaluated in memory as boolean masks over passage ordinals (for the dense side and
for facet counts). Same semantics as the keyword backends' filter queries."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np

from kb.search.filters import FAR_FUTURE, Filters
from kb.search.keyword.base import IndexedPassage

# How many recent filter masks a FilterIndex keeps (a million passages: 1 MB each).
MASKS_KEPT = 16


class FilterIndex:
    """term -> ordinals, plus effective-date arrays; saved as one .npz file."""

    def __init__(
        self,
        names: list[str],
        ptr: np.ndarray,
        ords: np.ndarray,
        eff_from: np.ndarray,
        eff_to: np.ndarray,
    ) -> None:
        self.names = names
        self.lookup = {name: i for i, name in enumerate(names)}
        self.ptr = ptr
        self.ords = ords
        self.eff_from = eff_from
        self.eff_to = eff_to
        self.size = len(eff_from)
        self._masks: dict[tuple, np.ndarray] = {}  # recent masks, oldest first
        self._lock = threading.Lock()

    @classmethod
    def build(cls, passages: list[IndexedPassage]) -> FilterIndex:
        """Index the terms and dates of `passages` (ordinals must be 0..n-1)."""
        postings: dict[str, list[int]] = {}
        for p in passages:
            for term in p.terms:
                postings.setdefault(term, []).append(p.ordinal)
        names = sorted(postings)
        lengths = [len(postings[n]) for n in names]
        ptr = np.zeros(len(names) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(lengths)
        ords = np.fromiter(
            (o for n in names for o in postings[n]), dtype=np.int32, count=int(ptr[-1])
        )
        eff_from = np.array([p.eff_from for p in passages], dtype=np.int32)
        eff_to = np.array([min(p.eff_to, FAR_FUTURE) for p in passages], dtype=np.int32)
        return cls(names, ptr, ords, eff_from, eff_to)

    def save(self, path: Path) -> None:
        """Write to `path` (.npz)."""
        np.savez(
            path,
            names=np.array(self.names, dtype=object).astype(str),
            ptr=self.ptr,
            ords=self.ords,
            eff_from=self.eff_from,
            eff_to=self.eff_to,
        )

    @classmethod
    def load(cls, path: Path) -> FilterIndex:
        """Read a file written by `save`."""
        data = np.load(path, allow_pickle=False)
        return cls(
            [str(n) for n in data["names"]],
            data["ptr"],
            data["ords"],
            data["eff_from"],
            data["eff_to"],
        )

    def keys(self) -> set[str]:
        """Every filter key present (the part before '=')."""
        return {n.partition("=")[0] for n in self.names}

    def postings(self, term: str) -> np.ndarray:
        """Ordinals indexed under `term`."""
        i = self.lookup.get(term)
        if i is None:
            return self.ords[:0]
        return self.ords[self.ptr[i] : self.ptr[i + 1]]

    def mask(self, filters: Filters) -> np.ndarray:
        """Boolean mask (read-only) of the passages `filters` allows. The last few are kept:
        most searches ask for the same (what is in force today), and at a million passages
        building one takes ~2 ms."""
        key = (tuple(map(tuple, filters.clauses())), tuple(filters.ranges()))
        with self._lock:
            found = self._masks.get(key)
        if found is None:
            found = self._mask(filters)
            found.flags.writeable = False
            with self._lock:
                while len(self._masks) >= MASKS_KEPT:
                    self._masks.pop(next(iter(self._masks)))
                self._masks[key] = found
        return found

    def _mask(self, filters: Filters) -> np.ndarray:
        mask = np.ones(self.size, dtype=bool)
        for alternatives in filters.clauses():
            allowed = np.zeros(self.size, dtype=bool)
            for term in alternatives:
                allowed[self.postings(term)] = True
            mask &= allowed
        for name, lo, hi in filters.ranges():
            values = self.eff_from if name == "eff_from" else self.eff_to
            if lo is not None:
                mask &= values >= lo
            if hi is not None:
                mask &= values <= hi
        return mask

    def facet_counts(self, ordinals: list[int], keys: tuple[str, ...]) -> dict[str, Counter]:
        """For each key, how many of `ordinals` carry each value."""
        chosen = np.zeros(self.size, dtype=bool)
        chosen[np.asarray(ordinals, dtype=np.int64)] = True
        out: dict[str, Counter] = {k: Counter() for k in keys}
        for name in self.names:
            key, _, value = name.partition("=")
            if key in out and value != "*":
                n = int(chosen[self.postings(name)].sum())
                if n:
                    out[key][value] = n
        return out
