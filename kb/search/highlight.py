"""Marking query terms in passage text (stem-aware, like the keyword index)."""

from __future__ import annotations

import html
import re
import threading
from functools import lru_cache

import snowballstemmer

_WORD_RE = re.compile(r"\w+", re.UNICODE)
# Snowball stemmers keep state while stemming: one per thread (the server runs several).
_LOCAL = threading.local()
# Query words too common to be worth marking.
_STOP = frozenset(
    (
        "a an and are as at be by can do does for from has have how i if in is it its may of "
        "on or our should that the their them they this to was what when where which who will "
        "with you"
    ).split()
)


@lru_cache(maxsize=1 << 16)  # a corpus's vocabulary, not one page's
def _stem(word: str) -> str:
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word.lower())


def query_stems(query: str) -> set[str]:
    """Stems of the query's content words."""
    return {_stem(w) for w in _WORD_RE.findall(query) if w.lower() not in _STOP}


def spans(text: str, query: str) -> list[tuple[int, int]]:
    """(start, end) of each word of `text` matching a query word by stem."""
    stems = query_stems(query)
    if not stems:
        return []
    return [(m.start(), m.end()) for m in _WORD_RE.finditer(text) if _stem(m.group()) in stems]


def to_html(text: str, query: str) -> str:
    """`text` HTML-escaped with matching words wrapped in <mark>."""
    out, pos = [], 0
    for start, end in spans(text, query):
        out.append(html.escape(text[pos:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def to_terminal(text: str, query: str) -> str:
    """`text` with matching words in rich markup bold (other markup escaped)."""
    out, pos = [], 0
    for start, end in spans(text, query):
        out.append(_markup_escape(text[pos:start], tag_follows=True))
        out.append("[bold yellow]" + text[start:end] + "[/bold yellow]")  # a word: no markup
        pos = end
    out.append(_markup_escape(text[pos:], tag_follows=False))
    return "".join(out)


# What rich reads as a tag: [bold], [/], [#ff0000], [@click]...
_TAG_RE = re.compile(r"\[[a-z#/@][^[]*?]")
_BRACKET_RE = re.compile(r"(\\*)\[")


def _markup_escape(text: str, *, tag_follows: bool) -> str:
    """`text` as rich markup that renders as `text`. Rich reads backslashes before a tag as
    escapes, and drops one backslash before any other "["; rich.markup.escape covers only
    the first, and doubles a trailing backslash whether or not a tag follows."""

    def bracket(m: re.Match) -> str:
        n = len(m[1])
        return "\\" * (2 * n + 1 if _TAG_RE.match(text, m.end() - 1) else n + 1) + "["

    out = _BRACKET_RE.sub(bracket, text)
    if tag_follows:  # backslashes before our tag would escape it
        out += "\\" * (len(out) - len(out.rstrip("\\")))
    return out
