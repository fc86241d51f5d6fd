"""Parser registry: which parser reads which file suffix, and the records they exchange."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ParseError
from kb.types import ParsedDocument


@dataclass
class Source:
    """A decoded source file handed to a parser."""

    path: str
    text: str
    default_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    language: str = "en"


@dataclass
class ParseResult:
    """Documents a parser read, and problems it found without giving up on the file."""

    documents: list[ParsedDocument] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


Parser = Callable[[Source], ParseResult]


def json_lines(text: str, path: str) -> Iterator[tuple[int, Any] | ParseError]:
    """(line number, value) for each non-blank line of JSONL, or a ParseError for a line that
    is not JSON; the caller decides what a good line must hold."""
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            yield ParseError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=n)


def _parsers() -> dict[str, Parser]:
    from kb.ingest import beir, html, markdown, rulings, text

    return {
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


def build_document(
    source: Source,
    own_meta: dict[str, Any],
    *,
    title_fallback: str,
    default_type: str,
    body: str,
    sections: list,
) -> ParsedDocument:
    """A ParsedDocument from a parser's own metadata overlaid with the manifest's."""
    meta = {**own_meta, **source.meta}
    doc_id = meta.pop("id", None) or source.default_id
    title = meta.pop("title", None) or title_fallback
    doc_type = meta.pop("type", None) or default_type
    meta.setdefault("language", source.language)
    meta.setdefault("visibility", "all")
    if "status" in meta:  # the catalog derives status from dates; keep what the file said
        meta["declared_status"] = meta.pop("status")
    return ParsedDocument(
        doc_id=doc_id,
        title=title,
        doc_type=doc_type,
        source_path=source.path,
        body=body,
        metadata=meta,
        sections=sections,
    )
