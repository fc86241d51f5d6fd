"""The approximate dense index: an HNSW graph above hnsw_threshold, filters inside the walk."""

from __future__ import annotations

import numpy as np

from kb.search.dense import (
    EF_SEARCH,
    SMALL_SUBSET,
    DenseIndex,
    build_dense,
    match_keys,
    text_keys,
)


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


def _keys(n: int, start: int = 0) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int64) * 7919 + 11


def test_match_keys_pairs_equal_keys_in_order_and_leaves_the_rest():
    old = np.array([5, 9, 5, 7], dtype=np.int64)
    new = np.array([7, 5, 3, 5, 5], dtype=np.int64)
    rows, fresh = match_keys(old, new)
    # Old positions 0 and 2 (key 5) go to new rows 1 and 3; position 1 (key 9) is dead.
    assert rows.tolist() == [1, -1, 3, 0]
    assert fresh.tolist() == [2, 4]  # key 3, and a third 5
    assert text_keys(["ff" * 32, "00" * 32]).tolist() == [-1, 0]


def test_a_new_generation_extends_the_live_graph(tmp_path):
    """Rows reordered, some gone, some new: the old graph is kept, only new vectors are
    added, every result is the row it says, and the gone ones never come back."""
    vectors, keys = _vectors(10_000), _keys(10_000)
    assert build_dense(tmp_path / "v1", vectors, 1000, keys=keys) == "hnsw"
    rng = np.random.default_rng(5)
    kept = rng.permutation(10_000)[:9000]  # 1,000 gone, the rest in another order
    added = _vectors(600, seed=9)
    vectors2 = np.concatenate([vectors[kept], added])
    keys2 = np.concatenate([keys[kept], _keys(600, start=100_000)])
    order = rng.permutation(len(vectors2))
    vectors2, keys2 = vectors2[order], keys2[order]
    folder = tmp_path / "v2"
    kind = build_dense(folder, vectors2, 1000, keys=keys2, previous=tmp_path / "v1")
    assert kind == "hnsw+reused"
    assert np.load(folder / "graph_rows.npy").shape == (10_600,)  # 10,000 kept + 600 added
    build_dense(tmp_path / "exact", vectors2, hnsw_threshold=len(vectors2))
    approx, exact = DenseIndex(folder), DenseIndex(tmp_path / "exact")
    queries = _vectors(40, seed=1)
    half = rng.random(len(vectors2)) < 0.6
    assert half.sum() > SMALL_SUBSET  # searched in the graph, the filter mapped to positions
    for allowed in (None, half):
        assert _recall(approx, exact, queries, allowed) >= 0.95
        for q in queries:
            rows, scores = approx.search_arrays(q, allowed, 50)
            assert len(rows) == 50 and (rows >= 0).all()
            assert allowed is None or allowed[rows].all()
            assert np.allclose(vectors2[rows] @ q, scores, atol=1e-5)  # each row is its vector
    gone = vectors[np.setdiff1d(np.arange(10_000), kept)]
    rows, scores = approx.search_arrays(gone[0], None, 5)
    assert scores[0] < 0.999  # a vector no row holds any more is not found


def test_a_graph_mostly_dead_is_built_afresh(tmp_path):
    vectors, keys = _vectors(3000), _keys(3000)
    build_dense(tmp_path / "v1", vectors, 1000, keys=keys)
    other, other_keys = _vectors(2000, seed=3), _keys(2000, start=50_000)
    mixed = np.concatenate([vectors[:1500], other])
    mixed_keys = np.concatenate([keys[:1500], other_keys])
    kind = build_dense(tmp_path / "v2", mixed, 1000, keys=mixed_keys, previous=tmp_path / "v1")
    assert kind == "hnsw"  # 1500 of 5000 positions would be dead
    assert np.load(tmp_path / "v2" / "graph_rows.npy").tolist() == list(range(3500))
    # No keys (an index built before graphs were reused): nothing to match, built afresh.
    assert build_dense(tmp_path / "v3", vectors, 1000) == "hnsw"
    assert build_dense(tmp_path / "v4", vectors, 1000, keys=keys, previous=tmp_path / "v3") == (
        "hnsw"
    )


def _policy(n: int, extra: str = "") -> str:
    clauses = "\n\n".join(
        f"## RSK-{i}.1 Rule {i}\n\nHosts must not do risky thing number {i} on stream, "
        f"such as {topic} for gifts. Moderators end the stream when it happens."
        for i, topic in enumerate(TOPICS[:n], start=1)
    )
    return f"# Risky acts\n\n{clauses}\n{extra}"


