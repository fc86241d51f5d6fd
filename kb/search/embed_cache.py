"""Embeddings cached on disk by passage content hash, so no text is embedded twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from kb.storage import is_read_only, open_store, writing

# `done`: work done per text beyond its own vector (e.g. its answer sentences embedded).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS emb (hash TEXT PRIMARY KEY, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS done (tag TEXT, hash TEXT, PRIMARY KEY (tag, hash));
CREATE TABLE IF NOT EXISTS pieces (hash TEXT PRIMARY KEY, vecs BLOB NOT NULL);
"""


class EmbeddingCache:
    """A SQLite file of hash -> float32 vector for one model (the file name carries its key).
    On read-only media it serves what it holds and `writable` is False."""

    def __init__(self, folder: Path, model_key: str, dim: int, threads: bool = False) -> None:
        """`threads`: the caller shares this cache between threads (and serialises its calls)."""
        self.path = folder / f"{model_key}.sqlite"
        self.dim = dim
        self.db = open_store(
            self.path, _SCHEMA, wal=True, timeout=60, check_same_thread=not threads
        )
        self.writable = not is_read_only(self.db)

    def _writing(self):
        return writing(self.db, self.path, "embeddings", "KB_CACHE_DIR")

    def done(self, tag: str, hashes: list[str]) -> set[str]:
        """Which of `hashes` have `tag` work recorded."""
        found: set[str] = set()
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(
                h
                for (h,) in self.db.execute(
                    f"SELECT hash FROM done WHERE tag = ? AND hash IN ({marks})", [tag, *chunk]
                )
            )
        return found

    def mark_done(self, tag: str, hashes: list[str]) -> None:
        """Record `tag` work as done for `hashes`."""
        with self._writing():
            self.db.executemany(
                "INSERT OR IGNORE INTO done VALUES (?, ?)", [(tag, h) for h in hashes]
            )

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors among `hashes`."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for h, blob in self.db.execute(
                f"SELECT hash, vec FROM emb WHERE hash IN ({marks})", chunk
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        """Store vectors."""
        with self._writing():
            self.db.executemany(
                "INSERT OR REPLACE INTO emb VALUES (?, ?)",
                [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
            )

    def embed(
        self,
        hashes: list[str],
        texts: list[str],
        encode: Callable[[list[str]], np.ndarray],
        chunk: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Vectors for all texts (cached or newly encoded, then cached); returns (matrix,
        number newly embedded). Identical hashes are embedded once."""
        cached = self.get_many(hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in cached and h not in missing:
                missing[h] = t
        todo = list(missing.items())
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            vectors = encode([t for _, t in part])
            self.put_many([(h, v) for (h, _), v in zip(part, vectors, strict=True)])
            for (h, _), v in zip(part, vectors, strict=True):
                cached[h] = v
            if progress:
                progress(len(part))
        matrix = np.zeros((len(hashes), self.dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            matrix[i] = cached[h]
        return matrix, len(todo)

    def embed_pieces(
        self,
        hashes: list[str],
        texts: list[str],
        encode_tokens: Callable[[list[str]], list[np.ndarray]],
        chunk: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[np.ndarray], int]:
        """Word-piece vectors (float16) for all texts, cached or newly encoded (then cached);
        returns (one array per text, number newly embedded)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 900):
            part = unique[start : start + 900]
            marks = ",".join("?" * len(part))
            for h, blob in self.db.execute(
                f"SELECT hash, vecs FROM pieces WHERE hash IN ({marks})", part
            ):
                found[h] = np.frombuffer(blob, dtype=np.float16).reshape(-1, self.dim)
        missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in found}
        todo = list(missing.items())
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            arrays = [a.astype(np.float16) for a in encode_tokens([t for _, t in part])]
            with self._writing():
                self.db.executemany(
                    "INSERT OR REPLACE INTO pieces VALUES (?, ?)",
                    [(h, a.tobytes()) for (h, _), a in zip(part, arrays, strict=True)],
                )
            found.update((h, a) for (h, _), a in zip(part, arrays, strict=True))
            if progress:
                progress(len(part))
        return [found[h] for h in hashes], len(todo)

    def close(self) -> None:
        """Close the file."""
        self.db.close()
