"""BM25 with Tantivy (the Rust engine's official Python bindings). The only file importing it."""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tantivy

from kb.errors import StorageError
from kb.search.filters import Filters
from kb.search.keyword.base import (
    COMMON_SHARE,
    SEARCH_FIELDS,
    STOP_WORDS,
    IndexedPassage,
    plain_terms,
    post_filtered,
    prepare,
)
from kb.storage import link_file

ANALYZER = "kb_en"


def _register(index: tantivy.Index) -> None:
    """English analysis: words, lower-cased, Snowball-stemmed (stop words kept: a query of
    only common words should still find something)."""
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )
    index.register_tokenizer(ANALYZER, analyzer)


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("ordinal", stored=True, indexed=True, fast=True)
    for name in SEARCH_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name=ANALYZER)
    sb.add_text_field("terms", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("eff_from", indexed=True, fast=True)
    sb.add_integer_field("eff_to", indexed=True, fast=True)
    return sb.build()


class TantivyBackend:
    """Builds and opens Tantivy indexes."""

    name = "tantivy"

    def build(
        self, folder: Path, passages: Iterable[IndexedPassage], boosts: dict[str, float]
    ) -> None:
        """Write all passages into a new index in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(folder))
        _register(index)
        _write(folder, index, [], passages)

    def update(
        self,
        folder: Path,
        previous: Path,
        remove: list[int],
        add: Iterable[IndexedPassage],
    ) -> bool:
        """Write into `folder` the index in `previous` (another generation's, left as it is)
        less the passages at ordinals `remove`, plus `add`; False, writing nothing, when
        `previous` holds no Tantivy index. Segment files never change once written, so the
        new folder links to them and adds its own."""
        if not (previous / "meta.json").is_file():
            return False
        folder.mkdir(parents=True, exist_ok=True)
        for path in previous.iterdir():
            # Tantivy's own files only (not its locks, nor what else the folder holds, which
            # its writer may replace in place).
            if path.is_file() and not path.name.endswith((".lock", ".npy")):
                link_file(path, folder / path.name)
        index = tantivy.Index.open(str(folder))
        _register(index)
        _write(folder, index, remove, add)
        return True

    def open(self, folder: Path, boosts: dict[str, float]) -> TantivyIndex:
        """Open the index in `folder`."""
        return TantivyIndex(folder, boosts)


class TantivyIndex:
    """Search over one Tantivy index."""

    def __init__(self, folder: Path, boosts: dict[str, float]) -> None:
        self.index = _open(folder, self)
        _register(self.index)
        self.schema = self.index.schema
        self.boosts = boosts
        self.searcher = self.index.searcher()
        # Stop words in more than COMMON_SHARE of the passages (stop words stem to themselves).
        total = max(1, self.searcher.num_docs)
        self.common = frozenset(
            word
            for word in STOP_WORDS
            if self.searcher.doc_freq("text", word) > COMMON_SHARE * total
        )

    def _parse(self, query: str) -> tantivy.Query:
        fields = list(SEARCH_FIELDS)
        for text in (prepare(query), plain_terms(query)):
            try:
                return self.index.parse_query(text, fields, field_boosts=self.boosts)
            except ValueError:
                continue
        parsed, _errors = self.index.parse_query_lenient(plain_terms(query), fields)
        return parsed

    def _filter(self, filters: Filters) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        must = []
        for alternatives in filters.clauses():
            options = [
                (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "terms", t))
                for t in alternatives
            ]
            must.append((tantivy.Occur.Must, tantivy.Query.boolean_query(options)))
        for field, lo, hi in filters.ranges():
            must.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema, field, tantivy.FieldType.Integer, lo, hi
                    ),
                )
            )
        return must

    def search(
        self, query: str, filters: Filters, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(ordinal, score) of the best `limit` passages matching `query` within `filters`.
        `allowed`, when given, is the filters' mask over ordinals (kb.search.filter_index)."""
        try:
            return self._search(self._parse(query), filters, limit, allowed)
        except ValueError:  # syntax that parses but cannot run: search its plain words
            return self._search(self._parse(plain_terms(query)), filters, limit, allowed)

    def _search(
        self,
        text_query: tantivy.Query,
        filters: Filters,
        limit: int,
        allowed: np.ndarray | None,
    ) -> list[tuple[int, float]]:
        found = post_filtered(allowed, limit, lambda n: self._hits(text_query, n))
        if found is not None:
            return found
        clauses = [(tantivy.Occur.Must, text_query)]
        filter_clauses = self._filter(filters)
        if filter_clauses:
            # Constant zero score: filters restrict, they never change the BM25 ranking.
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.boolean_query(filter_clauses), 0.0
                    ),
                )
            )
        return self._hits(tantivy.Query.boolean_query(clauses), limit)

    def _hits(self, query: tantivy.Query, limit: int) -> list[tuple[int, float]]:
        """(ordinal, score) of the best `limit` passages for `query`; ordinals are read from
        their fast field column, not from the stored documents."""
        result = self.searcher.search(query, limit, count=False)
        addresses = [address for _score, address in result.hits]
        ordinals = self.searcher.fast_field_values("ordinal", addresses)
        return [
            (int(o), float(score))
            for o, (score, _address) in zip(ordinals, result.hits, strict=True)
        ]

    def close(self) -> None:
        """Nothing to release explicitly."""


def _write(
    folder: Path, index: tantivy.Index, remove: list[int], add: Iterable[IndexedPassage]
) -> None:
    """Delete the passages at ordinals `remove`, add `add`, commit."""
    writer = index.writer(heap_size=128_000_000, num_threads=2)
    for ordinal in remove:
        writer.delete_documents_by_term("ordinal", ordinal)
    for p in add:
        doc = tantivy.Document(
            ordinal=p.ordinal,
            title=p.title,
            heading=p.heading,
            text=p.text,
            eff_from=p.eff_from,
            eff_to=p.eff_to,
        )
        for term in p.terms:
            doc.add_text("terms", term)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    # Tantivy writes these two through a private temporary file (mode 0600); give them the
    # mode of the folder's other files, so a server running as another user can read them.
    mode = folder.stat().st_mode & 0o666
    for name in ("meta.json", ".managed.json"):
        if (folder / name).is_file():
            (folder / name).chmod(mode)


def _open(folder: Path, owner: object) -> tantivy.Index:
    """The index in `folder`. Its reader takes a lock file there, which a read-only folder
    (an index built elsewhere and mounted read-only) refuses, and tantivy-py has no read-only
    mode: then the index is opened through a writable folder of links to its files, removed
    with `owner`."""
    try:
        return tantivy.Index.open(str(folder))
    except ValueError as exc:
        if "Lockfile" not in str(exc):
            raise
    try:
        shadow = Path(tempfile.mkdtemp(prefix="kb-keyword-"))
    except OSError as exc:
        raise StorageError(
            f"the keyword index in {folder} is read-only, and Tantivy needs a writable folder "
            f"for its lock files: {exc.strerror} in {tempfile.gettempdir()}; set TMPDIR to a "
            "writable folder"
        ) from None
    weakref.finalize(owner, _remove, shadow)
    for path in folder.iterdir():
        if not path.name.endswith(".lock"):
            (shadow / path.name).symlink_to(path.resolve())
    return tantivy.Index.open(str(shadow))


def _remove(shadow: Path) -> None:
    """Remove a folder of links. The reader's watcher thread may be taking (creating, then
    deleting) its lock file there meanwhile, so try again until the folder is gone."""
    for _ in range(20):
        shutil.rmtree(shadow, ignore_errors=True)
        if not shadow.exists():
            return
        time.sleep(0.05)
