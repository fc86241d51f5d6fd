"""Passages as people read them: Markdown tables, lists and emphasis rendered (HTML guidance
tables too), nothing a source can smuggle in, query words marked, clause ids linked."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from kb.web import create_app
from kb.web.render import passage_html
from tests.web.pages import PAGES, soup

from ..conftest import ingest_files

HOSTILE = """
---
id: hostile
title: Hostile policy
type: policy
version: "1"
effective_from: 2025-01-01
---

# Hostile policy

## HOST-1.1 Tricks

A [link](javascript:alert(1)) and <img src=x onerror=alert(2)> and <script>alert(3)</script>.
See HOST-1.2 and [a real page](https://example.org/rules). *Emphasis* stays.

| Cell | Trick |
|---|---|
| <b onclick=alert(4)>bold</b> | [x](data:text/html,alert) |

## HOST-1.2 Plain

Nothing here.
"""


def test_policy_and_guidance_tables_render_as_tables(client):
    page = soup(client.get("/documents/dangerous-acts-and-challenges"))
    article = page.select_one("article.document")
    assert "|---|" not in article.get_text()
    headers = [th.get_text() for th in article.select(".passage table th")]
    assert "What you see" in headers and "Default" in headers
    # An HTML guidance table is stored as a Markdown table and renders as one.
    ladder = soup(client.get("/documents/enforcement-ladder")).select_one("article.document")
    table = ladder.select_one(".passage table")
    assert [th.get_text() for th in table.select("thead th")][:3] == [
        "Violation type",
        "Strike class",
        "1st",
    ]
    assert " | " not in ladder.select_one(".passage").get_text()


def test_results_mark_words_inside_table_cells_and_link_clause_ids(client):
    page = soup(client.get("/", query_string={"q": "sparkler held by an adult"}))
    cells = [td for td in page.select("li.hit .text td") if td.select("mark")]
    assert cells, "no marked word inside a rendered table cell"
    links = page.select("li.hit a.clause")
    assert links and all(a["href"] == f"/clauses/{a.get_text()}" for a in links)
    jump = client.get(links[0]["href"])
    assert jump.status_code == 302 and "/passages/" in jump.location
    assert client.get("/clauses/NO-SUCH-9").status_code == 404


def test_ruling_text_stays_as_written(client):
    page = soup(client.get("/documents/ESC-1010"))
    facts = page.select_one("#facts p")
    assert "plain" in facts["class"] and not facts.select("p, table, em")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, shared_cache):
    settings = ingest_files(tmp_path_factory, "hostile-md", {"hostile.md": HOSTILE.lstrip()})
    return create_app(settings, testing=True).test_client()


def test_nothing_a_source_writes_becomes_markup(hostile):
    html = hostile.get("/documents/hostile").get_data(as_text=True)
    article = BeautifulSoup(html, "html.parser").select_one("article.document")
    assert not article.select("script, img, b, [onclick], [onerror], [style]")
    hrefs = [a.get("href") for a in article.select("a")]
    assert not [h for h in hrefs if h is None or re.match(r"\s*(javascript|data):", h, re.I)]
    assert "https://example.org/rules" in hrefs and "/clauses/HOST-1.2" in hrefs
    assert article.select("em") and article.select("table td")
    # What was refused is shown as text, not dropped.
    assert "<script>alert(3)</script>" in article.get_text()


def test_the_renderer_alone():
    out = passage_html(
        "LIVE-X-1 and [LIVE-X-1](https://example.org) and LIVE-X-2",
        markdown=True,
        query="and",
        clause_ids={"LIVE-X-1"},
        clause_url=lambda c: f"/clauses/{c}",
    )
    parsed = BeautifulSoup(out, "html.parser")
    # The id is linked once where it is plain text, not inside the author's own link, and an
    # id the knowledge base does not have stays text.
    assert [a["href"] for a in parsed.select("a")] == ["/clauses/LIVE-X-1", "https://example.org"]
    assert "LIVE-X-2" in parsed.get_text()
    assert passage_html("a < b & c", markdown=False) == "a &lt; b &amp; c"


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_one_h1_a_skip_link_labels_and_an_icon(client, url):
    page = soup(client.get(url))
    assert len(page.select("h1")) == 1, url
    skip = page.select_one("body > a.skip")
    assert skip is page.select_one("body a") and skip["href"] == "#main"
    assert page.select_one("main#main")
    assert page.select_one("link[rel=icon]")["href"].endswith("favicon.svg")
    for control in page.select("input:not([type=hidden]), select, textarea"):
        labelled = control.get("aria-label") or control.find_parent("label")
        labelled = labelled or (
            control.get("id") and page.select_one(f"label[for={control['id']}]")
        )
        assert labelled, f"{url}: unlabelled {control}"
    icon = client.get(page.select_one("link[rel=icon]")["href"])
    icon.close()  # a static file is streamed: close it
    assert icon.status_code == 200
