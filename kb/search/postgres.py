"""Keyword and dense search in PostgreSQL with pgvector (backend=postgres); the only module
importing psycopg.

Each generation is published to a schema of its own (`<database_schema>_gen_000012`) when the
ingest builds it, before the data dir makes it live; searchers open the schema of the
generation they load, so a switch is as atomic as the data dir's, and a killed ingest leaves
a schema no searcher opens (the next publish drops it).

- `filters`: one row per passage ordinal, with its filter terms (`type=policy`, ...) and
  effective dates; `passages`: a weighted `tsvector` of its fields (GIN: phrases and
  exclusions).
- `vectors`: the passage vectors (pgvector, an HNSW graph above `hnsw_threshold` or 5,000
  rows, whichever is fewer), with the filter terms and dates again, so that filters apply
  inside the graph walk.
- `postings`: BM25 as the embedded backend scores it (k1 1.2, b 0.75, per field, the field
  boosts applied), precomputed per (lexeme, passage) with the schema's text search
  configuration (PostgreSQL's parser, Snowball English stemming, stop words kept). A
  generation never changes once published, so its document frequencies stay true, and the
  table streams to replicas like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kb.errors import ConfigError, KBError
from kb.pgdb import CONNECT_SECONDS, InvalidAddress, connect, new_pool
from kb.search.dense import EF_SEARCH
from kb.search.filters import Filters
from kb.search.keyword.base import (
    _EXCLUDED_RE,
    _QUERY_SYNTAX_RE,
    COMMON_SHARE,
    STOP_WORDS,
    IndexedPassage,
    post_filtered,
    prepare,
)

try:  # an optional dependency: `pip install 'policy-kb[postgres]'`
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql
except ImportError:  # pragma: no cover - reported when backend=postgres is used
    psycopg = None

# The text search configuration each generation's schema holds (`<schema>.words`): the
# English parser and Snowball stemmer as the embedded backend analyses text, but with stop
# words kept (a query leaves out only those most passages hold, see without_stop_words) and
# hyphenated words indexed as their parts ("LIVE-DNG-3" as live, dng, 3).
WORDS = "words"
K1 = 1.2
B = 0.75
# Above this many rows the vectors get an HNSW graph whatever hnsw_threshold says: an exact
# scan in PostgreSQL costs about 0.8 µs a row (7.3 ms at 9,387 passages, bench_scale.py),
# some fifteen times FAISS's, so the graph pays off much sooner.
EXACT_ROWS = 5_000
_FIELD_PREFIX_RE = re.compile(r"(?<![^\s(+\-])(?:title|heading|text):")
_GENERATION_RE = re.compile(r"gen-\d{6}")
_WORD_RE = re.compile(r"[^\W_]+")


class PostgresError(KBError):
    """PostgreSQL cannot be reached or used."""


def _require() -> None:
    if psycopg is None:
        raise ConfigError(
            "backend=postgres needs psycopg, psycopg-pool and pgvector: "
            "pip install 'policy-kb[postgres]'"
        )


def schema_name(prefix: str, generation: str) -> str:
    """The schema a generation (`gen-000012`) is published to."""
    if not _GENERATION_RE.fullmatch(generation):
        raise ValueError(f"not a generation name: {generation!r}")
    return f"{prefix}_{generation.replace('-', '_')}"


def _connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection as kb.pgdb makes them (a bounded wait; an address that does not parse is
    named without being quoted), or PostgresError."""
    _require()
    try:
        return connect(url, **kwargs)
    except InvalidAddress as exc:
        raise PostgresError(f"cannot connect to PostgreSQL (database_url): {exc}") from None
    except psycopg.OperationalError as exc:
        raise PostgresError(f"cannot connect to PostgreSQL (database_url): {exc}") from exc


def _filter_sql(filters: Filters) -> tuple[sql.Composable, list]:
    """The filters as a condition on `p` (a passages row): AND of ORs of terms, date ranges;
    the same semantics as kb.search.filter_index."""
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list = []
    for alternatives in filters.clauses():
        # PostgreSQL's text holds no NUL, and no published term has one: such a value (a
        # fuzzed filter) matches nothing, as in the filter index.
        parts.append(sql.SQL("p.terms && %s::text[]"))
        params.append([a for a in alternatives if "\x00" not in a])
    for name, lo, hi in filters.ranges():
        column = sql.Identifier("p", name)
        if lo is not None:
            parts.append(sql.SQL("{} >= %s").format(column))
            params.append(lo)
        if hi is not None:
            parts.append(sql.SQL("{} <= %s").format(column))
            params.append(hi)
    return sql.SQL(" AND ").join(parts), params


