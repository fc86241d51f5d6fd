"""Every route through Flask's test client, on the real sample corpus index."""

from __future__ import annotations

import re

import pytest

from kb.ingest.pipeline import ingest
from kb.web import create_app
from kb.web.errors import error_body

from ..conftest import RESULT_FIELDS

SPARKLER = "streamer hands a lit sparkler to a toddler while chat cheers"


def test_search_page_without_javascript_shows_answer_groups_and_citations(client):
    page = client.get("/", query_string={"q": SPARKLER}).get_data(as_text=True)
    assert '<article class="answer ' in page and "abstain" not in page.split("<h2>Answer")[0][-80:]
    groups = re.findall(r'<h2 class="group">(\w+)</h2>', page)
    assert groups[0] == "Policy" and "Precedents" in groups
    assert "Dangerous Acts and Challenges › " in page  # citation line: Document › Section
    assert "<mark>sparkler</mark>" in page or "<mark>Sparkler" in page
    assert 'class="copy"' in page and "/passages/p" in page
    # Facet counts reflect this query's candidates.
    assert re.search(r'name="type" value="policy"[^>]*> policy <span class="count">\d+', page)


def test_filters_restrict_results_and_keep_the_query(client):
    page = client.get("/", query_string={"q": SPARKLER, "type": "ruling"}).get_data(as_text=True)
    groups = re.findall(r'<h2 class="group">(\w+)</h2>', page)
    assert groups == ["Precedents"]
    assert re.search(r'value="ruling"\s+checked', page)


def test_answer_card_answers_in_domain_and_abstains_off_topic(client):
    good = client.get("/api/answer", query_string={"q": "can a 16 year old co-host a battle"})
    body = good.get_json()
    assert body["answered"] and body["sentences"] and body["sources"]
    first = body["sources"][0]["citation"]
    assert first["doc_type"] == "policy" and first["heading_path"][0] == "Minors on LIVE"
    for sentence in body["sentences"]:  # verbatim spans of cited passages
        source = body["sources"][sentence["source"] - 1]
        text = client.get(f"/api/passages/{source['passage_id']}").get_json()["text"]
        assert sentence["text"] in text
    for query in ("best pizza in town", "how do I book annual leave"):
        off = client.get("/api/answer", query_string={"q": query}).get_json()
        assert not off["answered"] and "consider escalating" in off["message"]
        page = client.get("/", query_string={"q": query}).get_data(as_text=True)
        assert 'class="answer abstain"' in page


def test_the_answer_card_leads_with_its_governing_clause(client):
    body = client.get("/api/answer", query_string={"q": "can a 16 year old co-host a battle"})
    body = body.get_json()
    governing = body["governing"]
    top = body["sources"][0]
    assert governing["clause_id"] == top["citation"]["heading_path"][-1].split()[0]
    assert governing["version"] == top["citation"]["version"]
    assert body["sentences"][0]["source"] == 1  # the first sentence quotes the governing clause
    page = client.get("/", query_string={"q": "can a 16 year old co-host a battle"})
    # The page links the clause's passage, which then arrives highlighted.
    assert f'Governing: <a href="/passages/{top["passage_id"]}">' in page.get_data(as_text=True)
    off = client.get("/api/answer", query_string={"q": "best pizza in town"}).get_json()
    assert off["governing"] is None


def test_precedents_in_the_answer_carry_outcomes(client):
    body = client.get("/api/answer", query_string={"q": SPARKLER}).get_json()
    assert body["precedents"] and all(
        p["outcome"] and p["decision_date"] for p in body["precedents"]
    )


def test_document_view_versions_and_arriving_passage(client):
    doc = client.get("/api/documents/minors-on-live").get_json()
    assert [v["status"] for v in doc["versions"]] == ["current", "historical"]
    old_id = doc["versions"][1]["version_id"]
    old = client.get(f"/api/documents/minors-on-live?version={old_id}").get_json()
    assert old["version"]["version"] == "1.0" and old["version"]["effective_to"] == "2025-09-30"
    assert (
        client.get("/api/documents/minors-on-live?version=1.0").get_json()["version"]["version_id"]
        == old_id
    )
    passage = doc["passages"][3]
    jump = client.get(f"/passages/{passage['passage_id']}")
    assert jump.status_code == 302 and jump.location.endswith("#" + passage["passage_id"])
    page = client.get(jump.location).get_data(as_text=True)
    assert f'class="passage md arrived" id="{passage["passage_id"]}"' in page
    assert f'id="{passage["anchor"]}"' in page and 'id="version-select"' in page
    hist = client.get(f"/documents/minors-on-live?version={old_id}").get_data(as_text=True)
    assert "This is a historical version" in hist


