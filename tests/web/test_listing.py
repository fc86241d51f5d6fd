"""Lists without a query (filters alone), sorting, paging and CSV export of a list, on the
shipped corpus."""

from __future__ import annotations

import csv
import io

from bs4 import BeautifulSoup


def _api(client, **args):
    r = client.get("/api/search", query_string=args)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_filters_alone_list_one_row_per_ruling_newest_first(client):
    body = _api(client, type="ruling", outcome="suspend", k=100)
    ids = [r["document_id"] for r in body["results"]]
    assert body["total"] == len(ids) > 10 and len(set(ids)) == len(ids)
    dates = [r["metadata"]["decision_date"] for r in body["results"]]
    assert dates == sorted(dates, reverse=True)
    assert {r["metadata"]["outcome"] for r in body["results"]} == {"suspend"}
    assert body["facets"]["outcome"] == {"suspend": len(ids)}
    # Pages cut the same list.
    pages = [_api(client, type="ruling", outcome="suspend", k=5, page=n) for n in (1, 2, 3)]
    paged = [r["document_id"] for p in pages for r in p["results"]]
    assert paged == ids[:15]
    assert [r["rank"] for r in pages[1]["results"]] == [6, 7, 8, 9, 10]
    by_outcome = _api(client, type="ruling", sort="outcome", k=100)["results"]
    outcomes = [r["metadata"]["outcome"] for r in by_outcome]
    assert outcomes == sorted(outcomes) and len(set(outcomes)) > 2


def test_the_page_lists_pages_and_sorts_without_an_answer_card(client):
    page = BeautifulSoup(
        client.get("/?type=ruling&outcome=suspend&k=5").get_data(as_text=True), "html.parser"
    )
    assert page.select_one("h1").get_text() == "What the filters match"
    assert page.select_one("#answer") is None
    assert len(page.select("li.hit")) == 5
    bar = page.select_one("nav.listbar").get_text(" ", strip=True)
    assert bar.startswith("Listing 1–5 of ")
    following = page.select_one("nav.pager a[rel=next]")["href"]
    assert "page=2" in following and "outcome=suspend" in following
    second = BeautifulSoup(client.get(following).get_data(as_text=True), "html.parser")
    assert second.select_one("nav.listbar").get_text(" ", strip=True).startswith("Listing 6–10")
    assert second.select_one("nav.pager a[rel=prev]")
    # No query and no filter: the start page, not a list of everything.
    assert client.get("/").get_data(as_text=True).count('class="hit') == 0


def test_a_query_pages_and_sorts_its_results(client):
    whole = _api(client, q="sparkler toddler", k=10)["results"]
    second = _api(client, q="sparkler toddler", k=5, page=2)
    assert [r["passage_id"] for r in second["results"]] == [r["passage_id"] for r in whole[5:]]
    assert second["total"] >= 10
    newest = _api(client, q="sparkler toddler", k=20, sort="date", type="ruling")["results"]
    dates = [r["metadata"]["decision_date"] for r in newest]
    assert dates == sorted(dates, reverse=True)


def test_rulings_only_get_no_policy_answer(client):
    page = client.get("/?q=sparkler+toddler&type=ruling").get_data(as_text=True)
    assert 'id="answer"' not in page and "consider escalating" not in page
    assert 'id="answer"' in client.get("/?q=sparkler+toddler").get_data(as_text=True)


def test_any_list_exports_as_csv(client):
    r = client.get("/api/search", query_string={"type": "ruling", "outcome": "suspend"})
    total = r.get_json()["total"]
    r = client.get(
        "/api/search", query_string={"type": "ruling", "outcome": "suspend", "format": "csv"}
    )
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == total  # every row, not one page
    first = rows[0]
    assert first["kind"] == "ruling" and first["id"].startswith("ESC-")
    assert first["outcome"] == "suspend" and first["clause"] and first["date"]
    assert first["url"].startswith("http://localhost/documents/" + first["id"])
    assert first["text"] and first["citation"].startswith(first["id"])
    page = client.get("/?q=sparkler").get_data(as_text=True)
    link = BeautifulSoup(page, "html.parser").find("a", string="Export CSV")["href"]
    exported = client.get(link)
    assert exported.mimetype == "text/csv"
    passages = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {p["kind"] for p in passages} >= {"policy", "ruling"}


def test_bad_list_arguments_are_refused(client):
    for args in ({"sort": "random"}, {"page": "0"}, {"page": "x"}, {"format": "xml"}):
        r = client.get("/api/search", query_string={"type": "ruling", **args})
        assert r.status_code == 400, args


def test_a_page_past_the_candidates_is_empty_not_an_error(client):
    body = _api(client, q="sparkler toddler", k=20, page=400)
    assert body["results"] == [] and body["total"] > 0


def test_no_query_and_no_filter_lists_everything_current_in_the_api(client):
    body = _api(client, k=5)
    assert body["total"] > 100 and len(body["results"]) == 5
    assert {r["citation"]["status"] for r in body["results"]} == {"current"}
