"""The same model exported to ONNX and run with onnxruntime: ~0.3 s to load, a few ms a query.

The export (torch.onnx, once per model, cached on disk) needs torch and transformers; running
it needs only onnxruntime, tokenizers and numpy. Vectors match sentence-transformers' to
cosine > 0.999 (a test checks it), so passages and queries may come from either.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from kb.errors import ConfigError, StorageError
from kb.search.encoders.base import ModelInfo, OnePass, normalise
from kb.storage import fix, problem

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_onnx(info: ModelInfo, target: Path) -> Path:
    """Export the model's transformer to `target` (atomically); returns `target`. StorageError
    when it is missing and cannot be written (a read-only cache)."""
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):  # fail now, not after loading torch
            pass
        return _export(info, target)
    except OSError as exc:
        found = problem(exc)
        if found is None:
            raise
        raise StorageError(
            f"the model is not exported to ONNX in {target.parent} yet, and it {found}; "
            f"{fix(found, 'KB_CACHE_DIR')} (or copy the cache folder of the machine that built "
            "the index)"
        ) from None


def _export(info: ModelInfo, target: Path) -> Path:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ConfigError(
            f"exporting the model to ONNX needs torch and transformers: {exc}"
        ) from None

    class _Wrapper(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(info.path), local_files_only=True)
    model.eval()
    sample = tuple(torch.ones(1, 8, dtype=torch.long) for _ in _INPUTS)
    axes = {name: {0: "batch", 1: "seq"} for name in (*_INPUTS, "last_hidden_state")}
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrapper(model),
            sample,
            str(tmp),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)
    return target


_SHARED: dict[tuple, OnnxEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(
    info: ModelInfo, cache_dir: Path, threads: int = 0, model_file: Path | None = None
) -> OnnxEncoder:
    """One OnnxEncoder per model file (as it is on disk) and thread count in this process:
    every searcher of a process shares its ONNX session (~130 MB with its arenas) and
    tokenizer, which are safe to use from many threads at once."""
    path = model_file or export_onnx(info, Path(cache_dir) / "onnx" / info.key / "model.onnx")
    found = Path(path).stat()
    key = (
        info.key,
        str(info.path),
        str(Path(path).resolve()),
        found.st_size,
        found.st_mtime_ns,
        threads,
    )
    with _SHARED_LOCK:
        encoder = _SHARED.get(key)
        if encoder is None:
            encoder = _SHARED[key] = OnnxEncoder(info, cache_dir, threads, model_file=Path(path))
    return encoder


class OnnxEncoder(OnePass):
    """Mean- (or CLS-) pooled, normalised embeddings from an ONNX export of the model; batches
    group texts of similar length to save padding."""

    def __init__(
        self, info: ModelInfo, cache_dir: Path, threads: int = 0, model_file: Path | None = None
    ) -> None:
        """`model_file`: another ONNX file of the same model (the int8 copy for queries)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_file or export_onnx(info, Path(cache_dir) / "onnx" / info.key / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(info.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(info.max_seq_length)
        self.tokenizer.no_padding()
        self.pooling = info.pooling
        self.name = info.name
        self.dim = info.dim

    def encode_with_tokens(
        self, texts: list[str], batch_size: int = 32, tokens: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled unit vectors and (when `tokens`) word-piece vectors, from one forward pass."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pieces: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        if not texts:
            return out, pieces
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n] = encodings[i].ids
                mask[j, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(
                None, {k: v for k, v in feeds.items() if k in self.input_names}
            )[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                m = mask[..., None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[rows] = pooled
            if tokens:
                for j, i in enumerate(rows):
                    n = len(encodings[i].ids)
                    pieces[i] = normalise(hidden[j, 1 : n - 1])
        return normalise(out), pieces