def publish(
    url: str,
    prefix: str,
    generation: Path,
    rows: Iterable[IndexedPassage],
    vectors: np.ndarray | None,
    boosts: dict[str, float],
    hnsw_threshold: int,
) -> dict:
    """Write `generation`'s passages, postings and vectors to its schema (replacing a
    half-written one); drop the schemas of generations no longer in the data dir. Returns the
    manifest's record of it."""
    name = schema_name(prefix, generation.name)
    kept = {
        kind
        for g in generation.parent.iterdir()
        if g.is_dir() and _GENERATION_RE.fullmatch(g.name) and g != generation
        for kind in (schema_name(prefix, g.name), catalog_schema(schema_name(prefix, g.name)))
    }
    with _connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        pointed = _live(conn, prefix)
        if pointed is not None:  # servers may be on it, whatever this data dir still holds
            kept |= {schema_name(prefix, pointed), catalog_schema(schema_name(prefix, pointed))}
        stale = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                (prefix.replace("_", r"\_") + r"\_gen\_%",),
            )
            if r[0] not in kept
        ]
        for schema in stale:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        s = sql.Identifier(name)
        dim = 0 if vectors is None else int(vectors.shape[1])
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
            stem = sql.Identifier(name, "stem")
            config = sql.Identifier(name, WORDS)
            conn.execute(
                sql.SQL(
                    "CREATE TEXT SEARCH DICTIONARY {} (TEMPLATE = snowball, Language = english)"
                ).format(stem)
            )
            conn.execute(
                sql.SQL("CREATE TEXT SEARCH CONFIGURATION {} (COPY = english)").format(config)
            )
            conn.execute(
                sql.SQL(
                    "ALTER TEXT SEARCH CONFIGURATION {} ALTER MAPPING FOR "
                    "asciiword, word, hword_asciipart, hword_part WITH {}"
                ).format(config, stem)
            )
            conn.execute(
                sql.SQL(
                    "ALTER TEXT SEARCH CONFIGURATION {} "
                    "DROP MAPPING FOR asciihword, hword, numhword"
                ).format(config)
            )
            # The fields only while the words and postings are made of them: the tables a
            # search reads keep narrow rows (a filter join scans them).
            conn.execute(
                sql.SQL(
                    "CREATE UNLOGGED TABLE {}.texts "
                    "(ordinal integer, title text, heading text, body text)"
                ).format(s)
            )
            conn.execute(
                sql.SQL(
                    """CREATE TABLE {}.filters (
                        ordinal integer PRIMARY KEY,
                        terms text[] NOT NULL,
                        eff_from integer NOT NULL,
                        eff_to integer NOT NULL
                    )"""
                ).format(s)
            )
            kept: list[tuple[int, list[str], int, int]] = []
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {}.texts (ordinal, title, heading, body) FROM STDIN WITH (FORMAT BINARY)"
                ).format(s)
            ) as copy:
                copy.set_types(["int4", "text", "text", "text"])
                for r in rows:
                    copy.write_row([r.ordinal, *(_words(f) for f in (r.title, r.heading, r.text))])
                    terms = [t for t in r.terms if "\x00" not in t]  # (PostgreSQL refuses)
                    kept.append((r.ordinal, terms, r.eff_from, r.eff_to))
            with conn.cursor().copy(
                sql.SQL(
                    "COPY {}.filters (ordinal, terms, eff_from, eff_to) "
                    "FROM STDIN WITH (FORMAT BINARY)"
                ).format(s)
            ) as copy:
                copy.set_types(["int4", "text[]", "int4", "int4"])
                for row in kept:
                    copy.write_row(row)
            conn.execute(
                sql.SQL(
                    """CREATE TABLE {s}.passages AS SELECT ordinal,
                        setweight(to_tsvector({c}, title), 'C')
                        || setweight(to_tsvector({c}, heading), 'B')
                        || setweight(to_tsvector({c}, body), 'A') AS words
                    FROM {s}.texts"""
                ).format(s=s, c=_config(name))
            )
            conn.execute(sql.SQL("ALTER TABLE {}.passages ADD PRIMARY KEY (ordinal)").format(s))
            count = len(kept)
            _postings(conn, s, _config(name), boosts)
            conn.execute(sql.SQL("DROP TABLE {}.texts").format(s))
            conn.execute(sql.SQL("CREATE INDEX ON {}.passages USING gin (words)").format(s))
            conn.execute(sql.SQL("CREATE INDEX ON {}.filters USING gin (terms)").format(s))
            graph = bool(dim) and count > min(hnsw_threshold, EXACT_ROWS)
            if dim:
                _vectors(conn, s, kept, vectors, graph)
            del kept
            path = generation / "catalog.sqlite"  # (tests publish keyword indexes alone)
            catalog = _catalog(conn, catalog_schema(name), path) if path.is_file() else []
        for table in ("filters", "passages", "postings", *(["vectors"] if dim else [])):
            conn.execute(sql.SQL("VACUUM ANALYZE {}.{}").format(s, sql.Identifier(table)))
        for table in catalog:
            conn.execute(
                sql.SQL("ANALYZE {}.{}").format(
                    sql.Identifier(catalog_schema(name)), sql.Identifier(table)
                )
            )
    return {
        "schema": name,
        "passages": count,
        "dense": "hnsw" if graph else "exact",
        "catalog": catalog_schema(name) if catalog else "",
    }


