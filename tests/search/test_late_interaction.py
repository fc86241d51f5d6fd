"""Late interaction: policy passages keep their word-piece vectors, and the top clauses are
re-scored word by word (MaxSim) against the question."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.stats import spearmanr
from tokenizers import Tokenizer

from kb.errors import IndexMismatchError
from kb.evaluation import evaluate
from kb.ingest.pipeline import ingest
from kb.layout import Generation
from kb.search.encoders import model_info
from kb.search.encoders.st import SentenceTransformerEncoder
from kb.search.hybrid import Searcher
from kb.search.late import DIM, late_text
from tests.test_corpus import CORPUS
from tests.test_impact import POLICY as POLICY_PETS
from tests.test_impact import V1

POLICY = """
# Risky acts on stream

## LIVE-RSK-1 Vehicles

### LIVE-RSK-1.1 Driving

Hosts must keep both hands free for driving and their eyes on the road.
Examples include a host reading chat aloud while waiting at traffic lights.

### LIVE-RSK-1.2 Passengers

Passengers may stream if the driver is not shown interacting with chat.

## LIVE-RSK-2 Animals

### LIVE-RSK-2.1 Provoking animals

Hosts must not provoke, chase or frighten animals for gifts or views.

### LIVE-RSK-2.2 Wild animals

Wild animals may only be shown from a safe distance and never fed on stream.
"""

GUIDANCE = """
# Vehicle streams: moderator notes

## Checking a car stream

