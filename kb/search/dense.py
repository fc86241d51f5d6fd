"""Dense retrieval over normalised vectors in FAISS. The only file importing faiss.

A folder holds `vectors.npy` (one row per passage, or per sentence, in the generation's order)
and, above the HNSW threshold, `hnsw.faiss`: a graph whose positions need not be those rows.
An ingest that changes a few documents keeps the live generation's graph: rows whose vector
is already in it (the same text, by key) take over their old positions, only new vectors are
added, and positions no row holds any more are dead (never returned). `graph_rows.npy` maps
each position to its row (-1: dead) and `graph_keys.npy` holds each position's key. When dead
positions would pass MAX_DEAD of the graph, it is built afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

if TYPE_CHECKING:
    from kb.search.filters import Filters

# Filters allowing fewer passages than this are searched exactly over just those rows.
SMALL_SUBSET = 4096
# HNSW graph parameters, measured against exact search by benchmarks/bench_dense.py on 71k
# real vectors: with efConstruction 200 (80 before) and efSearch 256, recall@10 0.992
# unfiltered and 0.970 with a random tenth allowed, at 0.6 ms p95 against 3-12 ms exact.
HNSW_M = 32
EF_CONSTRUCTION = 200
EF_SEARCH = 256
# A reused graph is rebuilt from scratch when more than this share of its positions is dead.
MAX_DEAD = 0.25
GRAPH_ROWS = "graph_rows.npy"
GRAPH_KEYS = "graph_keys.npy"
ROW_KEYS = "keys.npy"


def text_keys(hashes: list[str]) -> np.ndarray:
    """64-bit keys (int64) of hex content hashes: what tells a vector already in a graph."""
    return np.array([int(h[:16], 16) for h in hashes], dtype=np.uint64).view(np.int64)


def build_dense(
    folder: Path,
    vectors: np.ndarray,
    hnsw_threshold: int,
    m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
    keys: np.ndarray | None = None,
    previous: Path | None = None,
) -> str:
    """Write vectors (and an HNSW graph when there are many); returns the index kind. With
    `keys` (one per row, text_keys) and the `previous` generation's folder built with the same
    model, its graph is reused when it can be ("hnsw+reused")."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "vectors.npy"
    mapped = getattr(vectors, "filename", None)  # already written there (np.memmap)
    if mapped is None or Path(mapped).resolve() != target.resolve():
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        np.save(target, vectors)
    elif isinstance(vectors, np.memmap):
        vectors.flush()
    if keys is not None:
        save_keys(folder, keys)
    if len(vectors) <= hnsw_threshold:
        return "flat"
    reuse = keys is not None and previous is not None
    if reuse and _extend_graph(folder, vectors, keys, previous, m, ef_construction):
        return "hnsw+reused"
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    faiss.write_index(index, str(folder / "hnsw.faiss"))
    if keys is not None:
        np.save(folder / GRAPH_ROWS, np.arange(len(vectors), dtype=np.int64))
        np.save(folder / GRAPH_KEYS, np.asarray(keys, dtype=np.int64))
    return "hnsw"


def save_keys(folder: Path, keys: np.ndarray) -> None:
    """Each row's key (text_keys), beside its vectors: what the next generation matches."""
    np.save(folder / ROW_KEYS, np.asarray(keys, dtype=np.int64))


def load_keys(folder: Path) -> np.ndarray | None:
    """The rows' keys of a folder, None when it has none (built before they were kept)."""
    path = folder / ROW_KEYS
    return np.load(path, mmap_mode="r") if path.is_file() else None


def _extend_graph(
    folder: Path,
    vectors: np.ndarray,
    keys: np.ndarray,
    previous: Path,
    m: int,
    ef_construction: int,
) -> bool:
    """Write a graph that is the previous one plus the vectors it lacks; False (nothing
    written) when there is none to reuse or too much of it would be dead."""
    paths = [previous / "hnsw.faiss", previous / GRAPH_ROWS, previous / GRAPH_KEYS]
    if not all(p.is_file() for p in paths):
        return False
    old_keys = np.load(paths[2])
    rows, fresh = match_keys(old_keys, np.asarray(keys, dtype=np.int64))
    positions = len(old_keys) + len(fresh)
    if (positions - len(vectors)) > MAX_DEAD * positions:
        return False
    index = faiss.read_index(str(paths[0]))
    if index.d != vectors.shape[1] or index.hnsw.nb_neighbors(1) != m:
        return False
    index.hnsw.efConstruction = ef_construction
    if len(fresh):
        index.add(np.ascontiguousarray(vectors[fresh]))
    faiss.write_index(index, str(folder / "hnsw.faiss"))
    np.save(folder / GRAPH_ROWS, np.concatenate([rows, fresh]).astype(np.int64))
    np.save(folder / GRAPH_KEYS, np.concatenate([old_keys, keys[fresh]]).astype(np.int64))
    return True


