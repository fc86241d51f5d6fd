"""Keyword, dense and hybrid retrieval on a small real index (real Tantivy/Whoosh, FAISS, model)."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from kb.cli import main
from kb.config import Settings
from kb.errors import QueryError
from kb.ingest.pipeline import ingest
from kb.search.hybrid import Searcher

from ..conftest import RESULT_FIELDS

FIRE_V1 = """---
id: fire
title: Fire and Fireworks
regions: [global]
surfaces: [live]
version: "1.0"
effective_from: 2024-01-01
---
# Fire and Fireworks

## LIVE-F-1 Sparklers

### LIVE-F-1.1 Sparklers near children

Sparklers may be held by children of any age when an adult is nearby.

## LIVE-F-2 Gambling on stream

### LIVE-F-2.1 Spin wheels

Hosts who spin a wheel where viewers buy slots with coins are running a lottery.
"""

FIRE_V2 = (
    FIRE_V1.replace('version: "1.0"', 'version: "2.0"')
    .replace("effective_from: 2024-01-01", "effective_from: 2025-01-01")
    .replace(
        "Sparklers may be held by children of any age when an adult is nearby.",
        "A lit sparkler must never be handed to a young child; an adult must hold it with them.",
    )
)

FILLER = """---
id: filler-{n}
title: Stream quality note {n}
regions: [US]
---
# Stream quality note {n}

## Notes

Stream stream stream: bitrate, stream keys, stream layouts and stream overlays for stream
number {n}. Keep the stream stable and the stream title short.
"""

KOREA = """---
id: korea-note
title: Regional note
regions: [KR]
---
# Regional note

## Hosting age

