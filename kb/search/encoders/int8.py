"""An int8 copy of the model for queries, used only where it embeds like the float32 model.

A moderator's query is embedded while they wait: on one core the float32 model takes ~3 ms
for a few words and ~10 ms for a long fact pattern. onnxruntime's dynamic quantisation
(weights int8 per channel, activations quantised as they come) runs it about twice as fast,
but quantising all six layers moves some vectors below cosine 0.99 of the float32 ones, which
the passages were embedded with. Keeping the first two layers in float32 keeps questions of a
few words and more within 0.99; single words still stray (down to ~0.97).

"Checked" is literal: at ingest, `check` embeds up to CHECK_PASSAGES of the knowledge base's
own passages, and their openings of 1 to 32 words, with both models and records the least
query length (in word pieces, never below MIN_TOKENS) from which every checked text stayed
at or above MIN_COSINE. The record goes into the generation (its searchers read it there, so
knowledge bases sharing a cache never read each other's) and, as a memo keyed by the model
and the texts checked, beside the model in its cache folder: an ingest that samples the same
passages again does not embed them twice. A searcher embeds queries of that length or more
with the int8 copy and shorter ones in float32; with no record (a generation built before
the record moved there, or with the setting off), all in float32. Passages, sentences and
anything stored are always embedded in float32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kb.search.encoders.base import ModelInfo, OnePass

log = logging.getLogger(__name__)

RECORD_FORMAT = 4
MIN_COSINE = 0.99
CHECK_PASSAGES = 128
# The check's texts: each sampled passage's opening words, and the whole passage.
PREFIX_WORDS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 10_000)
# Queries shorter than this many word pieces ([CLS] and [SEP] included) stay float32: single
# words stray most (a quarter of the corpus's 1,500 commonest words fall below 0.99), and
# float32 embeds them in under 3 ms anyway.
MIN_TOKENS = 8
# Layers left in float32: the first ones, whose errors every later layer would carry on.
FLOAT_LAYERS = 2
_LAYER = re.compile(r"layer\.(\d+)/")


def model_path(info: ModelInfo, cache_dir: Path) -> Path:
    """The int8 model file, beside the float32 export (one per model)."""
    return Path(cache_dir) / "onnx" / info.key / "query-int8.onnx"


def memo_path(info: ModelInfo, cache_dir: Path, sample: list[str]) -> Path:
    """Where the cache keeps the record of checking `info`'s int8 copy on `sample`."""
    digest = hashlib.sha256("\0".join(sample).encode("utf-8", "surrogatepass")).hexdigest()
    return Path(cache_dir) / "onnx" / info.key / f"query-int8-{digest[:24]}.json"


