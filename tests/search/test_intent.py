"""What a question asks beyond its topic: a case told with what it was reported as first is
searched for what happened."""

from __future__ import annotations

import pytest

from kb.search.intent import without_report


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
        # too little left to search by meaning
        "looks fine but isn't",
        "reported but",
        "",
    ],
)
def test_a_query_without_that_framing_keeps_its_meaning(query):
    assert without_report(query) == query
