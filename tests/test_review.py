"""What needs review: documents past their review date, guidance citing a clause that changed
after the guidance took effect, rulings resting on a clause changed since; by owner, from the
command line, the API and the pages."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kb.cli import main
from kb.web import create_app

from .conftest import ingest_files
from .test_impact import POLICY, RULINGS, V1, V2

GUIDANCE = """
---
id: pet-playbook
title: Pet stream playbook
type: guidance
version: "1"
effective_from: 2025-02-01
owner: Pet Ops
review_by: 2020-01-01
---

# Pet stream playbook

## Food dares
When chat dares a host to feed a pet something, check PET-1.1 first.

## Handling
Lifting a cat by the scruff for the camera breaks PET-1.2.
"""
FAQ = """
---
id: pet-faq
title: Pet FAQ
type: guidance
version: "1"
effective_from: 2025-02-01
owner: Moderator Enablement
review_by: 2099-01-01
---

# Pet FAQ

## Can hosts stream their pets?
Yes, within PET-1.2.
"""


@pytest.fixture(scope="module")
def pets(tmp_path_factory, shared_cache):
    # v2.0 is in force since 2026-06-01: PET-1.1 changed, PET-1.3 went, PET-1.2 is the same.
    current = {**V2, "date": "2026-06-01", "status": "current"}
    files = {
        "pets.v1.md": POLICY.format(**V1).lstrip(),
        "pets.md": POLICY.format(**current).lstrip(),
        "playbook.md": GUIDANCE.lstrip(),
        "faq.md": FAQ.lstrip(),
        "rulings.jsonl": "".join(json.dumps(r) + "\n" for r in RULINGS),
    }
    settings = ingest_files(tmp_path_factory, "review", files)
    return settings


def test_the_review_list(pets, runner):
    base = ["--data-dir", str(pets.data_dir), "review"]
    out = runner.invoke(main, [*base, "--json"])
    assert out.exit_code == 0, out.output
    items = {i["doc_id"]: i for i in json.loads(out.output)["items"]}
    assert set(items) == {"pet-playbook", "ESC-9001", "ESC-9002"}
    playbook = items["pet-playbook"]
    assert playbook["past_due"] and playbook["owner"] == "Pet Ops"
    assert [c["clause_id"] for c in playbook["stale_clauses"]] == ["PET-1.1"]
    assert playbook["reasons"] == [
        "review was due 2020-01-01",
        "cites PET-1.1, changed 2026-06-01",
    ]
    assert items["ESC-9002"]["reasons"] == ["applied PET-1.3, no longer in any policy"]
    assert next(iter(items)) == "pet-playbook"  # past due first
    out = runner.invoke(main, [*base, "--owner", "pet ops", "--json"])
    assert [i["doc_id"] for i in json.loads(out.output)["items"]] == ["pet-playbook"]
    out = runner.invoke(main, [*base, "--csv"])
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [r["doc_id"] for r in rows] == list(items)
    assert runner.invoke(main, base).exit_code == 0


def test_pages_show_the_badge_and_the_list_is_for_policy_users(pets):
    app = create_app(pets.replace(auth="users", secure_cookies=False), testing=True)
    store = app.extensions["kb_auth"].users
    store.add("mod", "moderator", "correct horse battery")
    store.add("pol", "policy", "correct horse battery")
    from tests.web.test_access import login

    mod = login(app, "mod", "correct horse battery")
    pol = login(app, "pol", "correct horse battery")
    assert mod.get("/review").status_code == 403
    assert mod.get("/api/review").status_code == 403
    # Moderators see the badge on what they may read.
    page = mod.get("/documents/pet-playbook").get_data(as_text=True)
    assert 'id="needs-review"' in page and "cites PET-1.1, changed 2026-06-01" in page
    assert 'id="needs-review"' not in mod.get("/documents/pet-faq").get_data(as_text=True)
    doc = mod.get("/api/documents/ESC-9001").get_json()
    assert doc["review"]["reasons"] == ["applied PET-1.1, changed 2026-06-01"]
    listing = pol.get("/review").get_data(as_text=True)
    assert "Pet stream playbook" in listing and "Pet FAQ" not in listing
    assert pol.get("/review?owner=Pet+Ops").status_code == 200
    exported = pol.get("/api/review?format=csv")
    assert exported.mimetype == "text/csv" and "pet-playbook" in exported.get_data(as_text=True)


def test_the_shipped_faq_predates_the_driving_rule(corpus_settings, runner):
    # The FAQ (in force since 2025-12-08) still answers the car question under Dangerous Acts
    # v1.0; v2.0 (2026-02-01) rewrote LIVE-DNG-3.2 and added a ban on streaming while driving.
    out = runner.invoke(main, ["--data-dir", str(corpus_settings.data_dir), "review", "--json"])
    assert out.exit_code == 0, out.output
    items = {i["doc_id"]: i for i in json.loads(out.output)["items"]}
    faq = items["new-moderator-faq"]
    assert [c["clause_id"] for c in faq["stale_clauses"]] == ["LIVE-DNG-3.2"]
    assert "cites LIVE-DNG-3.2, changed 2026-02-01" in faq["reasons"]
    # Guidance written after the change is not flagged for it.
    assert "edge-case-playbook" not in items or not items["edge-case-playbook"]["stale_clauses"]
