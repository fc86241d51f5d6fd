"""Does the int8 query model embed like float32, and how much faster? By query length.

    python benchmarks/bench_int8.py DATA_DIR

Runs the ingest's check (kb.search.encoders.int8) on DATA_DIR's passages if it has not run
for this model, then embeds questions the check never saw, one at a time as queries come:
bench_scale.py's 200 moderator queries and every question of the shipped evaluation sets.
Prints, per length in word pieces, the cosine of each question's int8 vector to its float32
one (minimum, mean, share >= 0.99), and the embedding time (p50/p95, one thread) of float32,
int8 throughout, and what searches use (int8 from the checked length on, float32 below).
Then the same for quantising all six layers, which the check would refuse.
"""

from __future__ import annotations

import argparse
import json
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
from kb.search.encoders import get_encoder, get_query_encoder, int8, model_info
from kb.search.encoders.onnx import OnnxEncoder
from kb.search.hybrid import Searcher

ROOT = Path(__file__).resolve().parents[1]
QUESTION_SETS = (
    "corpus/eval/queries.jsonl",
    "corpus/eval/moderator/queries.jsonl",
    "corpus/eval/holdout/queries.jsonl",
    "benchmarks/pga_questions/queries.jsonl",
    "benchmarks/pga_holdout/queries.jsonl",
)
BUCKETS = ((1, 7), (8, 15), (16, 31), (32, 10_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()

    settings = Settings.load(data_dir=args.data_dir, query_threads=1)
    info = model_info(settings)
    cache = settings.cache_path()
    fp32 = get_encoder(settings, threads=1)
    generation = DataDir(args.data_dir).current()
    searcher = Searcher(settings, generation)
    passages = [searcher.catalog.passage(pid).embed_text for pid in searcher.ids]
    searcher.close()
    out = Generation(generation).query_int8
    record = int8.check(info, cache, lambda: fp32, passages, out)
    print(f"model {info.name}; the ingest's check: {json.dumps(record)}\n")
    questions = list(dict.fromkeys(queries() + _questions()))
    lengths = np.array([len(fp32.tokenizer.encode(q).ids) for q in questions])
    exact = fp32.encode(questions)

    routed = get_query_encoder(settings, fp32, out, threads=1)
    quick = OnnxEncoder(info, cache, threads=1, model_file=int8.model_path(info, cache))
    with tempfile.TemporaryDirectory() as tmp:
        everything = Path(tmp) / "all-layers.onnx"
        source = cache / "onnx" / info.key / "model.onnx"
        floats, int8.FLOAT_LAYERS = int8.FLOAT_LAYERS, 0
        try:
            int8._quantise(source, everything)
        finally:
            int8.FLOAT_LAYERS = floats
        full = OnnxEncoder(info, cache, threads=1, model_file=everything)
        models = [("float32", fp32), (f"int8, first {floats} layers float32", quick)]
        if routed is not None:
            models.append((f"as searches use it (int8 from {routed.min_tokens} pieces)", routed))
        models.append(("int8, all layers", full))
        print(
            f"{len(questions)} questions, one at a time; cosine to float32 and time per length "
            "(word pieces)\n"
        )
        print("| model | length | n | cosine min | mean | share >= 0.99 | p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|---|---|")
        for name, encoder in models:
            vectors, times = [], []
            for text in questions:
                started = time.perf_counter()
                vectors.append(encoder.encode([text])[0])
                times.append((time.perf_counter() - started) * 1000)
            cosines = np.sum(np.array(vectors) * exact, axis=1)
            times = np.array(times)
            for low, high in (*BUCKETS, (1, 10_000)):
                chosen = (lengths >= low) & (lengths <= high)
                if not chosen.any():
                    continue
                span = "all" if (low, high) == (1, 10_000) else f"{low}-{min(high, 512)}"
                c = cosines[chosen]
                p50, p95 = np.percentile(times[chosen], [50, 95])
                print(
                    f"| {name} | {span} | {chosen.sum()} | {c.min():.4f} | {c.mean():.4f} | "
                    f"{np.mean(c >= 0.99):.1%} | {p50:.2f} | {p95:.2f} |"
                )
    print("\ncommand: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


def _questions() -> list[str]:
    found = []
    for name in QUESTION_SETS:
        path = ROOT / name
        if path.is_file():
            found += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    return found


if __name__ == "__main__":
    main()
