"""PDF files: text in reading order from pdfplumber (pdfminer.six), turned into the same
sections, clause ids, tables and citations as a Markdown policy, with page numbers.

- **Headings** come from the outline (bookmarks) when the file has one: each entry becomes a
  heading at its level, found on its page by its text (or inserted there when the page says
  it differently). Without an outline, lines set larger than the body text are headings, a
  level per size, and short bold lines at the body size the lowest level. A large first line
  on page one is the title.
- **Running headers and footers** (lines at the top or bottom of the page that repeat on at
  least half the pages, digits aside) and page numbers are dropped.
- **Tables** that pdfplumber finds (ruled tables) stay tables, one row per line, split across
  pages or not; unruled ones are read as text.
- **Pages**: every passage records the pages it covers (`pages`, first and last), citations
  show them, and the document page opens at that page's text.
- A PDF without a text layer (a scan) is reported as such, not ingested empty: there is no
  OCR. Scanned pages inside a text PDF are named in an error, and the rest is ingested.
- **Metadata**, overridden by a sidecar `NAME.meta.yaml` and then by the manifest: the
  document information entries named as metadata keys (`type`, `version`, ... with or
  without a `kb:` prefix); the title is that metadata's, else the title line, else the
  information's Title.
- Encrypted (password-protected), damaged and oversized files are ParseErrors naming the
  file. pdfminer has no bound on how far a stream inflates, so the reading happens in a child
  process with a memory and a time limit (kb.ingest.isolation).
"""

from __future__ import annotations

import atexit
import io
import itertools
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from kb.errors import ParseError
from kb.ingest.base import ParseResult, Source, build_document
from kb.ingest.html import add_lines, add_table
from kb.ingest.isolation import Limits, Worker
from kb.ingest.metadata import is_document_key, normalize_metadata
from kb.ingest.structure import CLAUSE_ID_RE, SectionBuilder, TextAssembler

# What one file may cost: pdfminer's memory grows with a page's streams, not the file's size.
LIMITS = Limits(memory_bytes=4 * 2**30, seconds=600)
MAX_PAGES = 5000
# A few compressed megabytes can draw hundreds of megabytes of text; no policy holds that much.
MAX_TEXT_CHARS = 50_000_000
_worker: Worker | None = None
_worker_lock = threading.Lock()

# A line in the top or bottom band of a page may be a running header or footer.
_BAND = 0.1
_PAGE_NUMBER_RE = re.compile(
    r"^\W*(?:page|p\.|seite|página|pagina)?\s*"
    r"(?:\d{1,5}|(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))"
    r"(?:\s*(?:of|/|von|de|di)\s*\d{1,5})?\W*$",
    re.I,
)
_BULLETS = "•◦▪▫●○■□‣⁃∙·–—-*"
_BULLET_RE = re.compile(rf"^(?:[{re.escape(_BULLETS)}]|[\ue000-\uf8ff])\s*")
_NUMBERED_RE = re.compile(r"^(?:\d{1,3}|[a-z])[.)]\s+\S")
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_CID_RE = re.compile(r"\(cid:\d+\)")
_SENTENCE_END = tuple(".!?:;\"'”’)")


