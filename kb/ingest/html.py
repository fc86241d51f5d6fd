"""HTML pages (wiki exports): boilerplate stripped, h1-h6 become the section path."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from kb.errors import ParseError
from kb.ingest.base import ParseResult, Source, build_document
from kb.ingest.metadata import normalize_metadata
from kb.ingest.structure import (
    SectionBuilder,
    TextAssembler,
    parse_applies,
    parse_enforcement,
)
from kb.types import ParsedDocument

# Elements that never hold the page's own content.
_DROP = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "input",
    "select",
    "textarea",
)
_BOILERPLATE_WORDS = (
    "breadcrumb",
    "sidebar",
    "navbar",
    "nav-",
    "menu",
    "footer",
    "toc",
    "cookie",
    "skip-link",
    "page-metadata",
    "pagesection",  # Confluence's attachments and comments below a page
    "edit-link",
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = {
    "p": "paragraph",
    "ul": "list",
    "ol": "list",
    "table": "table",
    "dl": "list",
    "pre": "code",
    "blockquote": "quote",
}
_CONTAINERS = (
    "div",
    "section",
    "article",
    "main",
    "body",
    "span",
    "figure",
    "details",
    "center",
    "font",
    "small",
    "summary",
)


def parse(source: Source) -> ParseResult:
    """Parse one HTML page into one document."""
    try:
        soup = BeautifulSoup(source.text, "lxml")
    except Exception as exc:  # lxml rarely fails, but say where if it does
        raise ParseError(source.path, f"cannot parse HTML: {exc}") from None
    raw_meta: list[tuple[str, str, int | None]] = []
    at = 0  # lxml keeps no source lines: find each name in the text, in document order
    for tag in soup.find_all("meta"):
        name = (tag.get("name") or tag.get("property") or "").strip()
        if name.lower().startswith("kb:") and tag.get("content") is not None:
            found = source.text.find(name, at)
            at = found + 1 if found >= 0 else at
            line = source.text.count("\n", 0, found) + 1 if found >= 0 else None
            raw_meta.append((name[3:], tag["content"], line))
    meta = normalize_metadata(raw_meta, source.path)
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    return ParseResult(documents=[document(source, soup, meta, page_title)])


def document(
    source: Source, soup: BeautifulSoup, meta: dict, page_title: str = ""
) -> ParsedDocument:
    """One document from a parsed page and the metadata its file set (`meta`, which the
    manifest's overrides): boilerplate dropped, h1-h6 the section path."""
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article")
    # Confluence exports hold the page in #main-content, beside its header and metadata.
    root = root or soup.find(id="main-content") or soup.find(id="content") or soup.body or soup
    confluence = soup.find(id="title-text")
    if confluence is not None:  # "Space : Page title"
        page_title = " ".join(confluence.get_text(" ").split()).partition(" : ")[2] or page_title
    if root.find("h1") is None and (styled := root.find("p", class_="title")) is not None:
        styled.name = "h1"  # Google Docs exports the Title style as <p class="title">
    for tag in root.find_all(_DROP):
        tag.decompose()
    for tag in root.find_all(True):
        # Not `tag.decomposed`: bs4 answers it through __getattr__, which searches the whole
        # subtree for a tag of that name (quadratic on deeply nested pages).
        if vars(tag).get("_decomposed") or vars(tag).get("attrs") is None:
            continue
        if tag.get("role") in ("navigation", "banner", "contentinfo", "complementary"):
            tag.decompose()
            continue
        marks = " ".join([*(tag.get("class") or []), tag.get("id") or ""]).lower()
        if marks and any(w in marks for w in _BOILERPLATE_WORDS):
            tag.decompose()

    title = meta.get("title") or source.meta.get("title") or page_title
    if not title:
        h1 = root.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else Path(source.path).stem
    builder = SectionBuilder(title)
    body = TextAssembler()
    _walk(root, builder, body, source.path, _with_block_descendants(root))
    return build_document(
        source,
        meta,
        title_fallback=title,
        default_type="guidance",
        body=body.text(),
        sections=builder.finish(),
    )


def _walk(
    node: Tag, builder: SectionBuilder, body: TextAssembler, path: str, has_blocks: set[int]
) -> None:
    # Depth-first with an explicit stack: pages nest containers deeper than Python recurses.
    loose: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(loose).split())
        loose.clear()
        if text:
            builder.block("paragraph", *body.add(text))

    stack = [iter(node.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            flush()
            continue
        if isinstance(child, Comment):
            applies = parse_applies(f"<!--{child}-->", path, child.parent.sourceline)
            rule = parse_enforcement(f"<!--{child}-->", path, child.parent.sourceline)
            if applies is not None:
                flush()
                builder.applies(applies)
            elif rule is not None:
                flush()
                builder.enforcement(rule, path, child.parent.sourceline)
            continue
        if isinstance(child, NavigableString):
            loose.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _HEADINGS:
            flush()
            text = child.get_text(" ", strip=True)
            if text:
                body.add(text)
                builder.heading(_HEADINGS[name], text)
        elif name in _BLOCKS:
            flush()
            _block(child, _BLOCKS[name], builder, body)
        elif name in _CONTAINERS or name not in ("br", "hr", "img"):
            if name in _CONTAINERS and id(child) in has_blocks:
                flush()
                stack.append(iter(child.children))
            elif name == "br":
                loose.append("\n")
            else:
                loose.append(child.get_text(" "))


_BLOCK_LIKE = frozenset([*_HEADINGS, *_BLOCKS, "div", "section"])


def _with_block_descendants(root: Tag) -> set[int]:
    """ids of the tags below `root` holding a heading, block, div or section somewhere inside,
    in one pass from the leaves up (asking each tag in turn is quadratic in nesting depth)."""
    found: set[int] = set()
    for tag in reversed(list(root.descendants)):
        if isinstance(tag, Tag) and (tag.name in _BLOCK_LIKE or id(tag) in found):
            parent = tag.parent
            if parent is not None:
                found.add(id(parent))
    return found


def _block(tag: Tag, kind: str, builder: SectionBuilder, body: TextAssembler) -> None:
    if tag.name == "table":
        caption = tag.find("caption", recursive=False)
        text = " ".join(caption.get_text(" ").split()) if caption else ""
        if text:
            builder.block("paragraph", *body.add(text))
        add_table(_table_rows(tag), builder, body)
    elif tag.name in ("ul", "ol"):
        items = []
        for n, li in enumerate(tag.find_all("li", recursive=False), start=1):
            bullet = f"{n}." if tag.name == "ol" else "-"
            items.append(f"{bullet} " + " ".join(li.get_text(" ").split()))
        add_lines(items, "list", builder, body)
    elif tag.name == "dl":
        items, term = [], ""
        for child in tag.find_all(["dt", "dd"]):
            text = " ".join(child.get_text(" ").split())
            if child.name == "dt":
                term = text
            else:
                items.append(f"{term}: {text}" if term else text)
        add_lines(items, "list", builder, body)
    elif tag.name == "pre":
        text = tag.get_text().strip("\n")
        if text.strip():
            builder.block("code", *body.add(text))
    else:
        text = " ".join(tag.get_text(" ").split())
        if text:
            builder.block(kind, *body.add(text))


# A colspan beyond this is a typo or an attack; the cell still counts once.
_MAX_COLSPAN = 50


def _table_rows(table: Tag) -> list[list[str]]:
    """Cell texts per row; a cell spanning n columns is followed by n - 1 empty ones."""
    rows = []
    for tr in table.find_all("tr"):
        cells: list[str] = []
        for cell in tr.find_all(["th", "td"]):
            cells.append(" ".join(cell.get_text(" ").split()))
            span = str(cell.get("colspan") or "1").strip()
            extra = int(span) - 1 if span.isdigit() else 0
            cells.extend([""] * min(extra, _MAX_COLSPAN))
        if any(cells):
            rows.append(cells)
    return rows


def add_table(
    rows: list[list[str]], builder: SectionBuilder, body: TextAssembler
) -> list[tuple[int, int]]:
    """A table as a GitHub-flavoured Markdown table (the first row is its header), so it reads
    and renders like a Markdown policy's. Parts: the header with its delimiter row, then each
    row, as the Markdown parser gives them (the chunker repeats the header on split rows);
    returned."""
    if not rows:
        return []
    width = max(len(r) for r in rows)

    def line(cells: list[str]) -> str:
        cells = [c.replace("\\", "\\\\").replace("|", "\\|") for c in cells]
        return "| " + " | ".join(cells + [""] * (width - len(cells))) + " |"

    start, _ = body.add(line(rows[0]))
    _, end = body.add("|" + "---|" * width, sep="\n")
    parts = [(start, end)]
    for row in rows[1:]:
        parts.append(body.add(line(row), sep="\n"))
    builder.block("table", start, parts[-1][1], parts)
    return parts


def add_lines(lines: list[str], kind: str, builder: SectionBuilder, body: TextAssembler) -> None:
    """One block of lines joined by newlines; each line is a part (list item, table row)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return
    start = None
    parts = []
    for i, line in enumerate(lines):
        s, e = body.add(line, sep="\n\n" if i == 0 else "\n")
        start = s if start is None else start
        parts.append((s, e))
    builder.block(kind, start, parts[-1][1], parts)