def catalog_schema(schema: str) -> str:
    """The schema a generation's catalog tables are published to, beside its indexes' (whose
    `passages` table is another)."""
    return f"{schema}_catalog"


def _catalog(conn, schema: str, path: Path) -> list[str]:
    """Copy every table of the generation's catalog file, with its primary key and indexes,
    into `schema`, so that app servers read documents, versions, passages and rulings from
    the database: the same rows and column names, so the catalog's queries run on either.
    Text compares bytewise (COLLATE "C") as in SQLite; NUL, which PostgreSQL's text cannot
    hold, is dropped. Returns the tables."""
    import sqlite3

    from kb.storage import uri

    target = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(target))
    src = sqlite3.connect(uri(path, "mode=ro"), uri=True)
    try:
        tables = [
            t
            for (t,) in src.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite%' ORDER BY name"
            )
        ]
        for table in tables:
            info = src.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns = [sql.Identifier(c[1]) for c in info]
            kinds = ["bigint" if c[2].upper() == "INTEGER" else "text" for c in info]
            keys = [sql.Identifier(c[1]) for c in sorted(info, key=lambda c: c[5]) if c[5]]
            spec = [
                sql.SQL("{} {}").format(
                    column,
                    sql.SQL("bigint" if kind == "bigint" else 'text COLLATE "C"'),
                )
                for column, kind in zip(columns, kinds, strict=True)
            ]
            if keys:
                spec.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(keys)))
            name = sql.Identifier(schema, table)
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(", ").join(spec)))
            with conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(name, sql.SQL(", ").join(columns))
            ) as copy:
                for row in src.execute(f'SELECT * FROM "{table}"'):
                    copy.write_row(
                        [v.replace("\x00", "") if isinstance(v, str) else v for v in row]
                    )
        for (index,) in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ):
            table = src.execute(
                "SELECT tbl_name FROM sqlite_master WHERE name = ?", (index,)
            ).fetchone()[0]
            parts = [sql.Identifier(r[2]) for r in src.execute(f'PRAGMA index_info("{index}")')]
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(index),
                    sql.Identifier(schema, table),
                    sql.SQL(", ").join(parts),
                )
            )
    finally:
        src.close()
    return tables


def _vectors(conn, s: sql.Identifier, kept, vectors: np.ndarray, graph: bool) -> None:
    """The `vectors` table: each passage's vector with its filter columns again. Apart from
    the passages' text its rows stay small (a 384-dimension vector is 1.5 kB): kept beside
    the text they were moved out of line (TOAST) and an exact scan read three pages a row."""
    conn.execute(
        sql.SQL(
            """CREATE TABLE {}.vectors (
                ordinal integer PRIMARY KEY,
                terms text[] NOT NULL,
                eff_from integer NOT NULL,
                eff_to integer NOT NULL,
                embedding vector({}) NOT NULL
            )"""
        ).format(s, sql.Literal(int(vectors.shape[1])))
    )
    statement = sql.SQL(
        "COPY {}.vectors (ordinal, terms, eff_from, eff_to, embedding) "
        "FROM STDIN WITH (FORMAT BINARY)"
    ).format(s)
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["int4", "text[]", "int4", "int4", "vector"])
        for ordinal, terms, eff_from, eff_to in kept:
            copy.write_row([ordinal, terms, eff_from, eff_to, vectors[ordinal]])
    conn.execute(sql.SQL("CREATE INDEX ON {}.vectors USING gin (terms)").format(s))
    if graph:
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        conn.execute(
            sql.SQL(
                "CREATE INDEX ON {}.vectors USING hnsw (embedding vector_ip_ops) "
                "WITH (m = 16, ef_construction = 64)"
            ).format(s)
        )


