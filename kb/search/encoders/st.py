"""Sentence-transformers encoder (torch). The only file importing sentence_transformers."""

from __future__ import annotations

import numpy as np

from kb.search.encoders.base import ModelInfo, OnePass, normalise


class SentenceTransformerEncoder(OnePass):
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

    def encode_with_tokens(
        self, texts: list[str], batch_size: int = 32, tokens: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled unit vectors and (when `tokens`) word-piece vectors, from one forward pass."""
        none = np.zeros((0, self.dim), dtype=np.float32)
        if not tokens:
            return self.encode(texts, batch_size), [none] * len(texts)
        if not texts:
            return none, []
        outputs = self.model.encode(
            texts, batch_size=batch_size, output_value=None, show_progress_bar=False
        )
        vectors = normalise(np.stack([o["sentence_embedding"].cpu().numpy() for o in outputs]))
        # Every output is padded to its batch's longest text: keep this text's own word
        # pieces, between [CLS] and [SEP].
        pieces = []
        for o in outputs:
            n = int(o["attention_mask"].sum())
            pieces.append(normalise(o["token_embeddings"][1 : n - 1].cpu().numpy()))
        return vectors, pieces