def match_keys(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair new rows with old positions of the same key, the n-th row of a key with its n-th
    position: (for each old position, the row now holding it or -1; the rows left over)."""
    old_rank, new_rank = _ranks(old), _ranks(new)
    pair = np.dtype([("key", np.int64), ("rank", np.int64)])
    a = np.empty(len(old), dtype=pair)
    a["key"], a["rank"] = old, old_rank
    b = np.empty(len(new), dtype=pair)
    b["key"], b["rank"] = new, new_rank
    _, at_old, at_new = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    rows = np.full(len(old), -1, dtype=np.int64)
    rows[at_old] = at_new
    taken = np.zeros(len(new), dtype=bool)
    taken[at_new] = True
    return rows, np.flatnonzero(~taken)


def _ranks(keys: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements have the same key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.arange(len(keys)) - np.repeat(starts, counts)
    return ranks


class DenseIndex:
    """Inner-product search, exact by default, with filters applied inside the search."""

    def __init__(
        self,
        folder: Path,
        threads: int = 1,
        ef_search: int = EF_SEARCH,
        exact_limit: int = SMALL_SUBSET,
    ) -> None:
        self.ef_search = ef_search  # HNSW: candidates kept while walking the graph
        # A filter allowing at most this many rows is searched exactly over just those rows: a
        # graph walk finds few of a selective filter's rows when they lie close together.
        self.exact_limit = max(exact_limit, SMALL_SUBSET)
        if threads:
            faiss.omp_set_num_threads(threads)
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        hnsw = folder / "hnsw.faiss"
        # Graph position -> row, when a reused graph's positions are not the rows.
        self.rows_of: np.ndarray | None = None
        self._live: tuple[np.ndarray, faiss.IDSelector] | None = None
        if hnsw.is_file():
            # The vectors inside the graph file are mapped, not read: a process's RSS holds
            # the graph's links only, and the workers of one server share the vector pages.
            flags = faiss.IO_FLAG_READ_ONLY | getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
            self.index = faiss.read_index(str(hnsw), flags)
            self.kind = "hnsw"
            rows = folder / GRAPH_ROWS
            if rows.is_file():
                found = np.load(rows)
                identity = len(found) == len(self.vectors) and bool(
                    (found == np.arange(len(found))).all()
                )
                self.rows_of = None if identity else found
            if self.rows_of is not None and (self.rows_of < 0).any():
                # Dead positions are never returned, filter or none.
                bitmap = np.packbits(self.rows_of >= 0, bitorder="little")
                self._live = (
                    bitmap,
                    faiss.IDSelectorBitmap(len(self.rows_of), faiss.swig_ptr(bitmap)),
                )
        else:
            self.index = faiss.IndexFlatIP(self.dim)
            if len(self.vectors):
                self.index.add(np.ascontiguousarray(self.vectors))
            self.kind = "flat"

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self,
        query: np.ndarray,
        allowed: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """(ordinal, cosine) best first among passages `allowed` (a boolean mask) permits
        (`filters`, those the mask was made of, are for a backend that cannot take a mask)."""
        ids, scores = self.search_arrays(query, allowed, limit)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def search_arrays(
        self, query: np.ndarray, allowed: np.ndarray | None, limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search` as (ordinals, cosines) arrays, best first."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if not len(self.vectors) or limit <= 0:
            return empty
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is not None and self.kind == "flat":
            # Every row is scored anyway in a flat index: one product, then the mask.
            scores = np.asarray(self.vectors) @ q[0]
            idx = np.flatnonzero(allowed)
            return _best(idx, scores[idx], limit)
        if allowed is not None:
            idx = np.flatnonzero(allowed)
            if len(idx) == 0:
                return empty
            if len(idx) <= self.exact_limit:
                return _best(idx, np.asarray(self.vectors[idx]) @ q[0], limit)
            if len(idx) < len(self.vectors):
                if self.rows_of is not None:  # rows -> graph positions (dead: never)
                    allowed = np.append(allowed, False)[self.rows_of]
                bitmap = np.packbits(allowed, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
                params = (
                    faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, limit))
                    if self.kind == "hnsw"
                    else faiss.SearchParameters(sel=selector)
                )
                scores, ids = self.index.search(q, min(limit, len(idx)), params=params)
                return self._rows(ids[0], scores[0])
        if self.kind != "hnsw":
            scores, ids = self.index.search(q, min(limit, len(self.vectors)))
            return self._rows(ids[0], scores[0])
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, limit))
        if self._live is not None:
            params.sel = self._live[1]
        scores, ids = self.index.search(q, min(limit, len(self.vectors)), params=params)
        return self._rows(ids[0], scores[0])

    def _rows(self, ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Found graph positions as rows (the unfilled ones, -1, left out)."""
        keep = ids >= 0
        ids, scores = ids[keep].astype(np.int64), scores[keep]
        return (ids if self.rows_of is None else self.rows_of[ids]), scores


def _best(idx: np.ndarray, scores: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The `limit` best of `scores` (for rows `idx`), best first; ties keep row order."""
    if limit < len(scores):
        part = np.argpartition(-scores, limit - 1)[:limit]
        top = part[np.lexsort((part, -scores[part]))]
    else:
        top = np.argsort(-scores, kind="stable")
    return idx[top].astype(np.int64), scores[top]
