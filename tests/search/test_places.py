"""A region the query names (by country, demonym or code) brings clauses scoped to it first."""

from __future__ import annotations

import textwrap

import pytest

from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.search.places import named_platforms, named_regions
from tests.conftest import ingest_files

KNOWN = frozenset({"eu", "id", "in", "kr", "uk", "us", "br"})


@pytest.mark.parametrize(
    ("query", "regions"),
    [
        ("indonesian host doing beer pong", {"id"}),
        ("Korean host showing his bets", {"kr"}),  # South Korea: more populous than the North
        ("host from south korea", {"kr"}),
        ("French host, deepfake parody", {"eu"}),  # an EU member names the EU
        ("US host on a slots site", {"us"}),
        ("streamer in the UK", {"uk"}),
        ("british streamer", {"uk"}),  # GB is written UK here
        ("guy from brasil", {"br"}),
        ("us in the id of the host", set()),  # codes count only in capitals
        ("nail polish tutorial", set()),  # an everyday word, not Poland
        ("Polish host", {"eu"}),
        ("Mexican host", set()),  # no passage is scoped to Mexico
        ("hosting in India and Indonesia", {"in", "id"}),
    ],
)
def test_named_regions(query, regions):
    assert named_regions(query, KNOWN) == regions


def test_nothing_known_nothing_named():
    assert named_regions("Indonesian host", frozenset()) == set()


def test_a_clause_scoped_to_the_named_region_comes_first(corpus_settings):
    """The shipped corpus scopes LIVE-REG-2.4 (alcohol) to Indonesia; LIVE-REG-2.1 applies
    everywhere."""
    searcher = Searcher(corpus_settings)
    assert {"id", "kr", "eu", "uk"} <= searcher.regions

    def ranked(query: str, boost: float, late: float = 0.0) -> list[tuple[str, float | None]]:
        # The region boost alone (late_weight 0), then with the word-by-word re-scoring.
        searcher.settings = corpus_settings.replace(region_boost=boost, late_weight=late)
        hits = searcher.search(query, k=20, filters=Filters(terms={"type": ["policy"]})).results
        return [(h.passage.clause_id, h.scores.get("region")) for h in hits]

    try:
        query = "Indonesian guys playing beer pong on stream"
        off = ranked(query, 0.0)
        assert {"LIVE-REG-2.1", "LIVE-REG-2.4"} <= {c for c, _ in off[:3]}
        assert all(r is None for _, r in off)
        on = ranked(query, 0.2)
        assert on[0][0] == "LIVE-REG-2.4" and 0 < on[0][1] <= 0.2  # a share of its score
        # The global clause keeps its place behind it, unboosted.
        assert dict(on)["LIVE-REG-2.1"] is None
        # Another region: the Indonesian clause loses ground, the global ones are untouched.
        korean = dict(ranked(query.replace("Indonesian", "Korean"), 0.2))
        assert korean.get("LIVE-REG-2.1", 0) is None and korean["LIVE-REG-2.4"] < 0
        assert ranked(query, 0.2, corpus_settings.late_weight)[0][0] == "LIVE-REG-2.4"
    finally:
        searcher.close()


@pytest.mark.parametrize(
    ("query", "platforms"),
    [
        ("An X account posted her address", {"x"}),
        ("x frends roasting each other", set()),  # one letter: only as a capital
        ("twitch streamer in a bikini", {"twitch"}),
        ("truth social acct pretending to be a brand", {"truthsocial"}),  # two words, one name
        ("draw the line somewhere", set()),  # an everyday word: only with a capital
        ("LINE sticker shop", {"line"}),
        ("youtube or Twitch?", {"youtube", "twitch"}),
    ],
)
def test_named_platforms(query, platforms):
    known = frozenset({"x", "twitch", "truthsocial", "line", "youtube"})
    assert named_platforms(query, known) == platforms


TWO_PLATFORMS = {
    "twitch.md": """\
        ---
        id: twitch-rules
        title: Twitch rules
        type: policy
        platform: Twitch
        ---
        # Attire

        ## TW-1.1 Swimwear

        Swimwear is fine at a pool or beach; elsewhere streamers keep to street clothes.
        """,
    "x.md": """\
        ---
        id: x-rules
        title: X rules
        type: policy
        platform: X
        ---
        # Attire

        ## XR-1.1 Swimwear

        Swimwear in a profile or a video is fine at a pool or beach, not as a sexual pose.
        """,
    "hushnet.md": """\
        ---
        id: hushnet-rules
        title: Hushnet rules
        type: policy
        platform: Hushnet
        visibility: policy-team
        ---
        # Attire

        ## HN-1.1 Swimwear

        Swimwear on a stream is fine at a pool or beach; elsewhere it is a warning.
        """,
}


@pytest.fixture(scope="module")
def two_platforms(tmp_path_factory):
    settings = ingest_files(
        tmp_path_factory, "platforms", {k: textwrap.dedent(v) for k, v in TWO_PLATFORMS.items()}
    )
    searcher = Searcher(settings)
    yield searcher
    searcher.close()


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("twich streamr wearing swimwear in her bedroom", "TW-1.1"),  # spelled as the corpus
        ("An X video of someone in swimwear in her bedroom", "XR-1.1"),
        ("streamer in swimwear on Twitch", "TW-1.1"),
    ],
)
def test_a_named_platform_brings_its_own_clause_first(two_platforms, query, first):
    searcher, settings = two_platforms, two_platforms.settings
    assert searcher.platforms == {"twitch", "x", "hushnet"}
    public = Filters(terms={"visibility": ["all"]})
    hits = searcher.search(query, k=2, filters=public).results
    assert hits[0].passage.clause_id == first
    # The other platform's clause loses half as much (nothing, when its fused score is 0).
    assert hits[0].scores["platform"] > 0 >= hits[1].scores.get("platform", 0)
    try:
        searcher.settings = settings.replace(platform_boost=0.0)
        results = searcher.search(query, k=2, filters=public).results
        assert all("platform" not in h.scores for h in results)
    finally:
        searcher.settings = settings
    # A keyword-only search is plain BM25: no boost.
    keyword = searcher.search(query, k=2, filters=public, mode="keyword").results
    assert all("platform" not in h.scores for h in keyword)


def test_a_platform_only_restricted_passages_carry_names_nothing(two_platforms):
    """Naming it moves nothing for a reader who cannot see it: neither a boost to show nor a
    penalty on the visible platforms that would say it exists."""
    query = "Hushnet stream in swimwear in her bedroom"
    public = two_platforms.search(query, k=3, filters=Filters(terms={"visibility": ["all"]}))
    assert {h.passage.clause_id for h in public.results} == {"TW-1.1", "XR-1.1"}
    assert all("platform" not in h.scores for h in public.results)
    everyone = two_platforms.search(query, k=3).results  # the policy team sees it first
    assert everyone[0].passage.clause_id == "HN-1.1" and everyone[0].scores["platform"] > 0


def test_one_platform_names_nothing(corpus_settings):
    searcher = Searcher(corpus_settings)
    try:
        assert searcher.platforms == frozenset()
        hits = searcher.search("Glowcast LIVE host drunk on stream", k=3).results
        assert all("platform" not in h.scores for h in hits)
    finally:
        searcher.close()