def _words(text: str) -> str:
    """The text's words (runs of letters and digits) separated by spaces: what the embedded
    backend's tokenizer splits text into, so that "10:30", "LIVE-F-2.1" or "/10" are
    searched and indexed alike (PostgreSQL's parser would read them as times, versions,
    paths). It also leaves out NUL, which PostgreSQL's text cannot hold."""
    return " ".join(_WORD_RE.findall(text))


def _config(schema: str) -> sql.Composable:
    """The schema's text search configuration, as a regconfig literal."""
    return sql.SQL("{}::regconfig").format(sql.Literal(f"{schema}.{WORDS}"))


def _postings(conn, s: sql.Identifier, c: sql.Composable, boosts: dict[str, float]) -> None:
    """Fill `postings` with each (lexeme, passage)'s BM25 weight summed over the fields."""
    conn.execute(
        sql.SQL(
            """CREATE TABLE {s}.postings AS
            WITH fields AS (
                SELECT p.ordinal, f.field, f.boost, f.v
                FROM {s}.texts p, LATERAL (VALUES
                    ('title', {bt}::float8, to_tsvector({c}, p.title)),
                    ('heading', {bh}::float8, to_tsvector({c}, p.heading)),
                    ('text', {bx}::float8, to_tsvector({c}, p.body))) AS f(field, boost, v)
            ), terms AS (
                SELECT f.ordinal, f.field, f.boost, u.lexeme,
                       coalesce(array_length(u.positions, 1), 1) AS tf
                FROM fields f, LATERAL unnest(f.v) AS u
            ), lens AS (
                SELECT ordinal, field, sum(tf) AS len FROM terms GROUP BY ordinal, field
            ), avgs AS (
                SELECT field, avg(len) AS avglen FROM lens GROUP BY field
            ), df AS (
                SELECT field, lexeme, count(*) AS n FROM terms GROUP BY field, lexeme
            ), total AS (
                SELECT count(*)::float8 AS n FROM {s}.texts
            )
            SELECT t.lexeme, t.ordinal, sum(
                t.boost * ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5))
                * t.tf * ({k1} + 1)
                / (t.tf + {k1} * (1 - {b} + {b} * l.len / a.avglen)))::real AS weight
            FROM terms t
            JOIN lens l USING (ordinal, field)
            JOIN avgs a USING (field)
            JOIN df USING (field, lexeme)
            CROSS JOIN total
            GROUP BY t.lexeme, t.ordinal
            ORDER BY t.lexeme, t.ordinal"""
        ).format(
            s=s,
            c=c,
            bt=sql.Literal(boosts.get("title", 1.0)),
            bh=sql.Literal(boosts.get("heading", 1.0)),
            bx=sql.Literal(boosts.get("text", 1.0)),
            k1=sql.Literal(K1),
            b=sql.Literal(B),
        )
    )
    conn.execute(
        sql.SQL("CREATE INDEX ON {}.postings (lexeme) INCLUDE (ordinal, weight)").format(s)
    )


