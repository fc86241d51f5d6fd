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

    def _rows(self, sql: str, hashes: list[str], *before: str):
        """Rows of `sql` (its `{marks}` the placeholders of `hashes`, after the `before`
        parameters) for the distinct `hashes`, a chunk at a time (SQLite caps parameters)."""
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            yield from self.db.execute(
                sql.format(marks=",".join("?" * len(chunk))), [*before, *chunk]
            )

    def _encode_missing(self, hashes, texts, found, encode, store, chunk, progress) -> int:
        """Encode the texts whose hash is not in `found` (each hash once), `chunk` at a time;
        `store` each chunk's (hash, result) pairs and add them to `found`; returns how many."""
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found and h not in missing:
                missing[h] = t
        todo = list(missing.items())
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            pairs = list(zip((h for h, _ in part), encode([t for _, t in part]), strict=True))
            store(pairs)
            found.update(pairs)
            if progress:
                progress(len(part))
        return len(todo)

    def done(self, tag: str, hashes: list[str]) -> set[str]:
        """Which of `hashes` have `tag` work recorded."""
        sql = "SELECT hash FROM done WHERE tag = ? AND hash IN ({marks})"
        return {h for (h,) in self._rows(sql, hashes, tag)}

    def mark_done(self, tag: str, hashes: list[str]) -> None:
        """Record `tag` work as done for `hashes`."""
        with self._writing():
            self.db.executemany(
                "INSERT OR IGNORE INTO done VALUES (?, ?)", [(tag, h) for h in hashes]
            )

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors among `hashes`."""
        sql = "SELECT hash, vec FROM emb WHERE hash IN ({marks})"
        return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in self._rows(sql, hashes)}

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
        out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        """Vectors for all texts (cached or newly encoded, then cached); returns (matrix,
        number newly embedded). Identical hashes are embedded once. Cached vectors go straight
        into the matrix as they are read: at millions of texts, a dictionary of them first
        would hold each vector twice, with an object's overhead apiece. `out`: the matrix to
        fill (say, a file mapped into memory) instead of a new one."""
        rows: dict[str, int | list[int]] = {}
        for i, h in enumerate(hashes):
            have = rows.setdefault(h, i)
            if have != i:  # the same text more than once
                rows[h] = [*have, i] if isinstance(have, list) else [have, i]
        matrix = np.zeros((len(hashes), self.dim), dtype=np.float32) if out is None else out
        if matrix.shape != (len(hashes), self.dim):
            raise ValueError(f"out has shape {matrix.shape}, not {(len(hashes), self.dim)}")
        found: set[str] = set()
        sql = "SELECT hash, vec FROM emb WHERE hash IN ({marks})"
        for h, blob in self._rows(sql, list(rows)):
            matrix[rows[h]] = np.frombuffer(blob, dtype=np.float32)
            found.add(h)
        missing = {h: None for h in rows if h not in found}
        fresh: dict[str, np.ndarray] = {}
        if missing:
            todo = [(h, t) for h, t in zip(hashes, texts, strict=True) if h in missing]
            new = self._encode_missing(
                [h for h, _ in todo],
                [t for _, t in todo],
                fresh,
                encode,
                self.put_many,
                chunk,
                progress,
            )
            for h, vector in fresh.items():
                matrix[rows[h]] = vector
        else:
            new = 0
        return matrix, new

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
        sql = "SELECT hash, vecs FROM pieces WHERE hash IN ({marks})"
        found = {
            h: np.frombuffer(blob, dtype=np.float16).reshape(-1, self.dim)
            for h, blob in self._rows(sql, hashes)
        }

        def encode(batch: list[str]) -> list[np.ndarray]:
            return [a.astype(np.float16) for a in encode_tokens(batch)]

        def store(pairs: list[tuple[str, np.ndarray]]) -> None:
            with self._writing():
                self.db.executemany(
                    "INSERT OR REPLACE INTO pieces VALUES (?, ?)",
                    [(h, a.tobytes()) for h, a in pairs],
                )

        new = self._encode_missing(hashes, texts, found, encode, store, chunk, progress)
        return [found[h] for h in hashes], new

    def close(self) -> None:
        """Close the file."""
        self.db.close()
