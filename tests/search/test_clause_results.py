"""One result per clause, and exact identifiers first, on the shipped corpus and through every
entry point (Searcher, kb search, the API, the answer card)."""

from __future__ import annotations

import json

import pytest

from kb.access import MODERATOR_CLEARANCE
from kb.cli import main
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.web import create_app


@pytest.fixture(scope="module")
def searcher(corpus_settings):
    s = Searcher(corpus_settings)
    yield s
    s.close()


POLICY = Filters(terms={"type": ["policy"]})
CASE = "streamer drinking heavily and slurring, chat dares him to drive"


def test_a_clause_takes_one_place_and_lists_its_other_passages(searcher):
    by_clause = searcher.search(CASE, k=10, filters=POLICY).results
    keys = [searcher.unit_key(searcher.ids.index(h.passage.passage_id)) for h in by_clause]
    assert len(keys) == len(set(keys)) == 10
    by_passage = searcher.search(CASE, k=30, filters=POLICY, by="passage").results
    clause_ids = [h.passage.clause_id for h in by_passage]
    assert len(clause_ids) > len(set(clause_ids))  # what grouping removes: repeats
    for hit in by_clause:
        for other in hit.more:
            assert searcher.catalog.passage(other).clause_id == hit.passage.clause_id


def test_every_passage_s_unit_is_its_ruling_or_its_clause_within_its_version(searcher):
    """The generation's unit numbers partition the passages as the catalog does: one number
    per ruling, per clause (or section) of a version; a generation written before the file
    existed numbers them from the catalog the same way."""
    from kb.layout import Generation
    from kb.search.units import load_units

    names: dict[int, set] = {}
    for ordinal, passage_id in enumerate(searcher.ids):
        p = searcher.catalog.passage(passage_id)
        doc_type = searcher.catalog.document(p.doc_id).doc_type
        name = p.doc_id if doc_type == "ruling" else (p.version_id, p.clause_id or p.anchor)
        names.setdefault(searcher.unit_key(ordinal), set()).add(name)
    assert all(len(n) == 1 for n in names.values())  # one unit, one clause
    assert len({next(iter(n)) for n in names.values()}) == len(names)  # one clause, one unit

    class Older(Generation):
        units = Generation(searcher.generation).path / "no-such-file.npy"

    older = load_units(Older(searcher.generation), searcher.catalog, searcher.ids)
    pairs = set(zip(older.tolist(), searcher.units.tolist(), strict=True))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_a_ruling_is_one_result_not_facts_and_decision(searcher):
    hits = searcher.search(CASE, k=10, filters=Filters(terms={"type": ["ruling"]})).results
    cases = [h.passage.doc_id for h in hits]
    assert len(cases) == len(set(cases))


@pytest.mark.parametrize(
    "query", ["LIVE-DNG-3.1", "live-dng-3.1", "LIVE-DNG-3.1?", "(LIVE-DNG-3.1)"]
)
def test_a_clause_id_is_first(searcher, query):
    first = searcher.search(query, k=5).results[0]
    assert first.passage.clause_id == "LIVE-DNG-3.1" and first.scores["exact_id"]


def test_a_section_id_lists_its_clauses_in_order(searcher):
    ids = [h.passage.clause_id for h in searcher.search("LIVE-DNG-3", k=10).results]
    own = [c for c in ids if c and c.startswith("LIVE-DNG-3")]
    assert own[:3] == ["LIVE-DNG-3.1", "LIVE-DNG-3.2", "LIVE-DNG-3.3"] == ids[:3]


def test_an_id_with_words_ranks_the_rest_by_the_words(searcher):
    hits = searcher.search("LIVE-REG-6.2 toddler sparkler", k=5, filters=POLICY).results
    assert hits[0].passage.clause_id == "LIVE-REG-6.2"
    assert hits[1].passage.clause_id.startswith("LIVE-DNG-")  # the words' own best clause


def test_case_and_document_ids_go_to_their_item(searcher):
    hits = searcher.search("ESC-1010", k=3).results
    assert hits[0].passage.doc_id == "ESC-1010" and len(hits[0].more) == 1
    hits = searcher.search("what does minors-on-live say", k=3).results
    assert hits[0].passage.doc_id == "minors-on-live"


def test_words_that_look_like_ids_but_name_nothing_are_words(searcher):
    hits = searcher.search("COVID-19 PG-13 streams", k=5).results
    assert hits and not any(h.scores.get("exact_id") for h in hits)


