"""Judging results (helpful, not helpful, wrong clause) from the pages, the API and the CLI;
the hot spots policy users see; and the judgments as an evaluation set `kb eval` measures."""

from __future__ import annotations

import json
import re

import pytest

from kb.cli import main
from kb.collections import Collections
from kb.feedback import FeedbackStore
from kb.web import create_app
from tests.web.test_access import csrf_of, login
from tests.web.test_auth import on_store

QUERY = "strmr drunk n driving"


def _app(settings, where):
    app = create_app(settings, testing=True)
    app.extensions["kb"].collections = Collections(where)
    app.extensions["kb"].feedback = FeedbackStore(where)
    if settings.auth == "users":
        on_store(app, where)
    return app


@pytest.fixture
def app(corpus_settings, tmp_path, user_store):
    # Same index, own user data (collections, feedback, users), in a folder and in PostgreSQL.
    return _app(corpus_settings.replace(user_data_dir=str(tmp_path)), user_store)


@pytest.fixture
def folder_app(corpus_settings, tmp_path):
    # Same index, own user data in a folder, for the command line on the same data dir.
    return _app(corpus_settings.replace(user_data_dir=str(tmp_path)), tmp_path)


@pytest.fixture
def users_app(corpus_settings, tmp_path, user_store):
    settings = corpus_settings.replace(
        user_data_dir=str(tmp_path), auth="users", secure_cookies=False
    )
    return _app(settings, user_store)


def test_a_moderator_judges_results_from_the_search_page(app):
    client = app.test_client()
    page = client.get("/", query_string={"q": QUERY}).get_data(as_text=True)
    judged = re.findall(r'name="judgment" value="(\S+) helpful"', page)
    assert len(judged) >= 10  # the answer card's clause and every result
    token = csrf_of(page)
    back = "/?q=strmr+drunk+n+driving"
    r = client.post(
        "/feedback",
        data={"q": QUERY, "judgment": f"{judged[1]} helpful", "next": back, "csrf_token": token},
    )
    assert r.status_code == 302 and r.location == f"{back}#hit-{judged[1]}"
    assert "Thanks: noted." in client.get(r.location).get_data(as_text=True)
    fetch = {"X-Requested-With": "fetch"}
    r = client.post(
        "/feedback",
        data={"q": QUERY, "judgment": f"{judged[2]} not_helpful", "csrf_token": token},
        headers=fetch,
    )
    assert r.status_code == 201 and "policy team" in r.get_json()["message"]
    # Wrong clause, naming the right one (any case); an unknown clause is refused, saying why.
    wrong = {
        "q": QUERY,
        "passage_id": judged[0],
        "verdict": "wrong_clause",
        "right_clause": "live-dng-3.1",
        "note": "impaired, not driving yet",
        "csrf_token": token,
    }
    assert client.post("/feedback", data=wrong, headers=fetch).status_code == 201
    r = client.post("/feedback", data={**wrong, "right_clause": "NOPE-1"}, headers=fetch)
    assert r.status_code == 400 and "no clause 'NOPE-1'" in r.get_json()["message"]
    mine = client.get("/api/feedback").get_json()["feedback"]
    assert [e["verdict"] for e in mine] == ["wrong_clause", "not_helpful", "helpful"]
    assert mine[0]["right_clause"] == "LIVE-DNG-3.1" and mine[0]["note"]
    # The policy view: the wrongly shown clause is a hot spot, with the question and the fix.
    body = client.get("/api/feedback", query_string={"all": "1"}).get_json()
    assert len(body["hotspots"]) == 2  # the wrong clause and the unhelpful result
    spot = next(s for s in body["hotspots"] if s["counts"]["wrong_clause"])
    assert spot["counts"]["wrong_clause"] == 1 and spot["right_clauses"] == {"LIVE-DNG-3.1": 1}
    assert spot["queries"] == [QUERY]
    page = client.get("/feedback").get_data(as_text=True)
    assert 'id="hotspots"' in page and "impaired, not driving yet" in page


def test_moderators_see_their_own_feedback_only(users_app):
    store = users_app.extensions["kb_auth"].users
    store.add("fb-mod", "moderator", "correct horse battery")
    store.add("fb-pol", "policy", "correct horse battery")
    mod = login(users_app, "fb-mod", "correct horse battery")
    pol = login(users_app, "fb-pol", "correct horse battery")
    hit = mod.get("/api/search", query_string={"q": QUERY, "k": 1}).get_json()["results"][0]
    headers = {"X-CSRFToken": csrf_of(mod.get("/").get_data(as_text=True))}
    r = mod.post(
        "/api/feedback",
        json={"q": QUERY, "passage_id": hit["passage_id"], "verdict": "not_helpful"},
        headers=headers,
    )
    assert r.status_code == 201
    assert mod.get("/api/feedback?all=1").status_code == 403
    assert len(mod.get("/api/feedback").get_json()["feedback"]) == 1
    assert pol.get("/api/feedback").get_json()["feedback"] == []  # not theirs
    assert pol.get("/api/feedback?all=1").get_json()["feedback"][0]["user"] == "fb-mod"
    assert "Hot spots" not in mod.get("/feedback").get_data(as_text=True)
    assert "Hot spots" in pol.get("/feedback").get_data(as_text=True)


def test_feedback_becomes_an_evaluation_set(folder_app, corpus_settings, runner, tmp_path):
    client = folder_app.test_client()
    hits = client.get("/api/search", query_string={"q": QUERY, "k": 3}).get_json()["results"]
    client.post(
        "/api/feedback",
        json={
            "q": QUERY,
            "passage_id": hits[0]["passage_id"],
            "verdict": "wrong_clause",
            "right_clause": "LIVE-DNG-3.1",
        },
    )
    client.post(
        "/api/feedback",
        json={"q": "kid with sparkler", "passage_id": hits[1]["passage_id"], "verdict": "helpful"},
    )
    base = ["--data-dir", str(corpus_settings.data_dir)]
    env = {"KB_USER_DATA_DIR": str(tmp_path)}
    out = runner.invoke(main, [*base, "feedback", "list", "--json"], env=env)
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert len(listed["feedback"]) == 2 and listed["hotspots"][0]["right_clauses"]
    folder = tmp_path / "judged"
    out = runner.invoke(main, [*base, "feedback", "export", "--qrels", str(folder)], env=env)
    assert out.exit_code == 0, out.output
    qrels = (folder / "qrels" / "test.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    rows = {tuple(line.split("\t")) for line in qrels[1:]}
    assert ("fb-1", "LIVE-DNG-3.1", "1") in rows
    assert ("fb-1", hits[0]["clause_id"] or hits[0]["document_id"], "0") in rows
    out = runner.invoke(main, [*base, "eval", str(folder), "--mode", "hybrid", "--json"], env=env)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["queries"] == 2 and result["unit"] == "clause"
