"""Extractive, cited answers: the best sentences of the best passages, verbatim, each with its
citation, plus the closest precedents; or an honest abstention.

Nothing is generated: every sentence shown is a span of a stored passage. Whether to answer is
decided by the dense similarity of the best policy or guidance passage to the question; the
threshold is calibrated on data (see `benchmarks/calibrate_abstain.py` and the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.ingest.tokens import SentenceSplitter
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.types import SearchHit

MAX_SENTENCES_PER_SOURCE = 3
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

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "query": self.query,
            "answered": self.answered,
            "confidence": round(self.confidence, 4),
            "threshold": self.threshold,
            "message": self.message,
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
        self._cache: dict[str, np.ndarray] = {}

    def answer(self, query: str, filters: Filters | None = None) -> Answer:
        """The answer card for `query` within `filters`."""
        filters = filters or Filters()
        authority = _with_types(filters, ["policy", "guidance"])
        hits = self.searcher.search(query, k=self.max_sources * 2, filters=authority).results
        qvec = self.searcher.query_vector(query)
        best = max((h.scores.get("dense_score") or 0.0 for h in hits), default=0.0)
        answer = Answer(
            query=query, answered=best >= self.threshold, confidence=best, threshold=self.threshold
        )
        if not answer.answered:
            answer.message = ABSTAIN_MESSAGE
            return answer
        # Policies outrank guidance as sources; within each, keep the search order.
        ordered = sorted(hits, key=lambda h: h.citation.doc_type != "policy")
        answer.sources = ordered[: self.max_sources]
        answer.sentences = self._sentences(qvec, answer.sources)
        rulings = self.searcher.search(
            query, k=3, filters=_with_types(filters, ["ruling"]), max_per_doc=1
        )
        answer.precedents = [
            h for h in rulings.results if (h.scores.get("dense_score") or 0) >= self.threshold
        ]
        return answer

    def _sentences(self, qvec: np.ndarray, sources: list[SearchHit]) -> list[AnswerSentence]:
        candidates: list[tuple[int, int, str]] = []  # (source, position, text)
        for i, hit in enumerate(sources):
            position = 0
            for line in hit.passage.text.split("\n"):
                if position >= MAX_SENTENCES_PER_SOURCE:
                    break
                if line.count("|") >= 2 or not line.strip():
                    continue  # table rows read badly as prose; the cited passage has them
                for s, e in self.splitter.spans(line):
                    sentence = line[s:e].lstrip("-*• ").strip()
                    if len(sentence.split()) >= 4:
                        candidates.append((i, position, sentence))
                    position += 1
        if not candidates:
            return []
        vectors = self._vectors([c[2] for c in candidates])
        scores = vectors @ qvec
        chosen = sorted(
            np.argsort(-scores)[: self.max_sentences],
            key=lambda j: (candidates[j][0], candidates[j][1]),
        )
        return [AnswerSentence(text=candidates[j][2], source=candidates[j][0]) for j in chosen]

    def _vectors(self, sentences: list[str]) -> np.ndarray:
        """Sentence vectors, remembered: the same policy sentences come up again and again."""
        missing = [s for s in dict.fromkeys(sentences) if s not in self._cache]
        if missing:
            for s, v in zip(missing, self.searcher.encoder.encode(missing), strict=True):
                if len(self._cache) >= 20_000:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[s] = v
        return np.stack([self._cache[s] for s in sentences])


def _with_types(filters: Filters, types: list[str]) -> Filters:
    """The filters narrowed to document types among `types` (none left: nothing matches)."""
    wanted = [t for t in filters.terms.get("type", types) if t in types]
    return filters.with_terms(type=wanted or ["__none__"])