def test_an_id_never_opens_what_the_clearance_hides(searcher):
    restricted = searcher.catalog.db.execute(
        "SELECT d.doc_id FROM documents d JOIN versions v ON v.version_id = d.current_version_id "
        "WHERE d.doc_type = 'ruling' AND json_extract(v.metadata, '$.visibility') != 'all'"
    ).fetchone()[0]
    moderator = Filters(required=MODERATOR_CLEARANCE)
    assert all(
        h.passage.doc_id != restricted
        for h in searcher.search(restricted, k=10, filters=moderator).results
    )
    assert searcher.search(restricted, k=1).results[0].passage.doc_id == restricted
    # A historical version's clause is not pinned for current-only searches either.
    old = searcher.search("LIVE-DNG-2.2", k=3, filters=Filters(as_of="2025-03-01")).results[0]
    assert old.scores["exact_id"]
    assert old.citation.status == "historical" and old.passage.clause_id == "LIVE-DNG-2.2"


def test_every_entry_point_puts_the_id_first(corpus_settings, runner):
    client = create_app(corpus_settings, testing=True).test_client()
    out = runner.invoke(
        main, ["--data-dir", str(corpus_settings.data_dir), "search", "LIVE-DNG-3.1", "--json"]
    )
    assert json.loads(out.output)["results"][0]["clause_id"] == "LIVE-DNG-3.1"
    api = client.get("/api/search", query_string={"q": "LIVE-DNG-3.1"}).get_json()
    assert api["results"][0]["clause_id"] == "LIVE-DNG-3.1"
    by_passage = client.get("/api/search", query_string={"q": CASE, "by": "passage", "k": 30})
    assert by_passage.status_code == 200
    answer = client.get("/api/answer", query_string={"q": "LIVE-DNG-3.1"}).get_json()
    assert answer["answered"]  # the moderator named the clause: no doubt to abstain on
    assert "LIVE-DNG-3.1" in json.dumps(answer["sources"][0]["citation"])


@pytest.mark.parametrize(
    ("query", "enforcement", "case"),
    [
        ("penalty for streaming an animal fight?", "LIVE-ANI-6.3", "LIVE-ANI-3"),
        ("what severity is a slur raid in chat?", "LIVE-HATE-6.3", "LIVE-HATE-"),
    ],
)
def test_a_question_about_the_consequence_leads_with_the_enforcement_clause(
    searcher, query, enforcement, case
):
    """ "What's the penalty for X" is answered by X's policy's enforcement clause (its
    severity table); X's own clause follows; the same words without the question keep X's
    clause first."""
    hits = searcher.search(query, k=5, filters=POLICY).results
    shown = [h.passage.clause_id for h in hits]
    assert shown[0] == enforcement and hits[0].scores["intent"] == "enforcement"
    assert any(c.startswith(case) and c != enforcement for c in shown[1:3])
    topic = query.split(" for ", 1)[-1].split(" is ", 1)[-1]
    plain = [h.passage.clause_id for h in searcher.search(topic, k=5, filters=POLICY).results]
    assert plain[0] != enforcement


@pytest.mark.parametrize(
    ("query", "facts", "governing"),
    [
        (
            "looks like a dangerous stunt, but she says she deserves the pain and cuts herself "
            "when gifts come in",
            "she says she deserves the pain and cuts herself when gifts come in",
            "LIVE-SSH-5.2",  # gifting tied to self-punishment, not a stunt
        ),
        (
            "reported as nudity but the host is a 13 year old in a bikini dancing for gifts",
            "the host is a 13 year old in a bikini dancing for gifts",
            "LIVE-MIN-",  # the minor-safety policy, not nudity
        ),
    ],
)
def test_a_case_told_with_what_it_was_reported_as_finds_what_happened(
    searcher, query, facts, governing
):
    """What a case was reported as ("looks like a dangerous stunt, but ...") is left out of
    the query's meaning: the dense side ranks as for the facts alone, and the clause
    governing what happened comes first."""
    dense = searcher.search(query, k=10, filters=POLICY, mode="dense").results
    alone = searcher.search(facts, k=10, filters=POLICY, mode="dense").results
    assert [h.passage.passage_id for h in dense] == [h.passage.passage_id for h in alone]
    hits = searcher.search(query, k=5, filters=POLICY).results
    assert hits[0].passage.clause_id.startswith(governing)
