"""The approximate dense index: an HNSW graph above hnsw_threshold, filters inside the walk."""

from __future__ import annotations

import numpy as np

from kb.search.dense import EF_SEARCH, SMALL_SUBSET, DenseIndex, build_dense


def _vectors(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, like passages about a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    rows = centres[rng.integers(0, 40, n)] + rng.normal(scale=0.6, size=(n, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _recall(approx: DenseIndex, exact: DenseIndex, queries, allowed) -> float:
    hits = []
    for q in queries:
        want = set(exact.search_arrays(q, allowed, 10)[0].tolist())
        got = approx.search_arrays(q, allowed, 10)[0].tolist()
        assert len(got) == 10
        if allowed is not None:
            assert all(allowed[o] for o in got)  # the filter is applied, not just ranked
        hits.append(len(want & set(got)) / 10)
    return float(np.mean(hits))


def test_hnsw_finds_what_exact_search_finds_with_and_without_filters(tmp_path):
    vectors = _vectors(12_000)
    assert build_dense(tmp_path / "flat", vectors, hnsw_threshold=len(vectors)) == "flat"
    assert build_dense(tmp_path / "hnsw", vectors, hnsw_threshold=1000) == "hnsw"
    exact, approx = DenseIndex(tmp_path / "flat"), DenseIndex(tmp_path / "hnsw")
    assert (exact.kind, approx.kind, approx.ef_search) == ("flat", "hnsw", EF_SEARCH)
    queries = _vectors(50, seed=1)
    rng = np.random.default_rng(2)
    half = rng.random(len(vectors)) < 0.5  # more than SMALL_SUBSET rows: searched in the graph
    assert half.sum() > SMALL_SUBSET
    for allowed in (None, half):
        assert _recall(approx, exact, queries, allowed) >= 0.95
    few = np.zeros(len(vectors), dtype=bool)
    few[rng.choice(len(vectors), 300, replace=False)] = True  # searched exactly
    assert _recall(approx, exact, queries, few) == 1.0

    approx.ef_search = 10  # a short walk finds less: the setting reaches the search
    assert _recall(approx, exact, queries, None) < _recall(
        DenseIndex(tmp_path / "hnsw"), exact, queries, None
    )


def test_a_filter_allowing_fewer_rows_than_the_exact_limit_is_searched_exactly(tmp_path):
    """The server passes hnsw_threshold: a selective filter's rows, close together, are where
    a graph walk misses most."""
    vectors = _vectors(12_000)
    build_dense(tmp_path / "flat", vectors, hnsw_threshold=len(vectors))
    build_dense(tmp_path / "hnsw", vectors, hnsw_threshold=1000)
    exact = DenseIndex(tmp_path / "flat")
    approx = DenseIndex(tmp_path / "hnsw", ef_search=10, exact_limit=7000)
    queries = _vectors(50, seed=1)
    half = np.random.default_rng(2).random(len(vectors)) < 0.5
    assert SMALL_SUBSET < half.sum() <= 7000
    assert _recall(approx, exact, queries, half) == 1.0  # exact, however short the walk
    assert _recall(approx, exact, queries, None) < 1.0  # unfiltered: still the graph
