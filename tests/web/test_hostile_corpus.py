"""The role walk over a small hostile corpus: key spellings, `applies` overrides, status tricks,
symlinks out of the corpus, repeated keys and twin files that disagree about visibility.

Every hidden text carries a marker word. A moderator searching for it, asking for an answer,
looking for similar rulings, or opening the documents and passages by id never sees it; the
policy role finds what was ingested restricted (so the markers are real), and nobody finds
what was refused at ingest."""

from __future__ import annotations

import html
import json
import os
import textwrap
from urllib.parse import quote_plus

import pytest

from kb.config import Settings
from kb.ingest.pipeline import ingest
from kb.web import create_app
from tests.web.test_access import PASSWORD, ROLES, login

# marker -> how it was hidden. "restricted": ingested, policy-only. "refused": not ingested.
MARKERS = {
    "quokkacase": "restricted",  # `Visibility: restricted` (capital V)
    "quokkastatus": "restricted",  # an archive version declaring `Status: current`
    "quokkameta": "restricted",  # <meta name="kb:Visibility" content="policy-team">
    "quokkaruling": "restricted",  # a ruling with "Visibility": "restricted"
    "quokkatwin": "restricted",  # same text, one open copy and one restricted copy
    "quokkaapplies": "refused",  # `<!-- applies: visibility=all -->` in a restricted file
    "quokkadup": "refused",  # visibility: restricted + VISIBILITY: all
    "quokkaoutside": "refused",  # a symlink to a file outside the corpus
}
OPEN_MARKER = "wallabyopen"