def parse(source: Source) -> ParseResult:
    """One PDF into one document, read in a child process with LIMITS."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker(LIMITS)
            atexit.register(_worker.stop)
    return _worker.run(read, source)


@dataclass
class _Line:
    page: int  # 1-based
    top: float
    bottom: float
    text: str
    size: float
    bold: bool
    heading: int = 0  # its heading level, 0 for body text
    x0: float = 0.0
    x1: float = 0.0
    order: tuple = ()  # reading order on its page, when it has columns (else by top)


@dataclass
class _Table:
    page: int
    top: float
    bottom: float
    rows: list[list[str]]
    last_page: int = 0  # the page a table carried over pages ends on
    x0: float = 0.0
    x1: float = 0.0
    order: tuple = ()
    bold_head: bool = False  # its first row set in bold (a header)
    row_pages: list[int] = field(default_factory=list)  # the page each row starts on


@dataclass
class _Page:
    number: int
    height: float
    lines: list[_Line] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    scanned: bool = False


def read(source: Source) -> ParseResult:
    """One PDF into one document, in this process (parse() isolates it)."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    where = source.path
    if not source.raw.lstrip()[:1024].find(b"%PDF-") >= 0:
        raise ParseError(where, "not a PDF (no %PDF- header)")
    try:
        pdf = pdfplumber.open(io.BytesIO(source.raw))
        pages = pdf.pages
    except Exception as exc:  # pdfplumber wraps pdfminer's errors in its own
        cause = exc.__cause__ or exc.__context__ or exc
        if isinstance(exc, PDFPasswordIncorrect | PDFEncryptionError) or isinstance(
            cause, PDFPasswordIncorrect | PDFEncryptionError
        ):
            raise ParseError(
                where, "password-protected (encrypted) PDF: save an unprotected copy"
            ) from None
        raise ParseError(where, f"cannot read this PDF: {_describe(exc)}") from None
    with pdf:
        if len(pages) > MAX_PAGES:
            raise ParseError(where, f"{len(pages)} pages, over the limit of {MAX_PAGES}")
        read_pages = []
        for number, page in enumerate(pages, start=1):
            try:
                read_pages.append(_read_page(_upright(pdf, page), number))
            except (MemoryError, RecursionError):
                raise
            except Exception as exc:
                if "allocate" in str(exc):  # zlib's own out-of-memory
                    raise ParseError(
                        where, f"page {number} inflates past the memory allowed for a file"
                    ) from None
                raise ParseError(where, f"page {number} is damaged: {_describe(exc)}") from None
            page.close()
        outline = _outline(pdf, where)
        info = pdf.metadata or {}
    return _document(source, read_pages, outline, info)


def _upright(pdf, page):
    """The page as its content was written: a /Rotate (a landscape page turned for
    display) would otherwise reach pdfminer's layout as text running backwards or down."""
    if not page.rotation:
        return page
    from pdfplumber.page import Page

    page.page_obj.attrs["Rotate"] = 0
    page.page_obj.rotate = 0
    return Page(
        pdf, page.page_obj, page_number=page.page_number, initial_doctop=page.initial_doctop
    )


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    return text or type(exc).__name__


def _read_page(page, number: int) -> _Page:
    out = _Page(number=number, height=float(page.height) or 1.0)
    if not page.chars:
        out.scanned = bool(page.images)
        return out
    tables = [t for t in page.find_tables() if len(t.rows) > 1 or len(t.columns) > 1]
    boxes = [t.bbox for t in tables]

    width, height = float(page.width), float(page.height)

    def outside(obj) -> bool:
        """Text outside the tables, and on the page (text past its edge is not shown)."""
        if obj.get("object_type") != "char":
            return True
        x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        if not (0 <= x <= width and 0 <= y <= height):
            return False
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    text_part = page.filter(outside)
    text_rows = []
    for line in text_part.extract_text_lines(return_chars=True, strip=True):
        segments = _segments([c for c in line["chars"] if c["text"].strip()])
        if len(segments) == 1:  # the common case: pdfplumber's own text of the line
            row = [_line(number, segments[0], line["text"])]
        else:
            row = [_line(number, chars) for chars in segments]
        if row := [x for x in row if x.text]:
            text_rows.append(row)
    for table in tables:
        rows = [[_join_text((cell or "").split("\n")) for cell in row] for row in table.extract()]
        rows = [row for row in rows if any(row)]
        if rows:
            x0, top, x1, bottom = (float(v) for v in table.bbox)
            hx0, htop, hx1, hbottom = table.rows[0].bbox
            head = [
                c
                for c in page.chars
                if c["text"].strip()
                and hx0 <= (c["x0"] + c["x1"]) / 2 <= hx1
                and htop <= (c["top"] + c["bottom"]) / 2 <= hbottom
            ]
            bold = bool(head) and all(_is_bold(c.get("fontname") or "") for c in head)
            out.tables.append(
                _Table(number, top, bottom, rows, x0=x0, x1=x1, bold_head=bold, row_pages=[])
            )
    out.lines = _columns(text_rows, out.tables)
    return out


def _line(page: int, chars: list[dict], text: str | None = None) -> _Line:
    sizes = Counter(round(float(c["size"]), 1) for c in chars)
    return _Line(
        page=page,
        top=min(float(c["top"]) for c in chars),
        bottom=max(float(c["bottom"]) for c in chars),
        text=_clean(_chars_text(chars) if text is None else text),
        size=sizes.most_common(1)[0][0],
        bold=all(_is_bold(c.get("fontname") or "") for c in chars),
        x0=float(chars[0]["x0"]),
        x1=float(chars[-1]["x1"]),
    )


