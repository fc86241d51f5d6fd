"""Sentence-transformers encoder (torch). The only file importing sentence_transformers."""

from __future__ import annotations

import numpy as np

from kb.search.encoders.base import ModelInfo, normalise


class SentenceTransformerEncoder:
    """The reference encoder: sentence-transformers on the CPU, loaded from a local folder."""

    def __init__(self, info: ModelInfo) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(info.path), device="cpu", local_files_only=True)
        self.model.max_seq_length = info.max_seq_length
        self.name = info.name
        self.dim = info.dim

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors for `texts`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return normalise(vectors)
