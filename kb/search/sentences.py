"""Sentence vectors: every sentence of a policy or guidance passage, prefixed with its heading,
is a vector of its own, and a passage scores as its best sentence.

A clause's one example ("a host reading chat at traffic lights") is what a moderator's case
resembles; averaged into one passage vector with everything else the clause says, it fades.
Measured on the moderator questions' dev split, adding the best sentence's similarity to the
passage's own (half of the dense side each) raised clause MRR@10 from 0.767 to 0.797.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kb.search.dense import DenseIndex, build_dense, load_keys

MIN_WORDS = 4
# Written beside a generation's sentence vectors: a later generation takes an unchanged
# passage's sentences from it only when they were split the same way.
SPLIT_FORMAT = "1"
SPLIT_FILE = "split.txt"


def passage_sentences(heading: str, text: str, splitter) -> list[str]:
    """The texts embedded for one passage: `heading: sentence`, for sentences of at least
    MIN_WORDS words (bullets stripped)."""
    out = []
    for start, end in splitter.spans(text):
        sentence = text[start:end].lstrip("-*• ").strip()
        if len(sentence.split()) >= MIN_WORDS:
            out.append(f"{heading}: {sentence}")
    return out


def sentence_key(text: str) -> str:
    """The embedding-cache key of a sentence text."""
    return hashlib.sha256(text.encode()).hexdigest()


def build_sentences(
    folder: Path,
    owners: list[int],
    vectors: np.ndarray,
    hnsw_threshold: int,
    keys: np.ndarray | None = None,
    previous: Path | None = None,
) -> str:
    """Write the sentence vectors and, for each, the ordinal of its passage (`keys` and
    `previous`: as for build_dense)."""
    kind = build_dense(folder, vectors, hnsw_threshold, keys=keys, previous=previous)
    np.save(folder / "owners.npy", np.asarray(owners, dtype=np.int32))
    (folder / SPLIT_FILE).write_text(SPLIT_FORMAT)
    return kind


class EarlierSentences:
    """The sentence rows of the live generation, by passage id: an unchanged passage (the
    same id and content) takes its sentences, keys and vectors from there, neither split nor
    looked up again."""

    def __init__(
        self, folder: Path, keys: np.ndarray, ids: list[str], passage_keys: np.ndarray
    ) -> None:
        self.folder = folder
        self.ids = ids
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.keys = keys
        owners = np.load(folder / "owners.npy")
        self.count = len(owners)
        # Rows are written passage by passage: one passage's rows are contiguous.
        starts = np.searchsorted(owners, np.arange(len(ids)), side="left")
        ends = np.searchsorted(owners, np.arange(len(ids)), side="right")
        self.rows = {
            pid: (int(passage_keys[o]), int(starts[o]), int(ends[o])) for o, pid in enumerate(ids)
        }

    @classmethod
    def open(cls, generation, ids: list[str]) -> EarlierSentences | None:
        """The sentences of the live generation (a kb.layout.Generation, whose passage ids by
        ordinal are `ids`), or None when they cannot be reused (none, split another way, or
        written before keys were kept)."""
        folder = generation.sentences
        split = folder / SPLIT_FILE
        if not (split.is_file() and (folder / "owners.npy").is_file()):
            return None
        keys, passage_keys = load_keys(folder), load_keys(generation.dense)
        if keys is None or passage_keys is None or split.read_text() != SPLIT_FORMAT:
            return None
        if len(passage_keys) != len(ids):
            return None
        return cls(folder, keys, ids, passage_keys)

    def same_rows(
        self,
        passages: list[tuple[int, str, str]],
        ids: list[str],
        passage_keys: np.ndarray,
        hnsw_threshold: int,
    ) -> bool:
        """Whether the sentence index of `passages` (ordinal, heading, text) would be this one
        row for row: the same passages, unchanged, at the same ordinals, none gone (only other
        passages, rulings say, were added or changed), and the same kind of index. Then its
        files serve the next generation as they are."""
        if (self.folder / "hnsw.faiss").is_file() != (self.count > hnsw_threshold):
            return False
        key_of = passage_keys.tolist()
        expected = 0
        for ordinal, _, _ in passages:
            if ordinal >= len(self.ids) or self.ids[ordinal] != ids[ordinal]:
                return False
            rows = self.find(ids[ordinal], key_of[ordinal])
            if rows is None or rows[0] != expected:
                return False
            expected = rows[1]
        return expected == self.count

    def find(self, passage_id: str, key: int) -> tuple[int, int] | None:
        """The rows (start, end) of an unchanged passage's sentences, or None."""
        found = self.rows.get(passage_id)
        return found[1:] if found is not None and found[0] == key else None


# Sentences fetched per passage wanted.
SENTENCES_PER_PASSAGE = 2


class SentenceIndex:
    """Passages ranked by their best sentence."""

    def __init__(self, folder: Path, threads: int = 1, exact_limit: int = 0) -> None:
        self.index = DenseIndex(folder, threads=threads, exact_limit=exact_limit)
        self.owners = np.load(folder / "owners.npy")

    def search(
        self, query: np.ndarray, allowed: np.ndarray | None, limit: int
    ) -> list[tuple[int, float]]:
        """(passage ordinal, best sentence cosine), best first, among passages `allowed`."""
        mask = None if allowed is None else allowed[self.owners]
        # Several sentences of one passage may come first: fetch more than `limit` sentences.
        # Twice as many (four times before) gave the same dev figures and a graph walk within
        # efSearch 256 (400 before: 3.5 million sentences at 1M passages, 7 ms a search).
        rows, scores = self.index.search_arrays(query, mask, limit * SENTENCES_PER_PASSAGE)
        owners = self.owners[rows]
        _, first = np.unique(owners, return_index=True)  # each passage's best sentence
        first = np.sort(first)[:limit]  # rows come best first
        return list(zip(owners[first].tolist(), scores[first].tolist(), strict=True))
