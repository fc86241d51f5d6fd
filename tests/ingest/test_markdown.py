from __future__ import annotations

import pytest

from kb.errors import ParseError
from kb.ingest.markdown import parse
from kb.ingest.registry import Source


def _parse(text: str, meta: dict | None = None):
    result = parse(Source(path="docs/x.md", text=text, default_id="docs-x", meta=meta or {}))
    assert result.errors == []
    return result.documents[0]


def test_nested_headings_build_paths_anchors_and_clause_ids():
    doc = _parse(
        "---\nid: minors\ntitle: Minors on LIVE\nsurfaces: [live, gifting]\n---\n"
        "# Minors on LIVE\n\nPurpose.\n\n"
        "## LIVE-MIN-2 Hosting age\n\nIntro to hosting.\n\n"
        "### LIVE-MIN-2.1 Minimum age\n\nYou must be 18.\n\n"
        "#### Notes\n\nA note.\n\n"
        "### LIVE-MIN-2.2 Regional age\n<!-- applies: regions=KR,JP; surfaces=live -->\n\n19 in KR.\n\n"
        "## LIVE-MIN-3 Guests\n\nGuests text.\n"
    )
    assert doc.doc_id == "minors" and doc.title == "Minors on LIVE"
    assert doc.metadata["surfaces"] == ["live", "gifting"]
    paths = [(s.heading_path, s.anchor, s.clause_id) for s in doc.sections]
    assert paths == [
        ([], "top", None),
        (["LIVE-MIN-2 Hosting age"], "LIVE-MIN-2", "LIVE-MIN-2"),
        (["LIVE-MIN-2 Hosting age", "LIVE-MIN-2.1 Minimum age"], "LIVE-MIN-2.1", "LIVE-MIN-2.1"),
        (["LIVE-MIN-2 Hosting age", "LIVE-MIN-2.1 Minimum age", "Notes"], "notes", None),
        (["LIVE-MIN-2 Hosting age", "LIVE-MIN-2.2 Regional age"], "LIVE-MIN-2.2", "LIVE-MIN-2.2"),
        (["LIVE-MIN-3 Guests"], "LIVE-MIN-3", "LIVE-MIN-3"),
    ]
    regional = doc.sections[4]
    assert regional.metadata == {"regions": ["KR", "JP"], "surfaces": ["live"]}
    assert doc.sections[5].metadata == {}
    # Offsets point into the source file.
    block = regional.blocks[0]
    assert doc.body[block.start : block.end] == "19 in KR."


def test_setext_headings_and_skipped_levels():
    doc = _parse(
        "### Community Guidelines\n\nIntro\n------------\n\nHello there.\n\n##### Deep\n\nDeep text.\n"
    )
    assert [s.heading_path for s in doc.sections] == [["Intro"], ["Intro", "Deep"]]
    assert doc.title == "X"  # no h1 and no front matter: the file name


def test_tables_and_lists_are_single_blocks_with_parts():
    doc = _parse(
        "# T\n\n| Region | Age |\n|---|---|\n| KR | 19 |\n| JP | 18 |\n\n- one\n- two\n  continued\n"
    )
    table, lst = doc.sections[0].blocks
    assert table.kind == "table" and len(table.parts) == 3
    assert doc.body[table.parts[0][0] : table.parts[0][1]] == "| Region | Age |\n|---|---|"
    assert lst.kind == "list" and [doc.body[s:e] for s, e in lst.parts] == [
        "- one",
        "- two\n  continued",
    ]


def test_manifest_metadata_overrides_and_extra_fields_are_kept():
    doc = _parse(
        "# Own title\n\nText.\n", {"id": "m-1", "title": "From manifest", "source_commit": "abc"}
    )
    assert (doc.doc_id, doc.title) == ("m-1", "From manifest")
    assert doc.metadata["source_commit"] == "abc"


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("---\ntitle: [unclosed\n---\nText\n", 3, None, "malformed front matter"),
        ("---\ntitle: x\nno closing fence\n", 1, None, "never closed"),
        ("---\n- a\n- b\n---\nText\n", 2, None, "must be a mapping"),
        ("---\ntype: memo\n---\nText\n", 2, "type", "'memo' is not one of"),
        ("---\neffective_from: 2024-13-45\n---\nText\n", 2, "effective_from", "not a date"),
        ("---\nid: has spaces\n---\nText\n", 2, "id", "not a valid id"),
    ],
)
def test_front_matter_errors_name_file_line_and_field(text, line, field, reason):
    with pytest.raises(ParseError) as info:
        parse(Source(path="docs/bad.md", text=text, default_id="bad"))
    err = info.value
    assert err.path == "docs/bad.md"
    assert err.line == line
    assert err.field == field
    assert reason in err.reason
