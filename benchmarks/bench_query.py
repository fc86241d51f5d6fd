"""In-process query latency: search (query embedding included) and the answer card.

    python benchmarks/bench_query.py [DATA_DIR] [--rounds 3]

The same 200 moderator queries as bench_scale.py, k=10. Each query's time is its best of
`--rounds` runs, so that a busy machine's stray pauses do not decide the tail; `search` forgets
the query vectors before every run (embedding is part of the figure), the answer pass keeps
them (as the search page does: it searches, then builds the card for the same question).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import queries

from kb.config import Settings
from kb.search.answer import Answerer
from kb.search.hybrid import Searcher


def main() -> None:
    """Print p50/p95 for search and answer."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?", default="index")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.load(data_dir=args.data_dir)
    searcher = Searcher(settings)
    answerer = Answerer(searcher, settings.answer_threshold)
    asked = queries()
    searcher.search(asked[0])
    answerer.answer(asked[0])

    def best_of(run, forget: bool) -> np.ndarray:
        best = np.full(len(asked), np.inf)
        for _ in range(args.rounds):
            for i, query in enumerate(asked):
                if forget:
                    searcher.forget_queries()
                started = time.perf_counter()
                run(query)
                best[i] = min(best[i], (time.perf_counter() - started) * 1000)
        return best

    print(f"| in process, {len(asked)} queries, best of {args.rounds} | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, run, forget in (
        ("search (k=10, query embedded)", lambda q: searcher.search(q, k=10), True),
        ("answer card (query vector kept)", answerer.answer, False),
    ):
        p50, p95 = np.percentile(best_of(run, forget), [50, 95])
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    print(f"\nReproduce: python benchmarks/bench_query.py {args.data_dir}")
    searcher.close()


if __name__ == "__main__":
    main()