def record(path: Path, info: ModelInfo) -> dict[str, Any] | None:
    """The check record at `path` of `info`'s int8 copy, or None when there is none, it is
    unreadable, of another format or of another model."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("format") != RECORD_FORMAT:
        return None
    return found if found.get("model_key") == info.key else None


def approved(info: ModelInfo, cache_dir: Path, path: Path) -> tuple[Path, int] | None:
    """The int8 model file and the least query length (in word pieces) it may embed, when the
    check recorded at `path` (a generation's) passed; else None (queries stay float32)."""
    model = model_path(info, cache_dir)
    found = record(path, info)
    if found is None or found.get("passed") is not True or not model.is_file():
        return None
    if found.get("model_sha256") != file_hash(model):  # not the int8 copy that was checked
        return None
    least = found.get("min_tokens")
    return (model, least) if isinstance(least, int) and least >= MIN_TOKENS else None


def file_hash(path: Path) -> str:
    """SHA-256 of a file: which int8 copy a check was made on (each machine quantises its
    own, and its onnxruntime may differ from the ingest's)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def spread(items: list) -> list:
    """Up to CHECK_PASSAGES of `items`, spread evenly: what `check` checks."""
    return items[:: max(1, len(items) // CHECK_PASSAGES)][:CHECK_PASSAGES]


def check(
    info: ModelInfo, cache_dir: Path, load: Callable[[], Any], texts: list[str], out: Path
) -> dict[str, Any] | None:
    """Quantise (once) and check the int8 copy against the float32 encoder `load()` returns
    (called only when no memo of the same check is cached), on up to CHECK_PASSAGES of
    `texts` spread evenly and their openings of PREFIX_WORDS words (queries of every length,
    in the knowledge base's own words); write the record to `out` (the generation's) and the
    cache's memo, and return it. None when there are no texts or the files cannot be written
    (queries stay float32)."""
    sample = spread(texts)
    if not sample:
        return None
    memo = memo_path(info, cache_dir, sample)
    found = record(memo, info)
    model = model_path(info, cache_dir)
    try:
        if found is None or not model.is_file() or found.get("model_sha256") != file_hash(model):
            found = _check(info, cache_dir, load, sample, memo)
        _write(out, found)
    except OSError as exc:
        log.warning("queries stay float32: cannot write the int8 model's check: %s", exc)
        return None
    if not found["passed"]:
        log.warning(
            "queries stay float32: the int8 copy of %s strayed below cosine %.2f on texts of "
            "every length checked",
            info.name,
            MIN_COSINE,
        )
    return found


def _write(path: Path, found: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(found, indent=1) + "\n")
    os.replace(tmp, path)


def _check(
    info: ModelInfo, cache_dir: Path, load: Callable[[], Any], sample: list[str], memo: Path
) -> dict[str, Any]:
    """Embed the check's texts with both models; write the memo and return the record."""
    from kb.search.encoders.onnx import OnnxEncoder, export_onnx

    probes = [
        " ".join(words[:n]) if n < len(words) else text
        for text in sample
        for words in [text.split()]
        for n in PREFIX_WORDS
        if n < len(words) or n == PREFIX_WORDS[-1]
    ]
    model = model_path(info, cache_dir)
    if not model.is_file():
        _quantise(export_onnx(info, model.with_name("model.onnx")), model)
    int8 = OnnxEncoder(info, cache_dir, model_file=model)
    fp32 = load()
    vectors, pieces = fp32.encode_with_tokens(probes)
    # One at a time, as queries come: int8 activations are scaled over the whole batch.
    vectors8, pieces8 = int8.encode_with_tokens(probes, batch_size=1)
    cosines = np.sum(vectors * vectors8, axis=1)
    lengths = np.array([len(e.ids) for e in int8.tokenizer.encode_batch(probes)])
    words = np.concatenate([np.sum(a * b, axis=1) for a, b in zip(pieces, pieces8, strict=True)])
    # The shortest length from which every checked text stays within MIN_COSINE.
    strays = lengths[cosines < MIN_COSINE]
    least = max(MIN_TOKENS, int(strays.max()) + 1 if strays.size else 0)
    kept = lengths >= least
    found = {
        "format": RECORD_FORMAT,
        "model": info.name,
        "model_key": info.key,
        "model_sha256": file_hash(model),
        "float_layers": FLOAT_LAYERS,
        "passages": len(sample),
        "texts": len(probes),
        "threshold": MIN_COSINE,
        "min_tokens": least if kept.any() else None,
        "texts_from_min_tokens": int(kept.sum()),
        "min_cosine": round(float(cosines[kept].min()), 4) if kept.any() else None,
        "min_cosine_all": round(float(cosines.min()), 4),
        "word_pieces_mean_cosine": round(float(words.mean()), 4) if words.size else None,
        "passed": bool(kept.any()),
    }
    _write(memo, found)
    return found


class QueryEncoder(OnePass):
    """Queries of at least `min_tokens` word pieces through the int8 copy, shorter ones (where
    it strays most, and float32 is fast anyway) through float32."""

    def __init__(self, int8, fp32, min_tokens: int) -> None:
        self.int8, self.fp32, self.min_tokens = int8, fp32, min_tokens
        self.name, self.dim = fp32.name, fp32.dim

    def _split(self, texts: list[str]) -> np.ndarray:
        return np.array(
            [len(e.ids) >= self.min_tokens for e in self.int8.tokenizer.encode_batch(texts)],
            dtype=bool,
        )

    def encode_with_tokens(
        self, texts: list[str], batch_size: int = 32, tokens: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        quick = self._split(texts) if texts else np.zeros(0, dtype=bool)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pieces: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        # int8 one text at a time: its activations are scaled over the whole batch, so a
        # query's vector would depend on the texts beside it.
        for encoder, chosen, size in ((self.int8, quick, 1), (self.fp32, ~quick, batch_size)):
            rows = np.flatnonzero(chosen)
            if rows.size:
                vectors, found = encoder.encode_with_tokens(
                    [texts[i] for i in rows], size, tokens=tokens
                )
                out[rows] = vectors
                for i, piece in zip(rows, found, strict=True):
                    pieces[i] = piece
        return out, pieces


def _quantise(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of every MatMul but those of the first FLOAT_LAYERS layers."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [
        node.name
        for node in graph.node
        if (found := _LAYER.search(node.name)) and int(found.group(1)) < FLOAT_LAYERS
    ]
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    root = logging.getLogger()
    root.addFilter(_no_advice)  # it suggests pre-processing, through the root logger
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.removeFilter(_no_advice)
    os.replace(tmp, target)


def _no_advice(entry: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in entry.getMessage()
