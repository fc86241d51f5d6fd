from __future__ import annotations

import pytest

from kb.search.fusion import rrf, single, weighted


def test_rrf_sums_reciprocal_ranks_and_keeps_the_breakdown():
    fused = rrf({"keyword": [(1, 12.0), (2, 9.0)], "dense": [(2, 0.8), (3, 0.7)]}, k=60)
    assert [f.ordinal for f in fused] == [2, 1, 3]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].parts == {
        "keyword": {"rank": 2, "score": 9.0},
        "dense": {"rank": 1, "score": 0.8},
    }
    assert fused[1].score == pytest.approx(1 / 61)


def test_rrf_weights_favour_one_side():
    lists = {"keyword": [(1, 5.0)], "dense": [(2, 0.9)]}
    assert rrf(lists, weights={"keyword": 0.4, "dense": 1.6})[0].ordinal == 2
    assert rrf(lists, weights={"keyword": 1.6, "dense": 0.4})[0].ordinal == 1


def test_weighted_fusion_normalises_scores_never_adds_raw_ones():
    # Raw BM25 (tens) would swamp cosine (below 1); min-max normalisation does not.
    lists = {"keyword": [(1, 40.0), (2, 10.0)], "dense": [(2, 0.9), (1, 0.1)]}
    fused = weighted(lists, {"keyword": 0.3, "dense": 0.7})
    assert [f.ordinal for f in fused] == [2, 1]
    assert fused[0].score == pytest.approx(0.7)
    assert fused[1].score == pytest.approx(0.3)


def test_single_list_keeps_ranks():
    assert [
        (f.ordinal, f.parts["dense"]["rank"]) for f in single("dense", [(4, 0.5), (9, 0.4)])
    ] == [(4, 1), (9, 2)]
