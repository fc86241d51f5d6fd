"""Markdown with optional YAML front matter: headings become the section path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt

from kb.errors import ParseError
from kb.ingest.base import (
    LONE_SURROGATE,
    ParseResult,
    Source,
    build_document,
    decode,
    has_lone_surrogate,
)
from kb.ingest.metadata import normalize_metadata
from kb.ingest.structure import SectionBuilder, parse_applies, parse_enforcement

# Block structure is all we need: inline parsing (emphasis, links) is skipped for speed.
_MD = MarkdownIt("commonmark").enable("table")
_MD.core.ruler.disable(
    ["inline", "linkify", "replacements", "smartquotes", "text_join"], ignoreInvalid=True
)

# Headings are read as text: `## **LIVE\-DNG\-3.1 Title**` (as Google Docs exports them) is
# the clause LIVE-DNG-3.1.
_INLINE = MarkdownIt("commonmark")
_MARKUP = frozenset("*_`\\[]<>&!~")


def heading_text(content: str) -> str:
    """A heading's inline Markdown as plain text (emphasis, escapes, links, code marks
    and entities resolved)."""
    if not _MARKUP.intersection(content):
        return content
    out = []
    for token in _INLINE.parseInline(content)[0].children or []:
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif token.type == "image":
            out.append(token.content)
    return " ".join("".join(out).split())


_BLOCK_KINDS = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "table_open": "table",
    "blockquote_open": "quote",
    "fence": "code",
    "code_block": "code",
}
# An HTML comment (an unclosed one runs to the end of its block, as a browser reads it).
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so date errors are ours to report by field, and
    refuses aliases: a few hundred bytes of nested aliases expand to gigabytes."""

    def compose_node(self, parent, index):
        """Refuse `*alias` (and so `<<: *alias`) before it is expanded."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Front matter is a header, not a document: a bound on what one file's metadata may be.
MAX_FRONT_MATTER_BYTES = 64 * 1024
FrontMatter = list[tuple[Any, Any, int]]


def split_front_matter(text: str, path: str) -> tuple[FrontMatter, int]:
    """(front matter as (key, value, line) triples, offset where the body starts); ([], 0)
    when there is none."""
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return [], 0
    lines = text.splitlines(keepends=True)
    offset = len(lines[0])
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            raw = text[len(lines[0]) : offset]
            if len(raw.encode()) > MAX_FRONT_MATTER_BYTES:
                raise ParseError(
                    path,
                    f"front matter is over the {MAX_FRONT_MATTER_BYTES // 1024} KiB limit",
                    line=1,
                )
            return load_mapping(raw, path), offset + len(line)
        offset += len(line)
    raise ParseError(path, "front matter opened with '---' is never closed", line=1)


def sidecar_metadata(raw: bytes, where: str) -> dict[str, Any]:
    """The metadata a sidecar file (`NAME.meta.yaml`) sets: a YAML mapping read as front
    matter is (no aliases, at most MAX_FRONT_MATTER_BYTES)."""
    if len(raw) > MAX_FRONT_MATTER_BYTES:
        raise ParseError(where, f"over the {MAX_FRONT_MATTER_BYTES // 1024} KiB limit of metadata")
    return normalize_metadata(load_mapping(decode(raw, where), where, first_line=1), where)


def load_mapping(raw: str, path: str, first_line: int = 2) -> FrontMatter:
    """The top-level mapping of a YAML text (starting at line `first_line` of its file) as
    (key, value, file line) triples, so repeated keys are seen (PyYAML keeps the last
    silently) and errors name their line."""
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.MappingNode):
            raise ParseError(
                path, "front matter must be a mapping of field: value", line=first_line
            )
        loader.flatten_mapping(node)  # `<<: {...}` merges; aliases were refused above
        items = [
            (
                loader.construct_object(k, deep=True),
                loader.construct_object(v, deep=True),
                k.start_mark.line + first_line,
            )
            for k, v in node.value
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line_no = mark.line + first_line if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None:
            problem = f"{context} (line {cmark.line + first_line}): {problem}"
        raise ParseError(path, f"malformed front matter: {problem}", line=line_no) from None
    except RecursionError:
        raise ParseError(path, "malformed front matter: nested too deeply") from None
    finally:
        loader.dispose()
    if has_lone_surrogate(items):
        raise ParseError(path, f"malformed front matter: {LONE_SURROGATE}")
    return items


def parse(source: Source) -> ParseResult:
    """Parse one Markdown file into one document."""
    text = source.text
    raw_meta, body_start = split_front_matter(text, source.path)
    meta = normalize_metadata(raw_meta, source.path, line=1)

    tokens = _MD.parse(text[body_start:])
    line_starts = _line_starts(text)
    first_line = text.count("\n", 0, body_start)

    def span(lines: list[int]) -> tuple[int, int]:
        start = line_starts[min(first_line + lines[0], len(line_starts) - 1)]
        end_line = first_line + lines[1]
        end = line_starts[end_line] if end_line < len(line_starts) else len(text)
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end

    title = meta.get("title") or source.meta.get("title") or _first_h1(tokens)
    title = title or Path(source.path).stem.replace("-", " ").replace("_", " ").strip().title()
    builder = SectionBuilder(title)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.level != 0 or tok.map is None:
            i += 1
            continue
        if tok.type == "heading_open":
            builder.heading(int(tok.tag[1]), heading_text(tokens[i + 1].content))
        elif tok.type == "html_block":
            at = first_line + tok.map[0] + 1
            applies = parse_applies(tok.content, source.path, at)
            rule = parse_enforcement(tok.content, source.path, at)
            if applies is not None:
                builder.applies(applies)
            elif rule is not None:
                builder.enforcement(rule, source.path, at)
            elif _COMMENT_RE.sub("", tok.content).strip():  # not only comments: keep it
                builder.block("html", *span(tok.map))
        elif tok.type in _BLOCK_KINDS:
            kind = _BLOCK_KINDS[tok.type]
            parts = _parts(tokens, i, kind, span) if kind in ("list", "table") else []
            builder.block(kind, *span(tok.map), parts)
        i += 1
    doc = build_document(
        source,
        meta,
        title_fallback=title,
        default_type="policy",
        body=text,
        sections=builder.finish(),
    )
    return ParseResult(documents=[doc])


def _parts(tokens, i: int, kind: str, span) -> list[tuple[int, int]]:
    """Spans of list items, or of the table header (with delimiter row) and each body row."""
    level = tokens[i].level
    parts: list[tuple[int, int]] = []
    j = i + 1
    header_start = None
    while j < len(tokens) and tokens[j].level > level:
        t = tokens[j]
        if kind == "list" and t.type == "list_item_open" and t.level == level + 1:
            parts.append(span(t.map))
        elif kind == "table" and t.type == "thead_open":
            header_start = t.map[0]
        elif kind == "table" and t.type == "tbody_open" and header_start is not None:
            parts.append(span([header_start, t.map[0]]))
        elif (
            kind == "table"
            and t.type == "tr_open"
            and t.level == level + 2
            and header_start is not None
            and t.map[0] > header_start
        ):
            parts.append(span(t.map))
        j += 1
    return parts


def _first_h1(tokens) -> str | None:
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h1":
            return heading_text(tokens[i + 1].content).strip()
    return None


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts
