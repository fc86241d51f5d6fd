"""Dense retrieval over normalised vectors in FAISS. The only file importing faiss."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Filters allowing fewer passages than this are searched exactly over just those rows.
SMALL_SUBSET = 4096
# HNSW graph parameters, measured against exact search by benchmarks/bench_dense.py on 71k
# real vectors: with efConstruction 200 (80 before) and efSearch 256, recall@10 0.992
# unfiltered and 0.970 with a random tenth allowed, at 0.6 ms p95 against 3-12 ms exact.
HNSW_M = 32
EF_CONSTRUCTION = 200
EF_SEARCH = 256


def build_dense(
    folder: Path,
    vectors: np.ndarray,
    hnsw_threshold: int,
    m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
) -> str:
    """Write vectors (and an HNSW graph when there are many); returns the index kind."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    if len(vectors) > hnsw_threshold:
        index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(vectors)
        faiss.write_index(index, str(folder / "hnsw.faiss"))
        return "hnsw"
    return "flat"


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
        if hnsw.is_file():
            # The vectors inside the graph file are mapped, not read: a process's RSS holds
            # the graph's links only, and the workers of one server share the vector pages.
            flags = faiss.IO_FLAG_READ_ONLY | getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
            self.index = faiss.read_index(str(hnsw), flags)
            self.kind = "hnsw"
        else:
            self.index = faiss.IndexFlatIP(self.dim)
            if len(self.vectors):
                self.index.add(np.ascontiguousarray(self.vectors))
            self.kind = "flat"

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self, query: np.ndarray, allowed: np.ndarray | None, limit: int
    ) -> list[tuple[int, float]]:
        """(ordinal, cosine) best first among passages `allowed` (a boolean mask) permits."""
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
                bitmap = np.packbits(allowed, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
                params = (
                    faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, limit))
                    if self.kind == "hnsw"
                    else faiss.SearchParameters(sel=selector)
                )
                scores, ids = self.index.search(q, min(limit, len(idx)), params=params)
                keep = ids[0] >= 0
                return ids[0][keep].astype(np.int64), scores[0][keep]
        params = (
            faiss.SearchParametersHNSW(efSearch=max(self.ef_search, limit))
            if self.kind == "hnsw"
            else None
        )
        scores, ids = self.index.search(q, min(limit, len(self.vectors)), params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]


def _best(idx: np.ndarray, scores: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The `limit` best of `scores` (for rows `idx`), best first; ties keep row order."""
    if limit < len(scores):
        part = np.argpartition(-scores, limit - 1)[:limit]
        top = part[np.lexsort((part, -scores[part]))]
    else:
        top = np.argsort(-scores, kind="stable")
    return idx[top].astype(np.int64), scores[top]
