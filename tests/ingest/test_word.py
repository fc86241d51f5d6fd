"""Word documents (.docx), built with python-docx the way policy teams write them: styled
headings with clause ids, lists, tables, tracked changes, comments, metadata in a first table,
custom properties or a sidecar file; and broken ones (corrupt, encrypted, zip bombs)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from markdown_it import MarkdownIt

from kb.errors import ParseError
from kb.ingest.base import Source
from kb.ingest.pipeline import ingest
from kb.ingest.word import parse
from kb.search.hybrid import Searcher

from ..conftest import CORPUS
from .test_pipeline import open_catalog


def _tracked(paragraph, kind: str, text: str) -> None:
    """A tracked insertion (`ins`) or deletion (`del`) of `text` at the paragraph's end."""
    change = OxmlElement(f"w:{kind}")
    for name, value in (
        ("w:id", "7"),
        ("w:author", "Reviewer"),
        ("w:date", "2025-03-01T00:00:00Z"),
    ):
        change.set(qn(name), value)
    run = OxmlElement("w:r")
    t = OxmlElement("w:delText" if kind == "del" else "w:t")
    t.set(qn("xml:space"), "preserve")
    t.text = text
    run.append(t)
    change.append(run)
    paragraph._p.append(change)


def policy_docx(meta_table: dict[str, str] | None = None) -> docx.Document:
    """A dangerous-acts policy as Word would hold it."""
    d = docx.Document()
    d.core_properties.title = "Document1"  # what templates leave behind
    d.add_paragraph("Dangerous Acts on LIVE", style="Title")
    if meta_table:
        table = d.add_table(rows=len(meta_table), cols=2)
        for row, (key, value) in zip(table.rows, meta_table.items(), strict=True):
            row.cells[0].text, row.cells[1].text = key, value
    d.add_paragraph("These rules keep hosts and viewers safe.")
    d.add_heading("LIVE-DNG-3 Impaired hosts", level=2)
    d.add_heading("LIVE-DNG-3.1 Impaired streaming", level=3)
    rule = d.add_paragraph("A host who is visibly incapacitated has their stream ended")
    _tracked(rule, "ins", " and a welfare check opened.")
    _tracked(rule, "del", " and a strike added.")
    d.add_comment(rule.runs[0], text="Reviewer musing: zqcommentword", author="Reviewer")
    d.add_paragraph("slurring so badly they cannot be understood", style="List Bullet")
    d.add_paragraph("about to drive a car", style="List Bullet")
    d.add_heading("LIVE-DNG-3.2 Enforcement", level=3)
    table = d.add_table(rows=3, cols=3)
    for row, values in zip(
        table.rows,
        [("Severity", "Action", "Strike"), ("S1", "end stream", "none"), ("S2", "warn", "one")],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    return d


def as_bytes(d: docx.Document) -> bytes:
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def parsed(raw: bytes, meta: dict | None = None):
    return parse(Source(path="p.docx", text="", default_id="p", meta=meta or {}, raw=raw))


def test_headings_clause_ids_lists_tables_and_accepted_changes():
    doc = parsed(as_bytes(policy_docx())).documents[0]
    assert doc.title == "Dangerous Acts on LIVE"  # the Title paragraph, not "Document1"
    clauses = {s.clause_id: s for s in doc.sections if s.clause_id}
    assert set(clauses) == {"LIVE-DNG-3.1", "LIVE-DNG-3.2"}
    impaired = clauses["LIVE-DNG-3.1"]
    # As in Markdown: the title heads the document, the path starts below it.
    assert impaired.heading_path == ["LIVE-DNG-3 Impaired hosts", "LIVE-DNG-3.1 Impaired streaming"]
    text = doc.body
    assert "stream ended and a welfare check opened." in text  # the insertion, accepted
    assert "strike added" not in text and "zqcommentword" not in text  # deletion, comment
    kinds = [b.kind for b in impaired.blocks]
    assert kinds == ["paragraph", "list"]
    [table] = clauses["LIVE-DNG-3.2"].blocks
    assert table.kind == "table"
    assert text[table.start : table.end].splitlines() == [
        "| Severity | Action | Strike |",
        "|---|---|---|",
        "| S1 | end stream | none |",
        "| S2 | warn | one |",
    ]


def test_outline_levels_on_a_paragraph_or_its_style_make_headings():
    d = docx.Document()
    d.add_paragraph("Guide", style="Title")
    style = d.styles.add_style("Rule Head", WD_STYLE_TYPE.PARAGRAPH)
    level = OxmlElement("w:outlineLvl")
    level.set(qn("w:val"), "1")  # Word's level 2
    style.element.get_or_add_pPr().append(level)
    d.add_paragraph("LIVE-ODD-1 Styled outline", style="Rule Head")
    d.add_paragraph("Text under the styled heading.")
    direct = d.add_paragraph("LIVE-ODD-1.1 Direct outline")
    level = OxmlElement("w:outlineLvl")
    level.set(qn("w:val"), "2")
    direct._p.get_or_add_pPr().append(level)
    d.add_paragraph("Text under the direct heading.")
    doc = parsed(as_bytes(d)).documents[0]
    paths = [s.heading_path for s in doc.sections if s.blocks]
    assert paths == [
        ["LIVE-ODD-1 Styled outline"],
        ["LIVE-ODD-1 Styled outline", "LIVE-ODD-1.1 Direct outline"],
    ]
    assert [s.clause_id for s in doc.sections if s.blocks] == ["LIVE-ODD-1", "LIVE-ODD-1.1"]


def _with_custom_properties(raw: bytes, props: dict[str, str]) -> bytes:
    """The package with docProps/custom.xml (Word's File > Properties > Custom)."""
    fields = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{n}" name="{k}">'
        f"<vt:lpwstr>{v}</vt:lpwstr></property>"
        for n, (k, v) in enumerate(props.items(), start=2)
    )
    custom = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-'
        'properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'docPropsVTypes">{fields}</Properties>'
    )
    source, out = zipfile.ZipFile(io.BytesIO(raw)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>',
                )
            target.writestr(info, data)
        target.writestr("docProps/custom.xml", custom)
    return out.getvalue()