class PostgresIndexes:
    """One generation's schema, opened: a pool of connections its keyword and dense
    searches share."""

    def __init__(self, url: str, prefix: str, generation: Path, dim: int | None) -> None:
        _require()
        self.name = schema_name(prefix, generation.name)
        self.schema = sql.Identifier(self.name)
        self.config = _config(self.name)
        self.dim = dim

        catalog = sql.Identifier(catalog_schema(self.name))

        def configure(conn) -> None:
            # The catalog's queries name its tables bare (the indexes' queries name theirs).
            conn.execute(sql.SQL("SET search_path = {}, public").format(catalog))
            if dim:
                register_vector(conn)
                # Filters are applied inside the graph walk: it goes on until it has found
                # enough allowed rows (pgvector 0.8 iterative scans).
                conn.execute("SET hnsw.iterative_scan = relaxed_order")
                conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(EF_SEARCH)))
            conn.commit()

        # One connection first: a wrong address or a missing schema is told at once, in
        # libpq's words (the pool would retry for its whole timeout).
        with _connect(url) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.name,)
            ).fetchone()
        if found is None:
            raise PostgresError(
                f"generation {generation.name} was never published to PostgreSQL "
                f"(no schema {self.name}); ingest again with backend=postgres"
            )
        self.pool = new_pool(url, configure)
        try:
            self.pool.open(wait=True, timeout=CONNECT_SECONDS)
        except psycopg.Error as exc:
            self.pool.close()
            raise PostgresError(f"cannot connect to PostgreSQL (database_url): {exc}") from exc

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()

    def catalog(self) -> PostgresCatalogDB:
        """The generation's catalog tables, read with the catalog's own SQL (see
        `kb.catalog.Catalog.over`)."""
        return PostgresCatalogDB(self.pool)

    def keyword(self) -> PostgresKeyword:
        """The keyword search of this generation."""
        return PostgresKeyword(self)

    def dense(self, vectors: np.ndarray) -> PostgresDense:
        """The dense search of this generation (`vectors`: its passage vectors, read where
        other parts of the app look a passage's vector up)."""
        return PostgresDense(self, vectors)


