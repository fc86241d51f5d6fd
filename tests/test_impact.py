"""What a policy change touches, previewed from a draft: the guidance that cites or is close to
each changed clause, the rulings that applied it, the collections that hold it; from the
command line, the API (JSON and CSV) and the page, for policy users only."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kb.cli import main
from kb.collections import Collections
from kb.web import create_app

from .conftest import ingest_files

POLICY = """
---
id: pets-on-live
title: Pets on LIVE
type: policy
version: "{version}"
effective_from: {date}
status: {status}
---

# Pets on LIVE

## PET-1 Care

### PET-1.1 Feeding on stream
{feeding}

### PET-1.2 Handling animals
Hosts must not lift animals by the tail, ears or scruff, or shake or throw them for the camera.

{third}
"""
V1 = {
    "version": "1.0",
    "date": "2025-01-01",
    "status": "current",
    "feeding": "Hosts may feed pets on stream with ordinary pet food.",
    "third": "### PET-1.3 Costumes\nHosts may dress pets in costumes that do not cover the face.",
}
V2 = {
    "version": "2.0",
    "date": "2027-01-01",
    "status": "draft",
    "feeding": "Hosts must not feed pets chocolate, grapes, onions or alcohol on stream, "
    "even as a joke or for gifts.",
    "third": "### PET-1.4 Gift goals\nHosts must not tie an animal's treatment to gift goals.",
}
GUIDANCE = """
---
id: pet-playbook
title: Pet stream playbook
type: guidance
version: "1"
effective_from: 2025-02-01
---

# Pet stream playbook

## Food dares
When chat dares a host to feed a pet something, check PET-1.1 first and end the stream if the
host goes ahead.

## Rough handling
A host who picks a cat up by the scruff and shakes it for the camera is mishandling the animal.
"""
RULINGS = [
    {
        "case_id": "ESC-9001",
        "title": "Host feeds dog chocolate for a gift goal",
        "decision_date": "2025-06-01",
        "surface": "live",
        "region": "UK",
        "policy_areas": ["animals"],
        "clauses": ["PET-1.1"],
        "facts": "The host fed a dog a chocolate bar after a gift goal was reached.",
        "outcome": "no_action",
        "decision": "No action.",
        "rationale": "Feeding pets was allowed under PET-1.1.",
        "status": "active",
    },
    {
        "case_id": "ESC-9002",
        "title": "Cat in a full-face mask",
        "decision_date": "2025-07-01",
        "surface": "live",
        "region": "UK",
        "policy_areas": ["animals"],
        "clauses": ["PET-1.3"],
        "facts": "The host dressed a cat in a mask covering its face.",
        "outcome": "warn",
        "decision": "Warning.",
        "rationale": "Costumes may not cover the face (PET-1.3).",
        "status": "active",
    },
]


@pytest.fixture(scope="module")
def pets(tmp_path_factory, shared_cache):
    files = {
        "pets.md": POLICY.format(**V1).lstrip(),
        "pets.v2.md": POLICY.format(**V2).lstrip(),
        "playbook.md": GUIDANCE.lstrip(),
        "rulings.jsonl": "".join(json.dumps(r) + "\n" for r in RULINGS),
    }
    settings = ingest_files(tmp_path_factory, "pets", files)
    store = Collections(settings.user_data_path())
    store.create("Feeding")
    from kb.search.hybrid import Searcher

    searcher = Searcher(settings)
    fed = searcher.catalog.clause_passage("PET-1.1")  # the current (v1) text of the clause
    searcher.close()
    store.add("Feeding", fed.passage_id, _catalog(settings))
    store.add("Feeding", "ESC-9002", _catalog(settings))
    store.close()
    return settings


def _catalog(settings):
    from kb.catalog import Catalog
    from kb.datadir import DataDir
    from kb.layout import Generation

    return Catalog(Generation(DataDir(settings.data_dir).current()).catalog, readonly=True)


def test_a_draft_previews_what_it_touches(pets, runner):
    out = runner.invoke(
        main, ["--data-dir", str(pets.data_dir), "impact", "pets-on-live", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert (report["from"]["version"], report["to"]["version"]) == ("1.0", "2.0")
    assert report["to"]["status"] == "draft"
    by_clause = {s["clause_id"]: s for s in report["sections"]}
    assert {c: s["kind"] for c, s in by_clause.items()} == {
        "PET-1.1": "changed",
        "PET-1.3": "removed",
        "PET-1.4": "added",
    }
    feeding = by_clause["PET-1.1"]
    assert [(g["doc_id"], g["why"]) for g in feeding["guidance"] if g["why"] == "cites"] == [
        ("pet-playbook", "cites")
    ]
    assert [r["case_id"] for r in feeding["rulings"]] == ["ESC-9001"]
    assert feeding["rulings"][0]["before_change"] is True
    assert [c["collection"] for c in feeding["collections"]] == ["Feeding"]
    removed = by_clause["PET-1.3"]
    assert [r["case_id"] for r in removed["rulings"]] == ["ESC-9002"]
    assert removed["collections"] == [{"collection": "Feeding", "ref": "ESC-9002"}]
    assert report["rulings_now_outdated"] == ["ESC-9001", "ESC-9002"]
    # The unchanged handling clause is not in the report, and neither is the guidance
    # section about it (close to PET-1.2 only).
    assert "PET-1.2" not in by_clause
    out = runner.invoke(main, ["--data-dir", str(pets.data_dir), "impact", "pets-on-live", "--csv"])
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert {(r["clause_id"], r["touches"], r["ref"]) for r in rows} >= {
        ("PET-1.1", "ruling", "ESC-9001"),
        ("PET-1.3", "collection", "ESC-9002"),
    }
    assert (
        runner.invoke(main, ["--data-dir", str(pets.data_dir), "impact", "pets-on-live"]).exit_code
        == 0
    )


def test_the_api_and_the_page_are_for_policy_users(pets):
    app = create_app(pets.replace(auth="users", secure_cookies=False), testing=True)
    store = app.extensions["kb_auth"].users
    store.add("mod", "moderator", "correct horse battery")
    store.add("pol", "policy", "correct horse battery")

    def client_for(name: str):
        from tests.web.test_access import login

        return login(app, name, "correct horse battery")

    mod, pol = client_for("mod"), client_for("pol")
    assert mod.get("/api/documents/pets-on-live/impact").status_code == 403
    assert mod.get("/documents/pets-on-live/impact").status_code == 403
    body = pol.get("/api/documents/pets-on-live/impact").get_json()
    assert body["rulings_now_outdated"] == ["ESC-9001", "ESC-9002"]
    exported = pol.get("/api/documents/pets-on-live/impact?format=csv")
    assert exported.mimetype == "text/csv" and "ESC-9001" in exported.get_data(as_text=True)
    page = pol.get("/documents/pets-on-live/impact").get_data(as_text=True)
    assert "PET-1.1 Feeding on stream" in page and "decided before the change" in page
    assert "/documents/ESC-9001" in page and "Pet stream playbook" in page
    # From the current version back to itself: nothing differs, nothing is touched.
    v1 = body["from"]["version_id"]
    same = pol.get(f"/api/documents/pets-on-live/impact?from={v1}&to={v1}").get_json()
    assert same["sections"] == [] and same["rulings_now_outdated"] == []
