"""Moderators' feedback on results: helpful, not helpful, or the wrong clause (and which was
right), kept with the user data so it survives re-ingests; and the same feedback as relevance
judgments (BEIR qrels) that `kb eval` measures.

A judgment names the clause a passage belongs to (or, for a passage outside any clause, its
document), since that is what a moderator acts on and what the clause-level evaluation counts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.catalog import now
from kb.config import USER_DATA_FILE
from kb.dbfile import open_store
from kb.errors import QueryError

if TYPE_CHECKING:
    from kb.pgdb import PostgresPlace

VERDICTS = ("helpful", "not_helpful", "wrong_clause")
MAX_NOTE = 2000
MAX_QUERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, user TEXT NOT NULL, query TEXT NOT NULL,
    passage_id TEXT NOT NULL, doc_id TEXT NOT NULL, clause_id TEXT,
    verdict TEXT NOT NULL, right_clause TEXT, note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS feedback_at ON feedback(at);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TEXT COLLATE "C" NOT NULL, "user" TEXT COLLATE "C" NOT NULL, query TEXT NOT NULL,
    passage_id TEXT NOT NULL, doc_id TEXT NOT NULL, clause_id TEXT,
    verdict TEXT NOT NULL, right_clause TEXT, note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS feedback_at ON feedback(at);
"""
# "user" is a reserved word in PostgreSQL.
_COLUMNS = (
    'feedback_id, at, "user", query, passage_id, doc_id, clause_id, verdict, right_clause, note'
)


@dataclass
class Feedback:
    """One judgment of one result."""

    feedback_id: int
    at: str
    user: str
    query: str
    passage_id: str
    doc_id: str
    clause_id: str | None
    verdict: str
    right_clause: str | None = None
    note: str = ""

    @property
    def target(self) -> str:
        """What the judgment is about: the clause, else the document."""
        return self.clause_id or self.doc_id

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "feedback_id": self.feedback_id,
            "at": self.at,
            "user": self.user,
            "query": self.query,
            "passage_id": self.passage_id,
            "doc_id": self.doc_id,
            "clause_id": self.clause_id,
            "verdict": self.verdict,
            "right_clause": self.right_clause,
            "note": self.note,
        }


@dataclass
class Hotspot:
    """A clause (or document) that drew "not helpful" or "wrong clause" judgments."""

    target: str
    doc_id: str
    counts: Counter = field(default_factory=Counter)
    queries: list[str] = field(default_factory=list)  # the questions that led there, newest first
    right: Counter = field(default_factory=Counter)  # clauses named as the right ones

    @property
    def bad(self) -> int:
        """How often it was judged wrong or not helpful."""
        return self.counts["not_helpful"] + self.counts["wrong_clause"]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "target": self.target,
            "doc_id": self.doc_id,
            "counts": {v: self.counts[v] for v in VERDICTS},
            "queries": self.queries,
            "right_clauses": dict(self.right.most_common()),
        }


class FeedbackStore:
    """The feedback of one user data folder."""

    def __init__(self, where: Path | PostgresPlace) -> None:
        self.db = open_store(where, USER_DATA_FILE, _SCHEMA, _POSTGRES_SCHEMA, what="feedback")

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def add(
        self,
        user: str,
        query: str,
        passage_id: str,
        doc_id: str,
        clause_id: str | None,
        verdict: str,
        right_clause: str | None = None,
        note: str = "",
    ) -> int:
        """Record one judgment; its id."""
        if verdict not in VERDICTS:
            raise QueryError(f"unknown verdict {verdict!r}; valid: {', '.join(VERDICTS)}")
        query = " ".join(query.split())
        if not query or len(query) > MAX_QUERY:
            raise QueryError(f"the query judged must have 1 to {MAX_QUERY} characters")
        if len(note) > MAX_NOTE:
            raise QueryError(f"the note is longer than {MAX_NOTE} characters")
        if right_clause and verdict != "wrong_clause":
            raise QueryError("a right clause goes with the verdict wrong_clause only")
        with self.db.write() as db:
            ((feedback_id,),) = db.execute(
                f"INSERT INTO feedback ({_COLUMNS.partition(', ')[2]}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING feedback_id",
                (now(), user, query, passage_id, doc_id, clause_id, verdict, right_clause, note),
            ).fetchall()
        return int(feedback_id)

    def entries(self, user: str | None = None) -> list[Feedback]:
        """Every judgment (of `user` only, when given), newest first."""
        sql = f"SELECT {_COLUMNS} FROM feedback"
        args: tuple = ()
        if user is not None:
            sql += ' WHERE "user" = ?'
            args = (user,)
        rows = self.db.fetchall(sql + " ORDER BY at DESC, feedback_id DESC", args)
        return [Feedback(*row) for row in rows]

    def purge(self, before: str) -> int:
        """Delete judgments made before `before` (an ISO timestamp); how many went."""
        with self.db.write() as db:
            return db.execute("DELETE FROM feedback WHERE at < ?", (before,)).rowcount


def hotspots(entries: list[Feedback], limit_queries: int = 5) -> list[Hotspot]:
    """Clauses and documents by how often they were judged wrong or not helpful (most
    first), with the queries that led there."""
    found: dict[str, Hotspot] = {}
    for e in entries:  # newest first
        spot = found.setdefault(e.target, Hotspot(e.target, e.doc_id))
        spot.counts[e.verdict] += 1
        wrong = e.verdict != "helpful"
        if wrong and e.query not in spot.queries and len(spot.queries) < limit_queries:
            spot.queries.append(e.query)
        if e.right_clause:
            spot.right[e.right_clause] += 1
    spots = [s for s in found.values() if s.bad]
    spots.sort(key=lambda s: (-s.bad, s.counts["helpful"], s.target))
    return spots


def judgments(entries: list[Feedback]) -> tuple[list[dict[str, str]], list[tuple[str, str, int]]]:
    """Feedback as a BEIR data set: (queries, qrels rows (query id, clause or doc id, score)).
    Helpful: the clause counts (1); a right clause named: it counts (1) and the one shown
    does not (0); not helpful: the clause shown does not (0). The newest judgment of a
    (query, clause) pair wins."""
    ids: dict[str, str] = {}
    scores: dict[tuple[str, str], int] = {}
    for e in reversed(entries):  # oldest first, so newer judgments overwrite
        qid = ids.setdefault(e.query.casefold(), f"fb-{len(ids) + 1}")
        if e.verdict == "helpful":
            scores[(qid, e.target)] = 1
        else:
            scores[(qid, e.target)] = 0
            if e.right_clause:
                scores[(qid, e.right_clause)] = 1
    texts: dict[str, str] = {}  # as the newest judgment wrote the question
    for e in entries:
        texts.setdefault(ids[e.query.casefold()], e.query)
    queries = [{"_id": qid, "text": texts[qid]} for qid in ids.values()]
    rows = sorted((q, target, s) for (q, target), s in scores.items())
    return queries, rows


def write_beir(folder: Path, entries: list[Feedback]) -> tuple[int, int]:
    """Write feedback as `queries.jsonl` and `qrels/test.tsv` into `folder` (what `kb eval`
    reads); (queries, judgments) written."""
    queries, rows = judgments(entries)
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, target, score in rows:
            f.write(f"{qid}\t{target}\t{score}\n")
    return len(queries), len(rows)