def test_metadata_from_a_first_table_and_custom_properties():
    table = {
        "ID": "dangerous-acts",
        "Type": "policy",
        "Version": "2.0",
        "Effective from": "2025-02-01",
    }
    raw = _with_custom_properties(
        as_bytes(policy_docx(table)),
        {"kb:regions": "EU, UK", "owner": "Safety team", "ContentTypeId": "0x0101"},
    )
    doc = parsed(raw).documents[0]
    assert (doc.doc_id, doc.doc_type) == ("dangerous-acts", "policy")
    meta = doc.metadata
    assert meta["version"] == "2.0" and meta["effective_from"] == "2025-02-01"
    assert meta["regions"] == ["EU", "UK"] and meta["owner"] == "Safety team"
    assert "contenttypeid" not in {k.lower() for k in meta}  # not a metadata key: not taken
    assert "Effective from" not in doc.body  # the table was metadata, not text
    # The manifest (or a sidecar) overrides what the file says.
    assert parsed(raw, {"version": "2.1"}).documents[0].metadata["version"] == "2.1"
    # A content table with other left cells stays text.
    d = policy_docx({"Severity": "S1", "Action": "warn"})
    body = parsed(as_bytes(d)).documents[0].body
    assert "| Severity | S1 |" in body


def test_a_bad_value_in_the_metadata_table_names_its_field():
    with pytest.raises(ParseError, match=r"p\.docx.*effective_from.*not a date"):
        parsed(as_bytes(policy_docx({"effective_from": "soon"})))


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


BAD = {
    "corrupt": (lambda: b"PK\x03\x04 this is not really a zip", "not a Word document"),
    "encrypted": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "password-protected"),
    "not-word": (lambda: _zip({"hello.txt": b"hi"}), "no word/document.xml"),
    "bomb": (lambda: _zip({"word/document.xml": bytes(300_000_000)}), "would inflate"),
    "ratio": (lambda: _zip({"word/document.xml": bytes(50_000_000)}), "a zip bomb"),
    "broken-xml": (lambda: _zip({"word/document.xml": b"<w:document"}), "damaged"),
    "broken-deflate": (lambda: _garbled(as_bytes(policy_docx())), "damaged"),
    "huge-xml": (lambda: _zip({"word/document.xml": _numbered(3_000_000)}), "over 34 MB"),
}


