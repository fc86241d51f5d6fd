"""Trainers' collections: named, ordered, annotated lists of passages and rulings, exported
with full citations.

Collections are user data, not derived from sources, so they live in `userdata.sqlite` in the
user data folder (DATA_DIR unless KB_USER_DATA_DIR) rather than inside a generation: a
re-ingest builds a new generation from a copy of the catalog, and anything written to the live
one meanwhile would be lost.
Items point at passage ids (which name one version of one document, so a citation exported
today can be reproduced later) or at ruling case ids.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.catalog import Catalog, now
from kb.config import USER_DATA_FILE
from kb.csv_export import write_csv
from kb.dbfile import open_store
from kb.errors import ConflictError, NotFoundError, QueryError
from kb.types import Citation, document_url, passage_url

if TYPE_CHECKING:
    from kb.pgdb import PostgresPlace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collection_items (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    position INTEGER NOT NULL, ref TEXT NOT NULL, kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teaching_flags (
    case_id TEXT PRIMARY KEY, flagged INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '',
    set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_resolutions (
    case_ids TEXT PRIMARY KEY, standing TEXT NOT NULL, note TEXT NOT NULL,
    resolved_by TEXT NOT NULL, resolved_at TEXT NOT NULL);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT COLLATE "C" PRIMARY KEY, description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collection_items (
    item_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection TEXT COLLATE "C" NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    position INTEGER NOT NULL, ref TEXT COLLATE "C" NOT NULL, kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS collection_items_position
    ON collection_items(collection, position);
CREATE TABLE IF NOT EXISTS teaching_flags (
    case_id TEXT COLLATE "C" PRIMARY KEY, flagged INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '', set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_resolutions (
    case_ids TEXT COLLATE "C" PRIMARY KEY, standing TEXT NOT NULL, note TEXT NOT NULL,
    resolved_by TEXT NOT NULL, resolved_at TEXT NOT NULL);
"""
# One position per item of a collection; an index, not in the table's definition, so that files
# made before it can be given it (Collections._make_positions_unique).
_POSITIONS_INDEX = "collection_items_position"
_HAS_UNIQUE_POSITIONS = (
    f"SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = '{_POSITIONS_INDEX}'"
)
# The columns of a collection's CSV export.
EXPORT_COLUMNS = (
    "position kind id title clause outcome date region status note citation url text"
).split()
# visible(kind, ref): may the reader see this item? (kind "passage" or "ruling")
Visible = Callable[[str, str], bool]
# ASCII only, matched whole: the same rule as the pattern in the API's OpenAPI document.
NAME_RE = re.compile(r"\w[\w .:-]{0,79}", re.ASCII)


@dataclass
class Resolution:
    """How a policy user settled a group of near-identical rulings decided differently: the
    outcome that stands (the others are not to be followed), or `both` with the reason."""

    case_ids: frozenset[str]
    standing: str  # an outcome of the group, or "both"
    note: str
    resolved_by: str
    resolved_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "case_ids": sorted(self.case_ids),
            "standing": self.standing,
            "note": self.note,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at,
        }


@dataclass
class Item:
    """One entry of a collection, resolved against the catalog."""

    item_id: int
    position: int
    ref: str
    kind: str  # "passage" | "ruling"
    note: str
    citation: str
    text: str
    url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "item_id": self.item_id,
            "position": self.position,
            "ref": self.ref,
            "kind": self.kind,
            "note": self.note,
            "citation": self.citation,
            "text": self.text,
            "url": self.url,
            **self.extra,
        }


