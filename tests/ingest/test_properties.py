"""Property-based tests of the parsers and the chunker: any input either parses or fails with a
ParseError naming the file, and no text of a parsed section is lost on the way to passages."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kb.config import Settings
from kb.errors import ParseError
from kb.ingest.base import Source
from kb.ingest.chunker import Chunker
from kb.ingest.registry import ParseResult, parser_for
from kb.ingest.rulings import REQUIRED
from kb.ingest.sources import SourceFile, read_source
from kb.ingest.tokens import TokenCounter
from kb.types import OUTCOMES, RULING_STATUSES, ParsedDocument
from tests.conftest import examples

FAST = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# A small budget, so that blocks are split at parts, sentences and words, not just kept whole.
BUDGET = 48


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    s = Settings.load()
    return Chunker(TokenCounter(s.model_path(), s.model_name()), BUDGET)


def read(name: str, text: str, parser: str | None = None) -> ParseResult:
    """The file through the pipeline's own steps: decode, then the suffix's parser."""
    file = SourceFile(path=Path(name), display=name, default_id=Path(name).stem, parser=parser)
    source = read_source(file, text.encode(), 10**8, "en")
    return parser_for(file.path, parser)(source)


def parse_or_error(name: str, text: str, parser: str | None = None) -> ParseResult | None:
    """The parse result, or None when the parser refused the file with a proper ParseError."""
    try:
        result = read(name, text, parser)
    except ParseError as exc:
        assert_names_place(exc, name)
        return None
    for exc in result.errors:
        assert_names_place(exc, name)
    return result


def assert_names_place(exc: ParseError, name: str) -> None:
    assert exc.path == name and exc.reason, exc
    assert exc.line is None or exc.line >= 1, exc


def nonspace(text: str) -> str:
    return "".join(text.split())


def assert_no_lost_text(doc: ParsedDocument, chunker: Chunker) -> None:
    """Every non-whitespace character of each section's blocks lands in a passage of that
    section. A passage's own text is its span of the body, after the header row repeated when
    a long table was split by rows; the heading path is carried separately."""
    passages = chunker.chunk(doc, "v1")
    for p in passages:
        own = doc.body[p.start : p.end]
        assert p.text.endswith(own), (p.text, own)
        assert p.heading_path[0] == doc.title
    for section in doc.sections:
        mine = [p for p in passages if p.anchor == section.anchor]
        text = "".join(p.text for p in mine)
        for block in section.blocks:
            split_table = block.kind == "table" and len(block.parts) > 1
            header = block.parts[0] if split_table else (0, 0)
            for i in range(block.start, block.end):
                if doc.body[i].isspace():
                    continue
                if header[0] <= i < header[1]:
                    assert doc.body[header[0] : header[1]] in text
                else:
                    assert any(p.start <= i < p.end for p in mine), (doc.body[i], i)
        expected = "".join(nonspace(doc.body[b.start : b.end]) for b in section.blocks)
        missing = Counter(expected) - Counter(nonspace(text))
        assert not missing, missing


# ---------------------------------------------------------------------------------------------
# Strategies

# Printable text with Markdown/HTML syntax characters, accents, CJK, emoji and odd spaces.
ALPHABET = st.one_of(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?'\"-_*`|#<>&\\/()[]"),
    st.sampled_from("éüßøçñ日本語한국어ملخص🔥👍🏽\u00a0\u200b\u2009\u3000\u2028\u2029\x85"),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
)
# Fragments that mean something to a Markdown or HTML reader.
TRICKY = st.sampled_from(
    ["<!--", "-->", "<div>", "</p>", "```", "~~~", "***", "[x]: /url", "|", ">", "1.", "&amp;"]
)
WORD = st.one_of(st.text(ALPHABET, min_size=1, max_size=12).filter(str.strip), TRICKY)
INLINE = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
SENTENCE = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(
        st.sampled_from("policy host stream viewer gift minor ban warn live".split()),
        min_size=1,
        max_size=9,
    ),
    st.sampled_from([".", "!", "?", "", "..."]),
)
PROSE = st.lists(st.one_of(SENTENCE, INLINE), min_size=1, max_size=8).map(" ".join)
CLAUSE = st.from_regex(r"\A[A-Z]{2,4}-[A-Z]{2,4}-[1-9](\.[1-9])?\Z")


def _md_heading(level: int, clause: str | None, text: str) -> str:
    return "#" * level + " " + (f"{clause} " if clause else "") + text


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(cell: str) -> str:
        return cell.replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(map(clean, header)) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(map(clean, row)) + " |")
    return "\n".join(lines)


MD_HEADING = st.builds(_md_heading, st.integers(1, 6), st.none() | CLAUSE, INLINE)
MD_LIST = st.builds(
    lambda items, ordered: "\n".join(
        (f"{i}. " if ordered else "- ") + item for i, item in enumerate(items, start=1)
    ),
    st.lists(PROSE, min_size=1, max_size=12),
    st.booleans(),
)
MD_TABLE = st.integers(1, 4).flatmap(
    lambda n: st.builds(
        _md_table,
        st.lists(WORD, min_size=n, max_size=n),
        st.lists(st.lists(INLINE, min_size=n, max_size=n), min_size=0, max_size=15),
    )
)
MD_CODE = st.builds(
    lambda lang, lines: f"```{lang}\n" + "\n".join(lines) + "\n```",
    st.sampled_from(["", "python", "json"]),
    st.lists(st.text(ALPHABET, max_size=40).map(lambda s: s.replace("`", "'")), max_size=6),
)
MD_QUOTE = PROSE.map(lambda text: "> " + text)
MD_APPLIES = st.builds(
    lambda regions, surfaces: f"<!-- applies: regions={regions}; surfaces={surfaces} -->",
    st.sampled_from(["EU,UK", "US", "KR", ""]),
    st.sampled_from(["live", "live,chat", ""]),
)
MD_COMMENT = st.builds(
    lambda note, after: f"<!-- {note} -->" + (f" {after}" if after else ""),
    INLINE.map(lambda s: s.replace("-->", "")),
    st.none() | PROSE,
)
MD_BLOCK = st.one_of(
    PROSE,
    PROSE,
    MD_HEADING,
    MD_HEADING,
    MD_LIST,
    MD_TABLE,
    MD_CODE,
    MD_QUOTE,
    MD_APPLIES,
    MD_COMMENT,
)
YAML_VALUE = st.one_of(
    WORD.map(json.dumps),
    st.sampled_from(["2024-01-01", "2025-13-40", "[EU, UK]", "{a: 1}", "yes", "~", "'", "[", "|"]),
    st.sampled_from([*OUTCOMES, "policy", "guidance", "draft", "current"]),
)
FRONT_MATTER = st.dictionaries(
    st.sampled_from(
        "id title type status version regions surfaces policy_areas effective_from "
        "effective_to visibility platform owner document_id".split()
    ),
    YAML_VALUE,
    max_size=6,
).map(lambda d: "---\n" + "".join(f"{k}: {v}\n" for k, v in d.items()) + "---\n")
MD_BODY = st.lists(MD_BLOCK, min_size=1, max_size=14).map(lambda b: "\n\n".join(b) + "\n")
MARKDOWN = st.builds(str.__add__, st.one_of(st.just(""), FRONT_MATTER), MD_BODY)
# Anything at all, including stray control characters and broken syntax.
ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1)


def _el(tag: str, inner: str, attrs: str = "") -> str:
    return f"<{tag}{attrs}>{inner}</{tag}>"


HTML_TEXT = INLINE.map(html.escape)
HTML_LEAF = st.one_of(
    HTML_TEXT.map(lambda t: _el("p", t)),
    st.builds(lambda n, t: _el(f"h{n}", t), st.integers(1, 6), HTML_TEXT),
    st.lists(HTML_TEXT, min_size=1, max_size=6).map(
        lambda items: _el("ul", "".join(_el("li", i) for i in items))
    ),
    st.lists(HTML_TEXT, min_size=1, max_size=6).map(
        lambda items: _el("ol", "".join(_el("li", i) for i in items))
    ),
    st.builds(
        lambda caption, header, rows: _el(
            "table",
            (_el("caption", caption) if caption else "")
            + (_el("thead", _el("tr", "".join(_el("th", c) for c in header))) if header else "")
            + _el("tbody", "".join(_el("tr", "".join(_el("td", c) for c in r)) for r in rows)),
        ),
        st.none() | HTML_TEXT,
        st.none() | st.lists(HTML_TEXT, min_size=2, max_size=2),
        st.lists(st.lists(HTML_TEXT, min_size=2, max_size=2), min_size=1, max_size=8),
    ),
    st.lists(st.tuples(HTML_TEXT, HTML_TEXT), min_size=1, max_size=4).map(
        lambda pairs: _el("dl", "".join(_el("dt", a) + _el("dd", b) for a, b in pairs))
    ),
    HTML_TEXT.map(lambda t: _el("pre", t)),
    HTML_TEXT.map(lambda t: _el("blockquote", t)),
    HTML_TEXT,
    HTML_TEXT.map(lambda t: t + "<br>" + t),
    HTML_TEXT.map(lambda t: _el("span", t) + _el("b", t)),
    st.just("<!-- applies: regions=EU -->"),
    st.just("<!-- a comment -->"),
)
BOILERPLATE = [
    "<nav><a href='/'>Home</a></nav>",
    "<script>var x = '<p>not text</p>';</script>",
    "<style>p { color: red }</style>",
    "<div class='sidebar'><p>Related</p></div>",
    "<footer>Edited</footer>",
]
HTML_BODY = st.recursive(
    st.lists(HTML_LEAF, min_size=1, max_size=5).map("".join),
    lambda inner: st.one_of(
        st.builds(_el, st.sampled_from(["div", "section", "article", "span", "a", "li"]), inner),
        st.lists(inner | st.sampled_from(BOILERPLATE), min_size=1, max_size=4).map("".join),
    ),
    max_leaves=12,
)


def _page(title: str, metas: dict[str, str], body: str, main: bool) -> tuple[str, str]:
    """(the page, the markup of its body)"""
    if not main:  # without <main>, the first <article> is taken as the page's content
        body = body.replace("<article>", "<section>").replace("</article>", "</section>")
    return (
        "<!doctype html><html><head>"
        + (f"<title>{html.escape(title)}</title>" if title else "")
        + "".join(f'<meta name="kb:{k}" content="{html.escape(v)}">' for k, v in metas.items())
        + "</head><body>"
        + (_el("main", body) if main else body)
        + "</body></html>",
        body,
    )


HTML_PAGE = st.builds(
    _page,
    st.one_of(st.just(""), INLINE),
    st.dictionaries(st.sampled_from(["id", "type", "regions", "owner"]), WORD, max_size=3),
    HTML_BODY,
    st.booleans(),
)


def visible_text(markup: str) -> str:
    """What a reader sees of generated markup: boilerplate, comments and tags removed."""
    for junk in BOILERPLATE:
        markup = markup.replace(junk, " ")
    markup = re.sub(r"<!--.*?-->", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", " ", markup))


def _ruling(case_id, outcome, status, date, facts, decision, rationale, areas, clauses):
    return {
        "case_id": case_id,
        "title": "Case " + case_id,
        "decision_date": date,
        "surface": "live",
        "region": "EU",
        "policy_areas": areas,
        "clauses": clauses,
        "facts": facts,
        "outcome": outcome,
        "decision": decision,
        "rationale": rationale,
        "status": status,
    }


RULING = st.builds(
    _ruling,
    st.from_regex(r"\AESC-[0-9]{1,4}\Z"),
    st.sampled_from(OUTCOMES),
    st.sampled_from(RULING_STATUSES),
    st.dates().map(str),
    PROSE,
    PROSE,
    PROSE,
    st.lists(WORD, min_size=1, max_size=3),
    st.lists(CLAUSE, min_size=1, max_size=3),
)
# Text here may hold lone surrogates: JSON can spell them as \ud83d escapes.
ANY_CHARS = st.text(st.characters(exclude_categories=()), max_size=20)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_CHARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)

_EXAMPLE_RULING = _ruling("ESC-1", "warn", "active", "2025-01-01", "f", "d", "r", ["a"], ["A-B-1"])


@st.composite
def ruling_line(draw) -> str:
    """A JSON line: a valid ruling, one with a field dropped or replaced, or not JSON at all."""
    obj = draw(RULING)
    mutation = draw(st.sampled_from(["none", "none", "drop", "replace", "extra", "garbage"]))
    if mutation == "drop":
        obj.pop(draw(st.sampled_from(REQUIRED)))
    elif mutation == "replace":
        obj[draw(st.sampled_from([*REQUIRED, "teaching_example", "superseded_by"]))] = draw(
            JSON_VALUE
        )
    elif mutation == "extra":
        key = draw(st.sampled_from(["effective_to", "type", "id", "owner", "regions", "x"]))
        obj[key] = draw(JSON_VALUE)
    elif mutation == "garbage":
        return draw(
            st.text(st.characters(codec="utf-8", exclude_characters="\n\r\x00\ufeff"), max_size=40)
        )
    raw = json.dumps(obj, ensure_ascii=False)
    # Characters such as U+2028 unescaped where possible; lone surrogates only as escapes.
    if draw(st.booleans()) and not re.search("[\ud800-\udfff]", raw):
        return raw
    return json.dumps(obj)


# ---------------------------------------------------------------------------------------------
# Properties


@FAST
@given(name=st.sampled_from(["a.md", "a.html", "a.txt", "a.jsonl", "a.csv", "beir"]), text=ANY_TEXT)
@example(name="a.md", text="---\nowner: &a [x, *a]\n---\ntext\n")  # contains itself
@example(name="a.md", text="---\nowner: {1: a, b: c}\n---\ntext\n")  # mixed key types
@example(name="a.md", text='---\ntitle: "half \\ud83d an emoji"\n---\ntext\n')
@example(name="beir", text='{"_id": "x", "text": "t", "metadata": ["ab", "cde"]}')
def test_any_text_parses_or_is_a_parse_error(name, text):
    if name == "beir":
        parse_or_error("corpus.jsonl", text, parser="beir")
    else:
        parse_or_error(name, text)


def _packed(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            with contextlib.suppress(IndexError, ValueError):  # names zipfile cannot write
                z.writestr(name, data)
    return out.getvalue()


def _word_document() -> bytes:
    d = docx.Document()
    d.add_paragraph("Rules", style="Title")
    d.add_heading("LIVE-T-1 First", level=2)
    d.add_paragraph("A host may not do this.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "type", "policy"
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


WORD_DOCUMENT = _word_document()


def _pdf_document() -> bytes:
    doc = FPDF()
    doc.add_page()
    doc.start_section("LIVE-T-1 First", level=0)
    doc.set_font("helvetica", "B", 16)
    doc.cell(0, 10, "LIVE-T-1 First", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 11)
    doc.multi_cell(0, 6, "A host may not do this. " * 20)
    with doc.table() as table:
        for row in (("Severity", "Outcome"), ("Low", "warn")):
            cells = table.row()
            for cell in row:
                cells.cell(cell)
    return bytes(doc.output())


PDF_DOCUMENT = _pdf_document()
ENTRY_NAMES = st.one_of(
    st.sampled_from(["a.md", "b.html", "c.docx", "d.meta.yaml", "../e.md", "/f.md", "g.zip"]),
    st.text(min_size=1, max_size=20).map(lambda t: t + ".md"),
)


def read_bytes(name: str, raw: bytes) -> None:
    """A binary file through the pipeline's own steps: parsed, or refused with ParseErrors
    naming it (or, for an archive's entries, the archive and the entry)."""
    file = SourceFile(path=Path(name), display=name, default_id=Path(name).stem)
    try:
        result = parser_for(file.path)(read_source(file, raw, 10**8, "en"))
    except ParseError as exc:
        assert exc.path == name and exc.reason, exc
        return
    for exc in result.errors:
        assert (exc.path == name or exc.path.startswith(name + "/")) and exc.reason, exc


@FAST
@given(
    entries=st.dictionaries(
        ENTRY_NAMES,
        st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
        max_size=5,
    ),
    suffix=st.sampled_from([".zip", ".docx"]),
)
def test_any_archive_parses_or_is_a_parse_error(entries, suffix):
    read_bytes("a" + suffix, _packed(entries))


@FAST
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, len(WORD_DOCUMENT) - 1), st.integers(0, 255)), max_size=8
    ),
    length=st.integers(1, len(WORD_DOCUMENT)),
)
def test_a_damaged_word_document_parses_or_is_a_parse_error(cuts, length):
    raw = bytearray(WORD_DOCUMENT[:length])
    for at, value in cuts:
        if at < len(raw):
            raw[at] = value
    if bytes(raw).strip():
        read_bytes("a.docx", bytes(raw))


