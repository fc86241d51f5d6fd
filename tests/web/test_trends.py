"""Ruling trends: charts a person can read (SVG images with text alternatives), the numbers
behind them as JSON and CSV, filters, new patterns, and only the rulings a role may see."""

from __future__ import annotations

import csv
import io

from bs4 import BeautifulSoup

from kb.web import create_app
from tests.web.test_access import login


def test_the_trends_page_draws_charts_with_words_for_them(client):
    page = BeautifulSoup(client.get("/trends").get_data(as_text=True), "html.parser")
    images = page.select("figure.chart img")
    assert len(images) == 3
    for img in images:
        assert img["alt"].startswith(("Rulings per month", "Share of each month"))
        assert "rulings" in img["alt"] or "overturned" in img["alt"]
        svg = client.get(img["src"])
        assert svg.mimetype == "image/svg+xml" and svg.get_data(as_text=True).lstrip().startswith(
            "<?xml"
        )
        assert "script-src" not in svg.headers["Content-Security-Policy"]
        drawn = svg.get_data(as_text=True)
        assert img["alt"].split(",")[0] in drawn  # its title is text in the drawing
    assert page.select_one("figcaption").get_text() == images[0]["alt"]
    by_region = BeautifulSoup(client.get("/trends?by=region").get_data(as_text=True), "html.parser")
    first = by_region.select_one("figure.chart img")
    assert (
        first["alt"].startswith("Rulings per month by region")
        and "/trends/region.svg" in first["src"]
    )
    assert client.get("/trends/clauses.svg").status_code == 200


def test_the_numbers_behind_the_charts(client):
    body = client.get("/api/trends").get_json()
    months = body["months"]
    assert months == sorted(months) and months[0] <= "2025-01" and len(months) >= 20
    assert sum(body["totals"]) > 200
    assert set(body["by"]["outcome"]) >= {"end_stream", "no_action"}
    assert all(0 <= r <= 1 for r in body["overturn_rate"]) and any(body["overturn_rate"])
    for p in body["new_patterns"]:
        assert p["similarity"] < 0.55 and p["decision_date"][:7] in months[-3:]
    narrowed = client.get("/api/trends", query_string={"policy_area": "dangerous-acts"}).get_json()
    assert 0 < sum(narrowed["totals"]) < sum(body["totals"])
    assert set(narrowed["by"]["policy_areas"]) >= {"dangerous-acts"}
    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/trends?format=csv").get_data(as_text=True)))
    )
    assert {r["dimension"] for r in rows} == {
        "policy_areas",
        "clauses",
        "outcome",
        "region",
        "surface",
        "reviewer_tier",
    }
    outcome_rows = [r for r in rows if r["dimension"] == "outcome"]
    assert sum(int(r["rulings"]) for r in outcome_rows) == sum(body["totals"])


def test_a_moderator_counts_only_the_rulings_they_may_see(corpus_settings):
    app = create_app(corpus_settings.replace(auth="users", secure_cookies=False), testing=True)
    store = app.extensions["kb_auth"].users
    for name, role in (("tr-mod", "moderator"), ("tr-pol", "policy")):
        if store.find(name) is None:
            store.add(name, role, "correct horse battery")
    mod = login(app, "tr-mod", "correct horse battery")
    pol = login(app, "tr-pol", "correct horse battery")
    seen = sum(mod.get("/api/trends").get_json()["totals"])
    everything = sum(pol.get("/api/trends").get_json()["totals"])
    assert 0 < seen < everything