class PostgresKeyword:
    """BM25 over the generation's postings, filters applied in the same query."""

    def __init__(self, indexes: PostgresIndexes) -> None:
        self.indexes = indexes
        # Stop words more than COMMON_SHARE of the passages hold: left out of plain queries.
        with indexes.pool.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    """SELECT o.lexeme FROM {s}.postings o WHERE o.lexeme = ANY(%s)
                    GROUP BY o.lexeme
                    HAVING count(*) > %s * (SELECT count(*) FROM {s}.filters)"""
                ).format(s=indexes.schema),
                (sorted(STOP_WORDS), COMMON_SHARE),
            ).fetchall()
        self.common = frozenset(r[0] for r in rows)

    def search(
        self, query: str, filters: Filters, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(ordinal, BM25 score) best first. Words marked with - or NOT are excluded; a query
        with quotes or AND/OR must match them as PostgreSQL's web search syntax reads them
        (it falls back to its plain words when nothing does); field prefixes are ignored."""
        query = _FIELD_PREFIX_RE.sub(" ", prepare(query))
        excluded = [_words(w) for w in _EXCLUDED_RE.findall(query)]
        positive = _EXCLUDED_RE.sub(" ", query)
        words = _words(re.sub(r"\b(?:AND|OR|NOT)\b", " ", positive))
        must = (
            positive
            if _QUERY_SYNTAX_RE.search(positive)
            and ('"' in positive or re.search(r"\b(?:AND|OR)\b", positive))
            else None
        )
        if must is not None:  # quotes and operators kept, other characters as in _words
            must = re.sub(r'[^\w\s"]|_', " ", must)
        excluded = [w for w in excluded if w]
        found = self._search(words, excluded, must, filters, limit, allowed)
        if not found and must is not None:
            found = self._search(words, excluded, None, filters, limit, allowed)
        return found

    def _search(self, words, excluded, must, filters, limit, allowed) -> list[tuple[int, float]]:
        # A broad filter after the search, as the Tantivy backend does: it spares joining
        # the filters table.
        found = post_filtered(allowed, limit, lambda n: self._rows(words, excluded, must, None, n))
        if found is not None:
            return found
        return self._rows(words, excluded, must, filters, limit)

    def _rows(self, words, excluded, must, filters, limit) -> list[tuple[int, float]]:
        """The best `limit` (ordinal, score); `filters` None: none applied."""
        s = self.indexes.schema
        where, params = _filter_sql(filters) if filters is not None else (sql.SQL("TRUE"), [])
        conditions = [where]
        if must is not None:
            conditions.append(
                sql.SQL("w.words @@ websearch_to_tsquery({}, %s)").format(self.indexes.config)
            )
            params.append(must)
        for word in excluded:
            conditions.append(
                sql.SQL("NOT w.words @@ plainto_tsquery({}, %s)").format(self.indexes.config)
            )
            params.append(word)
        words_join = (
            sql.SQL("JOIN {}.passages w USING (ordinal)").format(s)
            if must is not None or excluded
            else sql.SQL("")
        )
        statement = sql.SQL(
            """WITH q AS (
                SELECT array(SELECT lexeme FROM unnest(to_tsvector({c}, %s))) AS lexemes
            ), s AS (
                SELECT o.ordinal, sum(o.weight) AS score
                FROM {s}.postings o, q WHERE o.lexeme = ANY(q.lexemes)
                GROUP BY o.ordinal
            )
            SELECT s.ordinal, s.score FROM s {filters} {words}
            WHERE {where}
            ORDER BY s.score DESC, s.ordinal LIMIT %s"""
        ).format(
            c=self.indexes.config,
            s=s,
            filters=sql.SQL("JOIN {}.filters p USING (ordinal)").format(s)
            if filters is not None
            else sql.SQL(""),
            words=words_join,
            where=sql.SQL(" AND ").join(conditions),
        )
        with self.indexes.pool.connection() as conn:
            rows = conn.execute(statement, [words, *params, limit]).fetchall()
        return [(int(o), float(score)) for o, score in rows]

    def close(self) -> None:
        """Nothing of its own to release (the pool is the generation's)."""


class PostgresDense:
    """Inner-product search with pgvector, the filters inside the graph walk."""

    kind = "postgres"

    def __init__(self, indexes: PostgresIndexes, vectors: np.ndarray) -> None:
        self.indexes = indexes
        self.vectors = vectors
        self.dim = indexes.dim or 0

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self,
        query: np.ndarray,
        allowed: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """(ordinal, cosine) best first among the passages `filters` allow (`allowed`, the
        same filters' mask, is not used: the filters go into the query)."""
        if limit <= 0 or not len(self.vectors):
            return []
        where, params = _filter_sql(filters or Filters())
        # One distance expression, ordered by its name: written twice, it was computed twice.
        statement = sql.SQL(
            """SELECT p.ordinal, p.embedding <#> %s AS distance FROM {s}.vectors p
            WHERE {where} ORDER BY distance LIMIT %s"""
        ).format(s=self.indexes.schema, where=where)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        with self.indexes.pool.connection() as conn:
            rows = conn.execute(statement, [q, *params, limit]).fetchall()
        # <#> is the negative inner product. An iterative scan in relaxed order may hand a
        # row back a little out of order.
        rows.sort(key=lambda r: (r[1], r[0]))
        return [(int(o), -float(distance)) for o, distance in rows]


class CatalogRow(tuple):
    """A row as sqlite3.Row gives it: by position or by column name."""

    def __new__(cls, values, names: dict[str, int]) -> CatalogRow:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            key = self.names[key]
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        """The column names."""
        return list(self.names)


class _Rows(list):
    """A query's rows, read whole (as a sqlite3 cursor is used)."""

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


def _catalog_rows(cursor):
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: CatalogRow(values, names)


class PostgresCatalogDB:
    """What `Catalog` calls `db` (execute, close), on a generation's catalog schema through
    the generation's connection pool. Read-only: writes go to the catalog file at ingest."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def execute(self, statement: str, args=()) -> _Rows:
        from kb.pgdb import has_nul, paramstyle

        if has_nul(args):  # no published text holds NUL (dropped at publish)
            return _Rows()
        with self.pool.connection() as conn, conn.cursor(row_factory=_catalog_rows) as cur:
            cur.execute(paramstyle(statement), tuple(args))
            return _Rows(cur.fetchall() if cur.description else ())

    def close(self) -> None:
        """The pool is the generation's: closed with it."""


# -- Generation files and the live pointer -------------------------------------------------
# An app server needs more of a generation than the tables above: the passage ids, filter
# masks, unit numbers, vectors and the sentence and word-piece indexes are files. They are
# stored in the generation's schema too (table `files`, in parts), and the live generation's
# name in `<database_schema>_live.generation`, set in one statement once its files are in:
# a server with nothing but the database's address copies a generation's files into its own
# data dir the first time it loads it (`kb.live`), and follows the pointer from then on.
PART_BYTES = 8 << 20
# Not copied: the catalog (published as tables), the embedded backend's keyword index and
# what only the ingest reads (the files it checked against a generation).
_NOT_COPIED = re.compile(
    r"catalog\.sqlite.*|keyword(/.*)?|manifest\.json|checked-files\.json.*|.*\.tmp(\.npy)?"
)


def live_schema(prefix: str) -> str:
    """The schema of the live pointer."""
    return f"{prefix}_live"


def publish_files(url: str, prefix: str, generation: Path, manifest: str) -> int:
    """Store `generation`'s files (and its `manifest` text, not yet written beside them) in
    its schema, replacing any stored before; returns the bytes stored."""
    s = sql.Identifier(schema_name(prefix, generation.name))
    stored = 0
    with _connect(url) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.files").format(s))
        conn.execute(
            sql.SQL(
                'CREATE TABLE {}.files (path text COLLATE "C", part integer, data bytea NOT '
                "NULL, PRIMARY KEY (path, part))"
            ).format(s)
        )
        insert = sql.SQL("INSERT INTO {}.files (path, part, data) VALUES (%s, %s, %s)").format(s)
        conn.execute(insert, ("manifest.json", 0, manifest.encode()))
        for path in sorted(p for p in generation.rglob("*") if p.is_file()):
            name = path.relative_to(generation).as_posix()
            if _NOT_COPIED.fullmatch(name):
                continue
            with path.open("rb") as fh:
                part = 0
                while chunk := fh.read(PART_BYTES):
                    conn.execute(insert, (name, part, chunk))
                    stored += len(chunk)
                    part += 1
                if part == 0:
                    conn.execute(insert, (name, 0, b""))
        conn.commit()
    return stored


def set_live(url: str, prefix: str, name: str) -> None:
    """Make generation `name` (its schema and files published) the live one, in one
    statement."""
    schema_name(prefix, name)  # checks the name
    s = sql.Identifier(live_schema(prefix))
    with _connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.generation (one boolean PRIMARY KEY DEFAULT true "
                "CHECK (one), name text NOT NULL, switched_at timestamptz NOT NULL)"
            ).format(s)
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.generation (name, switched_at) VALUES (%s, now()) "
                "ON CONFLICT (one) DO UPDATE SET name = excluded.name, "
                "switched_at = excluded.switched_at"
            ).format(s),
            (name,),
        )


