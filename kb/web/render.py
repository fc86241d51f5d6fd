"""Passage text as HTML for the pages: Markdown rendered by markdown-it-py and sanitised by nh3,
query words marked, clause ids linked to their clause.

Policy and guidance passages are Markdown (HTML sources are turned into the same Markdown at
ingest); rulings are plain text, shown as written. Raw HTML in a source is never passed
through: markdown-it escapes it, and nh3 keeps only the tags below, whatever the renderer
produced.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection

import nh3
from markdown_it import MarkdownIt

from kb.search import highlight

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "table", "thead", "tbody", "tr", "th", "td", "del", "s",
}  # fmt: skip
# No style attributes: the pages' content security policy would refuse them anyway.
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}
_TAG_RE = re.compile(r"(<[^>]*>)")
# A clause id as policies write it: LIVE-DNG-3.1, HATE-2.
_CLAUSE_RE = re.compile(r"\b(?:[A-Z][A-Z0-9]*-)+\d+(?:\.\d+)*\b")


def passage_html(
    text: str,
    *,
    markdown: bool,
    query: str = "",
    clause_ids: Collection[str] = (),
    clause_url: Callable[[str], str] | None = None,
) -> str:
    """`text` as safe HTML: Markdown rendered when `markdown`, else paragraphs as written;
    words matching `query` in <mark>; ids in `clause_ids` linked through `clause_url`."""
    if markdown:
        rendered = _MD.render(text)
        safe = nh3.clean(
            rendered,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            url_schemes=_SCHEMES,
            link_rel="noopener noreferrer",
        )
    else:
        safe = html.escape(text)
    return _decorate(safe, query, clause_ids, clause_url)


def _decorate(
    safe: str,
    query: str,
    clause_ids: Collection[str],
    clause_url: Callable[[str], str] | None,
) -> str:
    """Mark query words and link clause ids in the text between tags (ids are not linked
    inside a link already)."""
    linking = clause_url is not None and bool(clause_ids)
    if not query and not linking:
        return safe
    out, in_link = [], 0
    for piece in _TAG_RE.split(safe):
        if piece.startswith("<"):
            if piece.startswith("<a ") or piece == "<a>":
                in_link += 1
            elif piece == "</a>":
                in_link = max(0, in_link - 1)
            out.append(piece)
            continue
        text = html.unescape(piece)
        if not linking or in_link:
            out.append(highlight.to_html(text, query))
            continue
        pos = 0
        for m in _CLAUSE_RE.finditer(text):
            if m.group() not in clause_ids:
                continue
            out.append(highlight.to_html(text[pos : m.start()], query))
            href = html.escape(clause_url(m.group()), quote=True)
            out.append(f'<a class="clause" href="{href}">')
            out.append(highlight.to_html(m.group(), query) + "</a>")
            pos = m.end()
        out.append(highlight.to_html(text[pos:], query))
    return "".join(out)
