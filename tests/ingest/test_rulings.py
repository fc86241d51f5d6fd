from __future__ import annotations

import json

from kb.ingest.registry import Source
from kb.ingest.rulings import parse_csv, parse_jsonl

RULING = {
    "case_id": "ESC-1",
    "title": "Sparkler handed to a toddler",
    "decision_date": "2025-03-02",
    "surface": "live",
    "region": "EU",
    "policy_areas": ["dangerous-acts", "minor-safety"],
    "clauses": ["LIVE-DNG-3.1"],
    "facts": "A host handed a lit sparkler to a toddler while chat cheered.",
    "outcome": "end_stream",
    "decision": "Stream ended; 7-day LIVE restriction.",
    "rationale": "Involving a young child in a fire risk breaches LIVE-DNG-3.1.",
    "status": "active",
    "reviewer_tier": "T2",
    "queue": "dangerous-acts",
}


def _jsonl(*objs) -> str:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n"


def test_valid_ruling_becomes_document_with_facts_and_decision_sections():
    result = parse_jsonl(Source(path="r.jsonl", text=_jsonl(RULING), default_id="r"))
    assert result.errors == []
    (doc,) = result.documents
    assert doc.doc_id == "ESC-1" and doc.doc_type == "ruling"
    assert doc.ruling.outcome == "end_stream" and doc.ruling.clauses == ["LIVE-DNG-3.1"]
    assert doc.metadata["regions"] == ["EU"] and doc.metadata["surfaces"] == ["live"]
    assert doc.metadata["queue"] == "dangerous-acts"  # unknown fields kept, filterable
    assert [s.heading_path for s in doc.sections] == [["Facts"], ["Decision and rationale"]]
    decision = [doc.body[b.start : b.end] for b in doc.sections[1].blocks]
    assert decision[0].startswith("Outcome: end stream. Stream ended")
    assert decision[1].startswith("Rationale: Involving")


def test_bad_lines_are_reported_with_line_and_field_and_the_rest_is_kept():
    text = _jsonl(
        RULING,
        "{not json",
        {**RULING, "case_id": "ESC-2", "facts": ""},
        {**RULING, "case_id": "ESC-3", "outcome": "shadowban"},
        {**RULING, "case_id": "ESC-4", "decision_date": "yesterday"},
        {**RULING, "case_id": "ESC-1"},
        "[1, 2]",
        {**RULING, "case_id": "ESC-5", "clauses": "LIVE-DNG-3.1"},
        {**RULING, "case_id": "ESC-6"},
    )
    result = parse_jsonl(Source(path="r.jsonl", text=text, default_id="r"))
    assert [d.doc_id for d in result.documents] == ["ESC-1", "ESC-6"]
    got = sorted((e.line, e.field) for e in result.errors)
    assert got == [
        (2, None),
        (3, "facts"),
        (4, "outcome"),
        (5, "decision_date"),
        (6, "case_id"),
        (7, None),
        (8, "clauses"),
    ]
    assert all(e.path == "r.jsonl" for e in result.errors)


def test_csv_rulings_split_lists_on_semicolons():
    header = ",".join(RULING) + "\n"
    row = dict(
        RULING, policy_areas="dangerous-acts; minor-safety", clauses="LIVE-DNG-3.1;LIVE-MIN-4.2"
    )
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(RULING))
    w.writeheader()
    w.writerow(row)
    result = parse_csv(Source(path="r.csv", text=buf.getvalue(), default_id="r"))
    assert result.errors == [] and header
    assert result.documents[0].ruling.clauses == ["LIVE-DNG-3.1", "LIVE-MIN-4.2"]
    assert result.documents[0].ruling.policy_areas == ["dangerous-acts", "minor-safety"]
