"""Plain text: paragraphs separated by blank lines, one section."""

from __future__ import annotations

import re
from pathlib import Path

from kb.ingest.base import ParseResult, Source, build_document
from kb.ingest.structure import SectionBuilder

_PARA_RE = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.S)


def parse(source: Source) -> ParseResult:
    """Parse one plain-text file into one document."""
    text = source.text
    title = source.meta.get("title") or Path(source.path).stem.replace("-", " ").title()
    builder = SectionBuilder(title)
    for m in _PARA_RE.finditer(text):
        builder.block("paragraph", m.start(), m.end())
    doc = build_document(
        source,
        {},
        title_fallback=title,
        default_type="policy",
        body=text,
        sections=builder.finish(),
    )
    return ParseResult(documents=[doc])
