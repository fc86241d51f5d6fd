"""The document index, jumping to an id typed alone, and rulings whose old clause a role may
not read linking the clause as it is today."""

from __future__ import annotations

import pytest

from kb.web import create_app
from tests.web.pages import soup
from tests.web.test_access import login

PASSWORD = "index test password"


def test_the_index_lists_documents_with_type_versions_status_and_owner(client):
    page = soup(client.get("/documents"))
    rows = page.select("#documents tbody tr")
    cells = {
        r.select_one("a").get_text(): [td.get_text(" ", strip=True) for td in r("td")] for r in rows
    }
    dng = cells["Dangerous Acts and Challenges"]
    assert dng[1:5] == ["policy", "v2.0 · 2026-02-01", "2", "current"]
    assert dng[5] == "Live Safety Policy"
    assert "needs review" in cells["New moderator FAQ"][0]  # it predates Dangerous Acts v2.0
    kinds = [c[1] for c in cells.values()]
    assert kinds == sorted(kinds, key=["policy", "guidance", "ruling"].index)
    policies = soup(client.get("/documents?type=policy")).select("#documents tbody tr")
    assert len(policies) == 15
    owned = soup(client.get("/documents?owner=live+safety+policy")).select("#documents tbody tr")
    assert owned and all(r("td")[5].get_text() == "Live Safety Policy" for r in owned)


def test_an_id_typed_alone_opens_it(client):
    clause = client.get("/?q=live-dng-3.1")
    assert clause.status_code == 302 and "/passages/" in clause.location
    case = client.get("/?q=esc-1010")
    assert case.status_code == 302 and case.location.endswith("/documents/ESC-1010")
    doc = client.get("/?q=minors-on-live")
    assert doc.status_code == 302 and doc.location.endswith("/documents/minors-on-live")
    assert client.get("/?q=LIVE-DNG-3.1&exact=0").status_code == 200  # searched instead
    assert client.get("/?q=LIVE-DNG-3.1+drunk").status_code == 200  # not an id alone
    assert client.get("/?q=NO-SUCH-9").status_code == 200


@pytest.fixture(scope="module")
def moderator(corpus_settings):
    app = create_app(corpus_settings.replace(auth="users", secure_cookies=False), testing=True)
    store = app.extensions["kb_auth"].users
    if store.find("idx-mod") is None:
        store.add("idx-mod", "moderator", PASSWORD)
    return login(app, "idx-mod", PASSWORD)


def test_a_moderator_gets_the_clause_today_when_the_old_version_is_hidden(moderator):
    # ESC-1010 was decided under Dangerous Acts v1.0, which moderators may not open.
    page = soup(moderator.get("/documents/ESC-1010"))
    items = page.select("#clauses li")
    hidden = [li for li in items if "not open to your role" in li.get_text()]
    assert hidden, [li.get_text() for li in items]
    link = hidden[0].find("a", string="the clause today")
    jump = moderator.get(link["href"])
    assert jump.status_code == 302
    assert soup(moderator.get(jump.location)).select_one(".passage.arrived")
    listed = [a.get_text() for a in page.select("#in-force a")]
    assert listed and not any("v1.0" in t for t in listed if "Dangerous" in t)
    # The index shows a moderator only what they may open.
    index = soup(moderator.get("/documents")).get_text()
    assert "Dangerous Acts and Challenges" in index


def test_a_long_index_comes_a_page_at_a_time(client, monkeypatch):
    from kb.web import ui

    first = soup(client.get("/documents"))
    whole = [a.get_text() for a in first.select("#documents tbody a")]
    assert len(whole) > 25 and first.select_one(".pager") is None  # one page: no pager
    monkeypatch.setattr(ui, "DOCUMENTS_PER_PAGE", 10)
    seen, url = [], "/documents"
    while url:
        page = soup(client.get(url))
        rows = page.select("#documents tbody a")
        assert 0 < len(rows) <= 10
        seen += [a.get_text() for a in rows]
        assert f"{len(whole)} documents" in page.select_one("#count").get_text()
        after = page.select_one(".pager a[rel=next]")
        url = after["href"] if after else None
    assert seen == whole  # every document once, in the same order
    last = -(-len(whole) // 10)
    beyond = soup(client.get("/documents?page=999"))
    assert f"page {last} of {last}" in beyond.select_one(".pager").get_text()
    assert soup(client.get("/documents?page=x")).select_one(".pager a[rel=next]")
    # The type chosen stays chosen from page to page.
    rulings = soup(client.get("/documents?type=ruling"))
    assert "type=ruling" in rulings.select_one(".pager a[rel=next]")["href"]
