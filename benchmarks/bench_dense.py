"""Exact against approximate (HNSW) dense search on real vectors: latency and recall@10
against exact search, unfiltered and filtered; where HNSW pays, and with which efSearch.

    python benchmarks/bench_dense.py DATA_DIR [DATA_DIR ...] [--sentences] [--size N]

The vectors are the passages of the indexes in DATA_DIRs (built with one model), and with
`--sentences` their sentence vectors too: every row a real text embedded by the model (SciFact,
PolicyQA and the 26 platforms' policies with their sentences make ~100k). Rows with identical
vectors are kept once (a passage repeated across versions), so that ties do not count as
misses. `--size` then grows them to N rows the way bench_scale.py grows a corpus: each extra
row a real row plus small Gaussian noise, renormalised (no longer real vectors: a stress case
of near-duplicates). Filters are real filter terms of the indexes (a sentence row has its
passage's), chosen to allow about half, a tenth and a hundredth of the rows. Queries are
bench_scale.py's 200 moderator queries, embedded with the model; one thread, as a server's
query does (`query_threads`). Recall@10: the share of the exact top 10 the approximate top 10
holds, with the same filter.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import queries

from kb.config import Settings
from kb.datadir import DataDir
from kb.layout import Generation
from kb.search.dense import EF_CONSTRUCTION, SMALL_SUBSET, DenseIndex, build_dense
from kb.search.encoders import get_encoder
from kb.search.filter_index import FilterIndex


def grown(vectors: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`vectors` grown to `size` rows (noisy copies); also each row's source row."""
    if size <= len(vectors):
        return vectors[:size], np.arange(size)
    rng = np.random.default_rng(7)
    extra = rng.integers(0, len(vectors), size - len(vectors))
    out = np.empty((size, vectors.shape[1]), dtype=np.float32)
    out[: len(vectors)] = vectors
    for start in range(0, len(extra), 100_000):
        rows = extra[start : start + 100_000]
        noise = rng.normal(0, 0.02, (len(rows), vectors.shape[1])).astype(np.float32)
        block = vectors[rows] + noise
        at = len(vectors) + start
        out[at : at + len(rows)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    source = np.concatenate([np.arange(len(vectors)), extra])
    return out, source


def load(data_dirs: list[Path], sentences: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The real vectors of `data_dirs` (distinct rows) and, per filter term, its rows."""
    blocks, terms, offset = [], [], 0
    for data_dir in data_dirs:
        files = Generation(DataDir(data_dir).current())
        filters = FilterIndex.load(files.filters)
        mine = [np.load(files.dense / "vectors.npy")]
        owners = [np.arange(len(mine[0]))]
        if sentences and (files.sentences / "vectors.npy").is_file():
            mine.append(np.load(files.sentences / "vectors.npy"))
            owners.append(np.load(files.sentences / "owners.npy"))
        rows = np.concatenate(owners)  # each row's passage ordinal in this index
        for name in filters.names:
            allowed = np.zeros(filters.size, dtype=bool)
            allowed[filters.postings(name)] = True
            terms.append((name, offset, allowed[rows]))
        blocks += mine
        offset += len(rows)
    vectors = np.concatenate(blocks)
    _, keep = np.unique(vectors, axis=0, return_index=True)
    keep = np.sort(keep)
    by_name: dict[str, np.ndarray] = {}
    for name, start, allowed in terms:
        mask = by_name.setdefault(name, np.zeros(len(vectors), dtype=bool))
        mask[start : start + len(allowed)] |= allowed
    return vectors[keep], {name: mask[keep] for name, mask in by_name.items()}


def masks(terms: dict[str, np.ndarray], source: np.ndarray) -> dict[str, np.ndarray | None]:
    """Real filter terms allowing about 1/2, 1/5 and 1/20 of the rows (each a different term,
    more rows than DenseIndex searches exactly), and random half and tenth samples."""
    n = len(source)
    out: dict[str, np.ndarray | None] = {"none": None}
    big = {k: v[source] for k, v in terms.items() if v[source].sum() > SMALL_SUBSET}
    for want in (0.5, 0.2, 0.05):
        if not big:
            break
        name = min(big, key=lambda k: abs(big[k].sum() / n - want))
        allowed = big.pop(name)
        out[f"{name} ({allowed.sum() / n:.1%})"] = allowed
    rng = np.random.default_rng(3)
    for share in (0.5, 0.1):
        out[f"random {share:.0%}"] = rng.random(n) < share
    return out


def timed(index: DenseIndex, qvecs: np.ndarray, allowed, k: int = 10):
    """(top-k ordinals per query, latencies in ms)."""
    tops, times = [], []
    for q in qvecs:
        started = time.perf_counter()
        ids, _ = index.search_arrays(q, allowed, k)
        times.append((time.perf_counter() - started) * 1000)
        tops.append(ids)
    return tops, np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", type=Path, nargs="+")
    parser.add_argument("--sentences", action="store_true", help="their sentence vectors too")
    parser.add_argument("--size", type=int, default=0, help="grow the vectors to this many rows")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", default="128,256,512", help="efSearch values to try")
    parser.add_argument("--m", type=int, default=32, help="HNSW M (links per node)")
    parser.add_argument("--ef-construction", type=int, default=EF_CONSTRUCTION)
    parser.add_argument(
        "--exact-limit",
        type=int,
        default=SMALL_SUBSET,
        help="filters allowing at most this many rows are searched exactly (the server uses "
        "hnsw_threshold)",
    )
    args = parser.parse_args()

    settings = Settings.load(data_dir=args.data_dirs[0])
    real, terms = load(args.data_dirs, args.sentences)
    vectors, source = grown(real, args.size or len(real))
    asked = queries()[: args.queries]
    qvecs = get_encoder(settings, threads=1).encode(asked)

    print(
        f"dense search over {len(vectors):,} vectors ({len(real):,} real), "
        f"{len(asked)} queries, k=10, one thread"
    )
    with tempfile.TemporaryDirectory() as tmp:
        flat_dir, hnsw_dir = Path(tmp) / "flat", Path(tmp) / "hnsw"
        build_dense(flat_dir, vectors, hnsw_threshold=len(vectors))
        started = time.perf_counter()
        build_dense(hnsw_dir, vectors, 0, m=args.m, ef_construction=args.ef_construction)
        build_s = time.perf_counter() - started
        exact = DenseIndex(flat_dir, threads=1)
        approx = DenseIndex(hnsw_dir, threads=1, exact_limit=args.exact_limit)
        print(
            f"HNSW M={args.m}, efConstruction={args.ef_construction}: built in {build_s:.1f} s; "
            f"graph file {(hnsw_dir / 'hnsw.faiss').stat().st_size / 1e6:.0f} MB\n"
        )
        print("| filter | search | p50 ms | p95 ms | p99 ms | recall@10 |")
        print("|---|---|---|---|---|---|")
        for label, allowed in masks(terms, source).items():
            truth, times = timed(exact, qvecs, allowed)
            p = np.percentile(times, [50, 95, 99])
            print(f"| {label} | exact | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | 1.000 |")
            for ef in [int(x) for x in args.ef.split(",")]:
                approx.ef_search = ef
                found, times = timed(approx, qvecs, allowed)
                recall = np.mean(
                    [
                        len(set(a.tolist()) & set(b.tolist())) / max(1, len(b))
                        for a, b in zip(found, truth, strict=True)
                    ]
                )
                p = np.percentile(times, [50, 95, 99])
                print(
                    f"| {label} | HNSW efSearch={ef} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} "
                    f"| {recall:.3f} |"
                )
    print("\ncommand: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


if __name__ == "__main__":
    main()
