"""Query syntax a moderator may type by accident or on purpose: every route answers with
results for the plain words, never with a server error or a traceback."""

from __future__ import annotations

import pytest

from kb.cli import main

QUERIES = [
    "text:*",
    "title:*",
    "heading:*",
    "sparkler AND text:*",
    "text:* sparkler toddler",
    "title:? OR heading:**",
    "text:*parkler",
    "-text:*",
]


@pytest.mark.parametrize("query", QUERIES)
def test_field_wildcards_never_fail_a_route(client, query):
    for method, url, kwargs in (
        ("get", "/api/search", {"query_string": {"q": query}}),
        ("post", "/api/search", {"json": {"q": query}}),
        ("get", "/api/answer", {"query_string": {"q": query}}),
        ("get", "/", {"query_string": {"q": query}}),
        ("get", "/rulings/similar", {"query_string": {"q": query}}),
    ):
        r = getattr(client, method)(url, **kwargs)
        assert r.status_code == 200, (method, url, query, r.status_code)


def test_a_field_wildcard_beside_words_searches_the_words(client):
    plain = client.get("/api/search", query_string={"q": "sparkler toddler", "mode": "keyword"})
    wild = client.get(
        "/api/search", query_string={"q": "sparkler AND text:* toddler", "mode": "keyword"}
    )
    ids = [h["passage_id"] for h in wild.get_json()["results"]]
    assert ids and ids == [h["passage_id"] for h in plain.get_json()["results"]]


def test_kb_search_prints_results_not_a_traceback(corpus_settings, runner):
    base = ["--data-dir", str(corpus_settings.data_dir), "search", "-k", "2"]
    for query in QUERIES:
        out = runner.invoke(main, [*base, "--", query])
        assert out.exit_code == 0 and "Traceback" not in out.output, (query, out.output)
