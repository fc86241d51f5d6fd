"""Counting word pieces with the embedding model's own tokenizer, and finding sentences."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from kb.errors import ConfigError


class TokenCounter:
    """Word-piece counts as the embedding model sees them (special tokens excluded)."""

    def __init__(self, model_path: Path, name: str | None = None) -> None:
        from tokenizers import Tokenizer

        path = Path(model_path) / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(f"model folder {model_path} has no tokenizer.json")
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = name or Path(model_path).name
        self._batch = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)

    def count(self, text: str) -> int:
        """Number of word pieces in `text`."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        """Word-piece counts of many texts at once."""
        if not texts:
            return []
        return [len(e.ids) for e in self._batch(texts, add_special_tokens=False)]


class SentenceSplitter:
    """Sentence spans from pysbd's rule-based segmenter."""

    @cached_property
    def _segmenter(self):
        import pysbd

        return pysbd.Segmenter(language="en", clean=False)

    def spans(self, text: str, offset: int = 0) -> list[tuple[int, int]]:
        """(start, end) of each sentence in `text`, shifted by `offset`; whitespace trimmed."""
        spans = []
        pos = 0
        for sent in self._segmenter.segment(text):
            s = sent.strip()
            if not s:
                continue
            found = text.find(s, pos)
            if found < 0:  # segmenter altered the text; fall back to the rest as one span
                rest = text[pos:].strip()
                if rest:
                    start = text.find(rest, pos)
                    spans.append((offset + start, offset + start + len(rest)))
                return spans
            spans.append((offset + found, offset + found + len(s)))
            pos = found + len(s)
        return spans


_WORD_RE = re.compile(r"\S+")


def word_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) of every whitespace-separated word."""
    return [(offset + m.start(), offset + m.end()) for m in _WORD_RE.finditer(text)]
