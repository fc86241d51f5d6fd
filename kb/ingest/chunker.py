"""Structure-aware chunking: sections first, then blocks packed up to a word-piece budget.

Rules: a passage never crosses a heading; lists, tables and paragraphs stay whole when they fit;
a block that does not fit is split at its natural parts (list items, table rows with the header
repeated), then at sentence boundaries. Only a single sentence longer than the whole budget is
split between words, because it cannot fit anywhere.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass

from kb.ingest.tokens import SentenceSplitter, TokenCounter, word_spans
from kb.types import HEADING_SEPARATOR, PAGES, Block, ParsedDocument, Passage, Section

MIN_TEXT_BUDGET = 32


@dataclass(frozen=True)
class ChunkParams:
    """Chunking parameters, recorded in the index manifest."""

    max_tokens: int
    tokenizer: str

    def to_dict(self) -> dict:
        """JSON form for the manifest."""
        return {
            "max_tokens": self.max_tokens,
            "tokenizer": self.tokenizer,
            "method": "structure-v2",
        }


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    prefix: str = ""  # repeated table header for a row cut from its table
    prefix_tokens: int = 0


class Chunker:
    """Splits parsed documents into passages within a word-piece budget."""

    def __init__(self, counter: TokenCounter, max_tokens: int) -> None:
        self.counter = counter
        self.max_tokens = max_tokens
        self.sentences = SentenceSplitter()
        self.params = ChunkParams(max_tokens=max_tokens, tokenizer=counter.name)

    def chunk(self, doc: ParsedDocument, version_key: str) -> list[Passage]:
        """Passages of one document version, in reading order."""
        paths = [[doc.title, *s.heading_path] for s in doc.sections]
        blocks = [b for s in doc.sections for b in s.blocks]
        # One batched tokenizer call for every heading path and block of the document.
        counts = self.counter.count_many(
            [HEADING_SEPARATOR.join(p) for p in paths] + [doc.body[b.start : b.end] for b in blocks]
        )
        block_tokens = dict(zip(map(id, blocks), counts[len(paths) :], strict=True))
        passages: list[Passage] = []
        for section, path, path_tokens in zip(doc.sections, paths, counts, strict=False):
            budget = max(MIN_TEXT_BUDGET, self.max_tokens - path_tokens)
            for start, end, text in self._pack(doc.body, section, budget, block_tokens):
                passages.append(
                    self._passage(
                        doc, version_key, section, path, start, end, text, ordinal=len(passages)
                    )
                )
        return passages

    def _passage(self, doc, version_key, section: Section, path, start, end, text, ordinal):
        key = f"{doc.doc_id}\x00{version_key}\x00{ordinal}"
        passage_id = "p" + hashlib.sha1(key.encode()).hexdigest()[:15]
        p = Passage(
            passage_id=passage_id,
            doc_id=doc.doc_id,
            ordinal=ordinal,
            heading_path=path,
            anchor=section.anchor,
            clause_id=section.clause_id,
            text=text,
            start=start,
            end=end,
            content_hash="",
            metadata=dict(section.metadata),
        )
        if doc.page_starts:
            p.metadata[PAGES] = pages_of(doc.page_starts, start, end)
        p.content_hash = hashlib.sha256(p.embed_text.encode()).hexdigest()
        return p

    def _pack(self, body: str, section: Section, budget: int, block_tokens: dict[int, int]):
        current: list[_Unit] = []
        used = 0
        for block in section.blocks:
            for unit in self._units(body, block, budget, block_tokens[id(block)]):
                if current and (used + unit.tokens > budget or current[0].prefix != unit.prefix):
                    yield self._emit(body, current)
                    current = []
                if not current:
                    used = unit.prefix_tokens
                current.append(unit)
                used += unit.tokens
        if current:
            yield self._emit(body, current)

    @staticmethod
    def _emit(body: str, units: list[_Unit]) -> tuple[int, int, str]:
        start, end = units[0].start, units[-1].end
        text = body[start:end]
        if units[0].prefix:
            text = units[0].prefix + "\n" + text
        return start, end, text

    def _units(self, body: str, block: Block, budget: int, n: int) -> list[_Unit]:
        if n <= budget:
            return [_Unit(block.start, block.end, n)]
        if block.kind == "table" and len(block.parts) > 1:
            header = block.parts[0]
            header_text = body[header[0] : header[1]]
            header_tokens = self.counter.count(header_text)
            units = []
            for s, e in block.parts[1:]:
                for u in self._split_text(body, s, e, budget - header_tokens):
                    u.prefix, u.prefix_tokens = header_text, header_tokens
                    units.append(u)
            return units
        if block.kind == "list" and len(block.parts) > 1:
            units = []
            for s, e in block.parts:
                units.extend(self._split_text(body, s, e, budget))
            return units
        return self._split_text(body, block.start, block.end, budget, known=n)

    def _split_text(
        self, body: str, start: int, end: int, budget: int, known: int | None = None
    ) -> list[_Unit]:
        """The span as one unit if it fits, else its sentences (words for giant sentences).
        `known` is the span's word-piece count when the caller has it already."""
        budget = max(budget, MIN_TEXT_BUDGET // 2)
        text = body[start:end]
        n = self.counter.count(text) if known is None else known
        if n <= budget:
            return [_Unit(start, end, n)]
        units = []
        spans = self.sentences.spans(text, start)
        counts = self.counter.count_many([body[s:e] for s, e in spans])
        for (s, e), c in zip(spans, counts, strict=True):
            if c <= budget:
                units.append(_Unit(s, e, c))
            else:
                units.extend(self._split_words(body, s, e, budget))
        return units

    def _split_words(self, body: str, start: int, end: int, budget: int) -> list[_Unit]:
        words = word_spans(body[start:end], start)
        counts = self.counter.count_many([body[s:e] for s, e in words])
        units: list[_Unit] = []
        cur_start, used = None, 0
        prev_end = start
        for (s, e), c in zip(words, counts, strict=True):
            if cur_start is not None and used + c > budget:
                units.append(_Unit(cur_start, prev_end, used))
                cur_start, used = None, 0
            if cur_start is None:
                cur_start = s
            used += c
            prev_end = e
        if cur_start is not None:
            units.append(_Unit(cur_start, prev_end, used))
        return units


def pages_of(page_starts: list[int], start: int, end: int) -> list[int]:
    """The first and last page (1-based) of a body span [start, end), given the offset where
    each page starts."""
    first = max(1, bisect_right(page_starts, start))
    last = max(first, bisect_right(page_starts, max(start, end - 1)))
    return [first, last]
