"""The Encoder protocol, and what every encoder reads from a sentence-transformers folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.errors import ConfigError


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dim) float32 array of unit vectors."""
        ...

    def encode_tokens(self, texts: list[str], batch_size: int = 32) -> list[np.ndarray]:
        """For each text, a (word pieces, dim) array of unit vectors, [CLS] and [SEP] left out
        (late interaction: kb.search.late)."""
        ...

    def encode_with_tokens(
        self, texts: list[str], batch_size: int = 32, tokens: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode` and `encode_tokens` from one forward pass."""
        ...


class OnePass:
    """`encode` and `encode_tokens` through the class's `encode_with_tokens`, which gives both
    from one forward pass."""

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors for `texts`."""
        return self.encode_with_tokens(texts, batch_size, tokens=False)[0]

    def encode_tokens(self, texts: list[str], batch_size: int = 32) -> list[np.ndarray]:
        """For each text, the unit vectors of its word pieces ([CLS] and [SEP] left out)."""
        return self.encode_with_tokens(texts, batch_size)[1]


@dataclass(frozen=True)
class ModelInfo:
    """What a sentence-transformers model folder says about itself."""

    path: Path
    name: str
    dim: int
    max_seq_length: int
    pooling: str  # "mean" | "cls"
    key: str  # changes whenever the model's files do; names caches

    @classmethod
    def read(cls, path: Path, name: str) -> ModelInfo:
        """Read the folder's config files; ConfigError naming what is missing."""
        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{path} is not a sentence-transformers model folder: {exc}"
            ) from None
        max_len = 256
        sbert = path / "sentence_bert_config.json"
        if sbert.is_file():
            max_len = int(json.loads(sbert.read_text()).get("max_seq_length") or max_len)
        max_len = min(max_len, int(config.get("max_position_embeddings", max_len)))
        pooling = "mean"
        pool_cfg = path / "1_Pooling" / "config.json"
        if pool_cfg.is_file():
            pool = json.loads(pool_cfg.read_text())
            if pool.get("pooling_mode_cls_token") and not pool.get("pooling_mode_mean_tokens"):
                pooling = "cls"
        dim = int(config.get("hidden_size") or config.get("dim") or 0)
        h = hashlib.sha256()
        # A tuned model has its base's files, sizes included: its card tells them apart.
        for fname in ("config.json", "tokenizer.json", "kb_tune.json"):
            if (path / fname).is_file():
                h.update((path / fname).read_bytes())
        for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
            h.update(f"{weights.name}:{weights.stat().st_size}".encode())
        key = f"{name}-{h.hexdigest()[:12]}"
        return cls(path=path, name=name, dim=dim, max_seq_length=max_len, pooling=pooling, key=key)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left as they are)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
