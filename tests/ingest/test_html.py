from __future__ import annotations

from kb.ingest.html import parse
from kb.ingest.registry import Source

PAGE = """<!doctype html>
<html><head>
<title>Escalation paths</title>
<meta name="kb:id" content="escalation-paths">
<meta name="kb:type" content="guidance">
<meta name="kb:surfaces" content="live, live-chat">
<meta name="kb:visibility" content="policy-team">
<meta name="kb:owner" content="Safety Ops">
<style>body { color: red }</style>
<script>var secret = "do not index";</script>
</head><body>
<nav><a href="/">Home</a> <a href="/x">Spaces</a></nav>
<div class="breadcrumb">Wiki / LIVE / Escalation</div>
<aside class="sidebar"><h3>Related pages</h3><p>Sidebar chatter</p></aside>
<main>
  <h1>Escalation paths</h1>
  <p>Every case gets a <b>severity</b> tier.</p>
  <h2>Severity tiers</h2>
  <table><thead><tr><th>Tier</th><th>Meaning</th></tr></thead>
  <tbody><tr><td>S0</td><td>Imminent risk</td></tr><tr><td>S1</td><td>Urgent</td></tr></tbody></table>
  <h3>Who decides</h3>
  <div class="note">Loose text in a callout.</div>
  <dl><dt>ERT</dt><dd>Emergency response team</dd><dt>T2</dt><dd>Senior reviewers</dd></dl>
  <ol><li>Pause</li><li>Escalate</li></ol>
</main>
<footer>Last edited by someone</footer>
</body></html>"""


def test_boilerplate_is_stripped_and_headings_make_paths():
    doc = parse(Source(path="g.html", text=PAGE, default_id="g")).documents[0]
    assert doc.doc_id == "escalation-paths" and doc.doc_type == "guidance"
    assert doc.title == "Escalation paths"
    assert doc.metadata["surfaces"] == ["live", "live-chat"]
    assert doc.metadata["visibility"] == "policy-team"
    assert doc.metadata["owner"] == "Safety Ops"
    for junk in (
        "secret",
        "color: red",
        "Home",
        "Sidebar chatter",
        "Related pages",
        "Last edited",
        "Wiki / LIVE",
    ):
        assert junk not in doc.body
    paths = [s.heading_path for s in doc.sections]
    assert paths == [[], ["Severity tiers"], ["Severity tiers", "Who decides"]]
    texts = [[doc.body[b.start : b.end] for b in s.blocks] for s in doc.sections]
    assert texts[0] == ["Every case gets a severity tier."]
    assert texts[1] == ["| Tier | Meaning |\n|---|---|\n| S0 | Imminent risk |\n| S1 | Urgent |"]
    assert texts[2] == [
        "Loose text in a callout.",
        "ERT: Emergency response team\nT2: Senior reviewers",
        "1. Pause\n2. Escalate",
    ]
    table = doc.sections[1].blocks[0]
    assert table.kind == "table" and len(table.parts) == 3


def test_page_without_main_uses_body_and_title_fallback():
    doc = parse(
        Source(
            path="plain.html",
            text="<html><body><h1>Only</h1><p>Body text.</p></body></html>",
            default_id="plain",
        )
    ).documents[0]
    assert doc.title == "Only" and doc.doc_id == "plain"
    assert [doc.body[b.start : b.end] for s in doc.sections for b in s.blocks] == ["Body text."]
