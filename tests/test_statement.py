"""What to do: the answer card leads with the governing clause's default enforcement, and a
ruling's statement of reasons is rendered from its clauses' templates (CLI, API, page)."""

from __future__ import annotations

import json

import pytest

from kb.cli import main
from kb.web import create_app

from .conftest import ingest_files

POLICY = """---
id: vehicles
title: Vehicles on LIVE
type: policy
version: "1.0"
effective_from: 2025-01-01
---

# Vehicles on LIVE

## LIVE-VEH-1 Driving

### LIVE-VEH-1.1 Streaming while driving
<!-- enforcement
actions: end_stream, restrict
severity: S1
strike: standard
reason: VEH-DRIVING
statement: We ended your LIVE because you streamed while driving, which {clause_id} ({clause_title}) does not allow.
-->

A host may not stream while driving a car, motorbike or scooter on a public road, even with
the phone mounted.

### LIVE-VEH-1.2 Passengers
<!-- enforcement
actions: none
reason: VEH-PASSENGER
-->

Passengers may stream from a vehicle if they do not distract the driver.
"""
RULING = {
    "case_id": "ESC-8001",
    "title": "Host streams the school run from the dashboard",
    "decision_date": "2025-03-01",
    "surface": "live",
    "region": "UK",
    "policy_areas": ["dangerous-acts"],
    "clauses": ["LIVE-VEH-1.1", "LIVE-VEH-1.2"],
    "facts": "The host streamed the school run with the phone on the dashboard.",
    "outcome": "end_stream",
    "decision": "Stream ended; 7-day LIVE restriction.",
    "rationale": "Driving while streaming (LIVE-VEH-1.1).",
    "status": "active",
}


@pytest.fixture(scope="module")
def vehicles(tmp_path_factory, shared_cache):
    files = {"vehicles.md": POLICY, "rulings.jsonl": json.dumps(RULING) + "\n"}
    return ingest_files(tmp_path_factory, "vehicles", files)


def test_the_answer_card_leads_with_what_to_do(vehicles):
    client = create_app(vehicles, testing=True).test_client()
    answer = client.get(
        "/api/answer", query_string={"q": "host streaming while driving a car"}
    ).get_json()
    governing = answer["governing"]
    assert governing["clause_id"] == "LIVE-VEH-1.1"
    assert governing["enforcement"] == {
        "actions": ["end_stream", "restrict"],
        "severity": "S1",
        "strike": "standard",
        "reason": "VEH-DRIVING",
        "statement": "We ended your LIVE because you streamed while driving, which "
        "{clause_id} ({clause_title}) does not allow.",
    }
    page = client.get("/", query_string={"q": "host streaming while driving a car"})
    text = page.get_data(as_text=True)
    assert 'id="verdict"' in text and "end stream + restrict" in text
    assert text.index('id="verdict"') < text.index('class="sources"')


def test_statement_of_reasons(vehicles, runner):
    out = runner.invoke(
        main, ["--data-dir", str(vehicles.data_dir), "ruling", "ESC-8001", "--json"]
    )
    assert out.exit_code == 0, out.output
    statement = json.loads(out.output)
    driving, passengers = statement["grounds"]
    assert driving["statement"] == (
        "We ended your LIVE because you streamed while driving, which LIVE-VEH-1.1 "
        "(Streaming while driving) does not allow."
    )
    assert driving["version"] == "1.0" and passengers["statement"] is None
    assert statement["reason_codes"] == ["VEH-DRIVING", "VEH-PASSENGER"]
    text = runner.invoke(
        main, ["--data-dir", str(vehicles.data_dir), "ruling", "ESC-8001", "--statement"]
    ).output
    assert text.startswith("Statement of reasons: ESC-8001")
    assert "Decision (2025-03-01): Stream ended; 7-day LIVE restriction." in text
    assert driving["statement"] in text
    client = create_app(vehicles, testing=True).test_client()
    assert client.get("/api/rulings/ESC-8001/statement").get_json() == statement
    assert client.get("/api/rulings/ESC-0000/statement").status_code == 404
    page = client.get("/documents/ESC-8001").get_data(as_text=True)
    assert 'id="statement"' in page and "reason VEH-DRIVING" in page


def test_on_the_shipped_corpus_the_card_says_what_to_do(corpus_settings, runner):
    client = create_app(corpus_settings, testing=True).test_client()
    for query in ("strmr drunk n driving", "guy juggling real knives blindfolded on live"):
        governing = client.get("/api/answer", query_string={"q": query}).get_json()["governing"]
        assert governing and governing["enforcement"], query
    out = runner.invoke(
        main, ["--data-dir", str(corpus_settings.data_dir), "ruling", "ESC-1033", "--json"]
    )
    grounds = json.loads(out.output)["grounds"]
    assert grounds and all(g["enforcement"] for g in grounds)
