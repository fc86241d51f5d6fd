"""Property-based tests of query handling: any query string through any keyword backend
searches without raising (syntax it cannot read is searched as plain words), and highlighting
never raises and never changes the text it marks."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.text import Text

from kb.search import highlight
from kb.search.filters import FAR_FUTURE, Filters
from kb.search.keyword import BACKENDS, IndexedPassage, get_backend
from tests.conftest import examples, postgres_keyword

FAST = settings(max_examples=examples(60), deadline=None)
BOOSTS = {"title": 2.0, "heading": 1.5, "text": 1.0}
PASSAGES = [
    ("Fire and Fireworks", "LIVE-F-1.1 Sparklers", "A lit sparkler is never handed to a child."),
    ("Fire and Fireworks", "LIVE-F-2.1 Spin wheels", "Hosts who spin a wheel run a lottery."),
    ("Minors on LIVE", "LIVE-MIN-2.2 Hosting age", "In KR a host must be 19 to go live."),
    ("Gifts", "Coins", "The streamer's viewers send coins, roses and gifts."),
    ("Café notes", "Übersicht", "日本語のテキスト and naïve café résumé, 10:30 AM."),
]
WORDS = sorted({w.lower() for p in PASSAGES for w in re.findall(r"\w+", " ".join(p))})
# The passages each word occurs in.
WHERE = {
    w: {n for n, p in enumerate(PASSAGES) if w in re.findall(r"\w+", " ".join(p).lower())}
    for w in WORDS
}


@pytest.fixture(scope="module", params=[*BACKENDS, "postgres"])
def index(request, tmp_path_factory):
    """A five-passage index built with one backend (no catalog, no embeddings); postgres: the
    keyword search of a generation published to PostgreSQL."""
    rows = [
        IndexedPassage(
            ordinal=n,
            title=title,
            heading=heading,
            text=text,
            terms=["status=current", f"type={'ruling' if n == 3 else 'policy'}"],
            eff_from=20240101,
            eff_to=FAR_FUTURE,
        )
        for n, (title, heading, text) in enumerate(PASSAGES)
    ]
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")("query_properties")
        with postgres_keyword(url, "kb", folder, rows, BOOSTS) as opened:
            yield opened
        return
    backend = get_backend(request.param)
    backend.build(folder, rows, BOOSTS)
    opened = backend.open(folder, BOOSTS)
    yield opened
    opened.close()


SYNTAX = st.sampled_from(
    [
        *"\"'()[]{}:*?~^\\/!+-<>=,",
        *"^2 && || .. AND OR NOT TO title: heading: text: owner: LIVE-F-2.1: 10:30 *:*".split(),
        *"/spa.*/ wheel^3 field:(a|b)".split(),
        "AND NOT",
        "[a TO z]",
        "{1 TO 5}",
        "field:(a OR b)",
        '"spin wheel"~2',
        *"text:* title:* heading:* text:? title:** text:*ark heading:sp* (text:*) -text:*".split(),
    ]
)
TOKEN = st.one_of(
    st.sampled_from(WORDS),
    SYNTAX,
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
)
QUERY = st.one_of(
    st.lists(TOKEN, max_size=12).flatmap(
        lambda tokens: st.sampled_from([" ", ""]).map(lambda sep: sep.join(tokens))
    ),
    st.text(max_size=60),
    st.lists(TOKEN, min_size=200, max_size=400).map(" ".join),  # very long
)
FILTERS = st.sampled_from(
    [
        Filters(),
        Filters(terms={"type": ["policy"]}),
        Filters(as_of="2025-01-01"),
        Filters(include_historical=True, date_from="2024-01-01", date_to="2024-12-31"),
    ]
)
# Characters around a word that may make a query unreadable, but must never hide the word.
JUNK = st.text(st.sampled_from("()[]{}\"':\\/^ "), max_size=4)


@FAST
@given(query=QUERY, filters=FILTERS, limit=st.integers(1, 10))
@example(query="text:*", filters=Filters(), limit=5)  # Tantivy: "not a fast field"
@example(query="sparkler AND title:*", filters=Filters(), limit=5)
def test_any_query_searches_without_raising(index, query, filters, limit):
    hits = index.search(query, filters, limit)
    assert len(hits) <= limit
    for ordinal, score in hits:
        assert 0 <= ordinal < len(PASSAGES) and isinstance(score, float)


@FAST
@given(word=st.sampled_from([w for w in WORDS if len(w) > 1]), before=JUNK, after=JUNK)
@example(word="10", before=":^", after="")  # Whoosh read "^10" as a boost of nothing
def test_broken_syntax_around_a_word_still_finds_it(index, word, before, after):
    hits = index.search(before + word + after, Filters(include_historical=True), 10)
    assert {ordinal for ordinal, _ in hits} & WHERE[word], (before + word + after, hits)


@pytest.mark.parametrize(
    "query", ["sparkler AND text:*", "text:* sparkler", "sparkler OR heading:?", "title:* sparkler"]
)
def test_a_field_wildcard_is_dropped_and_the_words_still_search(index, query):
    hits = index.search(query, Filters(), 5)
    assert [ordinal for ordinal, _ in hits] == [0], (query, hits)


@FAST
@given(
    wanted=st.none() | st.sampled_from(WORDS),
    excluded=st.sampled_from([w for w in WORDS if len(w) > 1]),
    operator=st.sampled_from(["-", "NOT ", "AND NOT "]),
    junk=st.sampled_from(["", '"', "(", ":", "10:30"]),
)
@example(wanted="19", excluded="live", operator="-", junk="")  # Whoosh's AndNot matcher
@example(wanted=None, excluded="wheel", operator="-", junk="")  # Tantivy's fallback
@example(wanted="live", excluded="19", operator="NOT ", junk="")  # Whoosh's OR grouping
def test_an_excluded_word_is_never_searched_for(index, wanted, excluded, operator, junk):
    """Even when the rest of the query is unreadable and searched as plain words."""
    query = f"{junk}{wanted or ''} {operator}{excluded}"
    hits = index.search(query, Filters(include_historical=True), 10)
    assert not {ordinal for ordinal, _ in hits} & WHERE[excluded], (query, hits)


TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=15).map(" ".join),
    st.sampled_from(["<mark>x</mark> & <b>", "[bold]not markup[/bold] \\", "a\\[b]", "\\"]),
    st.lists(
        st.sampled_from([*WORDS[:5], "\\", "[", "]", "[b]", "[/]", "[#f00]", "[x", " "]),
        max_size=12,
    ).map("".join),
)


@FAST
@given(text=TEXT, query=QUERY)
def test_highlighting_html_only_adds_marks_to_escaped_text(text, query):
    out = highlight.to_html(text, query)
    assert re.sub("</?mark>", "", out) == html.escape(text)
    assert html.unescape(re.sub("</?mark>", "", out)) == text
    assert "<mark></mark>" not in out and "<mark><mark>" not in out


@FAST
@given(text=TEXT, query=QUERY)
@example(text="C:\\policies\\", query="")
@example(text="a\\[x] \\[bold] policy\\", query="policy")
def test_highlighting_for_the_terminal_keeps_the_text(text, query):
    # Text() drops terminal control codes, in markup or not; everything else must survive.
    # (Emoji codes such as :fire: are the console's to leave alone: print(..., emoji=False).)
    out = highlight.to_terminal(text, query)
    assert Text.from_markup(out, emoji=False).plain == Text(text).plain


def test_stemming_is_safe_across_threads():
    """The server highlights from several threads at once; a shared Snowball stemmer raced
    (IndexError, wrong stems cached for good)."""
    from concurrent.futures import ThreadPoolExecutor

    from kb.search import highlight

    words = [
        f"{w}{suffix}"
        for w in ("stream", "gift", "minor", "danger", "host")
        for suffix in ("ing", "ed", "s", "ers", "ingly", "ation")
    ] * 40
    words = [f"{w}{i}" if i % 3 else w for i, w in enumerate(words)]
    import snowballstemmer

    expected = {w: snowballstemmer.stemmer("english").stemWord(w.lower()) for w in words}
    highlight._stem.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(highlight._stem, words))
    assert got == [expected[w] for w in words]