def _numbered(n: int) -> bytes:
    """XML that does not compress like a bomb: n numbered elements."""
    return b"<w:document>" + b"".join(b"<p>%d</p>" % i for i in range(n)) + b"</w:document>"


def _garbled(raw: bytes) -> bytes:
    """A package whose document.xml's deflated data is damaged."""
    data = bytearray(raw)
    at = data.index(b"word/document.xml") + len("word/document.xml") + 40
    data[at : at + 16] = b"\xff" * 16
    return bytes(data)


@pytest.mark.parametrize("name", BAD)
def test_bad_files_are_clear_errors(name):
    make, message = BAD[name]
    with pytest.raises(ParseError, match=message):
        parsed(make())


def test_ingest_search_cite_and_keep_what_was_stored(settings, src, write):
    """Through the pipeline: a .docx policy and a sidecar; a later corrupt save is an error
    naming the file, and the stored document keeps serving."""
    path = src / "dangerous-acts.docx"
    src.mkdir(parents=True, exist_ok=True)
    path.write_bytes(as_bytes(policy_docx({"type": "policy", "version": "2.0"})))
    write("dangerous-acts.meta.yaml", "id: dangerous-acts\neffective_from: 2025-02-01\n")
    (src / "~$ngerous-acts.docx").write_bytes(b"\x0bReviewer" + bytes(150))  # Word's lock file
    report = ingest(settings, [src])
    assert report.errors == [] and report.skipped == [] and report.added == 1
    searcher = Searcher(settings)
    try:
        hit = searcher.search("host too drunk to stand, about to drive").results[0]
        assert hit.passage.clause_id == "LIVE-DNG-3.1"
        assert (hit.citation.doc_id, hit.citation.version) == ("dangerous-acts", "2.0")
    finally:
        searcher.close()
    catalog = open_catalog(settings)
    assert catalog.document("dangerous-acts").versions[0].effective_from == "2025-02-01"
    catalog.close()

    path.write_bytes(b"PK\x03\x04 half-saved")
    again = ingest(settings, [src])
    [error] = again.errors
    assert error.path.endswith("dangerous-acts.docx") and "not a Word document" in error.reason
    assert again.removed_ids == []
    searcher = Searcher(settings)
    try:
        hit = searcher.search("LIVE-DNG-3.1").results[0]
        assert hit.passage.clause_id == "LIVE-DNG-3.1" and hit.citation.version == "2.0"
    finally:
        searcher.close()


def test_a_bad_sidecar_names_its_line_and_keeps_the_stored_document(settings, src, write):
    src.mkdir(parents=True, exist_ok=True)
    (src / "guide.docx").write_bytes(as_bytes(policy_docx()))
    write("guide.meta.yaml", "type: guidance\n")
    assert ingest(settings, [src]).errors == []
    write("guide.meta.yaml", "type: guidance\nbase: &a [1]\nagain: *a\n")
    report = ingest(settings, [src])
    [error] = report.errors
    assert error.path.endswith("guide.meta.yaml") and "aliases" in error.reason
    assert error.line == 3 and report.removed_ids == []


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Every shipped policy as Word would save it: Markdown rendered to HTML, then converted
    to .docx by LibreOffice (installed by `make test` where it can be)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("libreoffice")
    renderer = MarkdownIt("commonmark").enable("table")
    sources = sorted((CORPUS / "policies").glob("*.md"))
    for path in sources:
        body = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(), flags=re.S)
        (folder / f"{path.stem}.html").write_text(
            f"<html><head><meta charset='utf-8'></head><body>{renderer.render(body)}</body></html>"
        )
    profile = folder / "profile"  # its own LibreOffice profile: no clash with other runs
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "docx:MS Word 2007 XML",
            "--outdir",
            str(folder),
            *[str(folder / f"{p.stem}.html") for p in sources],
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return [(path, folder / f"{path.stem}.docx") for path in sources]


