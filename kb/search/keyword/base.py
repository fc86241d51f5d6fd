"""The keyword backend protocol and the record both backends index."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kb.search.filters import Filters

SEARCH_FIELDS = ("title", "heading", "text")
# Characters with a meaning in query syntax; a query that does not parse is retried without them.
_SYNTAX_RE = re.compile(r"[+\-&|!(){}\[\]^\"~*?:\\/']")


@dataclass
class IndexedPassage:
    """What the retrievers index for one passage (ordinal = row in the generation's id list)."""

    ordinal: int
    title: str
    heading: str
    text: str
    terms: list[str]
    eff_from: int
    eff_to: int


class KeywordIndex(Protocol):
    """An opened keyword index."""

    def search(self, query: str, filters: Filters, limit: int) -> list[tuple[int, float]]:
        """(ordinal, BM25 score) best first; syntax errors fall back to plain terms."""
        ...

    def close(self) -> None:
        """Release files and threads."""
        ...


class KeywordBackend(Protocol):
    """Builds and opens keyword indexes of one engine."""

    name: str

    def build(
        self, folder: Path, passages: Iterable[IndexedPassage], boosts: dict[str, float]
    ) -> None:
        """Write a new index of `passages` into `folder`."""
        ...

    def open(self, folder: Path, boosts: dict[str, float]) -> KeywordIndex:
        """Open an index written by `build`."""
        ...


_FIELD_RE = re.compile(r"(?:^|[\s(+\-])([^\s:()\"+\-][^\s:()\"]*):")


def prepare(query: str) -> str:
    """The query as the parser should see it: `word:` prefixes that are not one of our fields
    (a clause id followed by a colon, a time like 10:30) would be read as unknown fields, so
    such queries are searched as plain terms."""
    for m in _FIELD_RE.finditer(query):
        if m.group(1) not in SEARCH_FIELDS:
            return plain_terms(query)
    return query


def plain_terms(query: str) -> str:
    """The query with every syntax character replaced by a space."""
    return " ".join(_SYNTAX_RE.sub(" ", query).split())
