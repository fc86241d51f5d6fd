"""Ingest while serving: searches answer from the live generation while the next one is built,
switch to it once it is complete, and never see a half-built or broken generation."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time

import pytest

from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.live import MIRRORED
from kb.search import build
from kb.search.postgres import set_live
from kb.web import create_app
from kb.web.state import CHECK_SECONDS, kb

from ..conftest import CORPUS
from ..ingest.test_pipeline import policy

QUERY = "can a host under 18 go live and receive gifts"
WORD = "zyxorbital"  # in no shipped document: found only once the new generation serves
NEW_DOC = policy(
    id="hot-swap",
    title="Orbital props",
    text=f"A host who swings a {WORD} prop at viewers on stream gets a warning.",
)
WAIT = 15.0  # seconds a process may take to notice and load a new generation


@pytest.fixture(params=["embedded", "postgres"])
def live(request, settings, src):
    """Two shipped policies ingested into a tmp data dir that keeps one generation only, so
    the generation being served is deleted as soon as the next one is live; with the indexes
    in files, and in PostgreSQL."""
    settings = settings.replace(keep_generations=1)
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")("hot_swap")
        # Each test's generations in schemas of their own.
        prefix = "t" + hashlib.sha1(request.node.name.encode()).hexdigest()[:12]
        settings = settings.replace(backend="postgres", database_url=url, database_schema=prefix)
    for name in ("minors-on-live.md", "animal-welfare.md"):
        shutil.copy(CORPUS / "policies" / name, src / name)
    report = ingest(settings, [src])
    assert report.errors == [] and report.generation
    return settings


@pytest.fixture
def paused(monkeypatch):
    """Make the next ingest stop after building its indexes, before it commits: `built` is set
    then, and it goes on (or fails, if `fail` is set) once `release` is set."""
    original = build.build_indexes
    events = {name: threading.Event() for name in ("built", "release", "fail")}

    def build_then_wait(*args, **kwargs):
        extra = original(*args, **kwargs)
        events["built"].set()
        assert events["release"].wait(60), "the test never released the ingest"
        if events["fail"].is_set():
            raise RuntimeError("ingest interrupted by the test")
        return extra

    monkeypatch.setattr(build, "build_indexes", build_then_wait)
    return events


def _in_thread(settings, src) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = ingest(settings, [src])
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="test-ingest")
    thread.start()
    return thread, outcome


def _search(client, query: str, mode: str = "hybrid") -> list[str]:
    r = client.get("/api/search", query_string={"q": query, "mode": mode, "k": 10})
    assert r.status_code == 200, r.get_data(as_text=True)
    return [hit["passage_id"] for hit in r.get_json()["results"]]


def _word_docs(client) -> set[str]:
    r = client.get("/api/search", query_string={"q": WORD, "mode": "keyword"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return {hit["document_id"] for hit in r.get_json()["results"]}


def _served(client) -> str:
    r = client.get("/api/health")
    assert r.status_code == 200
    return r.get_json()["generation"]


def _wait_for(client, generation: str) -> None:
    started = time.monotonic()
    while _served(client) != generation:
        assert time.monotonic() - started < WAIT, f"{generation} not served after {WAIT}s"
        time.sleep(0.05)


def test_searches_answer_from_the_old_generation_until_the_new_one_is_live(
    live, write, src, paused
):
    app = create_app(live, testing=True)
    client = app.test_client()
    datadir = DataDir(live.data_dir)
    old = _served(client)
    before = _search(client, QUERY)
    assert before and _word_docs(client) == set()
    encoder = app.extensions["kb"].searcher.encoder

    write("orbital.md", NEW_DOC)
    thread, outcome = _in_thread(live, src)
    samples = []  # (CURRENT when the request started, results, documents with WORD)
    paused_since = None
    while thread.is_alive():
        current = datadir.current_name()
        samples.append((current, _search(client, QUERY), _word_docs(client)))
        if paused["built"].is_set() and paused_since is None:
            paused_since = time.monotonic()
        if paused_since and time.monotonic() - paused_since > 3 * CHECK_SECONDS:
            paused["release"].set()  # the half-built generation had its chance to leak
    thread.join()
    assert "error" not in outcome, outcome.get("error")
    new = outcome["report"].generation
    assert new != old and datadir.current_name() == new

    during = [s for s in samples if s[0] == old]
    assert len(during) >= 10, "too few searches overlapped the ingest to prove anything"
    assert all(results == before and docs == set() for _, results, docs in during)
    assert not (datadir.generations / old).exists()  # pruned: keep_generations=1

    _wait_for(client, new)
    assert _word_docs(client) == {"hot-swap"}
    health = client.get("/api/health").get_json()
    assert health["generation"] == new and health["passages"] > 0
    assert app.extensions["kb"].searcher.encoder is encoder  # the model was not loaded again


def test_a_half_built_generation_is_never_served(live, write, src, paused):
    client = create_app(live, testing=True).test_client()
    datadir = DataDir(live.data_dir)
    old = _served(client)

    write("orbital.md", NEW_DOC)
    thread, outcome = _in_thread(live, src)
    assert paused["built"].wait(60)
    building = [g for g in datadir.generations.iterdir() if g.name != old]
    assert len(building) == 1 and (building[0] / "passage_ids.txt").is_file()  # indexes written...
    assert not (building[0] / "manifest.json").exists()  # ...but not committed
    deadline = time.monotonic() + 3 * CHECK_SECONDS
    while time.monotonic() < deadline:
        assert _served(client) == old and _word_docs(client) == set()
        time.sleep(0.05)

    paused["fail"].set()
    paused["release"].set()
    thread.join()
    assert isinstance(outcome.get("error"), RuntimeError)
    assert not building[0].exists() and datadir.current_name() == old
    time.sleep(2 * CHECK_SECONDS)
    assert _served(client) == old and _word_docs(client) == set()


def test_a_generation_that_cannot_be_loaded_leaves_the_old_one_serving(live, caplog):
    client = create_app(live, testing=True).test_client()
    datadir = DataDir(live.data_dir)
    old = _served(client)
    before = _search(client, QUERY)

    # A generation made live that this server cannot read (another keyword backend).
    broken = datadir.generations / "gen-000009"
    shutil.copytree(datadir.generations / old, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["keyword"]["backend"] = "whoosh"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    (live.data_dir / "CURRENT").write_text(broken.name + "\n")
    if live.backend == "postgres":  # where app servers look
        set_live(live.database_url, live.database_schema, broken.name)

    deadline = time.monotonic() + WAIT
    while "cannot load generation gen-000009" not in caplog.text:
        assert time.monotonic() < deadline, "the broken generation was never tried"
        assert _served(client) == old and _search(client, QUERY) == before
        time.sleep(0.05)
    assert _served(client) == old and _search(client, QUERY) == before


def test_a_request_keeps_its_generation_through_a_switch_and_a_prune(live, write, src):
    app = create_app(live, testing=True)
    client = app.test_client()
    datadir = DataDir(live.data_dir)
    old = _served(client)
    before = _search(client, QUERY)

    with app.test_request_context("/api/search"):
        state = kb()
        held = state.searcher
        write("orbital.md", NEW_DOC)
        new = ingest(live, [src]).generation
        assert not (datadir.generations / old).exists()
        _wait_for(client, new)  # other requests moved on...
        assert _word_docs(client) == {"hot-swap"}
        # ...this one still reads the deleted generation: every file was opened at load.
        assert state.searcher is held and held.generation.name == old
        assert held.search(WORD, mode="keyword").results == []
        for mode in ("keyword", "dense", "hybrid"):
            assert held.search(QUERY, mode=mode).results
        assert [h.passage.passage_id for h in held.search(QUERY).results] == before
        assert held.catalog.stats()["documents"] == 2
        assert state.answerer.searcher is held and state.answerer.answer(QUERY).sources


@pytest.mark.parametrize("live", ["postgres"], indirect=True)
def test_a_server_with_only_the_database_copies_and_follows_the_live_generation(
    live, write, src, tmp_path
):
    """Under backend=postgres an app server needs no copy of the data dir: it copies the live
    generation's files from the database into its own, answers as the ingest's server does,
    follows the next ingest without a restart and keeps only `keep_generations` copies."""
    elsewhere = live.replace(data_dir=tmp_path / "elsewhere")
    here = create_app(live, testing=True).test_client()
    there = create_app(elsewhere, testing=True).test_client()
    old = _served(here)
    assert _served(there) == old and _search(there, QUERY) == _search(here, QUERY)
    copied = DataDir(elsewhere.data_dir).generations / old
    assert (copied / MIRRORED).is_file() and not (copied / "catalog.sqlite").exists()
    assert not (copied / "keyword").exists()

    write("orbital.md", NEW_DOC)
    new = ingest(live, [src]).generation
    _wait_for(there, new)
    assert _word_docs(there) == {"hot-swap"}
    assert _search(there, QUERY) == _search(here, QUERY)
    kept = sorted(g.name for g in DataDir(elsewhere.data_dir).generations.iterdir())
    assert kept == [new]  # keep_generations=1: the first copy is gone