def test_the_shipped_policies_survive_libreoffice(converted):
    """Every clause id, clause heading and table cell of the Markdown policies is found in
    the Word copies, each clause id as its own section."""
    from kb.ingest import markdown

    for md, docx_path in converted:
        original = markdown.parse(Source(path=md.name, text=md.read_text(), default_id="x"))
        copy = parsed(docx_path.read_bytes()).documents[0]
        want = original.documents[0]
        assert copy.title == want.title, md.name
        ids = [s.clause_id for s in want.sections if s.clause_id]
        assert [s.clause_id for s in copy.sections if s.clause_id] == ids, md.name
        paths = {s.clause_id: s.heading_path for s in want.sections if s.clause_id}
        assert {s.clause_id: s.heading_path for s in copy.sections if s.clause_id} == paths
        assert markdown_cells(md.read_text()) - table_cells(copy) == set(), md.name


def markdown_cells(text: str) -> set[str]:
    """The cells of a Markdown file's tables."""
    return {
        cell.strip()
        for line in text.splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
        for cell in line.strip("|").split("|")
    }


def table_cells(doc) -> set[str]:
    """The cells of a parsed document's table blocks."""
    rows = [
        line
        for s in doc.sections
        for b in s.blocks
        if b.kind == "table"
        for line in doc.body[b.start : b.end].splitlines()
    ]
    return {cell.strip() for line in rows for cell in line.strip("|").split("|")}


def test_a_sidecar_or_a_manifest_can_restrict_a_file_never_open_it(tmp_path, src, write):
    from kb.ingest.sources import collect

    src.mkdir(parents=True, exist_ok=True)
    (src / "guide.docx").write_bytes(as_bytes(policy_docx()))
    write("guide.meta.yaml", "visibility: restricted\nversion: '1.0'\n")
    manifest = src.parent / "manifest.jsonl"
    manifest.write_text(
        f'{{"path": "{src.name}/guide.docx", "visibility": "all", "version": "1.1"}}\n'
    )
    for found in (collect([src]), collect([], manifest)):
        [file] = found.files
        assert file.meta["visibility"] == "restricted", file.meta
    assert collect([], manifest).files[0].meta["version"] == "1.1"  # otherwise it wins


def test_the_metadata_table_cannot_open_what_a_property_restricts():
    raw = _with_custom_properties(
        as_bytes(policy_docx({"visibility": "all", "version": "2"})),
        {"kb:visibility": "restricted", "version": "1"},
    )
    meta = parsed(raw).documents[0].metadata
    assert meta["visibility"] == "restricted" and meta["version"] == "2"


def test_a_sidecar_describing_no_file_is_an_error_not_ignored(src, write):
    from kb.ingest.sources import collect

    src.mkdir(parents=True, exist_ok=True)
    (src / "guide.docx").write_bytes(as_bytes(policy_docx()))
    write("guide.docx.meta.yaml", "visibility: restricted\n")  # named after the whole name
    write("notes.meta.yaml", "owner: x\n")
    write("notes.odt", "not read, but the sidecar describes it")
    found = collect([src])
    [error] = found.errors
    assert error.path.endswith("guide.docx.meta.yaml") and "describes no file" in error.reason
    assert [f.path.name for f in found.files] == ["guide.docx"]


def test_a_manifest_finds_the_sidecar_beside_the_listed_name(tmp_path, write):
    """A listed file that is a link keeps the sidecar beside its listed name, not beside
    where the link points."""
    from kb.ingest.sources import collect

    store = tmp_path / "src" / "store"
    store.mkdir(parents=True)
    (store / "x.docx").write_bytes(as_bytes(policy_docx()))
    write("docs/guide.meta.yaml", "visibility: restricted\n")
    (tmp_path / "src" / "docs" / "guide.docx").symlink_to(store / "x.docx")
    manifest = tmp_path / "src" / "manifest.jsonl"
    manifest.write_text('{"path": "docs/guide.docx"}\n')
    [file] = collect([], manifest).files
    assert file.meta["visibility"] == "restricted"
