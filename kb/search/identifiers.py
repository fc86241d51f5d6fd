"""Exact identifiers in a query: clause ids (`LIVE-DNG-3.1`), section ids (`LIVE-DNG-3`), case
ids (`ESC-1010`) and document ids (`minors-on-live`) go to their item first.

A token counts only when the index holds it (as `clause_id=` or `doc_id=` term), so `COVID-19`
or `PG-13` stay ordinary words. What is pinned passes through the same filter mask as every
search (a user's clearance included), and the rest of the query still ranks the rest.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kb.search.filter_index import FilterIndex

# Letters, digits, '-', '.', ':' and '_' with at least one '-' or digit: ids, never plain words
# (a document called `weapons` is not pinned by the word "weapons").
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*[A-Za-z0-9]")
_ID_LIKE_RE = re.compile(r"[-\d]")


@dataclass
class Pinned:
    """The ordinals an exact id in the query points at, and the query without those ids."""

    ordinals: list[int] = field(default_factory=list)
    rest: str = ""
    ids: list[str] = field(default_factory=list)


def pin(query: str, index: FilterIndex, mask_of: Callable[[], np.ndarray]) -> Pinned:
    """Find the ids in `query` that name something in `index` the mask allows (`mask_of` is
    called once, and only when the query holds a token that looks like an id).

    For a clause id: its passages. For a section id: the section's own passages, then its
    clauses' (`LIVE-DNG-3` -> `LIVE-DNG-3.1`, `LIVE-DNG-3.2`, ...), in document order. For a
    document or case id: its passages (a ruling's facts and decision), in document order.
    """
    out = Pinned()
    kept: list[str] = []
    seen: set[int] = set()
    mask = None
    for token in query.split():
        core = _TOKEN_RE.search(token)
        found = []
        if core and _ID_LIKE_RE.search(core.group(0)) and _known(core.group(0), index):
            mask = mask_of() if mask is None else mask
            found = _lookup(core.group(0), index, mask)
        if not found:
            kept.append(token)
            continue
        out.ids.append(core.group(0))
        for ordinal in found:
            if ordinal not in seen:
                seen.add(ordinal)
                out.ordinals.append(ordinal)
    out.rest = " ".join(kept)
    return out


def _known(token: str, index: FilterIndex) -> bool:
    """Whether the index has this clause, section (a section heading may hold no text of its
    own, only its clauses) or document id."""
    term = token.lower()
    if f"clause_id={term}" in index.lookup or f"doc_id={term}" in index.lookup:
        return True
    prefix = f"clause_id={term}."
    start = bisect.bisect_left(index.names, prefix)
    return start < len(index.names) and index.names[start].startswith(prefix)


def _lookup(token: str, index: FilterIndex, mask: np.ndarray) -> list[int]:
    term = token.lower()
    exact = [
        *index.postings(f"clause_id={term}").tolist(),
        *index.postings(f"doc_id={term}").tolist(),
    ]
    below = []
    if re.fullmatch(r"(?:[a-z][a-z0-9]*-)+\d+", term):  # a section: its clauses too
        prefix = f"clause_id={term}."
        start = bisect.bisect_left(index.names, prefix)  # names are sorted
        for name in index.names[start:]:
            if not name.startswith(prefix):
                break
            below.extend(index.postings(name).tolist())
    return [o for o in sorted(set(exact)) + sorted(set(below) - set(exact)) if mask[o]]
