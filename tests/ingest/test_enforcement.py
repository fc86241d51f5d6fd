"""A clause's default enforcement: `<!-- enforcement ... -->` under its heading, in Markdown and
HTML, checked with the file, line and field of any mistake; kept with the clause's passages."""

from __future__ import annotations

import pytest

from kb.errors import ParseError
from kb.ingest import html
from kb.ingest.markdown import parse
from kb.ingest.registry import Source
from kb.types import Enforcement

RULE = """<!-- enforcement
actions: end_stream, restrict
severity: S1
strike: standard
reason: DNG-DRIVING
statement: We ended your LIVE because {clause_id} ({clause_title}) does not allow it.
-->"""


def _md(clause_block: str) -> str:
    return (
        "---\nid: p\ntitle: P\ntype: policy\n---\n# P\n\n## LIVE-P-1 Vehicles\n\nIntro.\n\n"
        f"### LIVE-P-1.1 Driving\n{clause_block}\n\nDo not stream while driving.\n\n"
        "### LIVE-P-1.2 Passengers\n\nPassengers may stream.\n"
    )


def _parse(text: str):
    result = parse(Source(path="p.md", text=text, default_id="p"))
    assert result.errors == []
    return result.documents[0]


def test_markdown_rule_is_kept_with_its_clause_only():
    doc = _parse(_md(RULE))
    driving = next(s for s in doc.sections if s.clause_id == "LIVE-P-1.1")
    assert Enforcement.from_dict(driving.metadata["enforcement"]) == Enforcement(
        ("end_stream", "restrict"),
        "DNG-DRIVING",
        "S1",
        "standard",
        "We ended your LIVE because {clause_id} ({clause_title}) does not allow it.",
    )
    others = [s for s in doc.sections if s.clause_id != "LIVE-P-1.1"]
    assert all("enforcement" not in s.metadata for s in others)
    # The comment is not part of any passage text.
    assert "enforcement" not in doc.body[driving.blocks[0].start : driving.blocks[-1].end]
    # Under an applies line too.
    doc = _parse(_md("<!-- applies: regions=EU -->\n" + RULE))
    driving = next(s for s in doc.sections if s.clause_id == "LIVE-P-1.1")
    assert driving.metadata["regions"] == ["EU"] and driving.metadata["enforcement"]


def test_a_clause_that_sets_no_enforcement_says_none():
    rule = "<!-- enforcement\nactions: none\nreason: P-SCOPE\n-->"
    driving = next(s for s in _parse(_md(rule)).sections if s.clause_id == "LIVE-P-1.1")
    assert driving.metadata["enforcement"]["actions"] == []
    assert not Enforcement.from_dict(driving.metadata["enforcement"]).enforced


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("actions: end_stream, restrict", "actions: yell"), "yell: not one of"),
        (("severity: S1", "severity: high"), "severity 'high'"),
        (("strike: standard", "strike: big"), "strike 'big'"),
        (("reason: DNG-DRIVING", "reason: driving"), "reason 'driving'"),
        (("reason: DNG-DRIVING", "reason: DNG-DRIVING\nreason: X-Y"), "reason given twice"),
        (("severity: S1", "severity: S1\ncolour: red"), "'colour: red' is not one of"),
        (("({clause_title})", "({host_name})"), r"not \{host_name\}"),
        (("strike: standard\n", ""), "strike missing"),
        (("actions: end_stream, restrict", "actions: none"), "takes only a reason"),
    ],
)
def test_mistakes_name_the_file_line_and_field(change, message):
    old, new = change
    with pytest.raises(ParseError, match=message) as info:
        parse(Source(path="p.md", text=_md(RULE.replace(old, new)), default_id="p"))
    assert info.value.path == "p.md" and info.value.line is not None


def test_a_rule_outside_a_clause_or_twice_is_an_error():
    text = _md(RULE).replace("Intro.", RULE)  # under the section heading LIVE-P-1: a clause too
    assert _parse(text)  # a section with an id is a clause
    top = "---\nid: p\ntitle: P\n---\n# P\n\n" + RULE + "\n\nText.\n"
    with pytest.raises(ParseError, match="only under a clause heading"):
        parse(Source(path="p.md", text=top, default_id="p"))
    with pytest.raises(ParseError, match="has one already"):
        parse(Source(path="p.md", text=_md(RULE + "\n\n" + RULE), default_id="p"))
    statement = RULE.replace("it.", "it. " + "x" * 300)
    with pytest.raises(ParseError, match="over 300 characters"):
        parse(Source(path="p.md", text=_md(statement), default_id="p"))


def test_html_rule():
    page = (
        "<html><body><main><h1>P</h1><h2>LIVE-P-1.1 Driving</h2>"
        + RULE
        + "<p>Do not stream while driving.</p><h2>LIVE-P-1.2 Other</h2><p>Text.</p>"
        "</main></body></html>"
    )
    doc = html.parse(Source(path="g.html", text=page, default_id="g")).documents[0]
    driving = next(s for s in doc.sections if s.clause_id == "LIVE-P-1.1")
    assert driving.metadata["enforcement"]["reason"] == "DNG-DRIVING"
    with pytest.raises(ParseError, match="severity 'S9'"):
        html.parse(Source(path="g.html", text=page.replace("S1", "S9"), default_id="g"))


def test_statement_fills_in_the_clause():
    rule = Enforcement(("warn",), "P-X", "S3", "none", "{clause_id} ({clause_title}): warned.")
    assert rule.statement_for("LIVE-P-1.1", "Driving") == "LIVE-P-1.1 (Driving): warned."
