"""Extractive, cited answers: the best sentences of the best passages, verbatim, each with its
citation, plus the closest precedents; or an honest abstention.

Nothing is generated: every sentence shown is a span of a stored passage. Whether to answer is
decided by the dense similarity of the best policy or guidance passage to the question; the
threshold is calibrated on data (see `benchmarks/calibrate_abstain.py` and the README).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from kb.ingest.tokens import SentenceSplitter
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.search.quotable import SENTENCES_TAG as SENTENCES_TAG  # still importable from here
from kb.search.quotable import quotable_sentences, sentence_hash
from kb.types import AUTHORITY_TYPES, ENFORCEMENT, Enforcement, SearchHit

# Sentences that decide a case (what is not allowed, when we act, what to do) lead the card;
# background ("Adults may drink on stream where that is legal") does not.
DECIDING_RE = re.compile(
    r"\b(?:must|may not|cannot|can't|never|not allowed|prohibit\w*|forbid\w*|ban\w*|"
    r"remov\w+|end (?:the )?stream|we act|violat\w+|requir\w+|do not|don't|is not|are not|"
    r"strike|suspend\w*|escalat\w+|report\w*|take down|warn\w*|restrict\w*)\b",
    re.IGNORECASE,
)
DECIDING_BONUS = 0.08
ABSTAIN_MESSAGE = (
    "No policy passage matches this closely — consider escalating to a senior reviewer "
    "rather than guessing."
)


@dataclass
class AnswerSentence:
    """One verbatim sentence and where it comes from (index into `Answer.sources`)."""

    text: str
    source: int


@dataclass
class Answer:
    """What the answer card shows."""

    query: str
    answered: bool
    confidence: float
    threshold: float
    sentences: list[AnswerSentence] = field(default_factory=list)
    sources: list[SearchHit] = field(default_factory=list)
    precedents: list[SearchHit] = field(default_factory=list)
    message: str = ""

    def governing(self) -> dict[str, Any] | None:
        """The clause the card leads with (its first source): id, heading, document, version,
        and its default enforcement."""
        if not self.sources:
            return None
        top = self.sources[0]
        rule = top.passage.metadata.get(ENFORCEMENT)
        return {
            "clause_id": top.passage.clause_id,
            "heading": top.passage.heading_path[-1] if top.passage.heading_path else "",
            "document": top.citation.title,
            "version": top.citation.version,
            "url": top.citation.url,
            # What to do: the clause's default enforcement, when its policy states one.
            "enforcement": Enforcement.from_dict(rule).to_dict() if rule else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "query": self.query,
            "answered": self.answered,
            "confidence": round(self.confidence, 4),
            "threshold": self.threshold,
            "message": self.message,
            "governing": self.governing(),
            "sentences": [{"text": s.text, "source": s.source + 1} for s in self.sentences],
            "sources": [
                {
                    "marker": i + 1,
                    "passage_id": h.passage.passage_id,
                    "citation": h.citation.to_dict(),
                }
                for i, h in enumerate(self.sources)
            ],
            "precedents": [
                {
                    "case_id": h.metadata.get("case_id"),
                    "title": h.citation.title,
                    "outcome": h.metadata.get("outcome"),
                    "decision_date": h.metadata.get("decision_date"),
                    "status": h.metadata.get("ruling_status"),
                    "precedent_status": h.metadata.get("precedent_status"),
                    "passage_id": h.passage.passage_id,
                    "url": h.citation.url,
                }
                for h in self.precedents
            ],
        }


class Answerer:
    """Builds answers from a Searcher's results."""

    def __init__(
        self, searcher: Searcher, threshold: float, max_sources: int = 3, max_sentences: int = 4
    ) -> None:
        self.searcher = searcher
        self.threshold = threshold
        self.max_sources = max_sources
        self.max_sentences = max_sentences
        self.splitter = SentenceSplitter()
        # A passage's quotable sentences never change: split each text once per process.
        self._quotable = lru_cache(maxsize=4096)(
            lambda text: tuple(quotable_sentences(text, self.splitter))
        )
        self._cache: dict[str, np.ndarray] = {}
        self._disk = None
        self._lock = threading.Lock()

    def answer(self, query: str, filters: Filters | None = None) -> Answer:
        """The answer card for `query` within `filters`."""
        filters = filters or Filters()
        authority = _with_types(filters, list(AUTHORITY_TYPES))
        hits = self.searcher.search(query, k=self.max_sources * 2, filters=authority).results
        # The search embedded the query without the ids it pinned: one vector for all three.
        meaning = self.searcher.meaning(query, authority)
        qvec = self.searcher.query_vector(meaning)
        best = max((h.scores.get("dense_score") or 0.0 for h in hits), default=0.0)
        named = bool(hits) and bool(hits[0].scores.get("exact_id"))  # "LIVE-DNG-3.1"
        answer = Answer(
            query=query,
            answered=named or best >= self.threshold,
            confidence=1.0 if named else best,
            threshold=self.threshold,
        )
        if not answer.answered:
            answer.message = ABSTAIN_MESSAGE
            return answer
        # Policies outrank guidance as sources; within each, keep the search order.
        ordered = sorted(hits, key=lambda h: h.citation.doc_type != "policy")
        answer.sources = ordered[: self.max_sources]
        answer.sentences = self._sentences(qvec, answer.sources)
        rulings = self.searcher.search(
            query, k=3, filters=_with_types(filters, ["ruling"]), max_per_doc=1, dense_text=meaning
        )
        answer.precedents = [
            h for h in rulings.results if (h.scores.get("dense_score") or 0) >= self.threshold
        ]
        return answer

    def _sentences(self, qvec: np.ndarray, sources: list[SearchHit]) -> list[AnswerSentence]:
        """The card's sentences: the first from the governing (top) source, each chosen by
        its similarity to the question, with a lead for sentences that decide (a
        prohibition, a condition, a required action) over background; shown source by
        source, in reading order."""
        candidates = [
            (i, position, sentence)
            for i, hit in enumerate(sources)
            for position, sentence in self._quotable(hit.passage.text)
        ]
        if not candidates:
            return []
        vectors = self._vectors([c[2] for c in candidates])
        scores = vectors @ qvec + np.array(
            [DECIDING_BONUS if DECIDING_RE.search(c[2]) else 0.0 for c in candidates]
        )
        order = list(np.argsort(-scores))
        first = next((j for j in order if candidates[j][0] == 0), order[0])
        rest = [j for j in order if j != first]
        picked = [first, *rest[: self.max_sentences - 1]]
        chosen = sorted(picked, key=lambda j: (candidates[j][0], candidates[j][1]))
        return [AnswerSentence(text=candidates[j][2], source=candidates[j][0]) for j in chosen]

    def _vectors(self, sentences: list[str]) -> np.ndarray:
        """Sentence vectors: remembered in memory, else from the on-disk embedding cache (the
        ingest stores every quotable sentence there), else embedded now and stored."""
        unique = list(dict.fromkeys(sentences))
        vectors = {s: self._cache[s] for s in unique if s in self._cache}
        missing = [s for s in unique if s not in vectors]
        if missing:
            found = self._from_disk(missing)
            todo = [s for s in missing if s not in found]
            if todo:
                fresh = dict(zip(todo, self.searcher.encoder.encode(todo), strict=True))
                self._to_disk(fresh)
                found |= fresh
            for s, v in found.items():
                if len(self._cache) >= 20_000:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[s] = v
            vectors |= found
        return np.stack([vectors[s] for s in sentences])

    def _from_disk(self, sentences: list[str]) -> dict[str, np.ndarray]:
        keys = {sentence_hash(s): s for s in sentences}
        with self._lock:
            disk = self._disk_cache()
            got = disk.get_many(list(keys)) if disk is not None else {}
        return {keys[h]: v for h, v in got.items()}

    def _to_disk(self, vectors: dict[str, np.ndarray]) -> None:
        with self._lock:
            disk = self._disk_cache()
            if disk is not None and disk.writable:  # else kept in memory only
                disk.put_many([(sentence_hash(s), v) for s, v in vectors.items()])

    def _disk_cache(self):
        """The shared on-disk cache, opened on first use (call with `_lock` held)."""
        if self._disk is None and self.searcher.dense is not None:
            from kb.search.embed_cache import EmbeddingCache
            from kb.search.encoders import model_info

            settings = self.searcher.settings
            info = model_info(settings)
            self._disk = EmbeddingCache(
                settings.cache_path() / "embeddings", info.key, info.dim, threads=True
            )
        return self._disk


def _with_types(filters: Filters, types: list[str]) -> Filters:
    """The filters narrowed to document types among `types` (none left: nothing matches)."""
    wanted = [t for t in filters.terms.get("type", types) if t in types]
    return filters.with_terms(type=wanted or ["__none__"])
