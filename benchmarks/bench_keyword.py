"""Keyword side alone at scale: a broad filter inside the Tantivy query vs after it.

    python benchmarks/bench_keyword.py --passages 1000000

Builds a Tantivy index (kb's own backend) of the scale benchmark's real text, split into
passages of 120 words and repeated with a copy marker up to the size asked for; 90% of the
passages are current, as in a knowledge base with some old versions. Times the benchmark's
200 moderator queries (stop words dropped as searches do, 100 hits) with the filter inside
the query and with the filter applied after the search on the mask, and checks both give the
same passages. No model, no embeddings.
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
from bench_scale import OUT, queries, real_documents

from kb.search.filter_index import FilterIndex
from kb.search.filters import FAR_FUTURE, Filters
from kb.search.keyword import IndexedPassage, get_backend
from kb.search.keyword.base import without_stop_words

BOOSTS = {"title": 0.5, "heading": 1.0, "text": 1.0}


def passages(n: int):
    real = real_documents()
    ordinal = copy = 0
    while ordinal < n:
        for d in real:
            words = d["text"].split()
            title = d["title"] + (f" (copy {copy})" if copy else "")
            for start in range(0, max(1, len(words)), 120):
                if ordinal >= n:
                    return
                yield IndexedPassage(
                    ordinal=ordinal,
                    title=title,
                    heading=title.split(" — ")[-1],
                    text=" ".join(words[start : start + 120]),
                    terms=["status=historical" if ordinal % 10 == 0 else "status=current"],
                    eff_from=20240101,
                    eff_to=FAR_FUTURE,
                )
                ordinal += 1
        copy += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = OUT / f"keyword-{args.passages}"
    shutil.rmtree(folder, ignore_errors=True)
    backend = get_backend("tantivy")
    rows = list(passages(args.passages))
    started = time.perf_counter()
    backend.build(folder, rows, BOOSTS)
    print(f"{len(rows):,} passages indexed in {time.perf_counter() - started:.0f} s")
    mask = FilterIndex.build(rows).mask(Filters())
    del rows
    index = backend.open(folder, BOOSTS)
    qs = [without_stop_words(q, index.common) for q in queries()]
    for name, allowed in (("filter inside the query", None), ("filter after the search", mask)):
        times = []
        for rep in range(2):  # the first pass warms the page cache
            for q in qs:
                t = time.perf_counter()
                index.search(q, Filters(), 100, allowed)
                if rep:
                    times.append((time.perf_counter() - t) * 1000)
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        print(f"{name}: p50 {p50:.1f} / p95 {p95:.1f} / p99 {p99:.1f} ms")
    same = sum(
        [o for o, _ in index.search(q, Filters(), 100)]
        == [o for o, _ in index.search(q, Filters(), 100, mask)]
        for q in qs
    )
    print(f"same passages in the same order: {same} of {len(qs)} queries")
    print(f"\nReproduce: python benchmarks/bench_keyword.py --passages {args.passages}")


if __name__ == "__main__":
    main()
