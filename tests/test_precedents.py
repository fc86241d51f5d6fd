"""Similar rulings and the consistency report on the shipped corpus' planted groups."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kb.cli import main
from kb.precedents import consistency_report, similar_rulings
from kb.search.hybrid import Searcher

from .conftest import CORPUS

PLANTED = json.loads((CORPUS / "eval" / "planted_inconsistencies.json").read_text())


@pytest.fixture(scope="module")
def searcher(corpus_settings):
    s = Searcher(corpus_settings)
    yield s
    s.close()


def _found(planted: list[str], reported: list[set[str]]) -> bool:
    """A planted group is found when one reported group holds two thirds of it (at least 2)."""
    need = max(2, -(-2 * len(planted) // 3))
    return any(len(set(planted) & g) >= need for g in reported)


def test_consistency_report_finds_planted_groups(searcher):
    groups = consistency_report(searcher)
    reported = [{r.case_id for r in g.rulings} for g in groups if g.inconsistent]
    planted = [g["case_ids"] for g in PLANTED["inconsistent"]]
    recall = sum(_found(p, reported) for p in planted) / len(planted)
    precision = sum(
        any(len(g & set(p)) >= max(2, len(g) / 2) for p in planted) for g in reported
    ) / len(reported)
    print(f"consistency: recall {recall:.2f}, precision {precision:.2f}, {len(reported)} reported")
    assert recall >= 0.8
    assert precision >= 0.8
    # Inconsistent groups come first, most divergent first.
    flags = [g.inconsistent for g in groups]
    assert flags == sorted(flags, reverse=True)
    # Overturned and superseded rulings are never part of a group.
    assert all(r.status == "active" for g in groups for r in g.rulings)


def test_explained_divergence_is_not_reported(searcher):
    groups = consistency_report(searcher)
    reported = [{r.case_id for r in g.rulings} for g in groups if g.inconsistent]
    explained = [g for g in PLANTED["explained"] if g["explained_by"] in ("region", "version")]
    wrongly = [g["id"] for g in explained if _found(g["case_ids"], reported)]
    assert len(wrongly) <= len(explained) // 5, wrongly


def test_similar_rulings_find_the_same_facts(searcher):
    # The planted sparkler group: a lit sparkler handed to a toddler, decided alike each time.
    group = next(g for g in PLANTED["consistent"] if g["id"] == "A-CON-2")
    first, *others = group["case_ids"]
    facts = searcher.catalog.current_ruling(first).facts
    hits, outcomes = similar_rulings(searcher, facts, k=5, exclude=first)
    ids = [h.passage.doc_id for h in hits]
    assert first not in ids and set(others) <= set(ids)
    assert sum(outcomes.values()) == len(hits) == 5
    assert outcomes[group["outcome"]] >= len(others)


def test_cli_consistency_and_similar(corpus_settings, runner):
    base = ["--data-dir", str(corpus_settings.data_dir)]
    out = runner.invoke(main, [*base, "consistency", "--json"])
    assert out.exit_code == 0, out.output
    groups = json.loads(out.output)["groups"]
    assert groups and all(g["inconsistent"] and len(g["outcomes"]) > 1 for g in groups)
    out = runner.invoke(main, [*base, "consistency", "--csv"])
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert rows and {"group", "case_id", "outcome", "rationale"} <= set(rows[0])
    case = PLANTED["consistent"][0]["case_ids"][0]
    out = runner.invoke(main, [*base, "similar", "--case", case, "--json", "-k", "3"])
    body = json.loads(out.output)
    assert len(body["rulings"]) == 3 and case not in [r["document_id"] for r in body["rulings"]]


def test_web_consistency_and_similar(corpus_settings):
    from kb.web import create_app

    client = create_app(corpus_settings, testing=True).test_client()
    page = client.get("/consistency").get_data(as_text=True)
    assert "Consistency report" in page and 'class="cgroup"' in page
    api = client.get("/api/consistency").get_json()
    assert api["groups"]
    case = PLANTED["consistent"][0]["case_ids"][0]
    similar = client.get("/api/rulings/similar", query_string={"case_id": case, "k": 3})
    assert similar.status_code == 200 and len(similar.get_json()["rulings"]) == 3
    by_text = client.get(
        "/api/rulings/similar",
        query_string={"q": "lit sparkler handed to a toddler", "regions": "US"},
    )
    assert all(r["doc_type"] == "ruling" for r in by_text.get_json()["rulings"])
    ruling_page = client.get(f"/documents/{case}").get_data(as_text=True)
    assert "Similar rulings" in ruling_page


def test_consistency_csv_never_writes_a_spreadsheet_formula(settings, write, src, runner):
    """Ruling fields are source text: `=HYPERLINK(...)` or `+cmd|...` must reach a spreadsheet
    as text, not as a formula."""
    facts = "A streamer hands a lit sparkler to a toddler while chat cheers him on."
    base = {
        "title": "Sparkler",
        "decision_date": "2025-01-01",
        "region": "EU",
        "surface": "+cmd|' /C calc'!A0",
        "policy_areas": ["dangerous-acts"],
        "clauses": ["LIVE-DNG-1.1"],
        "facts": facts,
        "decision": "Decided.",
        "status": "active",
    }
    rulings = [
        {
            **base,
            "case_id": "ESC-F1",
            "outcome": "remove",
            "rationale": '=HYPERLINK("http://example.invalid","click")',
        },
        {
            **base,
            "case_id": "ESC-F2",
            "outcome": "no_action",
            "rationale": "@SUM(1+1)*cmd|' /C calc'!A0",
        },
    ]
    write("r.jsonl", "".join(json.dumps(r) + "\n" for r in rulings))
    cli = ["--data-dir", str(settings.data_dir)]
    assert runner.invoke(main, [*cli, "ingest", str(src)]).exit_code == 0
    out = runner.invoke(main, [*cli, "consistency", "--csv"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert {r["case_id"] for r in rows} == {"ESC-F1", "ESC-F2"}
    cells = [v for r in rows for v in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert '\'=HYPERLINK("http://example.invalid","click")' in cells
