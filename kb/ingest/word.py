"""Word documents (.docx): mammoth turns the document's styles into HTML, which is then read
as an HTML page is (kb.ingest.html), so sections, clause ids and citations work alike.

- **Headings**: paragraph styles Heading 1-6 and Title (as h1), and any paragraph whose
  outline level (set on its style or on the paragraph itself) is 1-6 in Word's terms.
- **Tables** stay tables and **lists** stay lists; images are left out.
- **Comments** are not text. **Tracked changes** are read as if accepted: inserted text is
  kept and deleted text dropped (what the document says once its changes are accepted).
- **Metadata**, overridden by a sidecar `NAME.meta.yaml` and then by the manifest: custom
  properties (File > Properties > Custom) whose names are metadata keys (`type`,
  `version`, `effective_from`, ... with or without a `kb:` prefix), and a first table of
  two columns whose left cells are all metadata keys (front matter written as a table),
  which is then not part of the text. The title is that metadata's, else the first Title
  or Heading 1 paragraph, else the document's title property.
- A .docx is a zip: one that is corrupt, password-protected (Word then writes an encrypted
  container, not a zip), holds encrypted entries, or whose entries would inflate too far (a
  zip bomb, kb.ingest.archive.checked_zip) is refused with an error naming the file, and
  nothing stored before is touched. Nothing is extracted to
  disk, so entry names cannot escape anywhere.
"""

from __future__ import annotations

import io
import re
import zipfile

from bs4 import BeautifulSoup
from lxml import etree

from kb.errors import ParseError
from kb.ingest import html
from kb.ingest.archive import MAX_ENTRY_BYTES, checked_zip, read_entry
from kb.ingest.base import ParseResult, Source
from kb.ingest.metadata import is_document_key, normalize_metadata, overlay

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted .docx, or an old binary .doc
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS = {
    "w": _W,
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "op": "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties",
}
# Entities never resolved, nothing fetched, no giant trees.
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_STYLE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def parse(source: Source) -> ParseResult:
    """One Word document into one document."""
    parts = _open(source)
    style_map = ["p[style-name='Title'] => h1:fresh", *_outline_styles(parts, source.path)]
    document_xml = _direct_outline_levels(parts, style_map, source.path)
    import mammoth

    packed = _repack(parts, document_xml, source.path) if document_xml is not None else source.raw
    try:
        converted = mammoth.convert_to_html(
            io.BytesIO(packed),
            style_map="\n".join(style_map),
            convert_image=mammoth.images.img_element(lambda image: {}),
            ignore_empty_paragraphs=True,
        )
    except Exception as exc:  # mammoth raises what its XML reader or zip raised
        raise ParseError(source.path, f"cannot read this Word document: {exc}") from None
    soup = BeautifulSoup(f"<html><body>{converted.value}</body></html>", "lxml")
    for img in soup.find_all("img"):
        img.decompose()
    own, title = _properties(parts, source.path)
    # The table's values win, except that visibility only narrows.
    own = overlay(own, _front_table(soup, source.path))
    if title and "title" not in own and soup.find("h1") is None:
        # The title property last: templates leave stale ones ("Document1", the template's).
        own["title"] = title
    return ParseResult(documents=[html.document(source, soup, own)])


def _open(source: Source) -> dict[str, zipfile.ZipInfo | zipfile.ZipFile]:
    """The package's entries by name (and the zip under ""), checked before anything is
    inflated."""
    where = source.path
    if source.raw.startswith(_OLE):
        raise ParseError(
            where,
            "password-protected (encrypted) Word document or an old binary .doc: save it "
            "as an unprotected .docx",
        )
    package = checked_zip(source.raw, where, "not a Word document (.docx is a zip)")
    infos = package.infolist()
    for info in infos:  # mammoth builds a DOM of each: some twenty times the XML's size
        if info.filename.endswith((".xml", ".rels")) and info.file_size > MAX_ENTRY_BYTES:
            raise ParseError(
                where,
                f"{info.filename} inflates to {info.file_size / 1e6:.0f} MB, over "
                f"{MAX_ENTRY_BYTES / 1e6:.0f} MB",
            )
    names = {i.filename: i for i in infos}
    if "word/document.xml" not in names:
        raise ParseError(where, "not a Word document: the zip holds no word/document.xml")
    return {"": package, **names}


