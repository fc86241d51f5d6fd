"""A data dir on read-only media (built elsewhere, then mounted read-only): search, stats and
reading collections work; whatever would write fails with one clear line and no traceback.

The media are made read-only for real (see the `read_only` fixture): root ignores file modes.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from kb.collections import Collections
from kb.datadir import DataDir
from kb.search.hybrid import Searcher
from kb.users import Users

QUERY = "streamer hands a lit sparkler to a toddler while chat cheers"


@pytest.fixture(scope="module")
def shipped(corpus_settings, tmp_path_factory):
    """The sample corpus's live generation copied into a fresh data dir, with a trainers'
    collection as user data (in WAL mode, like a server leaves it), but no audit log or
    session key yet."""
    root = tmp_path_factory.mktemp("shipped") / "index"
    live = DataDir(corpus_settings.data_dir).current()
    shutil.copytree(live, root / "generations" / live.name)
    (root / "CURRENT").write_text(live.name + "\n")
    settings = corpus_settings.replace(data_dir=root)
    searcher = Searcher(settings)
    passage = searcher.search(QUERY, k=1, mode="keyword").results[0].passage.passage_id
    Users(root).close()  # puts userdata.sqlite in WAL mode
    store = Collections(root)
    store.create("Week 1", "Fire basics")
    store.add("Week 1", passage, searcher.catalog, "the rule")
    store.close()
    searcher.close()
    assert not (root / "userdata.sqlite-wal").exists()  # checkpointed and closed cleanly
    return settings


def kb(read_only, settings, *args: str, env: dict | None = None, input: str | None = None):
    """`kb --data-dir DATA ARGS` with the data dir and the caches read-only."""
    argv = [sys.executable, "-m", "kb.cli", "--data-dir", str(settings.data_dir), *args]
    paths = [Path(settings.data_dir), settings.cache_path()]
    return read_only.run(argv, paths, env={**os.environ, **(env or {})}, input=input)


def one_line_error(result, *fragments: str) -> str:
    """The error message of a command that must fail cleanly: exit 1, one line on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_search_stats_and_collections_read_a_read_only_data_dir(read_only, shipped):
    stats = kb(read_only, shipped, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    for mode in ("hybrid", "keyword", "dense"):
        found = kb(read_only, shipped, "search", QUERY, "--mode", mode, "-k", "3", "--json")
        assert found.returncode == 0, found.stderr
        assert '"results": [{' in found.stdout
    teaching = kb(read_only, shipped, "search", "gift", "--filter", "teaching_example=true")
    assert teaching.returncode == 0, teaching.stderr
    listed = kb(read_only, shipped, "collection", "list")
    assert listed.returncode == 0 and "Week 1 (1 items)" in listed.stdout, listed.stderr
    exported = kb(read_only, shipped, "collection", "export", "Week 1")
    assert exported.returncode == 0 and "the rule" in exported.stdout, exported.stderr


def test_writes_to_a_read_only_data_dir_fail_with_one_line(read_only, shipped, src):
    root = str(shipped.data_dir)
    (src / "a.md").write_text("---\nid: a\ntitle: A\n---\n# A\n\nSome text to index.\n")
    one_line_error(kb(read_only, shipped, "ingest", str(src)), root, "read-only")
    one_line_error(
        kb(read_only, shipped, "collection", "create", "Week 2"),
        root,
        "read-only",
        "KB_USER_DATA_DIR",
    )
    one_line_error(kb(read_only, shipped, "teaching", "ESC-1010"), root, "read-only")
    one_line_error(
        kb(
            read_only,
            shipped,
            "users",
            "add",
            "ann",
            "--role",
            "admin",
            "--password-stdin",
            input="a long enough password\n",
        ),
        root,
        "read-only",
    )
    assert sorted(p.name for p in shipped.data_dir.iterdir()) == [
        "CURRENT",
        "generations",
        "userdata.sqlite",
    ]
