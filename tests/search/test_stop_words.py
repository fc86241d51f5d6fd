"""Stop words in most passages are left out of plain keyword queries (speed at scale)."""

from __future__ import annotations

import pytest

from kb.ingest.pipeline import ingest
from kb.search.hybrid import Searcher
from kb.search.keyword.base import STOP_WORDS, without_stop_words

COMMON = frozenset({"the", "a", "is", "and"})


@pytest.mark.parametrize(
    ("query", "searched"),
    [
        ("the streamer is drunk and driving", "streamer drunk driving"),
        ("is the host drunk?", "host drunk?"),  # a question mark ends a question
        ("the a is", "the a is"),  # stop words only: as typed
        ('"the end" of the stream', '"the end" of the stream'),  # a phrase: as typed
        ("title:the fire", "title:the fire"),
        ("the -fire a", "the -fire a"),
        ("the AND fire", "the AND fire"),
        ("fire* the", "fire* the"),
        ("LIVE-DNG-3.1 in the car", "LIVE-DNG-3.1 in car"),  # 'in' is not common here
        ("The Streamer", "Streamer"),
    ],
)
def test_plain_queries_lose_their_common_stop_words(query, searched):
    assert without_stop_words(query, COMMON) == searched


def test_nothing_is_left_out_when_nothing_is_common():
    assert without_stop_words("the streamer is drunk", frozenset()) == "the streamer is drunk"


def test_the_index_knows_which_stop_words_most_passages_hold(tmp_path, settings, write):
    rules = "\n\n".join(
        f"## Rule {i}\n\nThe host of a stream with item {i} must stop the stream." for i in range(6)
    )
    write(
        "rules.md", f"---\ntype: policy\n---\n# Rules\n\n{rules}\n\n## Other\n\nFireworks if lit.\n"
    )
    ingest(settings, [tmp_path / "src"])
    searcher = Searcher(settings)
    try:
        common = searcher.keyword.common
        assert {"the", "a", "of", "with"} <= common <= STOP_WORDS
        assert "if" not in common  # in one passage of seven
        plain = searcher.search("fireworks", k=3, mode="keyword").results
        padded = searcher.search("the fireworks of the", k=3, mode="keyword").results
        assert [h.passage.passage_id for h in plain] == [h.passage.passage_id for h in padded]
        assert [h.score for h in plain] == pytest.approx([h.score for h in padded])
    finally:
        searcher.close()