FILES = {
    "policies/open.md": f"""
        ---
        id: open-policy
        title: Open policy
        effective_from: 2024-01-01
        ---
        # Open policy

        ## LIVE-OP-1 Rule

        Streams about {OPEN_MARKER} are fine.
        """,
    "policies/case.md": """
        ---
        id: case-policy
        title: Case policy
        Visibility: restricted
        effective_from: 2024-01-01
        ---
        # Case policy

        ## LIVE-CP-1 Rule

        Internal note about quokkacase streams.
        """,
    "policies/applies.md": """
        ---
        id: applies-policy
        title: Applies policy
        visibility: restricted
        effective_from: 2024-01-01
        ---
        # Applies policy

        ## LIVE-AP-1 Rule
        <!-- applies: visibility=all -->

        Internal note about quokkaapplies streams.
        """,
    "policies/dup.md": """
        ---
        id: dup-policy
        title: Dup policy
        visibility: restricted
        VISIBILITY: all
        effective_from: 2024-01-01
        ---
        # Dup policy

        ## LIVE-DP-1 Rule

        Internal note about quokkadup streams.
        """,
    "policies/status.md": """
        ---
        id: status-policy
        title: Status policy
        version: "2.0"
        effective_from: 2025-01-01
        ---
        # Status policy

        ## LIVE-SP-1 Rule

        The current rule about streams.
        """,
    "policies/archive/status-v1.md": """
        ---
        id: status-policy
        title: Status policy
        version: "1.0"
        Status: current
        effective_from: 2020-01-01
        ---
        # Status policy

        ## LIVE-SP-1 Rule

        The old quokkastatus rule about streams.
        """,
    "guidance/meta.html": """
        <html><head><title>Team notes</title>
        <meta name="kb:id" content="team-notes">
        <meta name="kb:Visibility" content="policy-team">
        </head><body><main><h2>Notes</h2><p>Team-only quokkameta escalation notes.</p>
        </main></body></html>
        """,
    "guidance/twin-a.html": """
        <html><head><title>Twin</title>
        <meta name="kb:id" content="twin"><meta name="kb:effective_from" content="2024-01-01">
        <meta name="kb:visibility" content="all">
        </head><body><main><h2>Twin</h2><p>Twin quokkatwin notes.</p></main></body></html>
        """,
    "guidance/twin-b.html": """
        <html><head><title>Twin</title>
        <meta name="kb:id" content="twin"><meta name="kb:effective_from" content="2024-01-01">
        <meta name="kb:visibility" content="restricted">
        </head><body><main><h2>Twin</h2><p>Twin quokkatwin notes.</p></main></body></html>
        """,
}
RULING = {
    "title": "Chat case",
    "decision_date": "2025-02-01",
    "surface": "live",
    "region": "EU",
    "policy_areas": ["harassment"],
    "clauses": ["LIVE-OP-1"],
    "outcome": "warn",
    "decision": "Warned.",
    "rationale": "Per LIVE-OP-1.",
    "status": "active",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, shared_cache):
    """The hostile corpus, ingested, served with `auth = users`, one client per role."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    for rel, text in FILES.items():
        path = corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    rulings = [
        {**RULING, "case_id": "ESC-H1", "facts": f"A streamer discussed {OPEN_MARKER}."},
        {
            **RULING,
            "case_id": "ESC-H2",
            "facts": "A viewer posted a quokkaruling victim's address.",
            "Visibility": "restricted",
        },
    ]
    (corpus / "rulings").mkdir()
    (corpus / "rulings" / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rulings))
    outside = root / "outside.md"
    outside.write_text("# Outside\n\nThe quokkaoutside password file.\n")
    os.symlink(outside, corpus / "policies" / "passwd.md")

    settings = Settings.load(data_dir=root / "index").replace(auth="users", secure_cookies=False)
    report = ingest(settings, [corpus])
    errors = " | ".join(str(e) for e in report.errors)
    for refused in ("applies.md", "dup.md", "passwd.md", "twin-b.html"):
        assert refused in errors, errors
    app = create_app(settings, testing=True)
    store = app.extensions["kb_auth"].users
    for role in ROLES:
        store.add(f"h-{role}", role, PASSWORD)
    catalog = app.extensions["kb"].searcher.catalog
    docs = [r[0] for r in catalog.db.execute("SELECT doc_id FROM documents ORDER BY doc_id")]
    passages = [r[0] for r in catalog.db.execute("SELECT passage_id FROM passages")]
    versions = [r[0] for r in catalog.db.execute("SELECT version_id FROM versions")]
    return {
        "clients": {role: login(app, f"h-{role}") for role in ROLES},
        "docs": docs,
        "passages": passages,
        "versions": versions,
        "catalog": catalog,
    }


def _requests(h):
    """Every way to ask for text: searches for each marker, then every document, version and
    passage by id."""
    for word in [*MARKERS, OPEN_MARKER]:
        q = f"streams {word} notes"
        yield "get", "/api/search", {"query_string": {"q": q, "k": 50}}
        yield "get", "/api/search", {"query_string": {"q": q, "history": "1"}}
        yield "get", "/api/search", {"query_string": {"q": q, "as_of": "2021-01-01"}}
        yield "post", "/api/search", {"json": {"q": q, "k": 50}}
        yield "get", "/api/answer", {"query_string": {"q": q}}
        yield "get", "/", {"query_string": {"q": q}}
        yield "get", "/api/rulings/similar", {"query_string": {"q": q}}
        yield "get", "/rulings/similar", {"query_string": {"q": q}}
    for doc in h["docs"]:
        yield "get", f"/documents/{doc}", {}
        yield "get", f"/api/documents/{doc}", {}
        yield "get", "/api/rulings/similar", {"query_string": {"case_id": doc}}
        for version in h["versions"]:
            yield "get", f"/api/documents/{doc}", {"query_string": {"version": str(version)}}
    for passage in h["passages"]:
        yield "get", f"/passages/{passage}", {}
        yield "get", f"/api/passages/{passage}", {}


def _seen(h, role) -> set[str]:
    """The markers that appear in any answer to `role` (the echoed query not counted)."""
    client = h["clients"][role]
    seen = set()
    for method, url, kwargs in _requests(h):
        r = getattr(client, method)(url, **kwargs)
        assert r.status_code < 500, (role, url, kwargs, r.status_code)
        body = r.get_data(as_text=True)
        asked = (kwargs.get("query_string") or kwargs.get("json") or {}).get("q")
        if asked:
            for form in (asked, html.escape(asked), json.dumps(asked)[1:-1], quote_plus(asked)):
                body = body.replace(form, "")
        seen |= {m for m in [*MARKERS, OPEN_MARKER] if m in body}
    return seen


def test_moderators_see_nothing_a_hostile_source_tried_to_open(hostile):
    assert _seen(hostile, "moderator") == {OPEN_MARKER}


@pytest.mark.parametrize("role", ["policy", "admin"])
def test_cleared_roles_see_what_was_ingested_restricted_and_nothing_refused(hostile, role):
    restricted = {m for m, how in MARKERS.items() if how == "restricted"}
    assert _seen(hostile, role) == restricted | {OPEN_MARKER}


def test_no_visibility_or_status_term_was_taken_from_a_files_own_spelling(hostile):
    """At the root: each version is stored with one visibility, the narrowest declared."""
    rows = hostile["catalog"].db.execute(
        "SELECT doc_id, status, json_extract(metadata, '$.visibility') FROM versions"
    )
    got = {(doc, status, vis) for doc, status, vis in rows}
    assert ("case-policy", "current", "restricted") in got
    assert ("team-notes", "current", "policy-team") in got
    assert ("twin", "current", "restricted") in got
    assert ("ESC-H2", "current", "restricted") in got
    assert ("status-policy", "historical", "all") in got