class Collections:
    """The collections of one user data folder (read-only when it cannot be written)."""

    def __init__(self, where: Path | PostgresPlace) -> None:
        self.db = open_store(where, USER_DATA_FILE, _SCHEMA, _POSTGRES_SCHEMA, what="collections")
        if self.db.dialect != "sqlite" or self.db.read_only:
            return  # PostgreSQL's tables have the index from the start
        if self.db.fetchone(_HAS_UNIQUE_POSITIONS) is None:
            self._make_positions_unique()

    def _make_positions_unique(self) -> None:
        """Files from before positions were unique may hold duplicates (from adds at the same
        moment): number each collection 1..n in its current order, then add the index."""
        with self.db.write() as db:
            if db.execute(_HAS_UNIQUE_POSITIONS).fetchone() is not None:
                return  # another process got here first
            names = [n for (n,) in db.execute("SELECT DISTINCT collection FROM collection_items")]
            for name in names:
                _renumber(db, name, _ordered_ids(db, name))
            db.execute(
                f"CREATE UNIQUE INDEX {_POSITIONS_INDEX} ON collection_items(collection, position)"
            )

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def names(self, visible: Visible | None = None) -> list[dict[str, Any]]:
        """Every collection with its item count (of the items `visible` allows)."""
        out = {
            name: {"name": name, "description": desc, "items": 0}
            for name, desc in self.db.fetchall(
                "SELECT name, description FROM collections ORDER BY name"
            )
        }
        for name, kind, ref in self.db.fetchall(
            "SELECT collection, kind, ref FROM collection_items"
        ):
            if visible is None or visible(kind, ref):
                out[name]["items"] += 1
        return list(out.values())

    def refs(self) -> list[tuple[str, str, str]]:
        """(collection, kind, ref) of every item of every collection."""
        return [
            tuple(row)
            for row in self.db.fetchall(
                "SELECT collection, kind, ref FROM collection_items ORDER BY collection, position"
            )
        ]

    def create(self, name: str, description: str = "") -> None:
        """A new, empty collection."""
        if not NAME_RE.fullmatch(name or ""):
            raise QueryError(
                f"collection name {name!r}: up to 80 ASCII letters, digits, space . _ : -"
            )
        with self.db.write() as db:
            try:
                db.execute("INSERT INTO collections VALUES (?, ?, ?)", (name, description, now()))
            except self.db.IntegrityError:
                raise ConflictError(f"a collection called {name!r} already exists") from None

    def rename(self, name: str, new_name: str, description: str | None = None) -> None:
        """Give a collection another name (its items follow) and/or a new description."""
        self._require(name)
        if new_name != name and not NAME_RE.fullmatch(new_name or ""):
            raise QueryError(
                f"collection name {new_name!r}: up to 80 ASCII letters, digits, space . _ : -"
            )
        with self.db.write() as db:
            self._require(name)
            if new_name != name:
                taken = db.execute("SELECT 1 FROM collections WHERE name = ?", (new_name,))
                if taken.fetchone() is not None:
                    raise ConflictError(f"a collection called {new_name!r} already exists")
                # Items reference the name: the new row first, then the items, then the old row.
                db.execute(
                    "INSERT INTO collections SELECT CAST(? AS TEXT), description, created_at "
                    "FROM collections WHERE name = ?",
                    (new_name, name),
                )
                db.execute(
                    "UPDATE collection_items SET collection = ? WHERE collection = ?",
                    (new_name, name),
                )
                db.execute("DELETE FROM collections WHERE name = ?", (name,))
            if description is not None:
                db.execute(
                    "UPDATE collections SET description = ? WHERE name = ?",
                    (description, new_name),
                )

    def description(self, name: str) -> str:
        """A collection's description."""
        self._require(name)
        (desc,) = self.db.fetchone("SELECT description FROM collections WHERE name = ?", (name,))
        return desc

    def delete(self, name: str) -> None:
        """Remove a collection and its items."""
        self._require(name)
        with self.db.write() as db:
            db.execute("DELETE FROM collection_items WHERE collection = ?", (name,))
            db.execute("DELETE FROM collections WHERE name = ?", (name,))

    def add(self, name: str, ref: str, catalog: Catalog, note: str = "") -> int:
        """Append a passage (by id) or a ruling (by case id); returns the item id."""
        self._require(name)
        kind = _kind(catalog, ref)
        with self.db.write() as db:
            self._require(name)  # still there, now that no one else may write
            held = db.execute(
                "SELECT position FROM collection_items WHERE collection = ? AND ref = ?",
                (name, ref),
            ).fetchone()
            if held is not None:
                raise ConflictError(f"{ref!r} is already in {name!r}, at position {held[0]}")
            ((item_id,),) = db.execute(
                "INSERT INTO collection_items (collection, position, ref, kind, note, added_at) "
                "SELECT CAST(? AS TEXT), coalesce(max(position), 0) + 1, CAST(? AS TEXT), "
                "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT) FROM collection_items "
                "WHERE collection = ? RETURNING item_id",
                (name, ref, kind, note, now(), name),
            ).fetchall()
        return int(item_id)

    def annotate(self, name: str, item_id: int, note: str) -> None:
        """Replace an item's note."""
        self.require_item(name, item_id)
        with self.db.write() as db:
            db.execute("UPDATE collection_items SET note = ? WHERE item_id = ?", (note, item_id))

    def move(self, name: str, item_id: int, position: int) -> None:
        """Put an item at `position` (1-based), shifting the others."""
        with self.db.write() as db:
            self.require_item(name, item_id)
            ids = _ordered_ids(db, name)
            ids.remove(item_id)
            ids.insert(max(0, min(len(ids), position - 1)), item_id)
            _renumber(db, name, ids)

    def position(self, name: str, item_id: int) -> int:
        """Where an item stands (1-based, counting every item)."""
        self.require_item(name, item_id)
        ids = [i for (i,) in self.db.fetchall(_ORDERED_IDS, (name,))]
        return ids.index(item_id) + 1

    def remove(self, name: str, item_id: int) -> None:
        """Take an item out."""
        self.require_item(name, item_id)
        with self.db.write() as db:
            db.execute("DELETE FROM collection_items WHERE item_id = ?", (item_id,))

    def items(self, name: str, catalog: Catalog, visible: Visible | None = None) -> list[Item]:
        """The collection's items in order, with their citations: only those `visible`
        allows (`visible(kind, ref)`), numbered 1..n, so hidden items leave no gaps."""
        self._require(name)
        rows = self.db.fetchall(
            "SELECT item_id, ref, kind, note FROM collection_items "
            "WHERE collection = ? ORDER BY position, item_id",
            (name,),
        )
        shown = [row for row in rows if visible is None or visible(row[2], row[1])]
        return [_resolve(catalog, row[0], pos, *row[1:]) for pos, row in enumerate(shown, start=1)]

    def export(
        self,
        name: str,
        catalog: Catalog,
        fmt: str,
        visible: Visible | None = None,
        *,
        base_url: str = "",
        bom: bool = False,
    ) -> str:
        """The collection as Markdown or CSV, every item with its full citation; links
        absolute when `base_url` is given; a CSV opened by a spreadsheet reads UTF-8 with
        `bom`."""
        if fmt not in ("md", "markdown", "csv"):
            raise QueryError(f"unknown export format {fmt!r}; valid: md, csv")
        items = self.items(name, catalog, visible)

        def link(url: str) -> str:
            return base_url.rstrip("/") + url if base_url else url

        if fmt == "csv":
            text = write_csv(
                EXPORT_COLUMNS,
                (
                    [
                        it.position,
                        it.kind,
                        it.ref,
                        it.extra.get("title", ""),
                        it.extra.get("clause", ""),
                        it.extra.get("outcome") or "",
                        it.extra.get("date", ""),
                        it.extra.get("region", ""),
                        it.extra.get("status", ""),
                        it.note,
                        it.citation,
                        link(it.url),
                        it.text,
                    ]
                    for it in items
                ),
            )
            return "\ufeff" + text if bom else text
        desc = self.description(name)
        out = [f"# {name}", ""] + ([desc, ""] if desc else [])
        for it in items:
            out += [f"## {it.position}. {it.citation}", ""]
            if it.note:
                out += [f"*Trainer's note:* {it.note}", ""]
            # The passage's own Markdown (tables, lists) quoted line by line stays valid.
            out += ["> " + line if line else ">" for line in it.text.splitlines()]
            label = it.citation.replace("[", "\\[").replace("]", "\\]")
            out += ["", f"Source: [{label}]({link(it.url)}) — `{it.ref}`", ""]
        return "\n".join(out)

    def set_teaching(self, case_id: str, flagged: bool, catalog: Catalog, note: str = "") -> None:
        """Mark a ruling as a good teaching example (or not), overriding its source data."""
        if _kind(catalog, case_id) != "ruling":
            raise QueryError(f"{case_id!r} is a passage, not a ruling")
        with self.db.write() as db:
            db.execute(
                "INSERT INTO teaching_flags VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO UPDATE "
                "SET flagged = excluded.flagged, note = excluded.note, set_at = excluded.set_at",
                (case_id, int(flagged), note, now()),
            )

    def teaching_overrides(self) -> dict[str, bool]:
        """case id -> flag, for rulings trainers have flagged or unflagged."""
        return {
            c: bool(f) for c, f in self.db.fetchall("SELECT case_id, flagged FROM teaching_flags")
        }

    def resolve(self, resolution: Resolution) -> None:
        """Record (or replace) how a group of near-identical rulings was settled."""
        with self.db.write() as db:
            db.execute(
                "INSERT INTO group_resolutions VALUES (?, ?, ?, ?, ?) ON CONFLICT (case_ids) "
                "DO UPDATE SET standing = excluded.standing, note = excluded.note, "
                "resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at",
                (
                    ",".join(sorted(resolution.case_ids)),
                    resolution.standing,
                    resolution.note,
                    resolution.resolved_by,
                    resolution.resolved_at or now(),
                ),
            )

    def resolutions(self) -> dict[frozenset[str], Resolution]:
        """The settled groups, by their rulings' case ids."""
        return {
            frozenset(ids.split(",")): Resolution(frozenset(ids.split(",")), *rest)
            for ids, *rest in self.db.fetchall(
                "SELECT case_ids, standing, note, resolved_by, resolved_at FROM group_resolutions"
            )
        }

    def _require(self, name: str) -> None:
        if self.db.fetchone("SELECT 1 FROM collections WHERE name = ?", (name,)) is None:
            raise NotFoundError(f"no collection {name!r}")

    def require_item(self, name: str, item_id: int) -> None:
        """NotFoundError unless the collection has this item."""
        row = self.db.fetchone(
            "SELECT 1 FROM collection_items WHERE item_id = ? AND collection = ?", (item_id, name)
        )
        if row is None:
            raise NotFoundError(f"collection {name!r} has no item {item_id}")


