"""backend=postgres on a real PostgreSQL with pgvector: what a generation's schema holds, the
HNSW graph against exact search with and without filters, leftovers of killed ingests, and
the errors a wrong database setting gives."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from kb.catalog import Catalog
from kb.config import Settings
from kb.datadir import DataDir
from kb.errors import ConfigError, NotFoundError
from kb.ingest.pipeline import ingest
from kb.search.dense import DenseIndex
from kb.search.hybrid import Searcher
from kb.search.postgres import PostgresError

from ..conftest import CORPUS

QUESTIONS = [
    "streamer drinking heavily and slurring, chat dares him to drive",
    "guy juggling real knives blindfolded",
    "someone in chat keeps posting a phone number of a guest",
    "13yo goin live asking for gifts",
    "host sells fake tickets to a meetup",
    "viewer threatens to find the streamer's house",
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory, postgres_database, shared_cache):
    """The sample corpus published with an HNSW graph (a low switch point)."""
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("pg-graph") / "index",
        backend="postgres",
        database_url=postgres_database("graph"),
        hnsw_threshold=500,
    )
    report = ingest(settings, [CORPUS])
    assert report.errors == []
    searcher = Searcher(settings)
    yield settings, searcher
    searcher.close()


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


def test_a_generation_is_published_whole_with_its_graph(graph):
    settings, searcher = graph
    manifest = searcher.manifest
    assert manifest.keyword.backend == "postgres" and manifest.dense.kind == "hnsw"
    assert manifest.postgres.schema == f"kb_{searcher.generation.name.replace('-', '_')}"
    assert not (searcher.generation / "keyword").exists()  # no local keyword index
    with psycopg.connect(settings.database_url) as conn:
        s = manifest.postgres.schema
        count = conn.execute(f'SELECT count(*) FROM "{s}".passages').fetchone()[0]
        vectors = conn.execute(f'SELECT count(*) FROM "{s}".vectors').fetchone()[0]
        methods = {
            r[0]
            for r in conn.execute(
                "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s",
                (s,),
            )
        }
    assert count == vectors == manifest.passages_indexed == len(searcher.ids)
    assert {"hnsw", "gin", "btree"} <= methods


def test_the_catalog_is_read_from_the_database_as_it_is_in_the_file(graph):
    """Documents, versions, passages and rulings are published with the generation, and the
    server reads them there: every query of the catalog gives what the file gives."""
    settings, searcher = graph
    assert searcher.manifest.postgres.catalog == searcher.manifest.postgres.schema + "_catalog"
    served = searcher.catalog
    assert type(served.db).__name__ == "PostgresCatalogDB"
    file = Catalog(searcher.generation / "catalog.sqlite", readonly=True)
    ids = searcher.ids
    try:
        for read in (
            lambda c: c.stats(),
            lambda c: c.corpus_hash(),
            lambda c: c.document_index(),
            lambda c: c.ruling_facts(),
            lambda c: c.clause_ids(),
            lambda c: sorted(tuple(r) for r in c.listing_rows()),
            lambda c: c.versions_in_force("2026-03-01"),
            lambda c: c.clause_text("LIVE-DNG-3.1", "2025-06-01"),
            lambda c: c.teaching_flags(),
            lambda c: c.current_versions("policy"),
            lambda c: list(c.iter_indexable()),
            lambda c: c.units(ids),
            lambda c: [c.passage(i) for i in ids[::50]],
        ):
            assert read(served) == read(file)
    finally:
        file.close()
    # A fuzzed id with NUL (which PostgreSQL's text refuses) is simply not there.
    with pytest.raises(NotFoundError):
        served.passage(ids[0] + "\x00")
    assert served.doc_type("LIVE-DNG\x00") is None
    # The rows are in the database, in the generation's catalog schema.
    with psycopg.connect(settings.database_url) as conn:
        titles = conn.execute(
            f'SELECT count(*) FROM "{searcher.manifest.postgres.catalog}".documents'
        ).fetchone()[0]
    assert titles == served.stats()["documents"] > 0


@pytest.mark.parametrize("filtered", [False, True])
def test_the_graph_finds_what_exact_search_finds(graph, filtered):
    """Recall@10 of pgvector's HNSW walk against exact inner products over the same vectors;
    the filter (rulings only, a fifth of the passages) is applied inside the walk."""
    _, searcher = graph
    exact = DenseIndex(searcher.generation / "dense", exact_limit=10**9)
    assert exact.kind == "flat"
    filters = searcher.parse_filters({"type": "ruling"} if filtered else {})
    mask = searcher.filters.mask(filters)
    found = wanted = 0
    for q in QUESTIONS:
        vector = searcher.query_vector(q)
        approx = [o for o, _ in searcher.dense.search(vector, mask, 10, filters)]
        truth = [o for o, _ in exact.search(vector, mask, 10)]
        assert all(mask[o] for o in approx)
        found += len(set(approx) & set(truth))
        wanted += len(truth)
    assert found / wanted >= 0.95


def test_scores_are_the_cosines_of_the_passages(graph):
    _, searcher = graph
    vector = searcher.query_vector(QUESTIONS[0])
    hits = searcher.dense.search(vector, None, 5)
    cosines = np.asarray(searcher.dense.vectors)[[o for o, _ in hits]] @ vector
    assert np.allclose([s for _, s in hits], cosines, atol=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_a_killed_ingests_schema_is_dropped_by_the_next(tmp_path, postgres_database, write):
    url = postgres_database("leftovers")
    settings = Settings.load(
        data_dir=tmp_path / "index", backend="postgres", database_url=url, keep_generations=1
    )
    write("a.md", "---\nid: a\ntitle: A\n---\n# A\n\n## One\n\nSparklers near children.\n")
    first = ingest(settings, [tmp_path / "src"]).generation
    # What an ingest killed while publishing leaves: a schema no generation on disk owns.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "kb_gen_000009"')
        conn.execute('CREATE TABLE "kb_gen_000009".passages (ordinal integer)')
        conn.execute('CREATE SCHEMA "kb_gen_000009_catalog"')
    searcher = Searcher(settings)
    assert searcher.generation.name == first and searcher.search("sparklers").results
    searcher.close()
    write("b.md", "---\nid: b\ntitle: B\n---\n# B\n\n## Two\n\nSpin wheels for coins.\n")
    second = ingest(settings, [tmp_path / "src"]).generation
    schemas = {s for s in _schemas(url) if s.startswith("kb_gen_")}
    # The leftover is gone; the replaced generation stays until the next publish (a server
    # may still be answering from it).
    kept = {f"kb_{first.replace('-', '_')}", f"kb_{second.replace('-', '_')}"}
    assert schemas == kept | {f"{k}_catalog" for k in kept}  # indexes and catalogs
    searcher = Searcher(settings)
    assert searcher.search("wheels", mode="keyword").results[0].passage.doc_id == "b"
    searcher.close()


def test_two_data_dirs_share_a_database_under_their_own_prefixes(
    tmp_path, postgres_database, write
):
    url = postgres_database("shared")
    write("a.md", "---\nid: a\ntitle: A\n---\n# A\n\n## One\n\nSparklers near children.\n")
    one = Settings.load(
        data_dir=tmp_path / "one", backend="postgres", database_url=url, database_schema="one"
    )
    two = one.replace(data_dir=tmp_path / "two", database_schema="two")
    ingest(one, [tmp_path / "src"])
    ingest(two, [tmp_path / "src"])
    assert {"one_gen_000001", "two_gen_000001"} <= _schemas(url)
    for settings in (one, two):
        searcher = Searcher(settings)
        assert searcher.search("sparklers", mode="keyword").results
        searcher.close()


def test_wrong_database_settings_are_clear_errors(tmp_path, write):
    with pytest.raises(ConfigError, match="needs database_url"):
        Settings.load(data_dir=tmp_path / "x", backend="postgres")
    with pytest.raises(ConfigError, match="unknown backend 'mysql'"):
        Settings.load(data_dir=tmp_path / "x", backend="mysql")
    with pytest.raises(ConfigError, match="database_schema"):
        Settings.load(data_dir=tmp_path / "x", database_schema='kb"; DROP')
    write("a.md", "---\nid: a\ntitle: A\n---\n# A\n\n## One\n\nSparklers near children.\n")
    nowhere = f"postgresql://postgres@/kb?host={tmp_path}/no-socket&connect_timeout=2"
    settings = Settings.load(data_dir=tmp_path / "index", backend="postgres", database_url=nowhere)
    with pytest.raises(PostgresError, match="cannot connect to PostgreSQL"):
        ingest(settings, [tmp_path / "src"])
    # libpq's words for an address it cannot parse quote the address, password and all.
    garbled = "postgresql://kb:s3cr%zzet@localhost/kb"
    settings = Settings.load(data_dir=tmp_path / "index", backend="postgres", database_url=garbled)
    with pytest.raises(PostgresError, match="not a valid PostgreSQL address") as caught:
        ingest(settings, [tmp_path / "src"])
    assert "s3cr" not in str(caught.value)


def test_a_generation_missing_from_the_database_is_a_clear_error(
    tmp_path, postgres_database, write
):
    url = postgres_database("missing")
    settings = Settings.load(data_dir=tmp_path / "index", backend="postgres", database_url=url)
    write("a.md", "---\nid: a\ntitle: A\n---\n# A\n\n## One\n\nSparklers near children.\n")
    ingest(settings, [tmp_path / "src"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('DROP SCHEMA "kb_gen_000001" CASCADE')
    with pytest.raises(PostgresError, match=r"never published.*no schema kb_gen_000001"):
        Searcher(settings)


def test_kb_serve_answers_from_postgresql(graph):
    """The real server (gunicorn, a worker of its own and its own connection pool)."""
    import contextlib
    import json
    import urllib.request

    from ..web.conftest import serve

    settings, _ = graph
    env = {"KB_BACKEND": "postgres", "KB_DATABASE_URL": settings.database_url}
    env["KB_HNSW_THRESHOLD"] = str(settings.hnsw_threshold)
    with contextlib.contextmanager(serve)(settings.data_dir, **env) as base:
        url = base + "/api/search?k=3&type=ruling&q=strmr+drunk+n+driving"
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
    assert body["results"] and all(h["document_id"].startswith("ESC-") for h in body["results"])
    assert body["results"][0]["scores"]["keyword_rank"] is not None


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_a_filter_value_with_nul_matches_nothing_and_is_no_error(graph, mode):
    """PostgreSQL's text holds no NUL (found by `make fuzz` as a 500): such a value is one no
    passage has."""
    from kb.search.filters import Filters

    _, searcher = graph
    narrow = Filters(terms={"platform": ["md0\x00x"]})
    assert searcher.search("sparklers near toddlers", mode=mode, filters=narrow).results == []
    either = Filters(terms={"type": ["policy", "po\x00licy"]})
    found = searcher.search("sparklers near toddlers", mode=mode, filters=either).results
    assert found and all(h.citation.doc_type == "policy" for h in found)


def test_a_generations_files_go_through_the_database_whole(
    tmp_path, postgres_database, monkeypatch
):
    """What an app server elsewhere copies: every file but the catalog and a keyword index,
    byte for byte, in parts; the manifest as given; nothing outside the folder it asked for."""
    from kb.search import postgres

    url = postgres_database("files")
    monkeypatch.setattr(postgres, "PART_BYTES", 1000)  # several parts per file
    generation = tmp_path / "gen-000003"
    (generation / "dense").mkdir(parents=True)
    (generation / "sentences").mkdir()
    files = {
        "passage_ids.txt": b"a\nb\n",
        "dense/vectors.npy": np.random.default_rng(7).bytes(4321),
        "sentences/owners.npy": b"",
        "units.npy": bytes(range(256)) * 5,
    }
    for name, data in files.items():
        (generation / name).write_bytes(data)
    for left_out in ("catalog.sqlite", "catalog.sqlite-wal", "manifest.json", "x.tmp.npy"):
        (generation / left_out).write_bytes(b"not copied")
    (generation / "keyword").mkdir()
    (generation / "keyword" / "meta.json").write_text("{}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "kb_gen_000003"')
    stored = postgres.publish_files(url, "kb", generation, '{"generation": "gen-000003"}')
    assert stored == sum(len(d) for d in files.values())
    assert postgres.live(url, "kb") is None  # stored, not live
    copy = tmp_path / "elsewhere" / "gen-000003"
    assert postgres.fetch_files(url, "kb", "gen-000003", copy) == stored + len(
        '{"generation": "gen-000003"}'
    )
    found = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    assert found == {*files, "manifest.json"}
    assert all((copy / name).read_bytes() == data for name, data in files.items())
    assert (copy / "manifest.json").read_text() == '{"generation": "gen-000003"}'

    postgres.set_live(url, "kb", "gen-000003")
    assert postgres.live(url, "kb") == "gen-000003" and postgres.live(url, "other") is None
    # A stored path leaving the folder is refused, not written.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO \"kb_gen_000003\".files VALUES ('../../escaped', 0, 'x'::bytea)")
    with pytest.raises(PostgresError, match="leaves it"):
        postgres.fetch_files(url, "kb", "gen-000003", tmp_path / "again" / "gen-000003")
    assert not (tmp_path / "escaped").exists()
    # A generation published before files were stored says what to do.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "kb_gen_000004"')
    with pytest.raises(PostgresError, match=r"no files in PostgreSQL.*ingest again"):
        postgres.fetch_files(url, "kb", "gen-000004", tmp_path / "old" / "gen-000004")
    assert not (tmp_path / "old" / "gen-000004").exists()


def test_a_server_with_an_empty_data_dir_searches_what_the_ingest_built(graph, tmp_path):
    from kb.live import MIRRORED, live_generation

    settings, searcher = graph
    elsewhere = settings.replace(data_dir=tmp_path / "elsewhere")
    copied = live_generation(elsewhere)
    assert copied.name == searcher.generation.name and (copied / MIRRORED).is_file()
    other = Searcher(elsewhere)
    try:
        for question in QUESTIONS:
            mine = [h.passage.passage_id for h in searcher.search(question).results]
            assert [h.passage.passage_id for h in other.search(question).results] == mine
    finally:
        other.close()
    inode = (copied / "passage_ids.txt").stat().st_ino
    assert live_generation(elsewhere) == copied  # copied once:
    assert (copied / "passage_ids.txt").stat().st_ino == inode


def test_a_kill_between_the_two_switches_is_repaired_by_the_next_ingest(
    tmp_path, postgres_database, write, monkeypatch
):
    """Killed after the data dir switched but before the database's pointer did: servers stay
    on the previous generation, whose schema the next publish keeps, and the next ingest
    (even one with nothing to do) points the database at the live generation."""
    from kb.search import postgres

    url = postgres_database("repoint")
    settings = Settings.load(
        data_dir=tmp_path / "index", backend="postgres", database_url=url, keep_generations=1
    )
    write("a.md", "---\nid: a\ntitle: A\n---\n# A\n\n## One\n\nSparklers near children.\n")
    first = ingest(settings, [tmp_path / "src"]).generation
    write("b.md", "---\nid: b\ntitle: B\n---\n# B\n\n## Two\n\nSpin wheels for coins.\n")

    def killed(*args):
        raise KeyboardInterrupt("killed before the pointer moved")

    monkeypatch.setattr(postgres, "set_live", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, [tmp_path / "src"])
    monkeypatch.undo()
    second = DataDir(settings.data_dir).current_name()
    assert second != first and postgres.live(url, "kb") == first
    assert f"kb_{first.replace('-', '_')}" in _schemas(url)  # still served elsewhere
    # Nothing changed since: the ingest only repairs the pointer.
    report = ingest(settings, [tmp_path / "src"])
    assert report.generation == second and postgres.live(url, "kb") == second
