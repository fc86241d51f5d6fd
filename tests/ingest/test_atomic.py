"""An ingest killed mid-run leaves the previous generation serving; the next one completes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from kb.config import Settings
from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.storage import FAILED, FULL, TOO_BIG
from kb.web import create_app
from kb.web.state import CHECK_SECONDS

from ..conftest import CORPUS
from .test_pipeline import policy

PARAGRAPH = (
    "A host who involves a viewer in a risky stunt is responsible for the outcome. "
    "Gift goals that reward danger count as encouragement, whatever chat says. "
) * 4


def _kb(settings, *args: str, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kb.cli", "--data-dir", str(settings.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=preexec_fn,
    )


def test_sigkill_mid_ingest_keeps_previous_generation(settings, write, src):
    write("first.md", policy(id="first"))
    done = _kb(settings, "ingest", str(src), "--json")
    assert done.returncode == 0, done.stderr
    datadir = DataDir(settings.data_dir)
    live = datadir.current_name()

    body = "\n\n".join(f"## LIVE-K-{i} Clause {i}\n\n{PARAGRAPH}" for i in range(40))
    for n in range(50):
        # Same title and text everywhere: slow to parse and chunk, but embedded only once
        # (the cache is by content), so the completing ingest stays quick.
        write(f"bulk/doc{n:03d}.md", f"---\nid: bulk-{n}\ntitle: Bulk\n---\n{body}\n")

    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.cli", "--data-dir", str(settings.data_dir), "ingest", str(src)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    partial = datadir.generations / "gen-000002"
    while not (partial / "catalog.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    assert proc.poll() is None, "ingest finished before it could be killed; make it bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert datadir.current_name() == live
    assert partial.exists()  # the half-built generation is still there...
    stats = _kb(settings, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["generation"] == live and data["documents"] == 1  # ...but never served

    again = _kb(settings, "ingest", str(src), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["added"] == 50 and report["errors"] == []
    assert datadir.current_name() == report["generation"] != live
    assert not partial.exists() or partial.name == report["generation"]
    assert json.loads(_kb(settings, "stats", "--json").stdout)["documents"] == 51


def test_a_generation_never_made_live_does_not_cost_the_live_one(settings, write, src):
    settings = settings.replace(keep_generations=2)
    write("first.md", policy(id="first"))
    live = ingest(settings, [src]).generation
    datadir = DataDir(settings.data_dir)

    # What an ingest killed between writing its manifest and moving CURRENT leaves behind:
    # a complete-looking generation that was never live.
    orphan = datadir.generations / "gen-000002"
    shutil.copytree(datadir.generations / live, orphan)
    manifest = json.loads((orphan / "manifest.json").read_text())
    (orphan / "manifest.json").write_text(json.dumps({**manifest, "generation": orphan.name}))
    assert datadir.current_name() == live

    write("second.md", policy(id="second", text="A zyxorbital prop gets a warning."))
    new = ingest(settings, [src]).generation
    assert datadir.current_name() == new
    # keep_generations=2: the live one and the one live before it, not the orphan.
    assert sorted(g.name for g in datadir.generations.iterdir()) == [live, new]

    write("third.md", policy(id="third"))
    newest = ingest(settings, [src]).generation
    assert sorted(g.name for g in datadir.generations.iterdir()) == [new, newest]
    stats = _kb(settings, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["generation"] == newest
    found = _kb(settings, "search", "zyxorbital", "--mode", "keyword", "--json")
    assert found.returncode == 0, found.stderr
    assert {r["document_id"] for r in json.loads(found.stdout)["results"]} == {"second"}


def test_abandoning_never_removes_the_live_generation(settings, write, src):
    """An error raised after CURRENT moved (in pruning, say) abandons the new generation:
    which is by then the live one, and must stay."""
    write("first.md", policy(id="first"))
    live = ingest(settings, [src]).generation
    datadir = DataDir(settings.data_dir)
    datadir.abandon(datadir.generations / live)
    assert (datadir.generations / live / "manifest.json").is_file()
    assert datadir.current() == datadir.generations / live


def _served(client) -> tuple[str, list[str]]:
    """The generation the app serves and the passages it finds for "zyxorbital"."""
    health = client.get("/api/health").get_json()
    found = client.get("/api/search", query_string={"q": "zyxorbital prop", "k": 5}).get_json()
    return health["generation"], [hit["passage_id"] for hit in found["results"]]


# Where the disk fills up with a tmpfs of this size (the generation's catalog, Tantivy, numpy).
@pytest.mark.parametrize(
    "size", [700 * 1024, 1100 * 1024, 1500 * 1024], ids=["catalog", "keyword", "vectors"]
)
def test_a_full_disk_stops_the_ingest_and_the_live_generation_keeps_serving(
    full_disk, write, src, size
):
    disk = full_disk(size, file_limit=256 * 1024)
    settings = Settings.load(data_dir=disk.folder / "index")
    write("first.md", policy(id="first", text="A zyxorbital prop gets a warning."))
    live = ingest(settings, [src]).generation
    client = create_app(settings, testing=True).test_client()
    before = _served(client)
    assert before[0] == live and before[1]
    for path in sorted((CORPUS / "policies").glob("*.md")):
        shutil.copy(path, src / path.name)

    stopped = _kb(settings, "ingest", str(src), preexec_fn=disk.limit)
    assert stopped.returncode == 1, stopped.stderr
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1, stopped.stderr
    assert lines[0].startswith(f"error: ingest stopped, nothing changed ({live} is still live): ")
    assert any(why in lines[0] for why in (FULL, TOO_BIG, FAILED)), lines[0]
    datadir = DataDir(settings.data_dir)
    assert datadir.current_name() == live
    assert [g.name for g in datadir.generations.iterdir()] == [live]  # its space given back
    time.sleep(2 * CHECK_SECONDS)
    assert _served(client) == before
    stats = _kb(settings, "stats", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["generation"] == live

    disk.grow(64 * 1024 * 1024)  # the sample policies' word-piece vectors take ~25 MB
    again = _kb(settings, "ingest", str(src), "--json")
    assert again.returncode == 0, again.stderr
    new = json.loads(again.stdout)["generation"]
    deadline = time.monotonic() + 15
    while _served(client)[0] != new:
        assert time.monotonic() < deadline, f"{new} not served"
        time.sleep(0.05)
