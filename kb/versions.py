"""What changed between two versions of a document: a section-aware diff.

Sections are keyed by their heading path (below the title) and compared on their verbatim text
(whitespace-normalised). A section only in the newer version is *added*, only in the older one
*removed*; a section whose text differs is *changed*, with word-level changes. A removed and an
added section whose texts are nearly the same (a renamed, renumbered or re-parented heading)
are paired: *moved* when the text is the same, *changed* otherwise.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from kb.catalog import Catalog
from kb.errors import NotFoundError
from kb.types import HEADING_SEPARATOR, VersionInfo

RENAME_SIMILARITY = 0.8
# A clause id where a text cites one ("check LIVE-DNG-3.1 first."), not part of a longer id.
CITED_CLAUSE_RE = re.compile(r"(?<![\w.-])[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?:\.\d+)*(?![\w-]|\.\d)")
_CLAUSE = "\x00clause"  # first part of a clause's section key: no heading can be this


def cited_clauses(text: str) -> set[str]:
    """The clause ids a text names (and anything shaped like one: check against the catalog)."""
    return set(CITED_CLAUSE_RE.findall(text))


class ClauseHistory:
    """Whether clauses changed since a date: a clause *changed* when its words (case, spacing
    and punctuation aside) differ between the policy version in force then and the current
    one, and is *removed* when no current policy has it. Texts are read once per clause and
    date."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._texts: dict[tuple[str, str | None], tuple[int, str] | None] = {}

    def change(self, clause: str, since: str) -> str | None:
        """ "changed", "removed" or None (also when it was in no policy on `since`, since
        there is nothing to compare with)."""
        then, now = self._text(clause, since), self._text(clause, None)
        if then is None:
            return None
        if now is None:
            return "removed"
        if then[0] != now[0] and _words(then[1]) != _words(now[1]):
            return "changed"
        return None

    def _text(self, clause: str, on: str | None) -> tuple[int, str] | None:
        if (clause, on) not in self._texts:
            self._texts[clause, on] = self.catalog.clause_text(clause, on)
        return self._texts[clause, on]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


@dataclass
class SectionChange:
    """One section that differs between the versions."""

    kind: str  # "added" | "removed" | "changed" | "moved" (same text, new heading)
    heading_path: list[str]
    old_heading_path: list[str] | None
    anchor: str
    old_text: str
    new_text: str
    words: list[tuple[str, str]] = field(default_factory=list)  # (op, text); op in = + -
    clause_id: str | None = None  # the clause the section is, when its heading names one

    def blocks(self) -> list[DiffBlock]:
        """The change as prose words and table rows (see `block_diff`)."""
        return block_diff(self.old_text, self.new_text)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "heading_path": self.heading_path,
            "old_heading_path": self.old_heading_path,
            "anchor": self.anchor,
            "old_text": self.old_text,
            "new_text": self.new_text,
            "words": [{"op": op, "text": text} for op, text in self.words],
            "clause_id": self.clause_id,
        }


@dataclass
class VersionDiff:
    """The changes from `old` to `new`."""

    doc_id: str
    old: VersionInfo
    new: VersionInfo
    changes: list[SectionChange]
    unchanged: int
    versions: list[VersionInfo] = field(default_factory=list)  # every version, to pick from

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""

        def v(info: VersionInfo) -> dict[str, Any]:
            return {
                "version_id": info.version_id,
                "version": info.version,
                "effective_from": info.effective_from,
                "status": info.status,
            }

        counts = {
            k: sum(c.kind == k for c in self.changes)
            for k in ("added", "removed", "changed", "moved")
        }
        return {
            "doc_id": self.doc_id,
            "from": v(self.old),
            "to": v(self.new),
            "counts": {**counts, "unchanged": self.unchanged},
            "changes": [c.to_dict() for c in self.changes],
        }


def sections_of(catalog: Catalog, version_id: int) -> dict[tuple[str, ...], tuple[str, str]]:
    """section key -> (anchor, verbatim section text) for one version, in reading order.

    The key is the clause id when the heading starts with one (stable across renamed
    headings: "LIVE-MIN-2.2 ..." is the same clause whatever its title says), else the heading
    path below the title."""
    body = catalog.version_body(version_id)
    spans: dict[tuple[str, ...], list] = {}
    for p in catalog.passages_of(version_id):
        key = (_CLAUSE, p.clause_id) if p.clause_id else tuple(p.heading_path[1:])
        if key in spans:
            spans[key][1] = min(spans[key][1], p.start)
            spans[key][2] = max(spans[key][2], p.end)
        else:
            spans[key] = [p.anchor, p.start, p.end, p.heading_path[1:]]
    return {key: (anchor, body[s:e]) for key, (anchor, s, e, _) in spans.items()}


def _paths(catalog: Catalog, version_id: int) -> dict[tuple[str, ...], list[str]]:
    """section key -> heading path below the title."""
    out: dict[tuple[str, ...], list[str]] = {}
    for p in catalog.passages_of(version_id):
        key = (_CLAUSE, p.clause_id) if p.clause_id else tuple(p.heading_path[1:])
        out.setdefault(key, p.heading_path[1:])
    return out


