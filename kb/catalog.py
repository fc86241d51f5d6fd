"""The SQLite catalog: documents, versions, passages and rulings. The source of truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kb.errors import NotFoundError
from kb.storage import uri
from kb.types import DocumentInfo, ParsedDocument, Passage, Ruling, VersionInfo

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    doc_type TEXT NOT NULL,
    title TEXT NOT NULL,
    current_version_id INTEGER,
    removed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    version_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    effective_from TEXT,
    effective_to TEXT,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    source_path TEXT NOT NULL,
    metadata TEXT NOT NULL,
    body TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_doc ON versions(doc_id, effective_from);
CREATE TABLE IF NOT EXISTS passages (
    passage_id TEXT PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(version_id),
    doc_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    anchor TEXT NOT NULL,
    clause_id TEXT,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_version ON passages(version_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_clause ON passages(clause_id);
CREATE TABLE IF NOT EXISTS rulings (
    version_id INTEGER PRIMARY KEY REFERENCES versions(version_id),
    case_id TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    surface TEXT NOT NULL,
    region TEXT NOT NULL,
    policy_areas TEXT NOT NULL,
    clauses TEXT NOT NULL,
    facts TEXT NOT NULL,
    outcome TEXT NOT NULL,
    decision TEXT NOT NULL,
    rationale TEXT NOT NULL,
    status TEXT NOT NULL,
    superseded_by TEXT,
    reviewer_tier TEXT,
    visibility TEXT NOT NULL,
    teaching_example INTEGER NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rulings_case ON rulings(case_id);
CREATE TABLE IF NOT EXISTS source_files (
    path TEXT PRIMARY KEY,
    parse_key TEXT NOT NULL,
    doc_ids TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    finished_at TEXT NOT NULL,
    report TEXT NOT NULL
);
"""


