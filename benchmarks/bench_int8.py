"""Would an int8 model embed queries well enough? Cosine of int8 to float32 vectors, and time.

    python benchmarks/bench_int8.py DATA_DIR [--passages 2000]

Quantises the index's ONNX export with onnxruntime's dynamic quantisation (weights int8 per
channel, activations quantised at run time; per tensor, the cosine falls to 0.93-0.96) into a
temporary folder, then embeds bench_scale.py's 200
moderator queries and up to `--passages` of the index's passages with both models and prints
the cosine between each text's two vectors (minimum, 1st percentile, mean) and the query
time of each, one thread. int8 is worth using for queries only where its vectors stay within
cosine 0.99 of the float32 ones the passages were embedded with.
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
from kb.search.encoders import model_info
from kb.search.encoders.onnx import OnnxEncoder, export_onnx
from kb.search.hybrid import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--passages", type=int, default=2000)
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = Settings.load(data_dir=args.data_dir)
    info = model_info(settings)
    searcher = Searcher(settings, DataDir(args.data_dir).current())
    step = max(1, len(searcher.ids) // args.passages)
    passages = [searcher.catalog.passage(pid).embed_text for pid in searcher.ids[::step]]
    asked = queries()
    fp32 = OnnxEncoder(info, settings.cache_path(), threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        source = export_onnx(info, settings.cache_path() / "onnx" / info.key / "model.onnx")
        target = Path(tmp) / "onnx" / info.key / "model.onnx"
        target.parent.mkdir(parents=True)
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)
        int8 = OnnxEncoder(info, Path(tmp), threads=1)
        print(
            f"model {info.name}: float32 {source.stat().st_size / 1e6:.0f} MB, int8 "
            f"{target.stat().st_size / 1e6:.0f} MB\n"
        )
        print("| texts | n | cosine min | 1st percentile | mean | share >= 0.99 |")
        print("|---|---|---|---|---|---|")
        for name, texts in (("queries", asked), ("passages", passages)):
            cos = np.sum(fp32.encode(texts) * int8.encode(texts), axis=1)
            print(
                f"| {name} | {len(texts)} | {cos.min():.4f} | {np.percentile(cos, 1):.4f} | "
                f"{cos.mean():.4f} | {np.mean(cos >= 0.99):.1%} |"
            )
        print("\n| query encoder | p50 ms | p95 ms |")
        print("|---|---|---|")
        for name, encoder in (("float32", fp32), ("int8", int8)):
            times = []
            for text in asked:
                started = time.perf_counter()
                encoder.encode([text])
                times.append((time.perf_counter() - started) * 1000)
            p50, p95 = np.percentile(times, [50, 95])
            print(f"| {name} | {p50:.2f} | {p95:.2f} |")
    searcher.close()
    print("\ncommand: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


if __name__ == "__main__":
    main()