def live(url: str, prefix: str) -> str | None:
    """The live generation's name, or None when none was made live through the database."""
    with _connect(url, autocommit=True) as conn:
        return _live(conn, prefix)


def _live(conn, prefix: str) -> str | None:
    where = f'"{live_schema(prefix)}".generation'
    if conn.execute("SELECT to_regclass(%s)", (where,)).fetchone()[0] is None:
        return None
    found = conn.execute(
        sql.SQL("SELECT name FROM {}.generation").format(sql.Identifier(live_schema(prefix)))
    ).fetchone()
    if found is None or not _GENERATION_RE.fullmatch(found[0]):
        return None
    return found[0]


def has_files(url: str, prefix: str, name: str) -> bool:
    """Whether generation `name`'s files are stored (publish_files)."""
    with _connect(url, autocommit=True) as conn:
        where = f'"{schema_name(prefix, name)}".files'
        return conn.execute("SELECT to_regclass(%s)", (where,)).fetchone()[0] is not None


def fetch_files(url: str, prefix: str, name: str, target: Path) -> int:
    """Write generation `name`'s stored files into the folder `target` (which must not
    exist yet); returns the bytes written. PostgresError when the generation has no files
    stored (published before they were)."""
    s = schema_name(prefix, name)
    written = 0
    with _connect(url) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f'"{s}".files',)).fetchone()[0] is None:
            raise PostgresError(
                f"generation {name} has no files in PostgreSQL (schema {s}): ingest again "
                "with backend=postgres, or serve from the data dir it was built in"
            )
        target.mkdir(parents=True)
        with conn.cursor(name="kb_files") as cursor:  # server side: one part at a time
            cursor.itersize = 4
            cursor.execute(
                sql.SQL("SELECT path, data FROM {}.files ORDER BY path, part").format(
                    sql.Identifier(s)
                )
            )
            out, opened = None, None
            try:
                for path, data in cursor:
                    if path != opened:
                        if out is not None:
                            out.close()
                        dest = (target / path).resolve()
                        if not dest.is_relative_to(target.resolve()):
                            raise PostgresError(
                                f"generation {name}: a file path leaves it: {path!r}"
                            )
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        out, opened = dest.open("wb"), path
                    out.write(data)
                    written += len(data)
            finally:
                if out is not None:
                    out.close()
    return written
