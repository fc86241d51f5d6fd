"""The embedding cache hands back one vector per text, in order, embedding each new text
once, whether it was cached, repeated or new."""

from __future__ import annotations

import numpy as np

from kb.search.embed_cache import EmbeddingCache


def _encoder(calls: list[list[str]]):
    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 4] = 1.0
            out[i, 3] = float(len(t))
        return out

    return encode


def test_cached_repeated_and_new_texts(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb", "model-key", 4)
    calls: list[list[str]] = []
    try:
        first, new = cache.embed(["h1", "h2"], ["a", "bb"], _encoder(calls))
        assert new == 2 and calls == [["a", "bb"]]
        hashes = ["h2", "h3", "h1", "h3", "h4", "h2"]
        texts = ["bb", "ccc", "a", "ccc", "dddd", "bb"]
        matrix, new = cache.embed(hashes, texts, _encoder(calls), chunk=1)
        assert new == 2 and calls[1:] == [["ccc"], ["dddd"]]  # each new text once
        expected = _encoder([])(texts)
        assert np.array_equal(matrix, expected)
        assert np.array_equal(matrix[2], first[0]) and np.array_equal(matrix[0], first[1])
        again, new = cache.embed(hashes, texts, _encoder(calls))
        assert new == 0 and len(calls) == 3 and np.array_equal(again, matrix)
        empty, new = cache.embed([], [], _encoder(calls))
        assert empty.shape == (0, 4) and new == 0
        # Into a given matrix, say a file mapped into memory: filled in place.
        mapped = np.lib.format.open_memmap(
            tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=(len(hashes), 4)
        )
        filled, new = cache.embed(hashes, texts, _encoder(calls), out=mapped)
        assert filled is mapped and new == 0
        mapped.flush()
        assert np.array_equal(np.load(tmp_path / "out.npy"), expected)
    finally:
        cache.close()