def diff_versions(
    catalog: Catalog, doc_id: str, old: str | None = None, new: str | None = None
) -> VersionDiff:
    """Diff two versions (ids or labels); defaults: the current version against the one
    before it."""
    doc = catalog.document(doc_id)
    ordered = sorted(doc.versions, key=lambda v: (v.effective_from or "", v.version_id))
    if len(ordered) < 2 and not (old and new):
        raise NotFoundError(f"document {doc_id!r} has only one version")

    def pick(ref: str | None, default: VersionInfo) -> VersionInfo:
        if ref is None:
            return default
        for v in doc.versions:
            if str(v.version_id) == str(ref) or v.version == str(ref):
                return v
        raise NotFoundError(f"document {doc_id!r} has no version {ref!r}")

    current = next((v for v in ordered if v.version_id == doc.current_version_id), ordered[-1])
    new_v = pick(new, current)
    earlier = [
        v
        for v in ordered
        if (v.effective_from or "", v.version_id) < (new_v.effective_from or "", new_v.version_id)
    ]
    old_v = pick(old, earlier[-1] if earlier else ordered[0])
    before, after = sections_of(catalog, old_v.version_id), sections_of(catalog, new_v.version_id)
    old_paths, new_paths = _paths(catalog, old_v.version_id), _paths(catalog, new_v.version_id)
    changes: list[SectionChange] = []
    unchanged = 0
    removed = {k: v for k, v in before.items() if k not in after}
    added = {k: v for k, v in after.items() if k not in before}
    for key, (anchor, text) in after.items():
        if key in before:
            old_text = before[key][1]
            if _norm(old_text) == _norm(text):
                unchanged += 1
            else:
                renamed = old_paths[key] if old_paths[key] != new_paths[key] else None
                changes.append(
                    SectionChange(
                        "changed",
                        new_paths[key],
                        renamed,
                        anchor,
                        old_text,
                        text,
                        word_diff(old_text, text),
                        _clause(key),
                    )
                )
    # Pair renamed sections (same text under a new heading) before calling them added/removed.
    for new_key, (anchor, text) in list(added.items()):
        best, score = None, RENAME_SIMILARITY
        for old_key, (_, old_text) in removed.items():
            ratio = difflib.SequenceMatcher(None, _norm(old_text), _norm(text)).quick_ratio()
            if ratio >= score:
                ratio = difflib.SequenceMatcher(None, _norm(old_text), _norm(text)).ratio()
                if ratio >= score:
                    best, score = old_key, ratio
        if best is not None:
            old_text = removed.pop(best)[1]
            del added[new_key]
            changes.append(
                SectionChange(
                    "moved" if _norm(old_text) == _norm(text) else "changed",
                    new_paths[new_key],
                    old_paths[best],
                    anchor,
                    old_text,
                    text,
                    word_diff(old_text, text),
                    _clause(new_key) or _clause(best),
                )
            )
    changes += [
        SectionChange("added", new_paths[k], None, a, "", t, clause_id=_clause(k))
        for k, (a, t) in added.items()
    ]
    changes += [
        SectionChange("removed", old_paths[k], None, a, t, "", clause_id=_clause(k))
        for k, (a, t) in removed.items()
    ]
    order = {tuple(path): i for i, path in enumerate(new_paths.values())}
    changes.sort(key=lambda c: order.get(tuple(c.heading_path), len(order)))
    return VersionDiff(doc_id, old_v, new_v, changes, unchanged, versions=doc.versions)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level changes: ("=", same), ("-", removed), ("+", added) runs."""
    a, b = old.split(), new.split()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("=", " ".join(a[i1:i2])))
        if op in ("delete", "replace"):
            out.append(("-", " ".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("+", " ".join(b[j1:j2])))
    return out


@dataclass
class DiffBlock:
    """A run of a changed section: prose as word changes, or a table as rows, each row
    unchanged ("="), removed ("-") or added ("+"), with its cells."""

    kind: str  # "prose" | "table"
    words: list[tuple[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)


_ROW_RE = re.compile(r"^\s*\|.*\|\s*$")
_DELIMITER_RE = re.compile(r"^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")


def block_diff(old: str, new: str) -> list[DiffBlock]:
    """What changed in a section, as a reader compares it: table rows (Markdown pipe rows)
    compared whole, as rows; the prose between them word by word."""
    a, b = old.splitlines(), new.splitlines()
    blocks: list[DiffBlock] = []
    prose: dict[str, list[str]] = {"-": [], "+": []}
    in_table = False

    def flush_prose() -> None:
        if prose["-"] or prose["+"]:
            words = word_diff(" ".join(prose["-"]), " ".join(prose["+"]))
            if words:
                blocks.append(DiffBlock("prose", words=words))
            prose["-"].clear()
            prose["+"].clear()

    def row(op: str, line: str) -> None:
        nonlocal in_table
        if _DELIMITER_RE.match(line):
            return
        cells = [c.strip().replace("\\|", "|") for c in _CELL_SPLIT_RE.split(line.strip())[1:-1]]
        if not in_table:
            in_table = True
            blocks.append(DiffBlock("table", header=cells))  # a table's first row heads it
            if op == "=":
                return
        blocks[-1].rows.append((op, cells))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        sides = (("=", a[i1:i2]),) if op == "equal" else (("-", a[i1:i2]), ("+", b[j1:j2]))
        for side, lines in sides:
            for line in lines:
                if _ROW_RE.match(line):
                    flush_prose()
                    row(side, line)
                    continue
                in_table = False
                for target in ("-", "+") if side == "=" else (side,):
                    prose[target].append(line)
    flush_prose()
    return blocks


def _clause(key: tuple[str, ...]) -> str | None:
    """The clause id of a section key (see `sections_of`), or None for a plain heading."""
    return key[1] if len(key) == 2 and key[0] == _CLAUSE else None


def _norm(text: str) -> str:
    return " ".join(text.split())


def heading(path: list[str]) -> str:
    """A heading path as one line."""
    return HEADING_SEPARATOR.join(path) or "(introduction)"
