"""Fusion tuning on the dev sets: retrieve each side once, then score fusion variants offline.

    python benchmarks/tune_fusion.py DATA_DIR DATASET_DIR [--split dev]

DATA_DIR must already hold the dataset's index (run `kb --data-dir DATA_DIR eval DATASET_DIR`
once); KB_TUNE_WEIGHTS=0.6,0.7 picks the dense weights to try (default 0.5 to 0.8). Prints
nDCG@10 for RRF and convex combinations with several normalisations and dense weights; the
chosen defaults are in the README with the figures behind them.
"""

from __future__ import annotations

import argparse
import os

import ir_measures
from ir_measures import nDCG

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.config import Settings
from kb.evaluation import Dataset
from kb.search import fusion
from kb.search.filters import Filters
from kb.search.hybrid import Searcher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("dataset")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    data = Dataset.load(args.dataset, args.split)
    searcher = Searcher(Settings.load(data_dir=args.data_dir))
    by_clause = data.corpus is None
    lists = {}
    for qid, (text, meta) in data.queries.items():
        pairs = dict(meta)
        if by_clause:
            pairs.setdefault("type", "policy")
        filters = Filters.parse(pairs, known_keys=searcher.filter_keys) if pairs else Filters()
        lists[qid] = {
            "keyword": searcher.keyword.search(text, filters, 100),
            "dense": searcher.dense.search(
                searcher.encoder.encode([text])[0], searcher.filters.mask(filters), 100
            ),
        }

    def unit(ordinal: int) -> str:
        p = searcher.catalog.passage(searcher.ids[ordinal])
        return (p.clause_id or p.doc_id) if by_clause else p.doc_id

    units = {o: unit(o) for q in lists.values() for side in q.values() for o, _ in side}

    def score(fuse) -> float:
        run = {}
        for qid, sides in lists.items():
            ranked = {}
            for pos, item in enumerate(fuse(sides)[:100]):
                ranked.setdefault(units[item.ordinal], 1.0 / (pos + 1))
            run[qid] = ranked
        return ir_measures.calc_aggregate([nDCG @ 10], data.qrels, run)[nDCG @ 10]

    print(
        f"{args.dataset}: keyword {score(lambda s: fusion.single('keyword', s['keyword'])):.3f}"
        f"  dense {score(lambda s: fusion.single('dense', s['dense'])):.3f}"
    )
    for w in tuple(
        float(x) for x in os.environ.get("KB_TUNE_WEIGHTS", "0.5,0.6,0.7,0.8").split(",")
    ):
        weights = {"dense": w, "keyword": 1 - w}
        rrf = score(lambda s, w=weights: fusion.rrf(s, 60, {k: 2 * v for k, v in w.items()}))
        mm = score(lambda s, w=weights: fusion.weighted(s, w))
        tmm = score(
            lambda s, w=weights: fusion.weighted(s, w, lower={"keyword": 0.0, "dense": 0.0})
        )
        z = score(lambda s, w=weights: _zscore(s, w))
        rrf10 = score(lambda s, w=weights: fusion.rrf(s, 10, {k: 2 * v for k, v in w.items()}))
        print(
            f"dense weight {w}: rrf60 {rrf:.3f}  rrf10 {rrf10:.3f}  minmax {mm:.3f}  "
            f"theoretical-min {tmm:.3f}  z-score {z:.3f}"
        )


def _zscore(lists, weights):
    import statistics

    fused = {}
    for name, hits in lists.items():
        if len(hits) < 2:
            continue
        scores = [s for _, s in hits]
        mu, sd = statistics.fmean(scores), statistics.pstdev(scores) or 1.0
        for rank, (o, s) in enumerate(hits, 1):
            item = fused.setdefault(o, fusion.Fused(o, 0.0))
            item.score += weights[name] * (s - mu) / sd
            item.parts[name] = {"rank": rank, "score": s}
    # Missing from a list: count as that list's minimum.
    return sorted(fused.values(), key=lambda f: -f.score)


if __name__ == "__main__":
    main()
