"""PDF files, built with fpdf2 the way policy teams export them: headings by font size or
bookmarks, running headers and footers with page numbers, ruled tables over a page break,
paragraphs across pages; scanned pages; and broken ones (encrypted, damaged, inflating without
bound, too slow). The shipped policies go through LibreOffice (Markdown -> Word with a header,
a footer and ruled tables -> PDF, with and without bookmarks) and must keep every clause."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zlib

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from fpdf import FPDF
from markdown_it import MarkdownIt
from PIL import Image

from kb.errors import ParseError
from kb.ingest import markdown, pdf
from kb.ingest.base import Source
from kb.ingest.chunker import pages_of
from kb.ingest.isolation import Limits, Worker
from kb.ingest.pipeline import ingest
from kb.search.hybrid import Searcher
from kb.web import create_app

from ..conftest import CORPUS
from .test_word import markdown_cells, table_cells

HEADER = "Acme Live - Trust and Safety - Internal"
LONG = (
    "A host who is visibly incapacitated, slurring so badly they cannot hold a conversation "
    "or unable to stand, is asked to end the stream. "
) * 36


class _Export(FPDF):
    """A document as a word processor prints it: a running header and 'Page n of m'."""

    def header(self):
        self.set_font("helvetica", "", 9)
        self.cell(0, 8, HEADER, align="C")
        self.ln(12)

    def footer(self):
        self.set_y(-15)
        self.set_font("helvetica", "", 9)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def _heading(doc: FPDF, text: str, size: float, *, bold: bool = True, level=None) -> None:
    if level is not None:
        doc.start_section(text, level=level)
    doc.set_font("helvetica", "B" if bold else "", size)
    doc.multi_cell(0, size * 0.6, text)
    doc.ln(3)


def _para(doc: FPDF, text: str) -> None:
    doc.set_font("helvetica", "", 11)
    doc.multi_cell(0, 6, text)
    doc.ln(4)


def policy_pdf(*, bookmarks: bool = False, flat: bool = False) -> bytes:
    """A three-page policy. `flat`: every heading at the body's size and weight, so only
    the bookmarks can say what is a heading."""
    doc = _Export()
    doc.set_title("Untitled document")
    doc.add_page()
    sizes = (11, 11, 11) if flat else (20, 15, 12.5)
    bold = not flat
    _heading(doc, "Dangerous Acts", sizes[0], bold=bold)
    _para(doc, "This policy covers acts on LIVE that risk serious injury.")
    _heading(
        doc,
        "LIVE-DNG-3 Impairment and vehicles",
        sizes[1],
        bold=bold,
        level=0 if bookmarks else None,
    )
    _heading(
        doc, "LIVE-DNG-3.1 Impaired streaming", sizes[2], bold=bold, level=1 if bookmarks else None
    )
    _para(doc, "Adults may drink alcohol on stream where it is legal for them to do so.")
    _para(doc, LONG)
    doc.set_font("helvetica", "", 11)
    doc.cell(
        0,
        6,
        "- Not allowed: a host driving after drinking on stream.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    doc.cell(
        0, 6, "- Not allowed: chat daring a drunk host to drive.", new_x="LMARGIN", new_y="NEXT"
    )
    doc.ln(4)
    _heading(
        doc,
        "LIVE-DNG-3.2 Enforcement by severity",
        sizes[2],
        bold=bold,
        level=1 if bookmarks else None,
    )
    doc.set_font("helvetica", "", 11)
    with doc.table(repeat_headings=1) as table:
        for row in [
            ("Severity", "Outcome"),
            *[(f"Level {n}", f"outcome number {n}") for n in range(1, 61)],
        ]:
            cells = table.row()
            for cell in row:
                cells.cell(cell)
    _para(doc, "Repeat violations within 90 days move one row down.")
    return bytes(doc.output())


def parsed(raw: bytes, meta: dict | None = None):
    """The document read from `raw` (in this process)."""
    result = pdf.read(
        Source(path="policy.pdf", text="", default_id="policy", raw=raw, meta=meta or {})
    )
    return result.documents[0], result.errors


def _paths(doc) -> dict:
    return {s.clause_id: s.heading_path for s in doc.sections if s.clause_id}


def test_headings_by_font_size_running_lines_dropped_and_pages_recorded():
    doc, errors = parsed(policy_pdf())
    assert errors == [] and doc.title == "Dangerous Acts"
    assert _paths(doc) == {
        "LIVE-DNG-3.1": ["LIVE-DNG-3 Impairment and vehicles", "LIVE-DNG-3.1 Impaired streaming"],
        "LIVE-DNG-3.2": [
            "LIVE-DNG-3 Impairment and vehicles",
            "LIVE-DNG-3.2 Enforcement by severity",
        ],
    }
    assert HEADER not in doc.body and not re.search(r"Page \d+ of", doc.body)
    assert len(doc.page_starts) >= 3 and doc.page_starts == sorted(doc.page_starts)
    # The long paragraph runs on over the page break, with nothing from the margins inside.
    assert " ".join(LONG.split()) in " ".join(doc.body.split())
    section = next(s for s in doc.sections if s.clause_id == "LIVE-DNG-3.1")
    kinds = [b.kind for b in section.blocks]
    assert kinds == ["paragraph", "paragraph", "list"]
    listed = doc.body[section.blocks[-1].start : section.blocks[-1].end]
    assert listed.splitlines() == [
        "- Not allowed: a host driving after drinking on stream.",
        "- Not allowed: chat daring a drunk host to drive.",
    ]


def test_a_table_over_a_page_break_is_one_table_with_one_header():
    doc, _ = parsed(policy_pdf())
    section = next(s for s in doc.sections if s.clause_id == "LIVE-DNG-3.2")
    [table] = [b for b in section.blocks if b.kind == "table"]
    rows = doc.body[table.start : table.end].splitlines()
    assert rows[0] == "| Severity | Outcome |" and rows[1] == "|---|---|"
    assert rows[2:] == [f"| Level {n} | outcome number {n} |" for n in range(1, 61)]
    assert doc.body.endswith("Repeat violations within 90 days move one row down.")


def test_every_passage_knows_its_page():
    """Each row of the table over the page break, each line of text: the page the body says
    it is on is the page pdfplumber finds its text on."""
    import pdfplumber

    raw = policy_pdf()
    doc, _ = parsed(raw)
    with pdfplumber.open(io.BytesIO(raw)) as source:
        texts = [" ".join(page.extract_text().split()) + " " for page in source.pages]
    probes = [f"| Level {n} | outcome number {n} |" for n in range(1, 61)] + [
        "Adults may drink alcohol",
        "Not allowed: chat daring",
        "Repeat violations within",
    ]
    pages_seen = set()
    for probe in probes:
        words = probe.strip("| ").replace(" | ", " ") + " "
        want = [n for n, text in enumerate(texts, start=1) if words in text]
        at = doc.body.index(probe)
        assert want and pages_of(doc.page_starts, at, at + len(probe))[0] in want, probe
        pages_seen.update(want)
    assert len(pages_seen) >= 3  # the probes span the pages, the table's break included


def _table(doc: FPDF, rows) -> None:
    doc.set_font("helvetica", "", 11)
    with doc.table() as table:  # the first row is a bold header
        for row in rows:
            cells = table.row()
            for cell in row:
                cells.cell(cell)


def test_a_new_table_on_the_next_page_is_not_the_last_one_carried_over():
    doc = FPDF()
    doc.add_page()
    _heading(doc, "Contacts", 20)
    _table(doc, [("Severity", "Outcome"), ("Low", "warn"), ("High", "ban")])
    doc.add_page()
    _table(doc, [("Region", "Contact"), ("EU", "dsa@example.org"), ("UK", "osa@example.org")])
    parsed_doc, _ = parsed(bytes(doc.output()))
    tables = [
        parsed_doc.body[b.start : b.end].splitlines()
        for s in parsed_doc.sections
        for b in s.blocks
        if b.kind == "table"
    ]
    assert [t[0] for t in tables] == ["| Severity | Outcome |", "| Region | Contact |"]
    second = parsed_doc.body.index("| Region | Contact |")
    assert pages_of(parsed_doc.page_starts, second, second + 1) == [2, 2]


def test_one_line_paragraphs_and_a_list_then_a_paragraph_stay_apart():
    doc = FPDF()
    doc.add_page()
    _heading(doc, "Short rules", 20)
    lines = ["Hosts must be 18.", "Gifts are final.", "Chat is moderated."]
    for line in lines:
        _para(doc, line)
    doc.set_font("helvetica", "", 11)
    doc.cell(0, 6, "- Not allowed: dares to drive.", new_x="LMARGIN", new_y="NEXT")
    doc.ln(4)
    _para(doc, "Moderators escalate repeat cases.")
    parsed_doc, _ = parsed(bytes(doc.output()))
    blocks = [
        (b.kind, parsed_doc.body[b.start : b.end]) for s in parsed_doc.sections for b in s.blocks
    ]
    assert blocks == [
        *[("paragraph", line) for line in lines],
        ("list", "- Not allowed: dares to drive."),
        ("paragraph", "Moderators escalate repeat cases."),
    ]


def test_page_numbers_go_and_a_year_ending_a_page_stays():
    """Page numbers at the foot of every page are dropped; "2025." closing a paragraph just
    above one is text."""

    def page(n: int, last: bytes) -> bytes:
        return (
            b"BT /F1 18 Tf 72 720 Td (Retention) Tj ET "
            b"BT /F1 11 Tf 72 690 Td (Records are kept until the end of) Tj ET "
            b"BT /F1 11 Tf 72 60 Td (" + last + b") Tj ET "
            b"BT /F1 9 Tf 300 30 Td (%d) Tj ET" % n
        )

    raw = _raw_pdf([page(1, b"2025."), page(2, b"Nothing else."), page(3, b"The end.")])
    doc, _ = parsed(raw)
    assert "2025." in doc.body and "Nothing else." in doc.body
    assert not re.search(r"(?m)^[123]$", doc.body) and " 2 " not in doc.body


def test_bookmarks_make_the_headings_when_the_fonts_do_not():
    flat, _ = parsed(policy_pdf(flat=True))
    assert "LIVE-DNG-3.1" not in _paths(flat)  # nothing to tell a heading by
    doc, errors = parsed(policy_pdf(bookmarks=True, flat=True))
    assert errors == []
    assert _paths(doc) == {
        "LIVE-DNG-3.1": ["LIVE-DNG-3 Impairment and vehicles", "LIVE-DNG-3.1 Impaired streaming"],
        "LIVE-DNG-3.2": [
            "LIVE-DNG-3 Impairment and vehicles",
            "LIVE-DNG-3.2 Enforcement by severity",
        ],
    }


def test_two_columns_are_read_column_by_column_and_an_unruled_table_row_by_row():
    doc = FPDF()
    doc.add_page()
    _heading(doc, "Streaming guide", 20)
    left = "LEFT " + "Hosts may drink where it is legal but may not drive. " * 25
    right = "RIGHT " + "Viewers who dare a host to do something risky are muted. " * 12
    doc.set_font("helvetica", "", 10)
    with doc.text_columns(ncols=2, gutter=10) as columns:
        columns.write(text=left)
        columns.new_column()
        columns.write(text=right)
    doc.add_page()
    _para(doc, "Contacts for escalation:")
    for key, value in [("Owner", "Trust and Safety"), ("Tier", "T2"), ("Region", "EU")] * 3:
        doc.cell(30, 6, key)
        doc.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    parsed_doc, _ = parsed(bytes(doc.output()))
    texts = [parsed_doc.body[b.start : b.end] for s in parsed_doc.sections for b in s.blocks]
    # Each column is one paragraph, left before right, nothing of one inside the other.
    assert texts[0] == " ".join(left.split()) and texts[1] == " ".join(right.split())
    # Short cells side by side are rows, not columns.
    assert texts[2] == "Contacts for escalation:"
    assert texts[3:6] == ["Owner Trust and Safety", "Tier T2", "Region EU"]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_page_turned_for_display_reads_forwards(rotation):
    contents = [
        b"BT /F1 18 Tf 72 720 Td (Weapons) Tj ET",
        b"BT /F1 11 Tf 72 690 Td (Landscape page text at the top.) Tj ET "
        b"BT /F1 11 Tf 400 100 Td (Lower right text on landscape.) Tj ET",
    ]
    doc, _ = parsed(_raw_pdf(contents, rotate=(0, rotation)))
    assert "Landscape page text at the top.\n\nLower right text on landscape." in doc.body


def test_metadata_from_the_document_information_then_sidecar_and_manifest():
    raw = _raw_pdf(
        [
            b"BT /F1 18 Tf 72 720 Td (Weapons) Tj ET",
            b"BT /F1 11 Tf 72 690 Td (Knives are covered.) Tj ET",
        ],
        info=b"/Title (Document1) /kb:type (policy) /Version (3.1) /Regions (EU, UK) /Author (x)",
    )
    doc, errors = parsed(raw)
    assert errors == [] and doc.title == "Weapons" and doc.doc_type == "policy"
    assert doc.metadata["version"] == "3.1" and doc.metadata["regions"] == ["EU", "UK"]
    doc, _ = parsed(raw, meta={"version": "4.0", "title": "Weapons policy"})
    assert doc.metadata["version"] == "4.0" and doc.title == "Weapons policy"
    with pytest.raises(ParseError, match="document information") as caught:
        parsed(_raw_pdf([b"BT /F1 11 Tf 72 700 Td (x) Tj ET"], info=b"/Effective_From (soon)"))
    assert caught.value.field == "effective_from"


def _scanned_page(doc: FPDF) -> None:
    doc.add_page()
    image = Image.new("L", (200, 100), 255)
    for x in range(20, 180):
        image.putpixel((x, 50), 0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    doc.image(buffer, x=10, y=10, w=180)


def test_a_scan_is_reported_as_one_not_ingested_empty():
    scan = FPDF()
    _scanned_page(scan)
    _scanned_page(scan)
    with pytest.raises(ParseError, match="scanned PDF"):
        parsed(bytes(scan.output()))
    mixed = FPDF()
    mixed.add_page()
    _para(mixed, "LIVE-DNG-3.1 governs impaired streaming.")
    _scanned_page(mixed)
    # Through the reader's child process, as an ingest reads it.
    result = pdf.parse(Source(path="mixed.pdf", text="", default_id="m", raw=bytes(mixed.output())))
    [doc], [error] = result.documents, result.errors
    assert "LIVE-DNG-3.1" in doc.body and error.path == "mixed.pdf"
    assert "page 2 is an image without a text layer" in error.reason and "OCR" in error.reason


def _raw_pdf(
    contents: list[bytes], *, info: bytes = b"", filters: bytes = b"", rotate: tuple = ()
) -> bytes:
    """A PDF written object by object: a page per content stream, Helvetica as /F1;
    `rotate`, each page's /Rotate."""
    n_pages = len(contents)
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n_pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, stream in enumerate(contents):
        turn = b"/Rotate %d " % rotate[i] if i < len(rotate) else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R " + turn + b"/MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i)
        )
        objects.append(
            b"<< " + filters + b"/Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
    if info:
        objects.append(b"<< " + info + b" >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"/Size %d /Root 1 0 R" % (len(objects) + 1)
    if info:
        trailer += b" /Info %d 0 R" % len(objects)
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _encrypted() -> bytes:
    doc = FPDF()
    doc.add_page()
    _para(doc, "Secret policy text.")
    doc.set_encryption(owner_password="owner", user_password="reader")
    return bytes(doc.output())


BAD = {
    "encrypted": (_encrypted, "password-protected"),
    "not a PDF": (lambda: b"<html>policy</html>", "not a PDF"),
    "truncated": (lambda: policy_pdf()[:900], "cannot read this PDF|no text|damaged"),
    "garbage": (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40, "cannot read this PDF"),
    "no text": (lambda: _raw_pdf([b"0 0 m 100 100 l S"]), "no text to index"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_files_are_clear_errors(name):
    make, message = BAD[name]
    with pytest.raises(ParseError, match=message) as caught:
        pdf.parse(Source(path="bad.pdf", text="", default_id="bad", raw=make()))
    assert caught.value.path == "bad.pdf"


def test_a_stream_that_inflates_without_bound_and_a_slow_file_stop_at_their_limits():
    """In a child with a small memory limit, a 4 MB page inflating to 1 GiB is an error; a
    file past its time is an error; the next file is read by a fresh child."""
    squeeze = zlib.compressobj(1)
    bomb = b"".join(squeeze.compress(b" " * (1 << 24)) for _ in range(64)) + squeeze.flush()
    raw = _raw_pdf([bomb], filters=b"/Filter /FlateDecode ")
    worker = Worker(Limits(memory_bytes=768 * 2**20, seconds=120))
    try:
        with pytest.raises(
            ParseError, match=r"inflates past the memory|needs more memory"
        ) as caught:
            worker.run(pdf.read, Source(path="bomb.pdf", text="", default_id="b", raw=raw))
        assert caught.value.path == "bomb.pdf"
        good = Source(path="ok.pdf", text="", default_id="ok", raw=policy_pdf())
        assert worker.run(pdf.read, good).documents[0].title == "Dangerous Acts"
        worker.limits = Limits(memory_bytes=768 * 2**20, seconds=0.05)
        with pytest.raises(ParseError, match="took over"):
            worker.run(pdf.read, good)
        worker.limits = Limits(memory_bytes=768 * 2**20, seconds=120)
        assert worker.run(pdf.read, good).documents[0].title == "Dangerous Acts"
    finally:
        worker.stop()


def test_ingest_search_cite_the_page_and_keep_what_was_stored(settings, src, write):
    """Through the pipeline and the web app: a PDF policy with a sidecar; the citation names
    the page and links to it; the document page marks where each page starts; a later
    damaged save is an error naming the file, and the stored version keeps serving."""
    path = src / "dangerous-acts.pdf"
    path.write_bytes(policy_pdf())
    write("dangerous-acts.meta.yaml", "id: dangerous-acts\ntype: policy\nversion: '2.0'\n")
    report = ingest(settings, [src])
    assert report.errors == [] and report.added == 1
    searcher = Searcher(settings)
    try:
        hit = searcher.search("repeat violations within 90 days").results[0]
        assert hit.passage.clause_id == "LIVE-DNG-3.2"
        last = hit.citation.pages
        assert last[0] >= 2 and hit.citation.url.endswith(f"#page:{last[0]}")
        assert hit.citation.line().endswith(
            f"p. {last[0]}" if last[0] == last[1] else f"pp. {last[0]}\u2013{last[1]}"
        )
        first = next(
            h
            for h in searcher.search("adults may drink alcohol where legal", k=10).results
            if "Adults may drink" in h.passage.text
        )
        assert first.citation.pages == [1, 1] and first.passage.to_dict()["pages"] == [1, 1]
    finally:
        searcher.close()
    client = create_app(settings, testing=True).test_client()
    page = client.get(hit.citation.url.split("#")[0]).get_data(as_text=True)
    assert f'id="page:{last[0]}"' in page and 'id="page:1"' in page
    api = client.get("/api/search?q=repeat+violations+within+90+days&by=passage").get_json()
    [cited] = [r["citation"] for r in api["results"] if r["passage_id"] == hit.passage.passage_id]
    assert cited["pages"] == last and cited["url"] == hit.citation.url

    path.write_bytes(policy_pdf()[:700])
    again = ingest(settings, [src])
    [error] = again.errors
    assert error.path.endswith("dangerous-acts.pdf") and again.removed_ids == []
    searcher = Searcher(settings)
    try:
        again_hit = searcher.search("repeat violations within 90 days").results[0]
        assert again_hit.passage.passage_id == hit.passage.passage_id
        assert again_hit.citation.pages == last
    finally:
        searcher.close()


# The shipped policies through LibreOffice: Markdown -> HTML -> Word (header, footer with a
# page field, ruled tables of the page's width) -> PDF.
def _page_field(paragraph) -> None:
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._r.append(element)


def _ruled(table) -> None:
    properties = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:val"), "single")
        edge.set(qn("w:sz"), "4")
        borders.append(edge)
    properties.append(borders)
    width = properties.find(qn("w:tblW"))  # the page's width, not past its edge
    width.set(qn("w:w"), "5000")
    width.set(qn("w:type"), "pct")
    columns = table._tbl.tblGrid.findall(qn("w:gridCol"))
    for element in [*columns, *table._tbl.iter(qn("w:tcW"))]:
        element.set(qn("w:w"), str(9600 // len(columns)))


def _soffice(soffice: str, profile, target: str, outdir, files) -> None:
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """(Markdown policy, PDF with bookmarks, PDF without) for every shipped policy (the
    latter for a few: they take time)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    folder = tmp_path_factory.mktemp("printed")
    profile = folder / "profile"
    renderer = MarkdownIt("commonmark").enable("table")
    sources = sorted((CORPUS / "policies").glob("*.md"))
    for path in sources:
        body = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(), flags=re.S)
        (folder / f"{path.stem}.html").write_text(
            f"<html><head><meta charset='utf-8'></head><body>{renderer.render(body)}</body></html>"
        )
    _soffice(
        soffice,
        profile,
        "docx:MS Word 2007 XML",
        folder,
        [folder / f"{p.stem}.html" for p in sources],
    )
    for path in sources:
        word = docx.Document(folder / f"{path.stem}.docx")
        word.sections[0].header.paragraphs[0].text = HEADER
        footer = word.sections[0].footer.paragraphs[0]
        footer.text = "Page "
        _page_field(footer)
        for table in word.tables:
            _ruled(table)
        word.save(folder / f"{path.stem}.docx")
    docs = [folder / f"{p.stem}.docx" for p in sources]
    _soffice(soffice, profile, "pdf", folder, docs)
    plain = folder / "plain"
    no_bookmarks = 'pdf:writer_pdf_Export:{"ExportBookmarks":{"type":"boolean","value":"false"}}'
    _soffice(soffice, profile, no_bookmarks, plain, docs[::4])
    return [
        (path, folder / f"{path.stem}.pdf", plain / f"{path.stem}.pdf" if n % 4 == 0 else None)
        for n, path in enumerate(sources)
    ]


def test_the_shipped_policies_survive_printing_to_pdf(printed):
    """Every clause id, heading path, title and table cell of the Markdown policies is found
    in their PDFs, read by bookmarks or by fonts; no running header or page number inside the
    text; every page start recorded."""
    for md, with_bookmarks, without in printed:
        want = markdown.parse(Source(path=md.name, text=md.read_text(), default_id="x")).documents[
            0
        ]
        cells = markdown_cells(md.read_text())
        for path in filter(None, (with_bookmarks, without)):
            copy, errors = parsed(path.read_bytes())
            where = path.relative_to(path.parents[1])
            assert errors == [] and copy.title == want.title, where
            assert _paths(copy) == _paths(want), where
            assert cells - table_cells(copy) == set(), where
            assert HEADER not in copy.body and not re.search(r"(?m)^Page \d+$", copy.body), where
            assert len(copy.page_starts) >= 2 and copy.page_starts == sorted(copy.page_starts)
