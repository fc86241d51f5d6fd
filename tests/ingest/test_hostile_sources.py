"""Source files written by an attacker or a careless author: metadata key spellings, repeated
keys, `applies` overrides, YAML alias bombs, oversized front matter and deep HTML. Whatever a
file says, restricted or historical text must not become visible through another spelling."""

from __future__ import annotations

import dataclasses
import time

import pytest

from kb.errors import ParseError
from kb.ingest import html, markdown, rulings
from kb.ingest.metadata import canonical_key, normalize_metadata
from kb.ingest.registry import Source
from kb.search.filters import passage_terms
from tests.search.test_filters import _passage, _version

BODY = "# Secret policy\n\n## LIVE-S-1 Rule\n\nRestricted text.\n"


def md(front: str, body: str = BODY, **meta) -> Source:
    return Source(path="docs/s.md", text=f"---\n{front}---\n{body}", default_id="s", meta=meta)


def parse_md(front: str, body: str = BODY, **meta):
    return markdown.parse(md(front, body, **meta)).documents[0]


@pytest.mark.parametrize("key", ["Visibility", "VISIBILITY", " visibility ", "'Visibility '"])
def test_every_spelling_of_a_reserved_key_is_that_key(key):
    doc = parse_md(f"{key}: restricted\n")
    assert doc.metadata["visibility"] == "restricted"
    assert not [k for k in doc.metadata if k != "visibility" and "visi" in k.lower()]


def test_key_folding_covers_case_space_dash_and_aliases():
    assert canonical_key(" Effective-From ") == "effective_from"
    assert canonical_key("Effective From") == "effective_from"
    assert canonical_key("Region") == "regions"
    assert canonical_key("POLICY_AREA") == "policy_areas"


def test_an_archive_declaring_status_current_stays_historical():
    """`Status: current` is the declared status (the catalog decides from dates); it never
    becomes a `status=current` term."""
    doc = parse_md("id: s\nStatus: current\neffective_from: 2020-01-01\n")
    assert "status" not in doc.metadata and doc.metadata["declared_status"] == "current"
    version = dataclasses.replace(
        _version({**doc.metadata, "Status": "current"}), status="historical"
    )
    terms = passage_terms(_passage(), version, "policy")
    assert "status=historical" in terms and "status=current" not in terms


def test_one_visibility_term_and_the_narrowest_one():
    """Metadata stored by an older ingest with two spellings still indexes one visibility."""
    version = _version({"visibility": "all", "Visibility": "restricted"})
    terms = passage_terms(_passage(), version, "policy")
    assert [t for t in terms if t.startswith("visibility=")] == ["visibility=restricted"]


def test_passage_metadata_cannot_set_visibility_or_status_terms():
    passage = _passage({"visibility": "all", "status": "current", "regions": ["EU"]})
    version = dataclasses.replace(_version({"visibility": "restricted"}), status="historical")
    terms = passage_terms(passage, version, "policy")
    assert "visibility=all" not in terms and "status=current" not in terms
    assert "regions=eu" in terms


@pytest.mark.parametrize(
    "front, line, field",
    [
        ("visibility: all\nVisibility: restricted\n", 3, "visibility"),
        ("visibility: all\nvisibility: restricted\n", 3, "visibility"),
        ("title: A\nTitle: B\n", 3, "title"),
        ("effective_from: 2024-01-01\nEffective-From: 2025-01-01\n", 3, "effective_from"),
    ],
)
def test_a_key_given_twice_with_different_values_names_file_and_line(front, line, field):
    with pytest.raises(ParseError) as info:
        parse_md(front)
    assert (info.value.path, info.value.line, info.value.field) == ("docs/s.md", line, field)
    assert "different value" in info.value.reason


def test_a_key_repeated_with_the_same_value_is_fine():
    assert parse_md("visibility: restricted\nVisibility: restricted\n").metadata["visibility"] == (
        "restricted"
    )


@pytest.mark.parametrize("key", ["doc_id", "clause_id", "declared_status", "Passage-Id"])
def test_keys_policy_kb_derives_cannot_be_set_by_a_file(key):
    with pytest.raises(ParseError, match="set by policy-kb"):
        parse_md(f"{key}: x\n")


def test_a_manifest_cannot_widen_a_files_visibility():
    doc = parse_md("visibility: restricted\n", visibility="all")
    assert doc.metadata["visibility"] == "restricted"
    doc = parse_md("visibility: all\n", visibility="policy-team")
    assert doc.metadata["visibility"] == "policy-team"


# -- applies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "applies, field",
    [
        ("visibility=all", "visibility"),
        ("Visibility=all", "visibility"),
        ("status=current", "status"),
        ("regions=EU; type=guidance", "type"),
        ("doc_id=other", "doc_id"),
    ],
)
def test_applies_takes_scope_keys_only(applies, field):
    body = f"# Secret policy\n\n## LIVE-S-1 Rule\n<!-- applies: {applies} -->\n\nText.\n"
    with pytest.raises(ParseError) as info:
        parse_md("visibility: restricted\n", body)
    err = info.value
    assert (err.path, err.line, err.field) == ("docs/s.md", 7, "applies")
    assert repr(field) in err.reason and "scope" in err.reason


def test_applies_scope_keys_still_work_in_any_spelling():
    body = "# P\n\n## LIVE-S-1 Rule\n<!-- applies: Regions=EU,UK; surface=live -->\n\nText.\n"
    doc = parse_md("id: s\n", body)
    rule = next(s for s in doc.sections if s.clause_id == "LIVE-S-1")
    assert rule.metadata == {"regions": ["EU", "UK"], "surfaces": ["live"]}