def _read_xml(parts, name: str, where: str):
    """An entry of the package as an XML tree, or None when absent."""
    if name not in parts:
        return None
    try:
        return etree.fromstring(read_entry(parts[""], name, where), _XML)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ParseError(where, f"{name} in the Word document is damaged: {exc}") from None


def _outline_levels(root) -> dict:
    """Outline level (0-5: Word's levels 1-6) of each element given one below 6."""
    out = {}
    for element in root.iter(f"{{{_W}}}style", f"{{{_W}}}p"):
        found = element.find("w:pPr/w:outlineLvl", _NS)
        value = found.get(f"{{{_W}}}val") if found is not None else None
        if value is not None and value.isdigit() and int(value) < 6:
            out[element] = int(value)
    return out


def _outline_styles(parts, where: str) -> list[str]:
    """Style map lines making paragraph styles with an outline level headings (Heading 1-6
    are headings already)."""
    styles = _read_xml(parts, "word/styles.xml", where)
    if styles is None:
        return []
    lines = []
    for style, level in _outline_levels(styles).items():
        style_id = style.get(f"{{{_W}}}styleId") or ""
        if style.tag == f"{{{_W}}}style" and _STYLE_ID_RE.match(style_id):
            lines.append(f"p.{style_id} => h{level + 1}:fresh")
    return lines


def _direct_outline_levels(parts, style_map: list[str], where: str) -> bytes | None:
    """document.xml with each paragraph whose own outline level is 1-6 given a style the
    style map makes a heading of that level; None when no paragraph sets one."""
    document = _read_xml(parts, "word/document.xml", where)
    levels = {p: lvl for p, lvl in _outline_levels(document).items() if p.tag == f"{{{_W}}}p"}
    if not levels:
        return None
    for paragraph, level in levels.items():
        properties = paragraph.find("w:pPr", _NS)
        style = properties.find("w:pStyle", _NS)
        if style is None:
            style = etree.SubElement(properties, f"{{{_W}}}pStyle")
            properties.insert(0, style)
        style.set(f"{{{_W}}}val", f"KbOutline{level + 1}")
    style_map.extend(f"p.KbOutline{n} => h{n}:fresh" for n in range(1, 7))
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", standalone=True)


def _repack(parts, document_xml: bytes, where: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, info in parts.items():
            if name:
                data = (
                    document_xml
                    if name == "word/document.xml"
                    else read_entry(parts[""], name, where)
                )
                target.writestr(info, data)
    return out.getvalue()


def _properties(parts, where: str) -> tuple[dict, str]:
    """Metadata from the document's custom properties named as metadata keys, and its title
    property."""
    raw: list[tuple[str, str, None]] = []
    core = _read_xml(parts, "docProps/core.xml", where)
    title = ""
    if core is not None:
        title = " ".join(core.findtext("dc:title", default="", namespaces=_NS).split())
    custom = _read_xml(parts, "docProps/custom.xml", where)
    if custom is not None:
        for prop in custom.findall("op:property", _NS):
            name = (prop.get("name") or "").strip()
            name = name[3:] if name.lower().startswith("kb:") else name
            value = "".join(prop.itertext()).strip()
            if is_document_key(name) and value:
                raw.append((name, value, None))
    try:
        return normalize_metadata(raw, where), title
    except ParseError as exc:
        raise ParseError(where, f"document property: {exc.reason}", field=exc.field) from None


def _front_table(soup: BeautifulSoup, where: str) -> dict:
    """Metadata from a first table (before any heading but h1) of two columns whose left
    cells all name metadata keys; the table is removed."""
    first = next(
        (
            tag
            for tag in soup.body.find_all(True, recursive=False)
            if tag.name != "h1" and (tag.name != "p" or tag.get_text(strip=True))
        ),
        None,
    )
    if first is None or first.name != "table":
        return {}
    rows = []
    for tr in first.find_all("tr"):
        cells = tr.find_all(["td", "th"], recursive=False)
        if len(cells) != 2:
            return {}
        rows.append(tuple(" ".join(c.get_text(" ").split()) for c in cells))
    if not rows or not all(is_document_key(key) for key, _ in rows):
        return {}
    first.decompose()
    try:
        return normalize_metadata([(k, v, None) for k, v in rows], where)
    except ParseError as exc:
        raise ParseError(where, f"metadata table: {exc.reason}", field=exc.field) from None