def _merged(row: list[_Line]) -> _Line:
    """A row's segments as one line (no columns: an unruled table's row, a form's field)."""
    if len(row) == 1:
        return row[0]
    sizes = Counter()
    for x in row:
        sizes[x.size] += len(x.text)
    return _Line(
        page=row[0].page,
        top=min(x.top for x in row),
        bottom=max(x.bottom for x in row),
        text=" ".join(x.text for x in row),
        size=sizes.most_common(1)[0][0],
        bold=all(x.bold for x in row),
        x0=row[0].x0,
        x1=row[-1].x1,
    )


def _segments(chars: list[dict]) -> list[list[dict]]:
    """A line's characters, cut where a gap wider than a column gutter's least (three
    characters' height) separates them: two columns side by side give two segments."""
    chars = sorted(chars, key=lambda c: c["x0"])
    out: list[list[dict]] = []
    for char in chars:
        if out and char["x0"] - out[-1][-1]["x1"] <= max(3 * float(char["size"]), 12):
            out[-1].append(char)
        else:
            out.append([char])
    return out


def _chars_text(chars: list[dict]) -> str:
    """A segment's characters as text, a space where the gap between two is a word space."""
    text = ""
    for a, b in itertools.pairwise([None, *chars]):
        if a is not None and b["x0"] - a["x1"] > float(b["size"]) * 0.15:
            text += " "
        text += b["text"]
    return text