TOPICS = [
    "driving while reading chat",
    "juggling real knives",
    "climbing onto a balcony railing",
    "drinking a bottle of vodka",
    "holding their breath under water",
    "setting fire to an aerosol",
    "eating laundry detergent pods",
    "standing on a moving train",
]


def test_a_reingest_extends_the_live_graphs_and_finds_what_a_fresh_ingest_finds(
    tmp_path, settings, write
):
    from kb.datadir import DataDir
    from kb.ingest.pipeline import ingest
    from kb.ingest.tokens import SentenceSplitter
    from kb.search.hybrid import Searcher
    from kb.search.sentences import passage_sentences

    graph = settings.replace(hnsw_threshold=0)  # a graph for a handful of passages
    aaa = write("aaa.md", "# Animals\n\n## ANI-1.1 Chasing\n\nHosts must not chase wild animals.\n")
    write("risky.md", _policy(6))
    ingest(graph, [tmp_path / "src"])
    aaa.unlink()  # its passages, first in the old graph, are gone: every other row moves
    write("risky.md", _policy(8))  # and a new version with two clauses more
    report = ingest(graph, [tmp_path / "src"])
    assert (report.versions_added, report.removed) == (1, 1)
    datadir = DataDir(graph.data_dir)
    assert datadir.manifest(datadir.current()).dense.kind == "hnsw+reused"
    fresh = graph.replace(data_dir=tmp_path / "fresh")
    ingest(fresh, [tmp_path / "src"])
    assert DataDir(fresh.data_dir).manifest(DataDir(fresh.data_dir).current()).dense.kind == (
        "hnsw"
    )
    reused, rebuilt = Searcher(graph), Searcher(fresh)
    try:
        assert reused.dense.rows_of is not None and reused.dense.rows_of[0] == -1  # dead
        # Unchanged passages' sentences were taken from the live generation: still each
        # passage's own sentences, in order.
        splitter, owners = SentenceSplitter(), reused.sentences.owners
        for ordinal in sorted(set(owners.tolist())):
            p = reused.catalog.passage(reused.ids[ordinal])
            texts = passage_sentences(p.heading_path[-1], p.text, splitter)
            rows = np.flatnonzero(owners == ordinal)
            got = np.asarray(reused.sentences.index.vectors[rows])
            assert np.allclose(got, reused.encoder.encode(texts), atol=1e-5)
        for query in ("streamer on top of a train", "washing powder capsule challenge", "a"):
            a = reused.search(query, k=5, mode="dense").results
            b = rebuilt.search(query, k=5, mode="dense").results
            assert [h.passage.clause_id for h in a] == [h.passage.clause_id for h in b]
            assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
    finally:
        reused.close()
        rebuilt.close()


def test_a_reingest_counts_the_new_passages_words_on_top_of_the_live_ones(
    tmp_path, settings, write
):
    """The speller's vocabulary is the live generation's plus what was added: the same as
    counting every indexed passage again; after a removal it is counted again."""
    import json
    from collections import Counter

    from kb.catalog import Catalog
    from kb.datadir import DataDir
    from kb.ingest.pipeline import ingest
    from kb.search.spelling import vocabulary
    from kb.types import HEADING_SEPARATOR

    def vocab() -> tuple[Counter, Counter]:
        live = DataDir(settings.data_dir).current()
        stored = Counter(json.loads((live / "vocab.json").read_text()))
        catalog = Catalog(live / "catalog.sqlite", readonly=True)
        counted = vocabulary(
            f"{v.title} {HEADING_SEPARATOR.join(p.heading_path[1:])} {p.text}"
            for p, v, _ in catalog.iter_indexable()
        )
        catalog.close()
        return stored, counted

    gone = write("gone.md", "# Gone\n\n## GN-1.1 Gone\n\nZebras are never mentioned again.\n")
    write("risky.md", _policy(3))
    ingest(settings, [tmp_path / "src"])
    write("risky.md", _policy(5, extra="\nTrampolines too.\n"))
    ingest(settings, [tmp_path / "src"])
    stored, counted = vocab()
    assert stored == counted and stored["trampolines"] == 1 and stored["zebras"] == 1
    assert stored["hosts"] == 3 + 5  # both versions' clauses: the old one stays indexed
    gone.unlink()
    ingest(settings, [tmp_path / "src"])
    stored, counted = vocab()
    assert stored == counted and "zebras" not in stored