Look at who holds the phone and whether the car moves; see LIVE-RSK-1.1.
"""

RULINGS = (
    '{"case_id": "ESC-9101", "title": "Chat at the lights", "decision_date": "2025-01-02", '
    '"surface": "live", "region": "EU", "policy_areas": ["dangerous_acts"], '
    '"clauses": ["LIVE-RSK-1.1"], "facts": "A host read chat on his phone at a red light '
    'while driving home.", "outcome": "warn", "decision": "Warning.", '
    '"rationale": "Driving needs both hands.", "status": "active"}\n'
)


@pytest.fixture
def searcher(tmp_path, settings, write):
    write("risky.md", POLICY)
    write("notes.md", "---\ntype: guidance\n---\n" + GUIDANCE)
    write("rulings.jsonl", RULINGS)
    ingest(settings, [tmp_path / "src"])
    found = Searcher(settings)
    yield found
    found.close()


def test_policy_passages_keep_their_word_pieces_and_nothing_else_does(searcher):
    late = searcher.late
    assert late is not None
    policy = []
    for ordinal, pid in enumerate(searcher.ids):
        passage = searcher.catalog.passage(pid)
        is_policy = searcher.catalog.doc_type(passage.doc_id) == "policy"
        assert late.has(ordinal) == is_policy, passage.passage_id
        if is_policy:
            policy.append((ordinal, passage))
    assert searcher.manifest.late.passages == len(policy) >= 4
    assert searcher.manifest.late.pieces == len(late.vectors)
    expected = searcher.encoder.encode_tokens([late_text(p) for _, p in policy])
    tokenizer = Tokenizer.from_file(str(searcher.settings.model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(model_info(searcher.settings).max_seq_length)
    for (ordinal, passage), want in zip(policy, expected, strict=True):
        stored = late.vectors[late.offsets[ordinal] : late.offsets[ordinal + 1]]
        # Every word piece of "heading: text" but [CLS] and [SEP], as unit vectors.
        ids = tokenizer.encode(late_text(passage)).ids
        assert ids[0] != ids[1] and len(stored) == len(want) == len(ids) - 2, passage.passage_id
        # A corpus this small keeps all dimensions (too few word pieces to fit components).
        assert np.allclose(stored, late.project(want), atol=2e-3)
        assert np.allclose(np.linalg.norm(want, axis=1), 1.0, atol=1e-4)
    assert late.vectors.shape[1] == searcher.encoder.dim


def test_one_forward_pass_gives_the_query_vector_and_its_word_pieces(searcher):
    query = "streamer texting at a red light"
    vectors, pieces = searcher.encoder.encode_with_tokens([query, "a wild fox"])
    assert np.allclose(vectors, searcher.encoder.encode([query, "a wild fox"]), atol=1e-6)
    assert np.allclose(pieces[0], searcher.encoder.encode_tokens([query])[0], atol=1e-6)
    # A search embeds its query with the query encoder (int8 for queries this long), in one
    # pass for both.
    vector, pieces = searcher.query_encoder.encode_with_tokens([query])
    assert np.allclose(searcher.query_vector(query), vector[0], atol=1e-6)
    assert np.allclose(searcher.query_pieces(query), pieces[0], atol=1e-6)


def test_both_encoders_give_the_same_word_pieces_whatever_shares_their_batch(searcher):
    info = model_info(searcher.settings)
    torch_encoder = SentenceTransformerEncoder(info)
    texts = ["a wild fox", "a host reads chat while driving past a school at night, " * 3]
    onnx_vectors, onnx_pieces = searcher.encoder.encode_with_tokens(texts)
    st_vectors, st_pieces = torch_encoder.encode_with_tokens(texts)
    assert np.allclose(onnx_vectors, st_vectors, atol=1e-3)
    for text, a, b in zip(texts, onnx_pieces, st_pieces, strict=True):
        # Its own word pieces only, not its batch's padding.
        assert a.shape == b.shape == torch_encoder.encode_tokens([text])[0].shape
        assert np.min(np.sum(a * b, axis=1)) > 0.999
    assert [len(p) for p in torch_encoder.encode_with_tokens(texts, tokens=False)[1]] == [0, 0]


def test_maxsim_is_the_mean_of_each_query_pieces_best_cosine(searcher):
    late = searcher.late
    pieces = searcher.query_pieces("fed a wild fox on stream")
    ordinals = [o for o in range(len(searcher.ids)) if late.has(o)]
    got = late.maxsim(pieces, [*ordinals, ordinals[0]])
    for ordinal, score in zip(ordinals, got, strict=False):
        theirs = late.vectors[late.offsets[ordinal] : late.offsets[ordinal + 1]]
        want = (late.project(pieces) @ theirs.T).max(axis=1).mean()
        assert score == pytest.approx(float(want), abs=1e-5)
    assert got[-1] == got[0]
    assert late.maxsim(pieces, []) == []
    assert late.maxsim(np.zeros((0, pieces.shape[1])), ordinals[:2]) == [0.0, 0.0]
    no_vectors = next(o for o in range(len(searcher.ids)) if not late.has(o))
    assert late.maxsim(pieces, [no_vectors]) == [0.0]


def test_rescoring_reorders_policy_clauses_within_their_places(searcher):
    query = "host reads his phone messages while stuck at traffic lights"
    mixed = searcher.search(query, k=10).results
    plain = Searcher(searcher.settings.replace(late_weight=0.0))
    try:
        before = plain.search(query, k=10).results
    finally:
        plain.close()
    types = [h.citation.doc_type for h in mixed]
    assert {"policy", "ruling"} <= set(types)
    # Rulings and guidance keep the places they held; policies fill the policy places.
    assert types == [h.citation.doc_type for h in before]
    for a, b in zip(mixed, before, strict=True):
        if a.citation.doc_type != "policy":
            assert a.passage.passage_id == b.passage.passage_id
    policy = [h for h in mixed if h.citation.doc_type == "policy"]
    assert {h.passage.clause_id for h in policy} == {
        h.passage.clause_id for h in before if h.citation.doc_type == "policy"
    }
    # Ordered by fused score over the first clause's plus late_weight times MaxSim.
    keys = [h.scores["rescored"] for h in policy]
    assert keys == sorted(keys, reverse=True)
    weight = searcher.settings.late_weight
    shares = [h.scores["rescored"] - weight * h.scores["late_score"] for h in policy]
    assert max(shares) == pytest.approx(1.0) and all(0 <= x <= 1.0 + 1e-9 for x in shares)
    assert policy[0].passage.clause_id == "LIVE-RSK-1.1"
    assert all("late_score" not in h.scores for h in mixed if h.citation.doc_type != "policy")
    # A clause scores as its best passage.
    ordinal = {pid: o for o, pid in enumerate(searcher.ids)}
    pieces = searcher.query_pieces(query)
    for hit in policy:
        members = [ordinal[pid] for pid in [hit.passage.passage_id, *hit.more]]
        best = max(searcher.late.maxsim(pieces, members))
        assert hit.scores["late_score"] == pytest.approx(best, abs=1e-6)
    # The page retrieves its candidates first (for facet counts): the same ranking.
    candidates = searcher.retrieve(query, k=searcher.settings.fetch_k)
    paged = searcher.search(query, k=10, candidates=candidates).results
    assert [h.passage.passage_id for h in paged] == [h.passage.passage_id for h in mixed]


def test_an_exact_id_stays_first(searcher):
    hits = searcher.search("LIVE-RSK-2.2 feeding a fox", k=5).results
    assert hits[0].passage.clause_id == "LIVE-RSK-2.2"
    assert hits[0].scores.get("exact_id") and "late_score" not in hits[0].scores
    assert any("late_score" in h.scores for h in hits[1:])  # the rest still re-scored


def test_an_index_without_word_pieces_gains_them_on_the_next_ingest(tmp_path, settings, write):
    write("risky.md", POLICY)
    off = settings.replace(late_interaction=False)
    first = ingest(off, [tmp_path / "src"])
    searcher = Searcher(off)
    assert searcher.late is None and searcher.manifest.late is None
    assert not Generation(searcher.generation).late.exists()
    searcher.close()
    assert ingest(off, [tmp_path / "src"]).generation == first.generation  # nothing to do

    second = ingest(settings, [tmp_path / "src"])
    assert second.generation != first.generation
    searcher = Searcher(settings)
    assert searcher.manifest.late.passages == 4
    searcher.close()
    assert ingest(settings, [tmp_path / "src"]).generation == second.generation


def test_a_knowledge_base_without_policies_has_an_empty_word_piece_index(tmp_path, settings, write):
    write("rulings.jsonl", RULINGS)
    report = ingest(settings, [tmp_path / "src"])
    searcher = Searcher(settings)
    try:
        assert searcher.manifest.late.passages == 0 == searcher.manifest.late.pieces
        assert searcher.search("red light phone", k=3).results
    finally:
        searcher.close()
    assert ingest(settings, [tmp_path / "src"]).generation == report.generation


def test_rescoring_lifts_clause_precision_on_the_dev_questions(corpus_settings):
    """Measured with the bundled model: dev clause MRR@10 0.743 without, 0.812 with."""
    questions = CORPUS / "eval" / "moderator"
    on = evaluate(corpus_settings, questions, split="dev", modes=("hybrid",))
    off = evaluate(
        corpus_settings.replace(late_weight=0.0), questions, split="dev", modes=("hybrid",)
    )
    with_late, without = on.metrics["hybrid"]["MRR@10"], off.metrics["hybrid"]["MRR@10"]
    assert with_late >= 0.79 and with_late >= without + 0.04, (with_late, without)


def test_the_shipped_policies_keep_their_principal_components(corpus_settings):
    """Enough word pieces to fit: DIM orthonormal components, and MaxSim in them ranks
    passages as MaxSim over the model's full vectors does."""
    searcher = Searcher(corpus_settings)
    try:
        late = searcher.late
        assert late.vectors.shape[1] == DIM < searcher.encoder.dim
        assert np.allclose(late.components @ late.components.T, np.eye(DIM), atol=1e-4)
        policy = [o for o in range(len(searcher.ids)) if late.has(o)]
        picked = np.random.default_rng(0).choice(policy, 40, replace=False).tolist()
        texts = [late_text(searcher.catalog.passage(searcher.ids[o])) for o in picked]
        full = searcher.encoder.encode_tokens(texts)
        agreement = []
        for query in (
            "strmr drunk n driving",
            "chat keeps posting a guest's phone number",
            "host juggling knives blindfolded",
        ):
            pieces = searcher.query_pieces(query)
            want = [float((pieces @ f.T).max(axis=1).mean()) for f in full]
            got = late.maxsim(pieces, picked)
            assert int(np.argmax(got)) == int(np.argmax(want)), query
            agreement.append(spearmanr(want, got).statistic)
        # Measured 0.93 (a random 128-dimension projection: 0.87).
        assert np.mean(agreement) >= 0.9, agreement
    finally:
        searcher.close()


