"""Keyword (BM25) backends behind one protocol, chosen by name."""

from __future__ import annotations

from kb.errors import ConfigError
from kb.search.keyword.base import IndexedPassage, KeywordBackend, KeywordIndex

BACKENDS = ("tantivy", "whoosh")

__all__ = ["BACKENDS", "IndexedPassage", "KeywordBackend", "KeywordIndex", "get_backend"]


def get_backend(name: str) -> KeywordBackend:
    """The keyword backend called `name`; ConfigError listing the valid names otherwise."""
    if name == "tantivy":
        from kb.search.keyword.tantivy_backend import TantivyBackend

        return TantivyBackend()
    if name == "whoosh":
        from kb.search.keyword.whoosh_backend import WhooshBackend

        return WhooshBackend()
    raise ConfigError(f"unknown keyword backend {name!r}; valid backends: {', '.join(BACKENDS)}")
