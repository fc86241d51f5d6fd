from __future__ import annotations

import pytest

from kb.config import Settings
from kb.ingest.chunker import Chunker
from kb.ingest.markdown import parse
from kb.ingest.registry import Source
from kb.ingest.tokens import SentenceSplitter, TokenCounter

from ..conftest import CORPUS

SENTENCES = [
    "The host must stop the stream when a child is placed at risk.",
    "Dr. Lee reviewed the case on 3 Mar. 2025 and agreed with the decision.",
    "Gift goals that reward danger are treated as encouragement.",
    "Viewers cheering in chat do not change who is responsible.",
    "A warning is enough for a first, low-severity breach.",
]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    settings = Settings.load()
    return TokenCounter(settings.model_path(), settings.model_name())


def _doc(text: str):
    return parse(Source(path="t.md", text=text, default_id="t")).documents[0]


def _long_doc() -> str:
    para = " ".join(SENTENCES * 4)
    items = "\n".join(f"- Item {i}: " + SENTENCES[i % 5] for i in range(20))
    rows = "\n".join(f"| R{i} | {SENTENCES[i % 5]} |" for i in range(20))
    return (
        "---\ntitle: Long policy\n---\n# Long policy\n\nShort intro.\n\n"
        f"## LIVE-X-1 Long paragraph\n\n{para}\n\n"
        f"## LIVE-X-2 Long list\n\n{items}\n\n"
        f"## LIVE-X-3 Long table\n\n| Code | Rule |\n|---|---|\n{rows}\n\n"
        "## LIVE-X-4 Short list\n\n- alpha\n- beta\n- gamma\n\n"
        "## LIVE-X-5 Giant sentence\n\n" + " ".join(["word"] * 400) + ".\n"
    )


def test_invariants_budget_sentences_headings_coverage(counter):
    budget = 64
    doc = _doc(_long_doc())
    passages = Chunker(counter, budget).chunk(doc, "v1")
    assert len(passages) > 10
    sentences = SentenceSplitter()
    giant = doc.sections[-1]
    for p in passages:
        assert p.heading_path[0] == "Long policy"
        assert counter.count(p.embed_text) <= budget, p.text
        if (
            "| Code | Rule |" in p.text
            and p.text.index("| Code | Rule |") == 0
            and p.start != doc.body.index("| Code | Rule |")
        ):
            assert p.text.endswith(doc.body[p.start : p.end])  # header repeated, rows verbatim
        else:
            assert p.text == doc.body[p.start : p.end]
    # No sentence cut: each sentence of every paragraph lies inside one passage (the giant
    # sentence, longer than the whole budget, is the one allowed exception).
    for section in doc.sections:
        if section is giant:
            continue
        for block in section.blocks:
            if block.kind == "table":
                continue  # rows, not sentences; checked below
            text = doc.body[block.start : block.end]
            for s, e in sentences.spans(text, block.start):
                assert any(p.start <= s and e <= p.end for p in passages), doc.body[s:e]
    # Every non-space character of every block lands in some passage.
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    for section in doc.sections:
        for block in section.blocks:
            header = block.parts[0] if block.kind == "table" else (0, 0)
            for i in range(block.start, block.end):
                if not doc.body[i].isspace() and not header[0] <= i < header[1]:
                    assert i in covered
    # The short list fits, so it stays whole in one passage.
    short = [p for p in passages if p.clause_id == "LIVE-X-4"]
    assert len(short) == 1 and short[0].text == "- alpha\n- beta\n- gamma"
    # Table rows that were split off repeat the header.
    table_parts = [p for p in passages if p.clause_id == "LIVE-X-3"]
    assert len(table_parts) > 1 and all(p.text.startswith("| Code | Rule |") for p in table_parts)


def test_ids_are_stable_and_depend_on_version(counter):
    doc = _doc(_long_doc())
    chunker = Chunker(counter, 64)
    a = [p.passage_id for p in chunker.chunk(doc, "v1")]
    b = [p.passage_id for p in chunker.chunk(_doc(_long_doc()), "v1")]
    c = [p.passage_id for p in chunker.chunk(doc, "v2")]
    assert a == b
    assert not set(a) & set(c)
    assert len(set(a)) == len(a)


def test_shipped_policies_fit_the_default_budget(counter):
    settings = Settings.load()
    chunker = Chunker(counter, settings.chunk_max_tokens)
    files = sorted((CORPUS / "policies").rglob("*.md"))
    if not files:
        pytest.skip("no shipped policies yet")
    for path in files:
        doc = parse(Source(path=str(path), text=path.read_text(), default_id="x")).documents[0]
        for p in chunker.chunk(doc, "v"):
            assert counter.count(p.embed_text) <= settings.chunk_max_tokens
            assert p.clause_id or p.anchor in ("top", "change-log"), (path.name, p.heading_path)