def test_ruling_view_banner_clauses_and_policies_in_force(client):
    doc = client.get("/api/documents/ESC-1006").get_json()  # overturned in the sample corpus
    ruling = doc["ruling"]
    assert ruling["status"] == "overturned" and ruling["superseded_by"]
    page = client.get("/documents/ESC-1006").get_data(as_text=True)
    assert "This ruling was overturned" in page and ruling["superseded_by"] in page
    assert all(c["passage_id"] for c in doc["applied_clauses"])
    assert f"Policies in force on {ruling['decision_date']}" in page
    search = client.get("/", query_string={"q": ruling["facts"][:200], "type": "ruling"})
    assert "This ruling was overturned" in search.get_data(as_text=True)


def test_api_search_shape(client):
    r = client.get(
        "/api/search", query_string={"q": SPARKLER, "k": 5, "type": "policy", "regions": "EU"}
    )
    body = r.get_json()
    assert r.status_code == 200 and len(body["results"]) == 5
    hit = body["results"][0]
    assert {*RESULT_FIELDS, "highlighted"} <= set(hit)
    assert set(body["facets"]["type"]) == {"policy"}
    post = client.post("/api/search", json={"q": SPARKLER, "k": 2, "filters": {"type": "ruling"}})
    assert [h["doc_type"] for h in post.get_json()["results"]] == ["ruling", "ruling"]
    assert client.get("/api/health").get_json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "fragment"),
    [
        ("get", "/api/search", {"query_string": {"q": "x", "k": 0}}, 400, "k must be between"),
        (
            "get",
            "/api/search",
            {"query_string": {"q": "x", "k": "ten"}},
            400,
            "k must be an integer",
        ),
        ("get", "/api/search", {"query_string": {"q": "x" * 1001}}, 400, "limit is 1000"),
        # Spaces count: the document's maxLength is on what is sent (found by `make fuzz`).
        ("post", "/api/search", {"json": {"q": "x" + "\x1e" * 1000}}, 400, "limit is 1000"),
        (
            "get",
            "/api/search",
            {"query_string": {"q": "x", "colour": "red"}},
            400,
            "unknown filter",
        ),
        (
            "get",
            "/api/search",
            {"query_string": {"q": "x", "as_of": "31/12/2025"}},
            400,
            "not a date",
        ),
        ("get", "/api/answer", {"query_string": {"q": ""}}, 400, "empty"),
        ("get", "/api/search", {"query_string": {"sort": "random"}}, 400, "unknown sort"),
        (
            "post",
            "/api/search",
            {"data": "not json", "content_type": "application/json"},
            400,
            "JSON object",
        ),
        ("get", "/api/documents/nope", {}, 404, "no document"),
        ("get", "/api/passages/nope", {}, 404, "no passage"),
        ("delete", "/api/search", {}, 405, ""),
        ("get", "/api/nothing-here", {}, 404, ""),
        (
            "post",
            "/api/search",
            {"data": "x" * 70_000, "content_type": "application/json"},
            413,
            "",
        ),
    ],
)
def test_api_errors_have_one_shape(client, method, url, kwargs, status, fragment):
    r = getattr(client, method)(url, **kwargs)
    body = r.get_json()
    assert r.status_code == status
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status and fragment in body["error"]["message"]
    assert "Traceback" not in r.get_data(as_text=True)


def test_error_shape_is_pinned():
    assert error_body(400, "query", "bad") == {
        "error": {"status": 400, "code": "query", "message": "bad"}
    }


def test_pages_render_errors_as_pages(client):
    r = client.get("/documents/nope")
    assert r.status_code == 404 and "<!doctype html>" in r.get_data(as_text=True)
    bad = client.get("/", query_string={"q": "x", "as_of": "soon"}).get_data(as_text=True)
    assert 'class="error" role="alert"' in bad and "not a date" in bad


def test_openapi_matches_the_routes(app, client):
    spec = client.get("/api/openapi.json").get_json()
    documented = set(spec["paths"])
    routes = {
        re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api")
    }
    assert documented == routes
    for path, item in spec["paths"].items():
        for method in item:
            rule = next(
                r
                for r in app.url_map.iter_rules()
                if re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", r.rule) == path
            )
            assert method.upper() in rule.methods


def test_security_headers(client):
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_markup_in_documents_and_queries_is_escaped(tmp_path, settings):
    src = tmp_path / "evil"
    src.mkdir()
    (src / "evil.md").write_text(
        "---\nid: evil\ntitle: Evil <script>alert('t')</script> policy\n---\n"
        "# Evil policy\n\n## Section <img src=x onerror=alert(1)>\n\n"
        "Sparkler rules. <script>alert('body')</script> More sparkler text here.\n\n"
        "<script>alert('block')</script>\n"
    )
    ingest(settings, [src])
    client = create_app(settings, testing=True).test_client()
    query = "sparkler <script>alert('q')</script>"
    for url in ("/", "/documents/evil"):
        page = client.get(url, query_string={"q": query}).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
    api = client.get("/api/search", query_string={"q": query}).get_json()
    assert "<script>" not in api["results"][0]["highlighted"]
