"""What a question asks beyond its topic: a case told with what it was reported as first is
searched for what happened."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.search.intent import without_report

from ..conftest import examples


@pytest.mark.parametrize(
    ("query", "facts"),
    [
        (
            "looks like a weapons case, but the host is juggling real machetes",
            "the host is juggling real machetes",
        ),
        (
            "Reported as a scam dispute but actually the host shows her home address",
            "the host shows her home address",
        ),
        (
            "came in as spam: but the host is reading out a viewer's phone number",
            "the host is reading out a viewer's phone number",
        ),
        (
            "flagged for nudity, but it's a breastfeeding tutorial on a cooking stream",
            "a breastfeeding tutorial on a cooking stream",
        ),
        (
            "it seems like hate: but chat is calling rival fans scum",
            "chat is calling rival fans scum",
        ),
    ],
)
def test_what_a_case_was_reported_as_is_left_out_of_its_meaning(query, facts):
    assert without_report(query) == facts


@pytest.mark.parametrize(
    "query",
    [
        "streamer drinking heavily and slurring, chat dares him to drive",
        # "but" in the facts, not after a report's framing
        "host says he is fine but keeps falling over",
        # punctuation between the framing and "but": the "but" belongs to the facts
        "looks like he is drunk. But chat keeps daring him to drive to the shop",
        "reported as hate, chat says it's a joke, but the host repeats the slur",
        # a query that only opens with one of the framing's verbs
        "looks-based insults aimed at a streamer but not at a protected group",
        "sounds of gunfire in the background but the host says it is a video game",
        "filed appeals are pending but the strike still blocks going live",
        "reported twice today but the host keeps going live drunk",
        # too little left to search by meaning
        "looks fine but isn't",
        "reported but",
        "",
    ],
)
def test_a_query_without_that_framing_keeps_its_meaning(query):
    assert without_report(query) == query


FRAMED = st.builds(
    lambda opener, area, sep, facts: f"{opener} {area}{sep} but {facts}",
    st.sampled_from(["looks like", "Reported as", "flagged for", "it seems like", "came in as"]),
    st.text(st.characters(blacklist_characters=",;:.!?"), max_size=40),
    st.sampled_from(["", ",", ";", ":"]),
    st.text(max_size=200),
)


@settings(max_examples=examples(300), deadline=None)
@given(query=st.one_of(st.text(max_size=2000), FRAMED))
def test_the_meaning_is_the_query_or_a_tail_of_it_of_three_words_or_more(query):
    """Whatever is typed: what the meaning is taken from is the whole query, or its end with
    at least three words (never empty, never rewritten), found in linear time."""
    started = time.perf_counter()
    meant = without_report(query)
    assert time.perf_counter() - started < 0.05
    assert meant == query or (query.endswith(meant) and len(meant.split()) >= 3)


def test_a_long_framing_without_but_is_read_in_linear_time():
    for query in (
        "looks like " + "a" * 100_000,
        "reported as " + "word " * 20_000 + "but",
        "looks like" + " " * 20_000 + "x",
    ):
        started = time.perf_counter()
        assert without_report(query) == query
        assert time.perf_counter() - started < 0.5
