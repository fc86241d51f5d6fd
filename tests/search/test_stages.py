"""Where a search's time goes: stages are exclusive, and a hybrid query is embedded beside
the keyword search without changing what it finds."""

from __future__ import annotations

import threading
import time

import pytest

from kb.search.hybrid import Searcher
from kb.search.stages import record, stage, timed


def test_stages_are_exclusive_and_only_recorded_inside_timed():
    with stage("nowhere"):  # outside timed(): nothing to record into, no error
        record("nowhere", 1.0)
    started = time.perf_counter()
    with timed() as spent:
        with stage("outer"):
            time.sleep(0.02)
            with stage("inner"):
                time.sleep(0.03)
        with stage("inner"):  # a stage run twice adds up
            time.sleep(0.01)
        worker = threading.Thread(target=record, args=("elsewhere", 5.0))
        worker.start()
        worker.join()
    total = (time.perf_counter() - started) * 1000
    assert set(spent) == {"outer", "inner"}  # another thread's context is its own
    assert spent["inner"] >= 40 and spent["outer"] >= 20
    assert spent["outer"] + spent["inner"] <= total
    with timed() as spent:
        record("elsewhere", 5.0)
    assert spent == {"elsewhere": 5.0}


def test_a_search_says_where_its_time_went(corpus_settings):
    searcher = Searcher(corpus_settings)
    try:
        searcher.search("warm up the model", k=3)
        query = "streamer drinking heavily and slurring, chat dares him to drive"
        searcher.forget_queries()
        fresh = searcher.search(query, k=5)
        spent = fresh.stages
        # Embedded on another thread while the keyword side searched, then waited for.
        assert {"keyword", "embed", "embed_wait", "dense", "fusion", "group"} <= set(spent)
        assert {"late", "hydrate", "highlight"} <= set(spent)
        inline = sum(spent.values()) - spent["embed"]
        assert 0 < inline <= fresh.took_ms + 1
        # The same results as with the query's vector already cached (nothing embedded).
        cached = searcher.search(query, k=5)
        assert "embed" not in cached.stages and "embed_wait" not in cached.stages
        assert [h.passage.passage_id for h in cached.results] == [
            h.passage.passage_id for h in fresh.results
        ]
        assert [h.score for h in cached.results] == [h.score for h in fresh.results]
        keyword = searcher.search("drunk driving", k=3, mode="keyword").stages
        assert "keyword" in keyword and not {"embed", "dense", "late"} & set(keyword)
    finally:
        searcher.close()


def test_a_graph_of_sentences_is_walked_beside_the_passages_search(tmp_path, settings, write):
    """Where the sentences form a graph (a large knowledge base), a hybrid search walks it on
    another core while this thread searches the passages: the same results as searching a
    flat index in line, its time recorded as `sentence` and the wait for it as
    `sentence_wait`."""
    from kb.ingest.pipeline import ingest

    rules = [
        "driving while reading chat",
        "juggling real knives",
        "climbing onto a balcony railing",
        "drinking a bottle of vodka",
        "holding their breath under water",
    ]
    write(
        "risky.md",
        "# Risky acts\n\n"
        + "\n\n".join(
            f"## RSK-{i}.1 Rule {i}\n\nHosts must not do risky thing number {i} on stream, "
            f"such as {rule} for gifts. Moderators end the stream when it happens."
            for i, rule in enumerate(rules, start=1)
        ),
    )
    graph = settings.replace(hnsw_threshold=0)  # graphs for a handful of passages
    flat = settings.replace(data_dir=tmp_path / "flat")
    for each in (graph, flat):
        ingest(each, [tmp_path / "src"])
    walked, inline = Searcher(graph), Searcher(flat)
    try:
        assert (walked.sentences.index.kind, inline.sentences.index.kind) == ("hnsw", "flat")
        for query in ("streamer juggles knives for roses", "vodka", "guy on a balcony"):
            a, b = walked.search(query, k=5), inline.search(query, k=5)
            assert {"sentence", "sentence_wait"} <= set(a.stages)
            assert "sentence" in b.stages and "sentence_wait" not in b.stages
            assert any(h.scores.get("sentence_rank") for h in a.results)
            assert [h.passage.passage_id for h in a.results] == [
                h.passage.passage_id for h in b.results
            ]
            for x, y in zip(a.results, b.results, strict=True):
                assert x.scores.keys() == y.scores.keys()
                assert x.score == pytest.approx(y.score, rel=1e-5)
    finally:
        walked.close()
        inline.close()
