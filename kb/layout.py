"""The files of one index generation: every name in a generation's folder is written here once.

generations/gen-000007/
  catalog.sqlite     documents, versions, passages, rulings (the source of truth)
  manifest.json      what was built, from what, with which model (kb/manifest.py)
  passage_ids.txt    line n: the passage id of ordinal n in every index
  filters.npz        filter terms -> ordinals, effective dates
  keyword/           the keyword index (Tantivy or Whoosh)
  dense/             passage vectors (and an HNSW graph when there are many)
  sentences/         sentence vectors of policy and guidance passages, and their owners
  late/              word-piece vectors of policy passages (kb/search/late.py)
  vocab.json         the corpus vocabulary for spelling (kb/search/spelling.py)
  query-int8.json    the int8 query model's check on these passages (kb/search/encoders/int8.py)
  checked-files.json files rewritten since this generation was built that an ingest read and
                     found to hold exactly what its catalog holds (kb/ingest/pipeline.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Generation:
    """One generation's folder and the paths in it."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def catalog(self) -> Path:
        return self.path / "catalog.sqlite"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def ids(self) -> Path:
        return self.path / "passage_ids.txt"

    @property
    def filters(self) -> Path:
        return self.path / "filters.npz"

    @property
    def units(self) -> Path:
        return self.path / "units.npy"

    @property
    def keyword(self) -> Path:
        return self.path / "keyword"

    @property
    def dense(self) -> Path:
        return self.path / "dense"

    @property
    def sentences(self) -> Path:
        return self.path / "sentences"

    @property
    def late(self) -> Path:
        return self.path / "late"

    @property
    def query_int8(self) -> Path:
        return self.path / "query-int8.json"

    @property
    def checked_files(self) -> Path:
        return self.path / "checked-files.json"
