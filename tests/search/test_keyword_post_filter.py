"""Tantivy and PostgreSQL apply a broad filter after the search, through the filters' mask:
the results must be those of the filter inside the query, whichever way each search goes."""

from __future__ import annotations

import contextlib
import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.search.filter_index import FilterIndex
from kb.search.filters import FAR_FUTURE, Filters
from kb.search.keyword import IndexedPassage, get_backend
from kb.search.keyword.base import POST_FILTER_SHARE
from tests.conftest import examples, postgres_keyword

BOOSTS = {"title": 0.5, "heading": 1.0, "text": 1.0}
WORDS = "sparkler wheel coins gift minor host stream knife drive drunk chat slur".split()
FILLER = "the a of and notes page review".split()


def _passages(n: int = 400) -> list[IndexedPassage]:
    rng = random.Random(7)
    out = []
    for o in range(n):
        words = rng.choices(WORDS, k=rng.randint(1, 6)) + rng.choices(FILLER, k=rng.randint(0, 30))
        rng.shuffle(words)
        status = "current" if rng.random() < 0.7 else "historical"
        kind = rng.choice(["policy", "guidance", "ruling"])
        out.append(
            IndexedPassage(
                ordinal=o,
                title=f"Doc {o % 17} {rng.choice(WORDS)}",
                heading=rng.choice(WORDS),
                text=" ".join(words),
                terms=[f"status={status}", f"type={kind}"],
                eff_from=20240101,
                eff_to=FAR_FUTURE,
            )
        )
    return out


@contextlib.contextmanager
def _opened(request, folder, passages):
    """A keyword index of `passages` with the engine the test is parametrised with."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")("post_filter")
        prefix = "pf" + hashlib.sha1(str(folder).encode()).hexdigest()[:10]
        with postgres_keyword(url, prefix, folder, passages, BOOSTS) as opened:
            yield opened
        return
    backend = get_backend("tantivy")
    backend.build(folder, passages, BOOSTS)
    opened = backend.open(folder, BOOSTS)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module", params=["tantivy", "postgres"])
def engine(request):
    return request


@pytest.fixture(scope="module")
def index(engine, tmp_path_factory):
    passages = _passages()
    with _opened(engine, tmp_path_factory.mktemp(engine.param), passages) as opened:
        yield opened, FilterIndex.build(passages)


FILTERS = [
    Filters(),  # current only: 70% of the passages, filtered after the search
    Filters(include_historical=True),  # everything
    Filters(terms={"type": ["policy", "guidance"]}),  # about 47%: filtered in the query
    Filters(terms={"type": ["ruling"]}),
]


def _same(got, want):
    """Same ordinals and scores (ties may come in another order)."""
    assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in want]
    assert {o for o, _ in got} == {o for o, _ in want} or len({s for _, s in want}) < len(want)


@settings(max_examples=examples(80), deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS + FILLER), min_size=1, max_size=8),
    which=st.integers(0, len(FILTERS) - 1),
    limit=st.integers(1, 120),
)
def test_filtering_after_the_search_matches_filtering_in_it(index, words, which, limit):
    opened, filter_index = index
    filters = FILTERS[which]
    mask = filter_index.mask(filters)
    query = " ".join(words)
    got = opened.search(query, filters, limit, mask)
    want = opened.search(query, filters, limit)
    _same(got, want)
    assert all(mask[o] for o, _ in got)


def test_a_broad_filter_that_leaves_out_the_best_hits_still_finds_the_rest(engine, tmp_path):
    """The best passages for the word are all historical: the unfiltered search's hits are
    all left out, and the search runs again with the filter inside it."""
    passages = [
        IndexedPassage(
            ordinal=o,
            title="Fire",
            heading="Sparklers",
            text="sparkler sparkler sparkler" if o < 30 else "a long page " * 20 + "sparkler",
            terms=["status=historical" if o < 30 else "status=current"],
            eff_from=20240101,
            eff_to=FAR_FUTURE,
        )
        for o in range(30)
    ] + [
        IndexedPassage(
            ordinal=o,
            title="Other",
            heading="Notes",
            text=("a long page " * 20 + "sparkler") if o < 40 else "coins and gifts",
            terms=["status=current"],
            eff_from=20240101,
            eff_to=FAR_FUTURE,
        )
        for o in range(30, 200)
    ]
    with _opened(engine, tmp_path, passages) as opened:
        mask = FilterIndex.build(passages).mask(Filters())
        assert mask.mean() >= POST_FILTER_SHARE  # the filter is applied after the search
        unfiltered = opened.search("sparkler", Filters(include_historical=True), 12)
        assert {o for o, _ in unfiltered} <= set(range(30))  # the best ones are historical
        got = opened.search("sparkler", Filters(), 5, mask)
        assert {o for o, _ in got} <= set(range(30, 40)) and len(got) == 5
        _same(got, opened.search("sparkler", Filters(), 5))