def test_historical_versions_keep_no_word_pieces(tmp_path, settings, write):
    """Searches see them only with include_historical; the current version keeps its."""
    old = dict(V1, date="2024-01-01", status="historical")
    write("pets.v0.md", POLICY_PETS.format(**old).lstrip())
    write("pets.md", POLICY_PETS.format(**V1).lstrip())
    ingest(settings, [tmp_path / "src"])
    searcher = Searcher(settings)
    try:
        kept = {}
        for ordinal, pid in enumerate(searcher.ids):
            passage = searcher.catalog.passage(pid)
            status = searcher.catalog.version(passage.version_id).status
            kept.setdefault(status, set()).add(searcher.late.has(ordinal))
        assert kept == {"historical": {False}, "current": {True}}, kept
        hits = searcher.search(
            "feeding the dog grapes",
            k=5,
            filters=searcher.parse_filters(include_historical=True),
        ).results
        historical = [h for h in hits if h.citation.status == "historical"]
        assert historical and all("late_score" not in h.scores for h in historical)
    finally:
        searcher.close()


def test_threads_share_the_query_cache(searcher):
    """A server's threads embed queries at once, past the cache's 512 entries."""
    failures = []

    def ask(start: int) -> None:
        try:
            for i in range(start, start + 160):
                query = f"host number {i} feeds a fox"
                vector, pieces = searcher.query_vector(query), searcher.query_pieces(query)
                assert vector.shape == (searcher.encoder.dim,) and len(pieces) >= 5
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(n * 160,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert len(searcher._queries) <= 512


def test_a_damaged_word_piece_index_is_a_clear_error(searcher, settings):
    (Generation(searcher.generation).late / "projection.npz").unlink()
    with pytest.raises(IndexMismatchError, match=r"word-piece vectors .* missing or unreadable"):
        Searcher(settings)
    # Switched off, the generation still serves.
    plain = Searcher(settings.replace(late_weight=0.0))
    assert plain.late is None and plain.search("fox", k=3).results
    plain.close()
