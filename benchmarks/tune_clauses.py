"""Clause-ranking tuning on the moderator questions' dev split: retrieve each side once per
question, then score fusion and grouping variants offline (clause MRR@10, per kind).

    python benchmarks/tune_clauses.py DATA_DIR [--split dev]

DATA_DIR holds the shipped corpus (with the model the settings name, e.g. KB_MODEL=tuned).
Variants: the dense weight (fixed, or by query length: short queries lean on keywords, long
fact patterns on the dense side), RRF against weighted fusion, the share of a clause's
other passages in its score, (with sentence vectors) the share of the dense side given to
passages' best sentences, and (with word-piece vectors) the weight and depth of re-scoring the
top clauses word by word. Tune on dev; report the chosen defaults on test with `kb eval`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.config import Settings
from kb.evaluation import Dataset
from kb.search import fusion
from kb.search.filters import Filters
from kb.search.hybrid import Searcher

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "corpus" / "eval" / "moderator"


def main() -> None:
    """Print one line per variant, best first."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    args = parser.parse_args()
    data = Dataset.load(QUESTIONS, args.split)
    gold = {qid: set(judged) for qid, judged in data.qrels.items()}
    searcher = Searcher(Settings.load(data_dir=args.data_dir))
    policy = Filters(terms={"type": ["policy"]})
    lists = {}
    for qid in gold:
        text = data.queries[qid][0]
        spelled = searcher.speller.expand(text) if searcher.speller else text
        lists[qid] = {
            "keyword": searcher.keyword.search(spelled, policy, 100),
            "dense": searcher.dense.search(
                searcher.query_vector(text), searcher.filters.mask(policy), 100
            ),
        }
        if searcher.sentences is not None:
            lists[qid]["sentence"] = searcher.sentences.search(
                searcher.query_vector(text), searcher.filters.mask(policy), 100
            )

    def clause(ordinal: int) -> str:
        p = searcher.catalog.passage(searcher.ids[ordinal])
        return p.clause_id or p.doc_id

    def mrr(
        weight_of, kind: str, share: float, a: float = 0.0, late: tuple[float, int] = (0.0, 0)
    ) -> dict[str, float]:
        per_kind: dict[str, list[float]] = defaultdict(list)
        for qid, sides in lists.items():
            w = weight_of(data.queries[qid][0])
            weights = {"dense": w * (1 - a), "sentence": w * a, "keyword": 1 - w}
            sides = {n: v for n, v in sides.items() if weights[n] > 0}
            if kind == "rrf":
                fused = fusion.rrf(sides, 60, {n: 2 * v for n, v in weights.items()})
            else:
                fused = fusion.weighted(sides, weights)
            groups = fusion.group(fused, searcher.unit_key, share=share)
            if late[0] and searcher.late is not None:
                groups = searcher.rescore(groups, data.queries[qid][0], *late)
            rr = 0.0
            for rank, g in enumerate(groups[:10], start=1):
                c = clause(g.best.ordinal)
                if any(c == x or c.startswith(x + ".") for x in gold[qid]):
                    rr = 1.0 / rank
                    break
            per_kind[data.kinds[qid]].append(rr)
            per_kind["all"].append(rr)
        return {k: sum(v) / len(v) for k, v in per_kind.items()}

    def by_length(short: float, long: float, cut: int):
        return lambda text: short if len(text.split()) <= cut else long

    variants = {}
    if searcher.late is not None:  # re-scoring the top clauses word by word
        default = by_length(searcher.settings.dense_weight_short, searcher.settings.dense_weight, 4)
        a = searcher.settings.sentence_weight
        for weight in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0):
            for depth in (10, 20, 30):
                variants[f"defaults late_weight={weight} late_depth={depth}"] = mrr(
                    default, "weighted", 0.1, a, (weight, depth)
                )
    if searcher.sentences is not None:  # the share of the dense side given to best sentences
        for a in (0.0, 0.3, 0.5, 0.7, 1.0):
            for short, long in ((0.4, 0.7), (0.4, 0.8), (0.5, 0.8), (0.4, 0.9)):
                variants[f"weighted short<=4:{short} long:{long} sentence={a}"] = mrr(
                    by_length(short, long, 4), "weighted", 0.1, a
                )
    for kind in ("weighted", "rrf"):
        for w in (0.4, 0.5, 0.6, 0.7, 0.8):
            for share in (0.0, 0.1, 0.2):
                variants[f"{kind} w={w} share={share}"] = mrr(lambda t, w=w: w, kind, share)
        for short, long in ((0.4, 0.7), (0.5, 0.7), (0.5, 0.8), (0.4, 0.8), (0.6, 0.8)):
            for cut in (3, 4, 6):
                variants[f"{kind} short<={cut}:{short} long:{long} share=0.1"] = mrr(
                    by_length(short, long, cut), kind, 0.1
                )
    kinds = sorted({k for v in variants.values() for k in v if k != "all"})
    print(
        f"clause MRR@10 on corpus/eval/moderator ({args.split}), model "
        f"{searcher.settings.model_name()}"
    )
    print(f"{'variant':56} {'all':>6} " + " ".join(f"{k:>7}" for k in kinds))
    for name, scores in sorted(variants.items(), key=lambda kv: -kv[1]["all"])[:25]:
        print(f"{name:56} {scores['all']:6.3f} " + " ".join(f"{scores[k]:7.3f}" for k in kinds))
    print("command: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    searcher.close()


if __name__ == "__main__":
    main()