_ORDERED_IDS = (
    "SELECT item_id FROM collection_items WHERE collection = ? ORDER BY position, item_id"
)


def _ordered_ids(db: sqlite3.Connection, name: str) -> list[int]:
    return [i for (i,) in db.execute(_ORDERED_IDS, (name,))]


def _renumber(db: sqlite3.Connection, name: str, ids: list[int]) -> None:
    """Positions 1..n in the order of `ids`; uniqueness is checked row by row, so the old
    positions are moved out of the way (negated) first."""
    db.execute("UPDATE collection_items SET position = -position WHERE collection = ?", (name,))
    db.executemany(
        "UPDATE collection_items SET position = ? WHERE item_id = ?",
        [(pos, item_id) for pos, item_id in enumerate(ids, start=1)],
    )


def _kind(catalog: Catalog, ref: str) -> str:
    try:
        catalog.passage(ref)
        return "passage"
    except NotFoundError:
        pass
    if catalog.doc_type(ref) == "ruling":
        return "ruling"
    raise NotFoundError(f"{ref!r} is neither a passage id nor a ruling case id")


def _resolve(catalog: Catalog, item_id: int, position: int, ref: str, kind: str, note: str) -> Item:
    if kind == "passage":
        p = catalog.passage(ref)
        v = catalog.version(p.version_id)
        citation = Citation.of(p, v, catalog.doc_type(p.doc_id) or "").line(status=True)
        extra = {
            "title": v.title,
            "clause": p.clause_id or "",
            "date": v.effective_from or "",
            "region": ", ".join(v.metadata.get("regions") or []),
            "status": v.status,
        }
        return Item(item_id, position, ref, kind, note, citation, p.text, passage_url(ref), extra)
    doc = catalog.document(ref)
    ruling = catalog.current_ruling(ref)
    if ruling is None:  # the case id now names another kind of document
        empty = {"outcome": None, "clauses": [], "title": doc.title, "status": "not a ruling"}
        return Item(item_id, position, ref, kind, note, doc.title, "", document_url(ref), empty)
    citation = (
        f"{doc.title} — {ruling.outcome.replace('_', ' ')}, "
        f"{ruling.decision_date}, {ruling.region}, {ruling.status}"
    )
    text = f"{ruling.facts}\n\nDecision: {ruling.decision}\n\nRationale: {ruling.rationale}"
    return Item(
        item_id,
        position,
        ref,
        kind,
        note,
        citation,
        text,
        document_url(ref),
        {
            "outcome": ruling.outcome,
            "clauses": ruling.clauses,
            "title": doc.title,
            "clause": ", ".join(ruling.clauses),
            "date": ruling.decision_date,
            "region": ruling.region,
            "status": ruling.status,
        },
    )
