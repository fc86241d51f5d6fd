"""Reading search requests: query strings are text where empty means not given; JSON bodies
are typed. Either way a value that cannot mean what was asked is refused, never guessed."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from kb.errors import QueryError
from kb.web.params import parse

KEYS = {"type", "regions"}


def test_query_string_flags_dates_and_empty_values():
    req = parse(MultiDict({"q": "x", "history": "on", "k": "", "as_of": "", "type": ""}), KEYS, 100)
    assert req.filters.include_historical and req.k == 10 and req.filters.as_of is None
    assert req.filters.terms == {}
    assert not parse(MultiDict({"q": "x", "history": "0"}), KEYS, 100).filters.include_historical


def test_json_body_is_typed():
    req = parse(
        {"q": "x", "k": 5, "history": True, "max_per_doc": 2, "filters": {"type": ["policy"]}},
        KEYS,
        100,
    )
    assert (req.k, req.max_per_doc, req.filters.terms) == (5, 2, {"type": ["policy"]})
    # In a body, filters go in "filters" (as the API's schema says), never beside q.
    with pytest.raises(QueryError, match="unknown field 'type'"):
        parse({"q": "x", "type": "ruling"}, KEYS, 100)
    with pytest.raises(QueryError, match="unknown field ''"):
        parse({"": None}, KEYS, 100)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (MultiDict({"q": "x", "history": "maybe"}), "history must be true or false"),
        (MultiDict({"q": "x", "max_per_doc": "0"}), "max_per_doc must be at least 1"),
        (MultiDict({"q": "x", "as_of": "20250101"}), "not a date"),
        (MultiDict({"q": "x", "k": "99999999999999999999999"}), "k must be between"),
        ({"q": "x", "k": "5"}, "k must be an integer"),
        ({"q": "x", "k": True}, "k must be an integer"),
        ({"q": "x", "k": 2.5}, "k must be an integer"),
        ({"q": "x", "history": "yes"}, "history must be true or false"),
        ({"q": "x", "mode": None}, "mode must not be null"),
        ({"q": "x", "as_of": 20250101}, "not a date"),
        ({"q": "x", "filters": ["type=policy"]}, "'filters' must be an object"),
        ({"q": "x", "filters": {}, "type": "policy"}, "unknown field 'type'"),
    ],
)
def test_values_that_cannot_mean_what_was_asked_are_refused(args, fragment):
    with pytest.raises(QueryError, match=fragment):
        parse(args, KEYS, 100)
