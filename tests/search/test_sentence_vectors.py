"""Sentence vectors: a policy passage also scores as its best sentence on the dense side."""

from __future__ import annotations

import numpy as np

from kb.ingest.pipeline import ingest
from kb.ingest.tokens import SentenceSplitter
from kb.layout import Generation
from kb.search.hybrid import Searcher
from kb.search.sentences import passage_sentences

POLICY = """
# Risky acts on stream

## LIVE-RSK-1.1 Vehicles

Hosts must keep both hands free for driving and their eyes on the road.
Passengers may stream if the driver is not shown interacting with chat.
Examples include a host reading chat aloud while waiting at traffic lights.
Parked vehicles are out of scope for this clause.

## LIVE-RSK-1.2 Animals

Hosts must not provoke, chase or frighten animals for gifts or views.
Wild animals may only be shown from a safe distance and never fed on stream.
"""

RULING_ONLY = (
    '{"case_id": "ESC-9001", "title": "Quiet stream", "decision_date": "2025-01-02", '
    '"surface": "live", "region": "EU", "policy_areas": ["other"], "clauses": ["LIVE-X-1"], '
    '"facts": "A host sat quietly for an hour and read a book aloud to viewers.", '
    '"outcome": "no_action", "decision": "No action.", "rationale": "Nothing broke a rule.", '
    '"status": "active"}\n'
)


def test_a_passage_scores_as_its_best_sentence_within_the_filter(tmp_path, settings, write):
    write("risky.md", POLICY)
    ingest(settings, [tmp_path / "src"])
    searcher = Searcher(settings)
    assert searcher.sentences is not None
    splitter = SentenceSplitter()
    by_ordinal = {}
    for ordinal, pid in enumerate(searcher.ids):
        p = searcher.catalog.passage(pid)
        by_ordinal[ordinal] = passage_sentences(p.heading_path[-1], p.text, splitter)
    assert searcher.manifest.sentences.count == sum(map(len, by_ordinal.values()))
    assert all(len(s) >= 2 for s in by_ordinal.values())

    query = "streamer looks at phone messages stopped at a red light in his car"
    vector = searcher.query_vector(query)
    ranked = searcher.sentences.search(vector, None, 10)
    assert len(ranked) == len(by_ordinal)  # one entry per passage, not per sentence
    for ordinal, score in ranked:  # each passage's score is its best sentence's cosine
        best = searcher.encoder.encode(by_ordinal[ordinal]) @ vector
        assert np.isclose(score, float(best.max()), atol=1e-4)
    first = searcher.catalog.passage(searcher.ids[ranked[0][0]])
    assert first.clause_id == "LIVE-RSK-1.1"

    allowed = np.ones(len(searcher.ids), dtype=bool)
    allowed[ranked[0][0]] = False
    assert ranked[0][0] not in dict(searcher.sentences.search(vector, allowed, 10))

    hits = searcher.search(query, k=3, mode="dense").results
    assert hits[0].passage.clause_id == "LIVE-RSK-1.1"


def test_switched_off_or_nothing_to_split_leaves_no_sentence_index(tmp_path, settings, write):
    write("risky.md", POLICY)
    off = settings.replace(sentence_vectors=False)
    ingest(off, [tmp_path / "src"])
    searcher = Searcher(off)
    assert searcher.sentences is None
    assert not Generation(searcher.generation).sentences.exists()
    assert searcher.search("animals chased for gifts", k=1).results[0].passage.clause_id == (
        "LIVE-RSK-1.2"
    )

    rulings = tmp_path / "rulings"
    rulings.mkdir()
    (rulings / "rulings.jsonl").write_text(RULING_ONLY)
    only = settings.replace(data_dir=tmp_path / "rulings-index")
    ingest(only, [rulings])  # rulings only: no policy sentences at all
    searcher = Searcher(only)
    assert searcher.sentences is None and searcher.manifest.sentences.count == 0
    assert searcher.search("host read a book aloud", k=1).results


def test_new_rulings_leave_the_sentence_index_as_it_was_and_shared(tmp_path, settings, write):
    """Rulings added (no policy or guidance passage changed): the new generation shares the
    live one's sentence files (linked, not read and written again) and searches as a fresh
    ingest does; a changed policy builds them anew."""
    from kb.datadir import DataDir

    graph = settings.replace(hnsw_threshold=0)  # a graph even for a handful of sentences
    write("risky.md", POLICY)
    ingest(graph, [tmp_path / "src"])
    datadir = DataDir(graph.data_dir)
    before = Generation(datadir.current()).sentences
    write("rulings.jsonl", RULING_ONLY)
    assert ingest(graph, [tmp_path / "src"]).versions_added == 1
    after = Generation(datadir.current()).sentences
    assert after != before
    names = sorted(p.name for p in before.iterdir())
    assert "hnsw.faiss" in names and names == sorted(p.name for p in after.iterdir())
    assert all((after / n).samefile(before / n) for n in names)

    fresh = graph.replace(data_dir=tmp_path / "fresh")
    ingest(fresh, [tmp_path / "src"])
    shared, rebuilt = Searcher(graph), Searcher(fresh)
    try:
        assert shared.ids == rebuilt.ids
        assert shared.manifest.sentences.count == rebuilt.manifest.sentences.count
        for query in ("phone at a red light", "feeding a wild fox", "book read aloud"):
            vector = shared.query_vector(query)
            a, b = (
                shared.sentences.search(vector, None, 5),
                rebuilt.sentences.search(vector, None, 5),
            )
            assert [o for o, _ in a] == [o for o, _ in b]
            assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    finally:
        shared.close()
        rebuilt.close()

    write("risky.md", POLICY.replace("Parked vehicles", "Parked cars"))
    ingest(graph, [tmp_path / "src"])
    changed = Generation(datadir.current()).sentences
    assert not (changed / "hnsw.faiss").samefile(after / "hnsw.faiss")

    # A policy gone (the passages after it move up) is no ruling: built anew, and right.
    extra = write("extra.md", "# Extra\n\n## LIVE-EXT-1 Fire\n\nHosts must not play with fire.\n")
    ingest(graph, [tmp_path / "src"])
    with_extra = Generation(datadir.current()).sentences
    extra.unlink()
    ingest(graph, [tmp_path / "src"])
    gone = Generation(datadir.current()).sentences
    assert not (gone / "owners.npy").samefile(with_extra / "owners.npy")
    searcher = Searcher(graph)
    try:
        owners = set(searcher.sentences.owners.tolist())
        clauses = {searcher.catalog.passage(searcher.ids[o]).clause_id for o in owners}
        assert "LIVE-EXT-1" not in clauses and "LIVE-RSK-1.1" in clauses
    finally:
        searcher.close()
