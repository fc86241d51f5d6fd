"""What parsers share: the Source they read, the ParseResult they return, and helpers for
building documents and reading JSON lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kb.errors import ParseError
from kb.ingest.metadata import overlay
from kb.types import ParsedDocument


@dataclass
class Source:
    """A decoded source file handed to a parser."""

    path: str
    text: str
    default_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    raw: bytes = b""  # the file's bytes, for binary formats (text is then empty)


@dataclass
class ParseResult:
    """Documents a parser read, and problems it found without giving up on the file."""

    documents: list[ParsedDocument] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


Parser = Callable[[Source], ParseResult]

# Metadata for the file of the same name without it (`policy.docx` <- `policy.meta.yaml`),
# for formats that cannot carry front matter; the manifest's entry overrides it.
SIDECAR = ".meta.yaml"


def sidecar_name(name: str) -> str:
    """The name of a file's sidecar: `policy.docx` -> `policy.meta.yaml`."""
    stem, dot, _ = name.rpartition(".")
    return (stem if dot else name) + SIDECAR


def is_lock_file(name: str) -> bool:
    """Word's lock file beside an open document (`~$licy.docx`): never a source."""
    return name.startswith("~$")


def decode(raw: bytes, where: str) -> str:
    """A text file's bytes as text (UTF-8, a BOM and CR line ends removed); ParseError for
    empty, binary or non-UTF-8 content, naming the line of the first bad byte."""
    if not raw.strip():
        raise ParseError(where, "file is empty")
    if b"\x00" in raw[:8192]:
        raise ParseError(where, "binary file (contains NUL bytes), not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ParseError(
            where, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line=line
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


_SURROGATE_RE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = "a \\u escape is half of a surrogate pair, not a character"


def json_lines(text: str, path: str) -> Iterator[tuple[int, Any] | ParseError]:
    """(line number, value) for each non-blank line of JSONL, or a ParseError for a line that
    is not JSON; the caller decides what a good line must hold. Lines end at "\n" only: JSON
    strings may hold U+2028 and U+2029 unescaped, which str.splitlines would cut at."""
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield ParseError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=n)
        except RecursionError:
            yield ParseError(path, "malformed JSON: nested too deeply", line=n)
        else:
            if has_lone_surrogate(value):
                yield ParseError(path, f"malformed JSON: {LONE_SURROGATE}", line=n)
            else:
                yield n, value


def has_lone_surrogate(value: Any) -> bool:
    """True when a decoded JSON or YAML value holds half of a UTF-16 surrogate pair (an escape
    such as \\ud83d from an emoji cut in two): neither the tokenizer nor SQLite accepts it."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE_RE.search(item):
                return True
        elif isinstance(item, dict | list | tuple | set | frozenset) and id(item) not in seen:
            seen.add(id(item))  # YAML aliases may share, or even contain, themselves
            stack.extend(item)
            if isinstance(item, dict):
                stack.extend(item.values())
    return False


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
    meta = overlay(own_meta, source.meta)
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
