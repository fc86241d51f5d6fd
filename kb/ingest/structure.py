"""Turning a stream of headings and blocks into sections with heading paths and anchors."""

from __future__ import annotations

import re
from typing import Any

from kb.errors import ParseError
from kb.ingest.metadata import scope_metadata, slugify
from kb.types import ENFORCEMENT, ENFORCEMENT_KEYS, Block, Enforcement, Section

# A clause id opens a heading: "LIVE-MIN-2.3 Minimum age" -> "LIVE-MIN-2.3".
CLAUSE_ID_RE = re.compile(r"^((?:[A-Z][A-Z0-9]*-)+\d+(?:\.\d+)*)(?=\s|$|:)")
# <!-- applies: regions=EU,UK; surfaces=live --> right after a heading scopes that section.
APPLIES_RE = re.compile(r"^\s*<!--\s*applies:\s*(.*?)\s*-->\s*$", re.S)
# <!-- enforcement ... --> under a clause heading: its default enforcement, a key per line.
ENFORCEMENT_RE = re.compile(r"^\s*<!--\s*enforcement\b(.*?)-->\s*$", re.S)


def clause_id_of(heading: str) -> str | None:
    """The clause id a heading starts with, if any."""
    m = CLAUSE_ID_RE.match(heading.strip())
    return m.group(1) if m else None


def parse_applies(comment: str, path: str, line: int | None = None) -> dict[str, list[str]] | None:
    """`regions=EU,UK; surfaces=live` inside an applies-comment, as lists; None if not one.

    Only scope keys are accepted (ParseError naming file, line and key otherwise): a section
    may narrow where it applies, never who may see it or which version it belongs to.
    """
    m = APPLIES_RE.match(comment)
    if not m:
        return None
    raw: list[tuple[str, list[str], int | None]] = []
    for part in m.group(1).split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ParseError(
                path, f"applies: {part.strip()!r} is not key=value", line=line, field="applies"
            )
        key, _, values = part.partition("=")
        raw.append((key, [v.strip() for v in values.split(",") if v.strip()], line))
    return scope_metadata(raw, path, line=line)


def parse_enforcement(comment: str, path: str, line: int | None = None) -> Enforcement | None:
    """The `key: value` lines of an enforcement comment, checked; None if not one.
    ParseError naming the file, the line and the key for anything wrong."""
    m = ENFORCEMENT_RE.match(comment)
    if not m:
        return None
    fields: dict[str, str] = {}
    for n, raw in enumerate(m.group(1).split("\n")):
        at = None if line is None else line + n
        if not raw.strip():
            continue
        key, sep, value = raw.partition(":")
        key = key.strip().lower()
        if not sep or key not in ENFORCEMENT_KEYS:
            raise ParseError(
                path,
                f"enforcement: {raw.strip()!r} is not one of {', '.join(ENFORCEMENT_KEYS)}: value",
                line=at,
                field="enforcement",
            )
        if key in fields:
            raise ParseError(path, f"enforcement: {key} given twice", line=at, field=key)
        fields[key] = value.strip()
    try:
        return Enforcement.from_fields(fields)
    except ValueError as exc:
        raise ParseError(path, f"enforcement: {exc}", line=line, field="enforcement") from None


class SectionBuilder:
    """Collects headings and blocks in document order into sections.

    A level-1 heading equal to the document title is not repeated in heading paths (the title
    heads every path already).
    """

    def __init__(self, title: str) -> None:
        self.title = title.strip()
        self._stack: list[tuple[int, str, dict[str, Any]]] = []
        self._anchors: set[str] = set()
        self.sections: list[Section] = [Section(heading_path=[], anchor=self._unique("top"))]

    @property
    def current(self) -> Section:
        """The section blocks are being added to."""
        return self.sections[-1]

    def heading(self, level: int, text: str) -> None:
        """Open a section at heading `level` (1-6)."""
        text = " ".join(text.split())
        if not text:
            return
        if level == 1 and not self._stack and text.casefold() == self.title.casefold():
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        inherited = dict(self._stack[-1][2]) if self._stack else {}
        self._stack.append((level, text, inherited))
        clause = clause_id_of(text)
        anchor = self._unique(clause or slugify(text))
        self.sections.append(
            Section(
                heading_path=[t for _, t, _ in self._stack],
                anchor=anchor,
                clause_id=clause,
                metadata=dict(inherited),
            )
        )

    def applies(self, meta: dict[str, list[str]]) -> None:
        """Scope the current section (and its subsections) to some regions/surfaces."""
        self.current.metadata.update(meta)
        if self._stack:
            self._stack[-1][2].update(meta)

    def enforcement(self, rule: Enforcement, path: str, line: int | None) -> None:
        """The default enforcement of the current section, which must be a clause."""
        if self.current.clause_id is None:
            raise ParseError(
                path, "enforcement: only under a clause heading", line=line, field="enforcement"
            )
        if ENFORCEMENT in self.current.metadata:
            raise ParseError(
                path,
                f"enforcement: {self.current.clause_id} has one already",
                line=line,
                field="enforcement",
            )
        self.current.metadata[ENFORCEMENT] = rule.to_dict()

    def block(self, kind: str, start: int, end: int, parts: list[tuple[int, int]] | None = None):
        """Add a block spanning body[start:end] to the current section."""
        if end > start:
            self.current.blocks.append(Block(kind=kind, start=start, end=end, parts=parts or []))

    def finish(self) -> list[Section]:
        """Sections that hold text, in document order."""
        return [s for s in self.sections if s.blocks]

    def _unique(self, anchor: str) -> str:
        candidate, n = anchor, 2
        while candidate in self._anchors:
            candidate = f"{anchor}-{n}"
            n += 1
        self._anchors.add(candidate)
        return candidate


class TextAssembler:
    """Builds a body string piece by piece and returns each piece's offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0

    def add(self, text: str, sep: str = "\n\n") -> tuple[int, int]:
        """Append `text` (after `sep` unless first); return its (start, end)."""
        if self._len and sep:
            self._parts.append(sep)
            self._len += len(sep)
        start = self._len
        self._parts.append(text)
        self._len += len(text)
        return start, self._len

    def __len__(self) -> int:
        return self._len

    def text(self) -> str:
        """The body so far."""
        return "".join(self._parts)