def test_applies_in_html_takes_scope_keys_only():
    page = (
        '<html><head><meta name="kb:visibility" content="restricted"></head><body><main>'
        "<h2>LIVE-S-1 Rule</h2><!-- applies: visibility=all --><p>Text.</p></main></body></html>"
    )
    with pytest.raises(ParseError, match="not a scope key"):
        html.parse(Source(path="g.html", text=page, default_id="g"))


# -- HTML meta and rulings -----------------------------------------------------------------


def test_html_meta_names_fold_and_conflicts_name_the_line():
    head = '<meta name="kb:Visibility" content="restricted">'
    page = f"<html><head>{head}</head><body><main><p>Text.</p></main></body></html>"
    doc = html.parse(Source(path="g.html", text=page, default_id="g")).documents[0]
    assert doc.metadata["visibility"] == "restricted"
    page = (
        "<html><head>\n"
        '<meta name="kb:visibility" content="all">\n'
        '<meta name="kb:VISIBILITY" content="restricted">\n'
        "</head><body><main><p>Text.</p></main></body></html>"
    )
    with pytest.raises(ParseError) as info:
        html.parse(Source(path="g.html", text=page, default_id="g"))
    assert (info.value.line, info.value.field) == (3, "visibility")


RULING = (
    '{"case_id": "ESC-9", "title": "T", "decision_date": "2025-01-01", "surface": "live", '
    '"region": "EU", "policy_areas": ["hate"], "clauses": ["LIVE-H-1"], "facts": "F", '
    '"outcome": "remove", "decision": "D", "rationale": "R", "status": "active"'
)


def test_a_ruling_field_in_any_case_is_that_field():
    result = rulings.parse_jsonl(
        Source(path="r.jsonl", text=RULING + ', "Visibility": "Restricted"}\n', default_id="r")
    )
    assert result.errors == []
    doc = result.documents[0]
    assert doc.metadata["visibility"] == "restricted" and doc.ruling.visibility == "restricted"


@pytest.mark.parametrize(
    "extra, field",
    [
        (', "visibility": "all", "Visibility": "restricted"', "visibility"),
        (', "Status": "overturned"', "status"),
        (', "type": "policy"', "type"),
        (', "effective_to": "2025-02-01"', "effective_to"),
        (', "ruling_status": "active"', "ruling_status"),
    ],
)
def test_a_ruling_cannot_restate_its_fields_through_another_spelling(extra, field):
    result = rulings.parse_jsonl(
        Source(path="r.jsonl", text=RULING + extra + "}\n", default_id="r")
    )
    assert result.documents == []
    assert [(e.line, e.field) for e in result.errors] == [(1, field)]


def test_a_csv_ruling_header_in_any_case():
    header = "case_id,title,decision_date,surface,region,policy_areas,clauses,facts,outcome,"
    header += "decision,rationale,status,Visibility"
    row = "ESC-9,T,2025-01-01,live,EU,hate,LIVE-H-1,F,remove,D,R,active,restricted"
    result = rulings.parse_csv(Source(path="r.csv", text=f"{header}\n{row}\n", default_id="r"))
    assert result.errors == []
    assert result.documents[0].metadata["visibility"] == "restricted"


def test_a_manifest_cannot_widen_a_rulings_visibility_or_restate_its_status():
    source = Source(
        path="r.jsonl",
        text=RULING + ', "visibility": "restricted"}\n',
        default_id="r",
        meta={"visibility": "all", "status": "current"},
    )
    doc = rulings.parse_jsonl(source).documents[0]
    assert doc.metadata["visibility"] == "restricted" and doc.ruling.visibility == "restricted"
    assert "status" not in doc.metadata


# -- sizes ---------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_at_once():
    """409 bytes that expand to 9**7 strings: refused before any expansion."""
    levels = ['l0: &l0 "lol"']
    for n in range(1, 8):
        levels.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    front = "\n".join(levels) + "\n"
    started = time.perf_counter()
    with pytest.raises(ParseError) as info:
        parse_md(front)
    assert time.perf_counter() - started < 1.0
    assert "aliases" in info.value.reason and info.value.line == 3


def test_a_merge_key_alias_is_refused_too():
    with pytest.raises(ParseError, match="aliases"):
        parse_md("base: &b {visibility: all}\n<<: *b\n")


def test_oversized_front_matter_and_metadata_are_refused():
    big = "notes: " + "x" * 70_000 + "\n"
    with pytest.raises(ParseError, match="front matter is over"):
        parse_md(big)
    with pytest.raises(ParseError, match="metadata is"):
        normalize_metadata({f"k{i}": "y" * 1000 for i in range(80)}, "m.jsonl", line=4)


@pytest.mark.parametrize("tag", ["span", "b", "div", "section"])
def test_deeply_nested_html_parses_in_linear_time(tag):
    """20,000 nested tags took about three minutes (quadratic in depth)."""
    depth = 20_000
    page = (
        "<html><body><main><h1>T</h1><p>first</p>"
        + f"<{tag}>" * depth
        + "deep text"
        + f"</{tag}>" * depth
        + "</main></body></html>"
    )
    started = time.perf_counter()
    doc = html.parse(Source(path="deep.html", text=page, default_id="deep")).documents[0]
    assert time.perf_counter() - started < 5.0
    assert "deep text" in doc.body
