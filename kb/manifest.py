"""A generation's manifest.json as a typed record: what was built, from what, with which model.

Written once by the ingest (`DataDir.commit`) and read through `Manifest.load`, which checks
every field it relies on and names the one that is missing or wrong; readers use attributes,
never `.get(..., default)`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import IndexMismatchError

# 2: dense and sentence folders may hold a graph whose positions are not their rows
# (graph_rows.npy), which code reading format 1 would misread; format 1 is still read.
FORMAT = 2
READABLE = (1, 2)


@dataclass(frozen=True)
class KeywordIndex:
    """The keyword side: its backend and the field boosts it was built with."""

    backend: str
    boosts: dict[str, float]


@dataclass(frozen=True)
class DenseIndex:
    """The dense side: the model that embedded it and the index kind."""

    model: str
    model_key: str
    dim: int
    kind: str
    encoder: str
    embedded_this_build: int


@dataclass(frozen=True)
class SentenceIndex:
    """Sentence vectors of policy and guidance passages (count 0: none to index)."""

    count: int


@dataclass(frozen=True)
class LateIndex:
    """Word-piece vectors of policy passages (kb/search/late.py)."""

    passages: int
    pieces: int


@dataclass(frozen=True)
class PostgresIndex:
    """Where a generation was published under backend=postgres (kb/search/postgres.py)."""

    schema: str
    passages: int
    dense: str
    catalog: str = ""  # the schema holding its catalog's tables ("": read from the data dir)


@dataclass(frozen=True)
class Manifest:
    """One generation's manifest."""

    generation: str
    created_at: str
    model: dict[str, Any]
    chunking: dict[str, Any]
    corpus_hash: str
    stats: dict[str, Any]
    passages_indexed: int
    keyword: KeywordIndex
    dense: DenseIndex | None
    filter_keys: list[str] = field(default_factory=list)
    sentences: SentenceIndex | None = None
    late: LateIndex | None = None
    postgres: PostgresIndex | None = None
    format_version: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """JSON form (as written to manifest.json)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The text of manifest.json."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read and check `path`; IndexMismatchError names what is wrong."""
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            raise IndexMismatchError(f"{path} is missing or unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise IndexMismatchError(f"{path} is not a JSON object")
        if data.get("format_version") not in READABLE:
            raise IndexMismatchError(
                f"{path} has format {data.get('format_version')}, this version of policy-kb "
                f"reads formats {', '.join(map(str, READABLE))}; use the policy-kb that wrote "
                "it, or re-ingest into a new data directory"
            )
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> Manifest:
        """A manifest from its JSON form, every field checked."""

        def need(obj: Any, key: str, kind: type | tuple[type, ...], at: str) -> Any:
            value = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise IndexMismatchError(f"{where}: field {at}{key!r} is missing or malformed")
            return value

        keyword = need(data, "keyword", dict, "")
        dense = data.get("dense")
        if dense is not None:
            need(data, "dense", dict, "")
        sentences = data.get("sentences")
        if sentences is not None:
            need(data, "sentences", dict, "")
        late = data.get("late")
        if late is not None:
            need(data, "late", dict, "")
        postgres = data.get("postgres")
        if postgres is not None:
            need(data, "postgres", dict, "")
        return cls(
            format_version=need(data, "format_version", int, ""),
            generation=need(data, "generation", str, ""),
            created_at=need(data, "created_at", str, ""),
            model=need(data, "model", dict, ""),
            chunking=need(data, "chunking", dict, ""),
            corpus_hash=need(data, "corpus_hash", str, ""),
            stats=need(data, "stats", dict, ""),
            passages_indexed=need(data, "passages_indexed", int, ""),
            keyword=KeywordIndex(
                backend=need(keyword, "backend", str, "keyword."),
                boosts=need(keyword, "boosts", dict, "keyword."),
            ),
            dense=None
            if dense is None
            else DenseIndex(
                model=need(dense, "model", str, "dense."),
                model_key=need(dense, "model_key", str, "dense."),
                dim=need(dense, "dim", int, "dense."),
                kind=need(dense, "kind", str, "dense."),
                encoder=need(dense, "encoder", str, "dense."),
                embedded_this_build=need(dense, "embedded_this_build", int, "dense."),
            ),
            filter_keys=list(need(data, "filter_keys", list, "")),
            sentences=None
            if sentences is None
            else SentenceIndex(count=need(sentences, "count", int, "sentences.")),
            late=None
            if late is None
            else LateIndex(
                passages=need(late, "passages", int, "late."),
                pieces=need(late, "pieces", int, "late."),
            ),
            postgres=None
            if postgres is None
            else PostgresIndex(
                schema=need(postgres, "schema", str, "postgres."),
                passages=need(postgres, "passages", int, "postgres."),
                dense=need(postgres, "dense", str, "postgres."),
                catalog=str(postgres.get("catalog") or ""),
            ),
        )
