"""The sentences the answer card may quote from a passage, and their embedding-cache keys
(the ingest embeds them ahead, the answerer reads them back)."""

from __future__ import annotations

import hashlib

from kb.ingest.tokens import SentenceSplitter

MAX_SENTENCES_PER_SOURCE = 3
# Marks a passage (by content hash) whose quotable sentences are in the embedding cache; the
# version changes whenever `quotable_sentences` picks sentences differently.
SENTENCES_TAG = "answer-sentences-1"


def quotable_sentences(text: str, splitter: SentenceSplitter) -> list[tuple[int, str]]:
    """(position, sentence) of the sentences the answer card may quote from a passage: the
    first few of its prose lines (table rows read badly as prose; the cited passage has them),
    bullets stripped, at least four words."""
    out: list[tuple[int, str]] = []
    position = 0
    for line in text.split("\n"):
        if position >= MAX_SENTENCES_PER_SOURCE:
            break
        if line.count("|") >= 2 or not line.strip():
            continue
        for s, e in splitter.spans(line):
            sentence = line[s:e].lstrip("-*• ").strip()
            if len(sentence.split()) >= 4:
                out.append((position, sentence))
            position += 1
    return out


def sentence_hash(sentence: str) -> str:
    """The embedding-cache key of a sentence (the same as a passage with that exact text)."""
    return hashlib.sha256(sentence.encode()).hexdigest()
