"""Parser registry: which parser reads which file suffix."""

from __future__ import annotations

import functools
from pathlib import Path

from kb.ingest.base import (
    LONE_SURROGATE,
    Parser,
    ParseResult,
    Source,
    build_document,
    has_lone_surrogate,
    json_lines,
)

# The records and helpers parsers share live in kb.ingest.base; they stay importable from here.
__all__ = [
    "LONE_SURROGATE",
    "ParseResult",
    "Parser",
    "Source",
    "build_document",
    "has_lone_surrogate",
    "json_lines",
    "parser_for",
]

# Formats read from their bytes (a zip, a PDF), not decoded as UTF-8 text.
BINARY_SUFFIXES = frozenset({".docx", ".pdf", ".zip"})


def _parsers() -> dict[str, Parser]:
    from kb.ingest import archive, beir, html, markdown, pdf, rulings, text, word

    return {
        ".docx": word.parse,
        ".pdf": pdf.parse,
        ".zip": functools.partial(archive.parse, parser_for=parser_for, binary=BINARY_SUFFIXES),
        ".md": markdown.parse,
        ".markdown": markdown.parse,
        ".html": html.parse,
        ".htm": html.parse,
        ".txt": text.parse,
        ".jsonl": rulings.parse_jsonl,
        ".csv": rulings.parse_csv,
        "beir": beir.parse_corpus,  # chosen by name only (kb eval), never by suffix
    }


def parser_for(path: str | Path, name: str | None = None) -> Parser | None:
    """The parser called `name`, else the one for the file's suffix, else None."""
    return _parsers().get(name or Path(path).suffix.lower())