def _columns(rows: list[list[_Line]], tables: list[_Table]) -> list[_Line]:
    """The page's lines, in reading order when the page sets text in two columns (what is
    above the columns, the left column, the right one, what is below: `order`, tables
    included), else one per row. Two columns: at least five rows, a third of the page's, cut
    in two at one gutter, each side as wide as a third of the text (an unruled table's short
    cells are not)."""
    lines = [x for row in rows for x in row]
    pairs = [row for row in rows if len(row) == 2]
    if len(pairs) < 5 or len(pairs) * 3 < len(rows):
        return [_merged(row) for row in rows]
    left_ends = sorted(min(row, key=lambda x: x.x0).x1 for row in pairs)
    right_starts = sorted(max(row, key=lambda x: x.x0).x0 for row in pairs)
    low, high = left_ends[int(len(pairs) * 0.9)], right_starts[int(len(pairs) * 0.1)]
    span = max(x.x1 for x in lines) - min(x.x0 for x in lines)
    widths = sorted(x.x1 - x.x0 for row in pairs for x in row)
    if high - low < 6 or widths[len(widths) // 2] < span / 3:
        return [_merged(row) for row in rows]
    gutter = (low + high) / 2
    inside = [x for row in pairs for x in row]
    first, last = min(x.top for x in inside), max(x.bottom for x in inside)
    # The columns run from the full-width line above the first pair to the one below the last
    # (a column may end lower than the other).
    across = [e for e in [*lines, *tables] if e.x0 < gutter - 2 and e.x1 > gutter + 2]
    top = max((e.bottom for e in across if e.bottom <= first), default=float("-inf"))
    bottom = min((e.top for e in across if e.top >= last), default=float("inf"))
    for element in [*lines, *tables]:
        if element.top < top or element.bottom <= top:
            band = 0
        elif element.top >= bottom:
            band = 3
        elif element.x1 <= gutter:
            band = 1
        elif element.x0 >= gutter:
            band = 2
        else:
            band = 0 if element.top < first else 3
        element.order = (band, element.top)
    return lines


def _is_bold(fontname: str) -> bool:
    name = fontname.partition("+")[2] or fontname
    return any(w in name.lower() for w in ("bold", "black", "heavy", "semibold", "demi"))


def _clean(text: str) -> str:
    text = _CONTROL_RE.sub("", text.translate(_LIGATURES))
    return " ".join(unicodedata.normalize("NFC", text).split())


def _outline(pdf, where: str) -> list[tuple[int, str, int | None, float | None]]:
    """(level, title, page number, top) per bookmark, in order; [] without an outline or
    when it cannot be read (the fonts then decide; RecursionError included: pdfminer walks
    the outline recursively, and a crafted one loops)."""
    from pdfminer.pdftypes import resolve1

    pages = {p.page_obj.pageid: (p.page_number, float(p.height)) for p in pdf.pages}
    out = []
    try:
        for level, title, dest, action, _ in pdf.doc.get_outlines():
            if not isinstance(title, str) or not _clean(title):
                continue
            if dest is None and isinstance(action := resolve1(action), dict):
                dest = action.get("D")
            dest = resolve1(dest)
            if isinstance(dest, str | bytes):
                try:
                    dest = resolve1(pdf.doc.get_dest(dest))
                except Exception:
                    dest = None
            if isinstance(dest, dict):
                dest = resolve1(dest.get("D"))
            page, top = None, None
            if isinstance(dest, list) and dest:
                ref = dest[0]
                found = pages.get(getattr(ref, "objid", None))
                if found is not None:
                    page = found[0]
                    y = resolve1(dest[3]) if len(dest) > 3 else None
                    if isinstance(y, int | float):
                        top = found[1] - float(y)
            out.append((max(1, int(level)), _clean(title), page, top))
    except (MemoryError, ParseError):
        raise
    except Exception:  # none, or one that cannot be read (a loop, a bad entry): fonts decide
        return []
    return out


def _document(source: Source, pages: list[_Page], outline, info: dict) -> ParseResult:
    where = source.path
    if not any(p.lines or p.tables for p in pages):
        if any(p.scanned for p in pages):
            raise ParseError(
                where,
                "scanned PDF: its pages are images without a text layer, so there is no text "
                "to index (run OCR on it first)",
            )
        raise ParseError(where, "no text to index: the PDF's pages hold no text")
    lines = [line for p in pages for line in p.lines]
    if lines and sum(len(_CID_RE.findall(x.text)) for x in lines) * 4 > sum(
        len(x.text) for x in lines
    ):
        raise ParseError(
            where, "its text cannot be decoded (fonts without a character map): run OCR on it"
        )
    _drop_running_lines(pages)
    lines = [line for p in pages for line in p.lines]
    body_size = _body_size(lines)
    title_line = _title_line(pages, body_size)
    lines = [line for p in pages for line in p.lines]  # a wrapped title is one line now
    own = _info_metadata(info, where)
    title = own.get("title") or source.meta.get("title")
    if not title and title_line is not None:
        title = title_line.text
    info_title = info.get("Title")
    if not title and isinstance(info_title, str) and _clean(info_title):
        title = _clean(info_title)
    title = title or source.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if title_line is not None:
        title_line.heading = 1
    extra = _outline_headings(pages, outline, title, title_line) if outline else []
    if not outline:
        _font_headings(lines, body_size, title_line)

    builder = SectionBuilder(title)
    body = TextAssembler()
    starts: dict[int, int] = {}
    _assemble(pages, extra, builder, body, starts)
    text = body.text()
    if len(text) > MAX_TEXT_CHARS:
        raise ParseError(
            where,
            f"{len(text) / 1e6:.0f} million characters of text, over the limit of "
            f"{MAX_TEXT_CHARS / 1e6:.0f} million",
        )
    page_starts = []
    for number in range(len(pages), 0, -1):  # an empty page starts where the next one does
        page_starts.append(starts.get(number, page_starts[-1] if page_starts else len(text)))
    page_starts.reverse()
    doc = build_document(
        source,
        own,
        title_fallback=title,
        default_type="guidance",
        body=text,
        sections=builder.finish(),
    )
    doc.page_starts = page_starts
    errors = []
    scanned = [p.number for p in pages if p.scanned]
    if scanned:
        errors.append(
            ParseError(
                where,
                f"{_page_list(scanned)} {'is an image' if len(scanned) == 1 else 'are images'} "
                "without a text layer (scanned): not indexed; run OCR on the file to include it",
            )
        )
    return ParseResult(documents=[doc], errors=errors)


def _page_list(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"pages {shown}"


def _running_key(line: _Line) -> tuple[str, int]:
    return re.sub(r"\d+", "#", line.text.casefold()), round(line.size)


def _drop_running_lines(pages: list[_Page]) -> None:
    """Remove lines in the top or bottom band repeating on at least half the pages (two at
    least), digits aside: running headers and footers; and page numbers ("3", "Page 3 of 9",
    "iv") in the band, where half the pages have one (or the document is one page), so that
    a paragraph's last line "2025." at the foot of one page stays."""

    def band(page: _Page) -> list[_Line]:
        edge = [x for x in page.lines[:3] if x.bottom < page.height * _BAND]
        edge += [x for x in page.lines[-3:] if x.top > page.height * (1 - _BAND)]
        return edge

    def ends(page: _Page) -> list[_Line]:  # where a page number sits: first or last line
        return [
            x
            for x in {id(x): x for x in page.lines[:1] + page.lines[-1:]}.values()
            if x in band(page)
        ]

    seen = Counter()
    numbered = 0
    for page in pages:
        seen.update({_running_key(x) for x in band(page)})
        numbered += any(_PAGE_NUMBER_RE.match(x.text) for x in ends(page))
    with_text = sum(1 for p in pages if p.lines)
    repeated = {k for k, n in seen.items() if n >= 2 and n * 2 >= with_text}
    numbers = with_text == 1 or (numbered >= 2 and numbered * 2 >= with_text)
    for page in pages:
        drop = {id(x) for x in band(page) if _running_key(x) in repeated}
        if numbers:
            drop |= {id(x) for x in ends(page) if _PAGE_NUMBER_RE.match(x.text)}
        page.lines = [x for x in page.lines if id(x) not in drop]


def _body_size(lines: list[_Line]) -> float:
    sizes = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _title_line(pages: list[_Page], body_size: float) -> _Line | None:
    """The first page's largest line, when it opens the page and is clearly larger than the
    body text."""
    first = next((p for p in pages if p.lines), None)
    if first is None:
        return None
    top = first.lines[:5]
    biggest = max(top, key=lambda x: x.size)
    if (
        biggest.size < body_size * 1.3
        or len(biggest.text.split()) > 20
        or CLAUSE_ID_RE.match(biggest.text)
    ):
        return None
    at = first.lines.index(biggest)
    wrapped = []
    for line in first.lines[at + 1 :]:  # a long title wraps onto lines of its size
        before = wrapped[-1] if wrapped else biggest
        if line.size != biggest.size or line.top - before.bottom > line.size * 0.5:
            break
        wrapped.append(line)
    if wrapped:
        biggest.text = " ".join([biggest.text, *(x.text for x in wrapped)])
        first.lines = [x for x in first.lines if x not in wrapped]
    return biggest


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _outline_headings(pages, outline, title: str, title_line) -> list[_Line]:
    """Mark the lines the bookmarks name as headings; the bookmarks found nowhere become
    headings of their own at their place. Returns those."""
    base = 1 if title_line is not None else 0
    lines = [x for p in pages for x in p.lines]
    first_of_page: dict[int, int] = {}
    for i, line in enumerate(lines):
        first_of_page.setdefault(line.page, i)
    cursor = 0
    extra = []
    for level, text, page, top in outline:
        if title_line is not None and _norm(text) == _norm(title_line.text):
            continue  # the title, a heading already
        target = _norm(text)
        if not target:
            continue
        found = None
        start = cursor
        if page is not None:
            start = max(cursor, first_of_page.get(page, first_of_page.get(page + 1, len(lines))))
        for i in range(start, len(lines)):
            line = lines[i]
            if page is not None and line.page > page + 1:
                break
            if page is not None and line.page == page + 1 and i - first_of_page[line.page] > 2:
                break  # a heading pushed to the next page opens it
            if page is not None and line.page == page and top is not None and line.bottom < top - 2:
                continue
            joined = _norm(line.text)
            if not joined:
                continue
            j = i
            while joined != target and target.startswith(joined) and j + 1 < len(lines):
                j += 1
                joined = f"{joined} {_norm(lines[j].text)}".strip()
            if joined == target:
                found = (i, j)
                break
        heading_level = min(6, level + base)
        if found is not None:
            i, j = found
            lines[i].text = " ".join(x.text for x in lines[i : j + 1])
            lines[i].heading = heading_level
            for x in lines[i + 1 : j + 1]:
                x.text = ""
            cursor = j + 1
        elif page is not None:
            extra.append(
                _Line(
                    page=page,
                    top=top if top is not None else 0.0,
                    bottom=0.0,
                    text=text,
                    size=0.0,
                    bold=True,
                    heading=heading_level,
                )
            )
    for page in pages:
        page.lines = [x for x in page.lines if x.text]
    return extra


def _font_headings(lines: list[_Line], body_size: float, title_line) -> None:
    """Headings by size (a level per size larger than the body text, largest first) and
    short bold lines at the body size (the lowest level); wrapped headings joined."""
    if not body_size:
        return

    def bigger(line: _Line) -> bool:
        return line.size >= body_size * 1.15 and len(line.text.split()) <= 25

    def bold_heading(line: _Line, before: _Line | None) -> bool:
        if not line.bold or line.size < body_size * 0.95 or len(line.text.split()) > 15:
            return False
        if CLAUSE_ID_RE.match(line.text):
            return True
        if line.text.endswith((".", ",", ";", ":")) or not re.search(r"[^\W\d_]", line.text):
            return False
        return (
            before is None or before.page != line.page or line.top - before.bottom > line.size * 0.5
        )

    sizes = sorted(
        {round(x.size * 2) / 2 for x in lines if bigger(x) and x is not title_line}, reverse=True
    )
    level_of = {s: min(6, n + 2) for n, s in enumerate(sizes)}
    low = min(6, len(sizes) + 2)
    previous = None
    for line in lines:
        if line is not title_line:
            if bigger(line):
                line.heading = level_of[round(line.size * 2) / 2]
            elif bold_heading(line, previous):
                line.heading = low
        previous = line
    # Join a heading's wrapped lines: same level, same page, close together.
    previous = None
    for line in lines:
        if (
            previous is not None
            and line.heading
            and previous.heading == line.heading
            and previous.page == line.page
            and 0 <= line.top - previous.bottom < line.size * 0.5
            and min(line.x1, previous.x1) > max(line.x0, previous.x0)  # one above the other
            and not CLAUSE_ID_RE.match(line.text)
            and previous is not title_line
        ):
            previous.text = f"{previous.text} {line.text}"
            line.text = ""
            continue
        previous = line if line.text else previous


def _assemble(pages, extra, builder: SectionBuilder, body: TextAssembler, starts) -> None:
    """Headings, paragraphs, lists and tables in page order into the builder; `starts` gets
    each page's first body offset."""
    by_page: dict[int, list] = {}
    for x in extra:
        by_page.setdefault(x.page, []).append(x)
    paragraph: list[_Line] = []
    items: list[list[_Line]] = []  # a list's items, each its lines
    table: _Table | None = None

    def mark(page: int, offset: int) -> None:
        starts.setdefault(page, offset)

    def flush_paragraph() -> None:
        if paragraph:
            text, first_of_page = _join(paragraph)
            start, end = body.add(text)
            for page, at in first_of_page:
                mark(page, start + at)
            builder.block("paragraph", start, end)
            paragraph.clear()

    def flush_items() -> None:
        if items:
            texts = []
            marks = []
            for item in items:
                text, first_of_page = _join(item)
                texts.append(text)
                marks.append(first_of_page)
            before = len(body)
            add_lines(texts, "list", builder, body)
            offset = before + (2 if before else 0)
            for text, first_of_page in zip(texts, marks, strict=True):
                for page, at in first_of_page:
                    mark(page, offset + at)
                offset += len(text) + 1
            items.clear()

    def flush_table() -> None:
        nonlocal table
        if table is not None:
            parts = add_table(table.rows, builder, body)
            for part, page in zip(parts, table.row_pages, strict=False):
                mark(page, part[0])
            table = None

    def flush() -> None:
        flush_paragraph()
        flush_items()
        flush_table()

    line_gap = _line_gap([x for p in pages for x in p.lines])
    previous: _Line | None = None
    for page in pages:
        elements = [*page.lines, *page.tables, *by_page.get(page.number, [])]
        elements.sort(
            key=lambda e: (*(e.order or (0, e.top)), 0 if isinstance(e, _Line) and e.heading else 1)
        )
        for element in elements:
            if isinstance(element, _Table):
                flush_paragraph()
                flush_items()
                if table is not None and _continues(table, element):
                    rows = element.rows
                    if rows and rows[0] == table.rows[0]:
                        rows = rows[1:]  # the header repeated on the next page
                    if len(table.rows) > 1 and rows and _cut_row(table.rows[-1], rows[0]):
                        table.rows[-1] = [
                            _join_text([a, b]) for a, b in zip(table.rows[-1], rows[0], strict=True)
                        ]
                        rows = rows[1:]
                    table.rows.extend(rows)
                    table.row_pages.extend([element.page] * len(rows))
                    table.last_page = element.page
                else:
                    flush_table()
                    table = _Table(
                        element.page,
                        element.top,
                        element.bottom,
                        list(element.rows),
                        bold_head=element.bold_head,
                        row_pages=[element.page] * len(element.rows),
                    )
                previous = None
                continue
            line = element
            if line.heading:
                flush()
                mark(line.page, len(body) + (2 if len(body) else 0))
                body.add(line.text)
                builder.heading(line.heading, line.text)
                previous = None
                continue
            flush_table()
            bullet = _BULLET_RE.match(line.text)
            numbered = _NUMBERED_RE.match(line.text)
            if bullet or numbered:
                flush_paragraph()
                text = "- " + line.text[bullet.end() :] if bullet else line.text
                items.append([_Line(line.page, line.top, line.bottom, text, line.size, line.bold)])
            elif previous is not None and _continues_text(previous, line, line_gap):
                (items[-1] if items and not paragraph else paragraph).append(line)
            else:
                flush()
                paragraph.append(line)
            previous = line
    flush()


def _continues(table: _Table, nxt: _Table) -> bool:
    """A table opening the next page, of the same width, carrying on the one that ended the
    page before: unless it opens with a bold header row of its own (a new table)."""
    if nxt.page != max(table.page, table.last_page) + 1 or len(nxt.rows[0]) != len(table.rows[0]):
        return False
    return nxt.rows[0] == table.rows[0] or not (table.bold_head and nxt.bold_head)


def _cut_row(last: list[str], first: list[str]) -> bool:
    """Whether a continued table's first row is the rest of the row the page break cut: some
    cell empty that was filled above, and the first cell empty or carrying on in lower case."""
    gaps = any(a and not b for a, b in zip(last, first, strict=True))
    return gaps and (not first[0] or first[0][:1].islower())


def _line_gap(lines: list[_Line]) -> float:
    """The usual space between two lines of one paragraph: the commonest gap between body
    lines that follow each other on a page (paragraphs have more lines than breaks)."""
    gaps = Counter()
    for a, b in itertools.pairwise(lines):
        if a.page == b.page and not a.heading and not b.heading and b.top >= a.bottom:
            gaps[round(b.top - a.bottom)] += 1
    return float(gaps.most_common(1)[0][0]) if gaps else 2.0


def _continues_text(previous: _Line, line: _Line, line_gap: float) -> bool:
    """Whether `line` carries on the paragraph (or list item) `previous` ends: on the same
    page, no more space between them than between a paragraph's lines; over a page break,
    when the sentence goes on in lower case."""
    if line.page != previous.page:
        return not previous.text.endswith(_SENTENCE_END) and line.text[:1].islower()
    size = max(previous.size, line.size)
    # Leading is rarely past half the type size: a commoner gap is between paragraphs (a
    # document of one-line paragraphs), not lines.
    leading = min(line_gap, size * 0.5)
    return -size * 0.2 <= line.top - previous.bottom <= leading + max(1.5, size * 0.3)


def _join(lines: list[_Line]) -> tuple[str, list[tuple[int, int]]]:
    """A paragraph's lines as one text, and where in it each page's first line starts."""
    text = ""
    first_of_page = []
    page = None
    for line in lines:
        text = _glue(text, line.text)
        if line.page != page:
            first_of_page.append((line.page, len(text)))
            page = line.page
        text += line.text
    return text.replace("\u00ad", ""), first_of_page


def _glue(text: str, piece: str) -> str:
    """`text` ready for the next line `piece`: a space between them, none after a soft hyphen
    (dropped) or a hyphen inside a word or id carried over ("30-" "day", "LIVE-" "REG-4.2"); a
    word broken at a hyphen the author typed is the usual case in policy text."""
    if not text:
        return text
    if text.endswith("\u00ad"):
        return text[:-1]
    if text.endswith("-") and text[-2:-1].isalnum() and piece[:1].isalnum():
        return text
    return text + " "


def _join_text(lines: list[str]) -> str:
    """Lines (of a table cell) as one text."""
    text = ""
    for line in lines:
        line = _clean(line)
        if line:
            text = _glue(text, line) + line
    return text


def _info_metadata(info: dict, where: str) -> dict:
    """Metadata from the document information entries named as metadata keys."""
    raw = []
    for key, value in info.items():
        name = str(key).strip()
        name = name[3:] if name.lower().startswith("kb:") else name
        if str(key).strip() == "Title" or not is_document_key(name):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and _clean(value):
            raw.append((name, _clean(value), None))
    try:
        return normalize_metadata(raw, where)
    except ParseError as exc:
        raise ParseError(where, f"document information: {exc.reason}", field=exc.field) from None
