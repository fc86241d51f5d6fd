"""Knowledge gaps and search usage from the audit log and feedback: pages, API, CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kb.cli import main
from kb.web import create_app

UNANSWERED = [
    "best pizza in town",
    "where to order pizza tonight",
    "pizza delivery near me",
    "what is the weather tomorrow",
]


@pytest.fixture
def client(corpus_settings, tmp_path):
    app = create_app(corpus_settings.replace(user_data_dir=str(tmp_path)), testing=True)
    return app.test_client()


def test_unanswered_questions_become_topics_and_usage_counts_them(
    client, corpus_settings, runner, tmp_path
):
    for q in UNANSWERED:
        assert client.get("/", query_string={"q": q}).status_code == 200
    client.get("/", query_string={"q": "best pizza in town"})  # asked twice
    client.get("/", query_string={"q": "streamer hands a lit sparkler to a toddler"})
    # Answered, and a result opened straight after: not a gap.
    client.get("/", query_string={"q": "host juggling knives for gifts"})
    opened = client.get("/api/search", query_string={"q": "host juggling knives", "k": 1})
    client.get(f"/passages/{opened.get_json()['results'][0]['passage_id']}")
    client.get("/api/search", query_string={"q": "sparkler", "type": "ruling"})
    hit = client.get("/api/search", query_string={"q": "sparkler toddler", "k": 1}).get_json()
    client.post(
        "/api/feedback",
        json={
            "q": "sparkler toddler",
            "passage_id": hit["results"][0]["passage_id"],
            "verdict": "not_helpful",
        },
    )
    body = client.get("/api/usage").get_json()
    day = body["days"][-1]
    assert body["searches"] == 10 and day["abstained"] >= 4 and day["answered"] >= 2
    assert day["p95_ms"] > 0 and 0 < day["abstention_rate"] < 1
    assert body["top_queries"][0] == {"query": "best pizza in town", "count": 2}
    assert {"filter": "type=ruling", "count": 1} in body["top_filters"]
    topics = client.get("/api/gaps").get_json()["gaps"]
    pizza = next(t for t in topics if "pizza" in t["label"])
    assert set(pizza["questions"]) == {q for q in UNANSWERED if "pizza" in q}
    assert (
        pizza["count"] == 4 and pizza["reasons"] == {"abstained": 4} and "pizza" in pizza["terms"]
    )
    assert not any("weather" in q for q in pizza["questions"])  # another topic
    assert any(t["reasons"].get("not helpful") for t in topics)
    # Answered but nothing opened afterwards: "no click".
    asked = {q: t for t in topics for q in t["questions"]}
    assert asked["streamer hands a lit sparkler to a toddler"]["reasons"].get("no click")
    assert "host juggling knives for gifts" not in asked
    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/gaps?format=csv").get_data(as_text=True)))
    )
    assert rows[0]["topic"] == pizza["label"] and rows[0]["count"] == "4"
    page = client.get("/usage").get_data(as_text=True)
    assert "Knowledge gaps" in page and pizza["label"] in page and 'id="days"' in page
    assert 'alt="Searches per day, by what came of them' in page and "abstained on" in page
    chart = client.get("/usage/searches.svg")
    assert chart.mimetype == "image/svg+xml" and "Searches per day" in chart.get_data(as_text=True)
    out = runner.invoke(
        main,
        ["--data-dir", str(corpus_settings.data_dir), "gaps", "--json"],
        env={"KB_USER_DATA_DIR": str(tmp_path)},
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["label"] == pizza["label"]
    later = client.get("/api/usage", query_string={"since": "2999-01-01"}).get_json()
    assert later["searches"] == 0 and client.get("/api/gaps?since=2999-01-01").get_json() == {
        "gaps": []
    }