In this region a person must be nineteen to host a stream.
"""


# The embedded keyword engines, and PostgreSQL (keyword and dense search in the database).
BACKENDS = ["tantivy", "whoosh", "postgres"]


@pytest.fixture(scope="module")
def index(tmp_path_factory, postgres_database):
    """One small corpus ingested with each keyword backend, and with backend=postgres."""
    src = tmp_path_factory.mktemp("src")
    (src / "fire-v1.md").write_text(FIRE_V1)
    (src / "fire-v2.md").write_text(FIRE_V2)
    (src / "korea.md").write_text(KOREA)
    for n in range(30):
        (src / f"filler-{n}.md").write_text(FILLER.format(n=n))
    out = {}
    for backend in BACKENDS:
        data_dir = tmp_path_factory.mktemp(backend) / "index"
        if backend == "postgres":
            url = postgres_database("retrieval")
            settings = Settings.load(data_dir=data_dir, backend="postgres", database_url=url)
        else:
            settings = Settings.load(data_dir=data_dir, keyword_backend=backend)
        report = ingest(settings, [src])
        assert report.errors == []
        out[backend] = settings
    return src, out


@pytest.fixture(params=BACKENDS)
def searcher(request, index):
    s = Searcher(index[1][request.param])
    yield s
    s.close()


def test_stemming_and_field_boosts_find_the_clause(searcher):
    hits = searcher.search("gamble spinning wheels", k=3, mode="keyword").results
    assert hits[0].passage.clause_id == "LIVE-F-2.1"
    assert (
        "<mark>spin</mark>" in hits[0].highlighted and "<mark>wheel</mark>" in hits[0].highlighted
    )


@pytest.mark.parametrize(
    "query",
    [
        '"spin a wheel"',
        "lottery AND coins",
        "coins NOT sparkler",
        "heading:wheels",
        "streamer's kid with a sparkler",
        '"unbalanced quote about sparklers',
        "LIVE-F-2.1: wheel",
        "(wheel OR lottery",
        "+++ --- :::",
        "!!!",
    ],
)
def test_power_syntax_works_and_broken_syntax_never_errors(searcher, query):
    hits = searcher.search(query, k=5, mode="keyword").results
    if query in (
        '"spin a wheel"',
        "lottery AND coins",
        "coins NOT sparkler",
        "heading:wheels",
        "LIVE-F-2.1: wheel",
        "(wheel OR lottery",
    ):
        assert hits and hits[0].passage.clause_id == "LIVE-F-2.1", query
    if "sparkler" in query and "NOT" not in query:
        assert any(h.passage.clause_id == "LIVE-F-1.1" for h in hits), query


def test_not_excludes(searcher):
    hits = searcher.search("(coins OR sparklers) AND NOT wheel", k=10, mode="keyword").results
    assert hits and all(h.passage.clause_id != "LIVE-F-2.1" for h in hits)


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_filters_apply_before_top_k(searcher, mode):
    # 30 US filler passages outrank the Korean one on "stream"; a KR filter must still find it.
    unfiltered = searcher.search("stream", k=5, mode=mode).results
    assert all(h.passage.doc_id != "korea-note" for h in unfiltered)
    filters = searcher.parse_filters({"regions": "KR"})
    hits = searcher.search("stream", k=5, mode=mode, filters=filters).results
    ids = [h.passage.doc_id for h in hits]
    assert "korea-note" in ids
    # Region filters also match what applies everywhere (the global fire policy), never US.
    assert set(ids) <= {"korea-note", "fire"}


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_versions_current_by_default_as_of_and_history(searcher, mode):
    q = "can a toddler hold a sparkler"
    current = searcher.search(
        q, k=10, mode=mode, filters=searcher.parse_filters({"doc_id": "fire"})
    ).results
    assert {h.citation.version for h in current} == {"2.0"}
    old = searcher.search(
        q, k=10, mode=mode, filters=searcher.parse_filters({"doc_id": "fire"}, as_of="2024-06-30")
    ).results
    assert {h.citation.version for h in old} == {"1.0"}
    assert old[0].citation.status == "historical" and old[0].citation.effective_to == "2024-12-31"
    both = searcher.search(
        q,
        k=10,
        mode=mode,
        filters=searcher.parse_filters({"doc_id": "fire"}, include_historical=True),
    ).results
    assert {h.citation.version for h in both} == {"1.0", "2.0"}


def test_dense_finds_a_fact_pattern_with_no_shared_words(searcher):
    hits = searcher.search(
        "person gives a burning firework stick to a little kid", k=3, mode="dense"
    ).results
    assert hits[0].passage.clause_id == "LIVE-F-1.1"
    assert hits[0].scores["dense_rank"] == 1 and hits[0].scores["keyword_rank"] is None


def test_hybrid_results_carry_citations_and_score_breakdowns(searcher):
    hits = searcher.search("sparkler handed to a child", k=3).results
    top = hits[0]
    assert top.passage.clause_id == "LIVE-F-1.1"
    c = top.citation
    assert (c.doc_id, c.version, c.effective_from, c.status) == (
        "fire",
        "2.0",
        "2025-01-01",
        "current",
    )
    assert c.heading_path == [
        "Fire and Fireworks",
        "LIVE-F-1 Sparklers",
        "LIVE-F-1.1 Sparklers near children",
    ]
    assert c.url == f"/documents/fire?version={c.version_id}#LIVE-F-1.1"
    assert {"fused", "keyword_rank", "keyword_score", "dense_rank", "dense_score"} <= set(
        top.scores
    )
    assert top.scores["keyword_rank"] == 1 and top.scores["dense_rank"] == 1


def test_max_per_doc(searcher):
    hits = searcher.search("stream", k=5, mode="keyword", max_per_doc=1).results
    assert len({h.passage.doc_id for h in hits}) == len(hits) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be between"),
        ({"k": 101}, "k must be between"),
        ({"mode": "fuzzy"}, "unknown mode"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 1001}, "limit is 1000"),
    ],
)
def test_bad_requests_are_query_errors(searcher, kwargs, message):
    args = {"query": "sparkler", **kwargs}
    with pytest.raises(QueryError, match=message):
        searcher.search(args.pop("query"), **args)


def test_unknown_filter_lists_known_ones(searcher):
    with pytest.raises(QueryError, match=r"unknown filter 'colour'.*regions"):
        searcher.parse_filters({"colour": "red"})


def test_changed_passage_is_the_only_one_embedded_again(index, tmp_path):
    src, _ = index
    settings = Settings.load(data_dir=tmp_path / "index")
    first = ingest(settings, [src])
    assert first.embedded == 0  # every text is already in the shared cache
    # A change no earlier run embedded (the cache may be shared between runs).
    raffle = f"running a raffle called {uuid.uuid4().hex}"
    (src / "fire-v2.md").write_text(FIRE_V2.replace("running a lottery", raffle))
    try:
        report = ingest(settings, [src])
    finally:
        (src / "fire-v2.md").write_text(FIRE_V2)
    assert report.versions_added == 1 and report.embedded == 1


def test_cli_search_json_and_batch(index, tmp_path, runner):
    settings = index[1]["tantivy"]
    base = ["--data-dir", str(settings.data_dir), "search"]
    out = runner.invoke(
        main, [*base, "spin wheel coins", "-k", "2", "--json", "--filter", "type=policy"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["query"] == "spin wheel coins" and len(data["results"]) == 2
    first = data["results"][0]
    assert set(first) >= RESULT_FIELDS
    assert first["metadata"]["regions"] == ["global"] and first["rank"] == 1
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "a", "query": "sparkler", "filters": {"regions": "KR"}})
        + "\n"
        + json.dumps({"id": "b", "query": "wheel"})
        + "\n"
    )
    out = runner.invoke(main, [*base, "--queries", str(queries), "--json", "-k", "3"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[1]["results"][0]["clause_id"] == "LIVE-F-2.1"
    bad = runner.invoke(main, [*base, "x", "--filter", "colour=red"])
    assert bad.exit_code == 1 and "unknown filter 'colour'" in bad.output


def test_onnx_vectors_match_sentence_transformers(index):
    from kb.search.encoders import get_encoder

    settings = index[1]["tantivy"]
    texts = ["A lit sparkler handed to a toddler.", "Spin the wheel for coins!", "hello"]
    onnx = get_encoder(settings).encode(texts)
    torch = get_encoder(settings.replace(encoder="sentence-transformers")).encode(texts)
    assert onnx.shape == torch.shape == (3, 384)
    assert np.min(np.sum(onnx * torch, axis=1)) > 0.999


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_date_range_filters_by_document_date(searcher, mode):
    def versions(**dates):
        filters = searcher.parse_filters({"doc_id": "fire"}, include_historical=True, **dates)
        return {
            h.citation.version
            for h in searcher.search("sparkler", k=10, mode=mode, filters=filters).results
        }

    assert versions() == {"1.0", "2.0"}
    assert versions(date_from="2024-06-01") == {"2.0"}
    assert versions(date_to="2024-06-01") == {"1.0"}
    assert versions(date_from="2025-02-01") == set()
    with pytest.raises(QueryError, match="before date_from"):
        searcher.parse_filters(date_from="2025-01-01", date_to="2024-01-01")
