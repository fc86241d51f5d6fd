"""Moderator spelling on the keyword side: corrections from the corpus's own vocabulary are
added, never substituted; quotes, ids, field syntax and numbers stay as typed."""

from __future__ import annotations

from collections import Counter

import pytest

from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.search.spelling import Speller, vocabulary

VOCAB = vocabulary(
    [
        "The streamer was juggling knives blindfolded while selling kittens in chat.",
        "A viewer keeps asking for gift cards; the background shows a minor.",
    ]
    * 3
)


@pytest.fixture(scope="module")
def speller():
    return Speller(dict(VOCAB))


@pytest.mark.parametrize(
    ("query", "added"),
    [
        ("guy juggling real knives blindfoldd", "blindfolded"),
        ("strmr sellin kittens in chat", "streamer"),
        ("strmr sellin kittens in chat", "selling"),
        ("viewr keeps askin for giftcards", "viewer"),
        ("lil girl in backgrnd", "background"),
        ("13yo goin live", "13 year old"),
        ("sum1 in chat", "someone"),
    ],
)
def test_unknown_words_get_the_corpus_spelling_added(speller, query, added):
    expanded = speller.expand(query)
    assert expanded.startswith(query) and added in expanded[len(query) :]


@pytest.mark.parametrize(
    "query",
    [
        '"strmr sellin"',  # a quoted phrase is meant as typed
        "LIVE-DNG-3.1 blindfolded",  # ids and known words
        "text:blindfoldd",  # field syntax
        "knives 2 kittens 4 chat",  # numbers
    ],
)
def test_quotes_ids_fields_numbers_and_known_words_stay(speller, query):
    assert speller.expand(query) == query


def test_vocabulary_counts_lower_case_words():
    assert vocabulary(["Knives, knives!", "KNIVES"]) == Counter({"knives": 3})


def test_a_typo_finds_its_clause_on_the_keyword_side(corpus_settings):
    searcher = Searcher(corpus_settings)
    try:
        policy = Filters(terms={"type": ["policy"]})
        typed = searcher.search("strmr drivin car", k=3, filters=policy, mode="keyword").results
        plain = searcher.search("streamer driving car", k=3, filters=policy, mode="keyword").results
    finally:
        searcher.close()
    assert typed and typed[0].passage.clause_id == plain[0].passage.clause_id
