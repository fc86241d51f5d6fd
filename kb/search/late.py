"""Late interaction: the top clauses re-scored word piece by word piece (MaxSim).

A passage's pooled vector averages everything its clause says; a moderator's case matches a
few of its words ("slurring" against "impaired", "keys" against "driving"). Keeping the
model's vector of every word piece of each policy passage (prefixed with its own heading),
a clause scores, for a question, the mean over the question's word pieces of their best
cosine to any word piece of the passage: ColBERT's MaxSim, computed with the same model that
embeds the passages, so the question's word-piece vectors come from the forward pass that
embeds it anyway.

Only the top `late_depth` clauses are re-scored (fused score over the first one's, plus
`late_weight` times the MaxSim), and they keep the places clauses held among rulings and
guidance. Measured on the moderator questions (hybrid clause MRR@10, as the search page
ranks), weight 4 over the top 20: dev 0.743 -> 0.812 and test 0.713 -> 0.808 with the bundled
model; dev 0.796 -> 0.852 and test 0.781 -> 0.842 with the model tuned on the corpus's rulings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kb.errors import IndexMismatchError
from kb.search.encoders.base import normalise
from kb.types import Passage

# Word-piece vectors are kept in this many dimensions: the corpus's own principal components
# (fitted at ingest). Measured on the moderator questions' dev split, clause MRR@10 with 128
# is within 0.002 of all 384 (64: 0.010 lower), at a third of the size and work of float32.
DIM = 128
SAMPLE = 20_000  # word pieces the projection is fitted on
FIT_MIN = 8 * DIM  # fewer word pieces than this are kept whole (too few to fit components)


def late_text(passage: Passage) -> str:
    """What a policy passage's word pieces are embedded from: its own heading and its text."""
    heading = passage.heading_path[-1] if passage.heading_path else ""
    return f"{heading}: {passage.text}" if heading else passage.text


def late_key(text: str) -> str:
    """The token-cache key of a text."""
    return "late:" + hashlib.sha256(text.encode()).hexdigest()


def build_late(folder: Path, size: int, pieces: dict[int, np.ndarray]) -> int:
    """Write the word-piece vectors of the passages in `pieces` (ordinal -> array) for an
    index of `size` passages, projected onto their first DIM principal components (fitted on
    a sample, written passage by passage: memory stays that of `pieces`); returns the number
    of word pieces stored."""
    from sklearn.decomposition import PCA

    folder.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(size + 1, dtype=np.int64)
    for ordinal, array in pieces.items():
        counts[ordinal + 1] = len(array)
    offsets = np.cumsum(counts)
    total = int(offsets[-1])
    full = next((a.shape[1] for a in pieces.values() if len(a)), 0)
    # No components: the vectors are kept whole.
    mean = np.zeros(0, dtype=np.float32)
    components = np.zeros((0, full), dtype=np.float32)
    if total >= FIT_MIN and full > DIM:
        rows = np.sort(np.random.default_rng(0).choice(total, min(total, SAMPLE), replace=False))
        owners = np.searchsorted(offsets, rows, side="right") - 1
        sample = np.stack(
            [pieces[int(o)][r - offsets[o]] for o, r in zip(owners, rows, strict=True)]
        ).astype(np.float32)
        pca = PCA(n_components=DIM, svd_solver="randomized", random_state=0).fit(sample)
        mean, components = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
    dim = len(components) if len(components) else full
    # Written in ordinal order with plain writes (a full disk is an OSError, never a fault in
    # a memory map), as one .npy file that searches memory-map.
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32))}
    header |= {"fortran_order": False, "shape": (total, dim)}
    with open(folder / "vectors.npy", "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for ordinal in sorted(pieces):
            rows = np.asarray(pieces[ordinal], dtype=np.float32)
            if len(rows):
                if len(components):
                    rows = normalise((rows - mean) @ components.T)
                out.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
    np.save(folder / "offsets.npy", offsets)
    np.savez(folder / "projection.npz", mean=mean, components=components)
    return total


class LateIndex:
    """Word-piece vectors of policy passages, memory-mapped (processes share the pages)."""

    def __init__(self, folder: Path) -> None:
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.offsets = np.load(folder / "offsets.npy")
        with np.load(folder / "projection.npz") as projection:
            self.mean = projection["mean"]
            self.components = projection["components"]

    @classmethod
    def open(cls, folder: Path) -> LateIndex:
        """The index in `folder`; IndexMismatchError when its files are missing or unreadable
        (the generation's manifest says they were written)."""
        try:
            found = cls(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(
                f"the word-piece vectors in {folder} are missing or unreadable ({exc}); "
                "re-ingest into this --data-dir to rebuild them"
            ) from None
        if len(found.offsets) < 1 or found.offsets[-1] != len(found.vectors):
            raise IndexMismatchError(
                f"the word-piece vectors in {folder} do not match their offsets"
            )
        return found

    def project(self, pieces: np.ndarray) -> np.ndarray:
        """A query's word-piece vectors (as the encoder gives them) in the stored space."""
        pieces = np.asarray(pieces, dtype=np.float32)
        if not len(self.components):  # kept whole
            return pieces
        if not len(pieces):
            return np.zeros((0, len(self.components)), dtype=np.float32)
        return normalise((pieces - self.mean) @ self.components.T)

    def has(self, ordinal: int) -> bool:
        """Whether the passage has word-piece vectors (those of policies not historical do)."""
        return 0 <= ordinal < len(self.offsets) - 1 and bool(
            self.offsets[ordinal + 1] > self.offsets[ordinal]
        )

    def maxsim(self, pieces: np.ndarray, ordinals: list[int]) -> list[float]:
        """For each passage, the mean over the query's word pieces (`pieces`, as the encoder
        gives them) of their best cosine to one of the passage's (0 for a passage without
        vectors or an empty query)."""
        query = self.project(pieces)
        if not len(query) or not ordinals:
            return [0.0] * len(ordinals)
        spans = [(int(self.offsets[o]), int(self.offsets[o + 1])) for o in ordinals]
        # One matrix product for all passages, then each passage's columns.
        sims = query @ np.concatenate([self.vectors[a:b] for a, b in spans]).T
        out, at = [], 0
        for a, b in spans:
            n = b - a
            out.append(float(sims[:, at : at + n].max(axis=1).mean()) if n else 0.0)
            at += n
        return out