@FAST
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, len(PDF_DOCUMENT) - 1), st.integers(0, 255)), max_size=8
    ),
    length=st.integers(1, len(PDF_DOCUMENT)),
)
def test_a_damaged_pdf_parses_or_is_a_parse_error(cuts, length):
    """In this process, not the ingest's child (which would report any exception as a
    damaged file): a bug in the parser fails here."""
    from kb.ingest import pdf

    raw = bytearray(PDF_DOCUMENT[:length])
    for at, value in cuts:
        if at < len(raw):
            raw[at] = value
    try:
        result = pdf.read(Source(path="a.pdf", text="", default_id="a", raw=bytes(raw)))
    except ParseError as exc:
        assert exc.path == "a.pdf" and exc.reason, exc
        return
    for exc in result.errors:
        assert exc.path == "a.pdf" and exc.reason, exc


def _nested(kind: str, depth: int) -> tuple[str, str]:
    if kind == "html":
        return "page.html", "<div>" * depth + "<p>deep</p>" + "</div>" * depth
    if kind == "json":
        return "rulings.jsonl", '{"case_id": ' + "[" * depth + "]" * depth + "}\n"
    if kind == "yaml":
        return "doc.md", "---\nowner: " + "[" * depth + "]" * depth + "\n---\ntext\n"
    if kind == "markdown":
        return "doc.md", "".join("  " * i + "- item\n" for i in range(depth // 10))
    header = ",".join(REQUIRED)
    return "rulings.csv", f'{header}\n"{"x" * depth * 200}",b\n'


@settings(max_examples=examples(25), deadline=None)
@given(
    kind=st.sampled_from(["html", "json", "yaml", "markdown", "csv"]), depth=st.integers(1, 1500)
)
@example(kind="html", depth=1500)
@example(kind="json", depth=1500)
@example(kind="yaml", depth=1500)
@example(kind="csv", depth=700)  # a 140,000-character field
def test_deep_nesting_and_huge_fields_parse_or_are_parse_errors(kind, depth):
    parse_or_error(*_nested(kind, depth))


@FAST
@given(text=MARKDOWN)
def test_markdown_parses_and_keeps_every_character(chunker, text):
    result = parse_or_error("doc.md", text)
    if result is None:  # only the front matter may be refused
        assert text.startswith("---\n")
        return
    (doc,) = result.documents
    assert_no_lost_text(doc, chunker)


@FAST
@given(text=MD_BODY)
@example(text="Intro.\n\n<!-- editor's note --> Hosts must be 18.\n")
@example(text="policy.\n\n<!-- 0 --> <!--\n\n# --> 0\n")
def test_markdown_body_lands_in_blocks_or_headings(text):
    """Outside headings, rules, link definitions and comments, every visible character of the
    file is in some block: the parser drops nothing it does not understand."""
    (doc,) = read("doc.md", text).documents
    covered = [False] * len(text)
    for section in doc.sections:
        for block in section.blocks:
            covered[block.start : block.end] = [True] * (block.end - block.start)
    # Comments opening a line are not content; unclosed, one hides the rest, as when rendered.
    # As in CommonMark, the comment block ends with the line its first "-->" is on: comments
    # after it on that line end there too, and the lines below are Markdown again.
    visible = re.sub(
        r"^ {0,3}<!--.*?(?:-->|\Z)(?:[ \t]*<!--[^\n]*?(?:-->|$))*[ \t]*",
        lambda m: " " * len(m[0]),
        text,
        flags=re.S | re.M,
    )
    start = 0
    for line in re.findall(r".*\n|.+", visible):  # Markdown lines end at "\n" only
        start, line_start = start + len(line), start
        if re.fullmatch(r"#{1,6}(\s.*)?|[-*_=\s]+|\[[^\]]+\]:.*", line.strip()):
            continue  # a heading, a thematic break, a setext underline, a link definition
        for i, ch in enumerate(line):
            assert ch.isspace() or covered[line_start + i], (line, ch)


@FAST
@given(text=ANY_TEXT)
def test_plain_text_keeps_every_character(chunker, text):
    result = parse_or_error("notes.txt", text)
    if result is None:
        assert not text.strip()
        return
    (doc,) = result.documents
    in_blocks = "".join(doc.body[b.start : b.end] for s in doc.sections for b in s.blocks)
    assert nonspace(in_blocks) == nonspace(doc.body)
    assert_no_lost_text(doc, chunker)


@FAST
@given(page=HTML_PAGE)
@example(page=_page("", {}, "<table><caption>Tiers</caption><tr><td>S0</td></tr></table>", False))
def test_html_parses_and_keeps_every_character(chunker, page):
    markup, body = page
    result = parse_or_error("page.html", markup)
    if result is None:  # only a bad kb: meta tag may be refused
        assert "kb:" in markup
        return
    (doc,) = result.documents
    assert "not text" not in doc.body and "Related" not in doc.body
    missing = Counter(nonspace(visible_text(body))) - Counter(nonspace(doc.body))
    assert not missing, missing
    assert_no_lost_text(doc, chunker)


@FAST
@given(lines=st.lists(ruling_line(), min_size=1, max_size=6), blank=st.booleans())
@example(lines=[json.dumps(_EXAMPLE_RULING | {"facts": "half \ud83d an emoji"})], blank=False)
@example(
    lines=[json.dumps(_EXAMPLE_RULING | {"facts": "a\u2028b"}, ensure_ascii=False)], blank=False
)
def test_rulings_give_one_document_or_one_error_per_line(chunker, lines, blank):
    text = ("\n\n" if blank else "\n").join(lines) + "\n"
    assume(text.strip())
    result = parse_or_error("rulings.jsonl", text)
    numbered = [n for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    assert len(result.documents) + len(result.errors) == len(numbered)
    for err in result.errors:
        assert err.path == "rulings.jsonl" and err.line in numbered, err
    for doc in result.documents:
        assert doc.doc_type == "ruling" and doc.source_line in numbered
        assert [s.heading_path for s in doc.sections] == [["Facts"], ["Decision and rationale"]]
        assert_no_lost_text(doc, chunker)