def now() -> str:
    """UTC timestamp, ISO 8601, seconds precision."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Catalog:
    """Typed access to one catalog file. Writes happen inside `with catalog.transaction():`."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise NotFoundError(f"no catalog at {self.path}")
            self.db = sqlite3.connect(uri(self.path, "mode=ro"), uri=True, check_same_thread=False)
        else:
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.executescript(_SCHEMA)
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self.db.commit()
        self.db.row_factory = sqlite3.Row

    @classmethod
    def over(cls, db: Any, where: str) -> Catalog:
        """A read-only catalog on another store with sqlite3's `execute` (rows by position
        and by name): a generation's catalog tables in PostgreSQL (backend=postgres)."""
        catalog = cls.__new__(cls)
        catalog.path = Path(where)
        catalog.db = db
        return catalog

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def transaction(self):
        """Context manager committing on success, rolling back on error."""
        return self.db

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value from the meta table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- source files -----------------------------------------------------------------------
    def source_file(self, path: str) -> tuple[str, list[str]] | None:
        """(parse_key, doc_ids) recorded for a source file, if it was ingested before."""
        row = self.db.execute(
            "SELECT parse_key, doc_ids FROM source_files WHERE path = ?", (path,)
        ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def record_source_file(self, path: str, parse_key: str, doc_ids: list[str]) -> None:
        """Remember what a source file held, to skip it next time it is unchanged."""
        self.db.execute(
            "INSERT OR REPLACE INTO source_files VALUES (?, ?, ?, ?)",
            (path, parse_key, json.dumps(doc_ids), now()),
        )

    def forget_source_file(self, path: str) -> None:
        """Drop a source file's record (it disappeared)."""
        self.db.execute("DELETE FROM source_files WHERE path = ?", (path,))

    def holders(self, doc_id: str) -> list[str]:
        """The recorded source files holding `doc_id`."""
        rows = self.db.execute(
            "SELECT path FROM source_files WHERE EXISTS "
            "(SELECT 1 FROM json_each(source_files.doc_ids) WHERE value = ?) ORDER BY path",
            (doc_id,),
        )
        return [r[0] for r in rows]

    def source_files(self) -> dict[str, list[str]]:
        """Every recorded source file and its document ids."""
        rows = self.db.execute("SELECT path, doc_ids FROM source_files")
        return {r[0]: json.loads(r[1]) for r in rows}

    # -- documents and versions ---------------------------------------------------------------
    # The versions of a document with one content and effective date (more than one when a
    # text put back after an edit was stored again).
    _SAME_TEXT = (
        "FROM versions WHERE doc_id = ? AND content_hash = ? "
        "AND coalesce(effective_from, '') = coalesce(?, '')"
    )

    def find_version(self, doc_id: str, content_hash: str, effective_from: str | None):
        """The version of `doc_id` with this content and effective date, if stored (the latest
        stored, when a restored text was stored again)."""
        row = self.db.execute(
            f"SELECT * {self._SAME_TEXT} ORDER BY version_id DESC",
            (doc_id, content_hash, effective_from),
        ).fetchone()
        return _version(row) if row else None

    def count_versions(self, doc_id: str, content_hash: str, effective_from: str | None) -> int:
        """How many versions of `doc_id` hold this content and effective date."""
        row = self.db.execute(
            f"SELECT count(*) {self._SAME_TEXT}", (doc_id, content_hash, effective_from)
        ).fetchone()
        return row[0]

    def has_document(self, doc_id: str) -> bool:
        """Whether a document id was ever stored."""
        return (
            self.db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
            is not None
        )

    def add_version(self, doc: ParsedDocument, content_hash: str, passages: list[Passage]) -> int:
        """Store a new version of a document with its passages (and ruling row)."""
        ts = now()
        self.db.execute(
            "INSERT INTO documents (doc_id, doc_type, title, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(doc_id) DO NOTHING",
            (doc.doc_id, doc.doc_type, doc.title, ts, ts),
        )
        meta = dict(doc.metadata)
        label = str(meta.get("version") or meta.get("effective_from") or "")
        if not label:
            n = self.db.execute("SELECT count(*) FROM versions WHERE doc_id = ?", (doc.doc_id,))
            label = str(n.fetchone()[0] + 1)
        cur = self.db.execute(
            "INSERT INTO versions (doc_id, version, content_hash, effective_from, effective_to, "
            "status, title, source_path, metadata, body, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.doc_id,
                label,
                content_hash,
                meta.get("effective_from"),
                meta.get("effective_to"),
                "draft" if meta.get("declared_status") == "draft" else "current",
                doc.title,
                doc.source_path,
                json.dumps(meta, sort_keys=True),
                doc.body,
                ts,
            ),
        )
        version_id = cur.lastrowid
        self.db.executemany(
            "INSERT INTO passages (passage_id, version_id, doc_id, ordinal, heading_path, anchor, "
            'clause_id, text, start, "end", content_hash, metadata) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.passage_id,
                    version_id,
                    p.doc_id,
                    p.ordinal,
                    json.dumps(p.heading_path),
                    p.anchor,
                    p.clause_id,
                    p.text,
                    p.start,
                    p.end,
                    p.content_hash,
                    json.dumps(p.metadata, sort_keys=True),
                )
                for p in passages
            ],
        )
        if doc.ruling is not None:
            r = doc.ruling
            self.db.execute(
                "INSERT INTO rulings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version_id,
                    r.case_id,
                    r.decision_date,
                    r.surface,
                    r.region,
                    json.dumps(r.policy_areas),
                    json.dumps(r.clauses),
                    r.facts,
                    r.outcome,
                    r.decision,
                    r.rationale,
                    r.status,
                    r.superseded_by,
                    r.reviewer_tier,
                    r.visibility,
                    int(r.teaching_example),
                    json.dumps(r.extra, sort_keys=True),
                ),
            )
        return version_id

    def update_version_metadata(self, version_id: int, doc: ParsedDocument) -> bool:
        """Replace a stored version's metadata and title when only they changed."""
        row = self.db.execute(
            "SELECT metadata, title FROM versions WHERE version_id = ?", (version_id,)
        ).fetchone()
        meta = json.dumps(doc.metadata, sort_keys=True)
        if row["metadata"] == meta and row["title"] == doc.title:
            return False
        self.db.execute(
            "UPDATE versions SET metadata = ?, title = ? WHERE version_id = ?",
            (meta, doc.title, version_id),
        )
        return True

    def narrow_visibility(self, version_id: int, visibility: str) -> None:
        """Set a stored version's visibility (and its ruling's) to `visibility`."""
        self.db.execute(
            "UPDATE versions SET metadata = json_set(metadata, '$.visibility', ?) "
            "WHERE version_id = ?",
            (visibility, version_id),
        )
        self.db.execute(
            "UPDATE rulings SET visibility = ? WHERE version_id = ?", (visibility, version_id)
        )

    def refresh_document(self, doc_id: str) -> None:
        """Recompute which version is current and when each historical one stopped applying.

        Status follows effective dates, not what files declare (archives label copies of one
        text differently): the newest non-draft version (by effective date, then ingest order)
        is current unless its declared `effective_to` has passed; every other non-draft version
        is historical, ending the day before its successor starts unless it declares an end.
        """
        rows = self.db.execute(
            "SELECT version_id, effective_from, metadata FROM versions WHERE doc_id = ? "
            "ORDER BY coalesce(effective_from, ''), version_id",
            (doc_id,),
        ).fetchall()
        live = [r for r in rows if json.loads(r["metadata"]).get("declared_status") != "draft"]
        today = dt.date.today().isoformat()
        current_id = None
        for i, r in enumerate(live):
            declared_to = json.loads(r["metadata"]).get("effective_to")
            if i == len(live) - 1:
                ended = declared_to is not None and declared_to < today
                status = "historical" if ended else "current"
                effective_to = declared_to
                if not ended:
                    current_id = r["version_id"]
            else:
                status = "historical"
                nxt = live[i + 1]["effective_from"]
                # A version replaced on its first day (a correction dated the same day) gets a
                # range ending before it starts: an as-of search for that day finds one version.
                effective_to = declared_to or (_day_before(nxt) if nxt else None)
            self.db.execute(
                "UPDATE versions SET status = ?, effective_to = ? WHERE version_id = ?",
                (status, effective_to, r["version_id"]),
            )
        live_ids = {r["version_id"] for r in live}
        for r in rows:
            if r["version_id"] not in live_ids:
                self.db.execute(
                    "UPDATE versions SET status = 'draft' WHERE version_id = ?", (r["version_id"],)
                )
        newest = live[-1] if live else (rows[-1] if rows else None)
        if newest is not None:
            v = self.db.execute(
                "SELECT title FROM versions WHERE version_id = ?", (newest["version_id"],)
            ).fetchone()
            self.db.execute(
                "UPDATE documents SET current_version_id = ?, title = ?, updated_at = ? "
                "WHERE doc_id = ?",
                (current_id, v["title"], now(), doc_id),
            )

    def set_removed(self, doc_id: str, removed: bool) -> bool:
        """Mark a document removed from (or back in) the current index; True if it changed."""
        row = self.db.execute(
            "SELECT removed_at FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        if row is None or (row["removed_at"] is not None) == removed:
            return False
        self.db.execute(
            "UPDATE documents SET removed_at = ?, updated_at = ? WHERE doc_id = ?",
            (now() if removed else None, now(), doc_id),
        )
        return True

    def record_run(self, report: dict[str, Any]) -> None:
        """Append an ingest run's report."""
        self.db.execute(
            "INSERT INTO ingest_runs (finished_at, report) VALUES (?, ?)",
            (now(), json.dumps(report)),
        )

    # -- reads ------------------------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentInfo:
        """A document and all its versions (newest effective first)."""
        row = self.db.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no document {doc_id!r}")
        versions = [
            _version(r)
            for r in self.db.execute(
                "SELECT * FROM versions WHERE doc_id = ? "
                "ORDER BY coalesce(effective_from, '') DESC, version_id DESC",
                (doc_id,),
            )
        ]
        return DocumentInfo(
            doc_id=row["doc_id"],
            doc_type=row["doc_type"],
            title=row["title"],
            removed=row["removed_at"] is not None,
            current_version_id=row["current_version_id"],
            versions=versions,
        )

    def version_body(self, version_id: int) -> str:
        """The stored source text of a version (passage offsets point into it)."""
        row = self.db.execute(
            "SELECT body FROM versions WHERE version_id = ?", (version_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no version {version_id}")
        return row[0]

    def passages_of(self, version_id: int) -> list[Passage]:
        """Passages of one version in reading order."""
        rows = self.db.execute(
            "SELECT * FROM passages WHERE version_id = ? ORDER BY ordinal", (version_id,)
        )
        return [_passage(r) for r in rows]

    def version(self, version_id: int) -> VersionInfo:
        """One stored version."""
        row = self.db.execute(
            "SELECT * FROM versions WHERE version_id = ?", (version_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no version {version_id!r}")
        return _version(row)

    def doc_type(self, doc_id: str) -> str | None:
        """A document's type (policy, guidance, ruling), or None when there is no such document."""
        row = self.db.execute(
            "SELECT doc_type FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return None if row is None else row[0]

    def version_ids(self, doc_id: str) -> list[int]:
        """The ids of every stored version of a document (none for an unknown one)."""
        rows = self.db.execute("SELECT version_id FROM versions WHERE doc_id = ?", (doc_id,))
        return [v for (v,) in rows.fetchall()]

    def passage_ids(self, version_id: int) -> list[str]:
        """The ids of a version's passages."""
        rows = self.db.execute(
            "SELECT passage_id FROM passages WHERE version_id = ?", (version_id,)
        )
        return [p for (p,) in rows.fetchall()]

    def corpus_hash(self) -> str:
        """Hash of every live version's content: equal hashes mean the same indexed corpus."""
        rows = self.db.execute(
            "SELECT v.doc_id, v.content_hash, v.status FROM versions v JOIN documents d "
            "ON d.doc_id = v.doc_id WHERE d.removed_at IS NULL ORDER BY v.doc_id, v.version_id"
        )
        h = hashlib.sha256()
        for row in rows:
            h.update("\x00".join(map(str, tuple(row))).encode())
        return h.hexdigest()

    def ruling_facts(self) -> list[tuple[Ruling, str]]:
        """Every current ruling with the id of its first facts passage, oldest first."""
        rows = self.db.execute(
            f"SELECT {_RULING_COLUMNS}, p.passage_id FROM rulings r "
            "JOIN documents d ON d.current_version_id = r.version_id AND d.removed_at IS NULL "
            "JOIN versions v ON v.version_id = r.version_id "
            "JOIN passages p ON p.version_id = r.version_id AND p.anchor = 'facts' "
            "WHERE p.ordinal = (SELECT min(ordinal) FROM passages q "
            "WHERE q.version_id = r.version_id AND q.anchor = 'facts') "
            "ORDER BY r.decision_date, r.case_id"
        ).fetchall()
        return [(_ruling(r), r["passage_id"]) for r in rows]

    def passage(self, passage_id: str) -> Passage:
        """One passage by id."""
        row = self.db.execute(
            "SELECT * FROM passages WHERE passage_id = ?", (passage_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no passage {passage_id!r}")
        return _passage(row)

    def units(self, passage_ids: list[str]) -> dict[str, tuple[str, int, str | None, str, str]]:
        """passage id -> (doc id, version id, clause id, anchor, document type), in one
        query per 500 ids: what results are grouped by, without loading whole passages."""
        out: dict[str, tuple[str, int, str | None, str, str]] = {}
        for start in range(0, len(passage_ids), 500):
            chunk = passage_ids[start : start + 500]
            rows = self.db.execute(
                "SELECT p.passage_id, p.doc_id, p.version_id, p.clause_id, p.anchor, d.doc_type "
                "FROM passages p JOIN documents d ON d.doc_id = p.doc_id "
                f"WHERE p.passage_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update((row[0], tuple(row[1:])) for row in rows)
        return out

    def ruling(self, version_id: int) -> Ruling | None:
        """The ruling stored with a version, or None."""
        row = self.db.execute(
            f"SELECT {_RULING_COLUMNS} FROM rulings r "
            "JOIN versions v ON v.version_id = r.version_id WHERE r.version_id = ?",
            (version_id,),
        ).fetchone()
        return _ruling(row) if row is not None else None

    def current_ruling(self, case_id: str) -> Ruling | None:
        """The ruling of a document's current (else newest) version; None when the document is
        not a ruling. NotFoundError when there is no such document."""
        doc = self.document(case_id)
        return self.ruling(doc.current_version_id or doc.versions[0].version_id)

    def clause_passage(self, clause_id: str, on: str | None = None) -> Passage | None:
        """The first passage of a clause in the version in force on date `on` (default: the
        current version); None when no policy has that clause then."""
        if on is None:
            sql = (
                "SELECT p.* FROM passages p JOIN documents d ON d.current_version_id = "
                "p.version_id WHERE p.clause_id = ? ORDER BY p.ordinal LIMIT 1"
            )
            row = self.db.execute(sql, (clause_id,)).fetchone()
        else:
            sql = (
                "SELECT p.* FROM passages p JOIN versions v ON v.version_id = p.version_id "
                "WHERE p.clause_id = ? AND v.status != 'draft' AND v.effective_from <= ? "
                "AND (v.effective_to IS NULL OR v.effective_to >= ?) "
                "ORDER BY v.effective_from DESC, p.ordinal LIMIT 1"
            )
            row = self.db.execute(sql, (clause_id, on, on)).fetchone()
        return _passage(row) if row else None

    def clause_text(self, clause_id: str, on: str | None = None) -> tuple[int, str] | None:
        """The version (id) that holds a clause on date `on` (default: the current one; see
        `clause_passage`) and the clause's whole text there, its passages joined."""
        first = self.clause_passage(clause_id, on)
        if first is None:
            return None
        rows = self.db.execute(
            "SELECT text FROM passages WHERE version_id = ? AND clause_id = ? ORDER BY ordinal",
            (first.version_id, clause_id),
        )
        return first.version_id, "\n".join(text for (text,) in rows)

    def teaching_flags(self) -> dict[str, bool]:
        """case id -> the teaching flag its source gives, for every current ruling version."""
        return {
            case: bool(flag)
            for case, flag in self.db.execute(
                "SELECT r.case_id, r.teaching_example FROM rulings r JOIN documents d "
                "ON d.current_version_id = r.version_id"
            )
        }

    def current_rulings(self) -> list[Ruling]:
        """The rulings of every current ruling version, by case id."""
        rows = self.db.execute(
            f"SELECT {_RULING_COLUMNS} FROM rulings r "
            "JOIN documents d ON d.current_version_id = r.version_id "
            "JOIN versions v ON v.version_id = r.version_id "
            "WHERE d.removed_at IS NULL ORDER BY r.case_id"
        ).fetchall()
        return [_ruling(row) for row in rows]

    def current_passages(self, doc_type: str) -> list[Passage]:
        """Every passage of the current versions of documents of `doc_type`, in reading order."""
        rows = self.db.execute(
            "SELECT p.* FROM passages p JOIN documents d ON d.current_version_id = p.version_id "
            "WHERE d.removed_at IS NULL AND d.doc_type = ? ORDER BY p.version_id, p.ordinal",
            (doc_type,),
        )
        return [_passage(r) for r in rows]

    def current_versions(self, doc_type: str) -> list[VersionInfo]:
        """The current version of every document of `doc_type` not removed, by title."""
        rows = self.db.execute(
            "SELECT v.* FROM versions v JOIN documents d ON d.current_version_id = v.version_id "
            "WHERE d.doc_type = ? AND d.removed_at IS NULL ORDER BY v.title, v.doc_id",
            (doc_type,),
        )
        return [_version(r) for r in rows]

    def document_index(self) -> list[tuple[str, str, bool, int | None, list[VersionInfo]]]:
        """Every stored document: (doc id, type, removed, current version id, its versions
        newest effective first), by doc id."""
        rows = self.db.execute(
            "SELECT v.*, d.doc_type, d.removed_at IS NOT NULL AS removed, d.current_version_id "
            "FROM versions v JOIN documents d ON d.doc_id = v.doc_id "
            "ORDER BY d.doc_id, v.effective_from DESC NULLS LAST, v.version_id DESC"
        )
        out: dict[str, tuple[str, str, bool, int | None, list[VersionInfo]]] = {}
        for r in rows:
            entry = out.setdefault(
                r["doc_id"],
                (r["doc_id"], r["doc_type"], bool(r["removed"]), r["current_version_id"], []),
            )
            entry[4].append(_version(r))
        return list(out.values())

    def listing_rows(self) -> list[sqlite3.Row]:
        """For every stored passage, in one query: what a reader sees it as part of (doc,
        version, clause or section) and what lists sort it by (date, title, outcome)."""
        return self.db.execute(
            "SELECT p.passage_id, p.version_id, p.clause_id, p.anchor, d.doc_id, d.doc_type, "
            "COALESCE(r.decision_date, v.effective_from, '') AS date, v.title, "
            "COALESCE(r.outcome, '') AS outcome "
            "FROM passages p JOIN versions v ON v.version_id = p.version_id "
            "JOIN documents d ON d.doc_id = v.doc_id "
            "LEFT JOIN rulings r ON r.version_id = p.version_id"
        ).fetchall()

    def clause_ids(self) -> set[str]:
        """Every clause id any stored version has."""
        return {c for (c,) in self.db.execute("SELECT DISTINCT clause_id FROM passages") if c}

    def versions_in_force(self, on: str, doc_type: str = "policy") -> list[VersionInfo]:
        """Versions of documents of `doc_type` in force on date `on`."""
        rows = self.db.execute(
            "SELECT v.* FROM versions v JOIN documents d ON d.doc_id = v.doc_id "
            "WHERE d.doc_type = ? AND d.removed_at IS NULL AND v.status != 'draft' "
            "AND v.effective_from <= ? AND (v.effective_to IS NULL OR v.effective_to >= ?) "
            "ORDER BY v.title",
            (doc_type, on, on),
        )
        return [_version(r) for r in rows]

    def iter_indexable(self) -> Iterator[tuple[Passage, VersionInfo, str]]:
        """Every passage of every non-draft version of a document not removed, with its
        version and document type. Historical versions are included (as-of search needs them);
        their version status says so."""
        rows = self.db.execute(
            "SELECT p.*, v.version_id AS v_id, v.doc_id AS v_doc, v.version AS v_version, "
            "v.effective_from AS v_from, v.effective_to AS v_to, v.status AS v_status, "
            "v.content_hash AS v_hash, v.title AS v_title, v.source_path AS v_src, "
            "v.metadata AS v_meta, v.ingested_at AS v_at, d.doc_type AS d_type "
            "FROM passages p JOIN versions v ON v.version_id = p.version_id "
            "JOIN documents d ON d.doc_id = v.doc_id "
            "WHERE d.removed_at IS NULL AND v.status != 'draft' ORDER BY v.version_id, p.ordinal"
        )
        version = None
        for r in rows:
            if version is not None and version.version_id == r["v_id"]:
                yield _passage(r), version, r["d_type"]  # rows come version by version
                continue
            version = VersionInfo(
                version_id=r["v_id"],
                doc_id=r["v_doc"],
                version=r["v_version"],
                effective_from=r["v_from"],
                effective_to=r["v_to"],
                status=r["v_status"],
                content_hash=r["v_hash"],
                title=r["v_title"],
                source_path=r["v_src"],
                metadata=json.loads(r["v_meta"]),
                ingested_at=r["v_at"],
            )
            yield _passage(r), version, r["d_type"]

    def stats(self) -> dict[str, Any]:
        """Counts for `kb stats`."""
        q = self.db.execute
        by_type = {
            f"{r[0]}/{r[1]}": r[2]
            for r in q(
                "SELECT d.doc_type, CASE WHEN d.removed_at IS NOT NULL THEN 'removed' "
                "WHEN d.current_version_id IS NULL THEN 'no-current' ELSE 'current' END, count(*) "
                "FROM documents d GROUP BY 1, 2 ORDER BY 1, 2"
            )
        }
        versions = {r[0]: r[1] for r in q("SELECT status, count(*) FROM versions GROUP BY 1")}
        return {
            "documents": q("SELECT count(*) FROM documents").fetchone()[0],
            "documents_by_type": by_type,
            "versions": q("SELECT count(*) FROM versions").fetchone()[0],
            "versions_by_status": versions,
            "passages": q("SELECT count(*) FROM passages").fetchone()[0],
            "current_passages": q(
                "SELECT count(*) FROM passages p JOIN documents d ON d.current_version_id = "
                "p.version_id WHERE d.removed_at IS NULL"
            ).fetchone()[0],
            "rulings": q("SELECT count(DISTINCT case_id) FROM rulings").fetchone()[0],
            "ingest_runs": q("SELECT count(*) FROM ingest_runs").fetchone()[0],
        }


def _day_before(date: str) -> str:
    return (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()


def _version(row: sqlite3.Row) -> VersionInfo:
    return VersionInfo(
        version_id=row["version_id"],
        doc_id=row["doc_id"],
        version=row["version"],
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        status=row["status"],
        content_hash=row["content_hash"],
        title=row["title"],
        source_path=row["source_path"],
        metadata=json.loads(row["metadata"]),
        ingested_at=row["ingested_at"],
    )


def _passage(row: sqlite3.Row) -> Passage:
    return Passage(
        passage_id=row["passage_id"],
        doc_id=row["doc_id"],
        ordinal=row["ordinal"],
        heading_path=json.loads(row["heading_path"]),
        anchor=row["anchor"],
        clause_id=row["clause_id"],
        text=row["text"],
        start=row["start"],
        end=row["end"],
        content_hash=row["content_hash"],
        metadata=json.loads(row["metadata"]),
        version_id=row["version_id"],
    )


# A ruling row (alias r) with its version's title (alias v), as `_ruling` reads it.
_RULING_COLUMNS = "r.*, v.title AS title"


def _ruling(row: sqlite3.Row) -> Ruling:
    return Ruling(
        case_id=row["case_id"],
        title=row["title"],
        decision_date=row["decision_date"],
        surface=row["surface"],
        region=row["region"],
        policy_areas=json.loads(row["policy_areas"]),
        clauses=json.loads(row["clauses"]),
        facts=row["facts"],
        outcome=row["outcome"],
        decision=row["decision"],
        rationale=row["rationale"],
        status=row["status"],
        superseded_by=row["superseded_by"],
        reviewer_tier=row["reviewer_tier"],
        visibility=row["visibility"],
        teaching_example=bool(row["teaching_example"]),
        extra=json.loads(row["extra"]),
    )
