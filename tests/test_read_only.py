"""A data dir on read-only media (built elsewhere, then mounted read-only): search, stats and
reading collections work; whatever would write fails with one clear line and no traceback.

The media are made read-only for real (see the `read_only` fixture): root ignores file modes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from kb.audit import AuditLog
from kb.catalog import Catalog
from kb.collections import Collections
from kb.config import Settings
from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.search.hybrid import Searcher
from kb.storage import DENIED, READ_ONLY
from kb.users import Users
from kb.web.openapi import spec

from .conftest import CORPUS

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


def kb(read_only, settings, *args: str, env=None, input=None, own=()):
    """`kb --data-dir DATA ARGS` with the data dir and the caches read-only (the folders `own`
    readable and writable)."""
    argv = [sys.executable, "-m", "kb.cli", "--data-dir", str(settings.data_dir), *args]
    paths = [Path(settings.data_dir), settings.cache_path()]
    env = {**os.environ, **(env or {})}
    return read_only.run(argv, paths, list(own), env=env, input=input)


def reason(read_only) -> str:
    """How errors describe the way `read_only` makes folders read-only."""
    return READ_ONLY if read_only.how == "mount" else DENIED


def one_line_error(result, *fragments: str) -> str:
    """The error message of a command that must fail cleanly: exit 1, one line on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_search_stats_and_collections_read_a_read_only_data_dir(read_only, shipped, tmp_path):
    stats = kb(read_only, shipped, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    temp = tmp_path / "tmp"  # where the keyword index's lock files go
    for mode in ("hybrid", "keyword", "dense"):
        found = kb(
            read_only,
            shipped,
            *("search", QUERY, "--mode", mode, "-k", "3", "--json"),
            env={"TMPDIR": str(temp)},
            own=[temp],
        )
        assert found.returncode == 0, found.stderr
        assert '"results": [{' in found.stdout
    assert not list(temp.glob("kb-keyword-*"))  # and nothing left behind
    teaching = kb(read_only, shipped, "search", "gift", "--filter", "teaching_example=true")
    assert teaching.returncode == 0, teaching.stderr
    listed = kb(read_only, shipped, "collection", "list")
    assert listed.returncode == 0 and "Week 1 (1 items)" in listed.stdout, listed.stderr
    exported = kb(read_only, shipped, "collection", "export", "Week 1")
    assert exported.returncode == 0 and "the rule" in exported.stdout, exported.stderr


def test_writes_to_a_read_only_data_dir_fail_with_one_line(read_only, shipped, src):
    root, why = str(shipped.data_dir), reason(read_only)
    (src / "a.md").write_text("---\nid: a\ntitle: A\n---\n# A\n\nSome text to index.\n")
    one_line_error(kb(read_only, shipped, "ingest", str(src), own=[src]), root, why)
    one_line_error(
        kb(read_only, shipped, "collection", "create", "Week 2"),
        root,
        why,
        "KB_USER_DATA_DIR",
    )
    one_line_error(kb(read_only, shipped, "teaching", "ESC-1010"), root, why)
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
        why,
    )
    assert sorted(p.name for p in shipped.data_dir.iterdir()) == [
        "CURRENT",
        "generations",
        "userdata.sqlite",
    ]


# Runs in a subprocess with the data dir read-only: the app in the mode the environment sets,
# each request's status and a few facts of its answer, as JSON.
APP = """
import json, sys
from kb.config import Settings
from kb.web import create_app

try:
    app = create_app(Settings.load(data_dir=sys.argv[1]), testing=True)
except Exception as exc:
    print(json.dumps({"create_app": f"{type(exc).__name__}: {exc}"}))
    sys.exit(0)
client = app.test_client()
headers = {"Authorization": "Bearer " + sys.argv[2]} if len(sys.argv) > 2 else {}
query = {"q": sys.argv[3] if len(sys.argv) > 3 else "gifts"}
out = {}
for name, method, url, kwargs in [
    ("search", "get", "/api/search", {"query_string": query}),
    ("answer", "get", "/api/answer", {"query_string": query}),
    ("page", "get", "/", {"query_string": query}),
    ("document", "get", "/api/documents/minors-on-live", {}),
    ("ruling", "get", "/documents/ESC-1010", {}),
    ("health", "get", "/api/health", {}),
    ("collections", "get", "/api/collections", {}),
    ("export", "get", "/api/collections/Week 1/export", {}),
    ("audit", "get", "/api/audit", {}),
    ("users", "get", "/admin/users", {}),
    ("create", "post", "/api/collections", {"json": {"name": "Week 2"}}),
    ("teaching", "put", "/api/rulings/ESC-1010/teaching", {"json": {"teaching_example": True}}),
]:
    r = getattr(client, method)(url, headers=headers, **kwargs)
    body = r.get_json(silent=True)
    out[name] = [r.status_code, body if name in ("create", "teaching", "collections") else None]
    if name == "search":
        out[name][1] = len(body["results"])
    if name == "answer":
        out[name][1] = body["answered"]
    if name == "audit" and r.status_code == 200:
        out[name][1] = len(body["events"])
print(json.dumps(out))
"""


def serve(read_only, settings, *args: str, env=None, own=()) -> dict:
    """APP's findings on the read-only data dir (`args`: API token, query)."""
    argv = [sys.executable, "-c", APP, str(settings.data_dir), *args]
    paths = [Path(settings.data_dir), settings.cache_path()]
    done = read_only.run(argv, paths, list(own), env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_local_mode_serves_a_read_only_data_dir_and_refuses_writes_clearly(read_only, shipped):
    found = serve(read_only, shipped, "", QUERY)
    assert found["search"][0] == 200 and found["search"][1] > 0
    assert found["answer"] == [200, True]
    for name in ("page", "document", "ruling", "health", "export", "users"):
        assert found[name][0] == 200, (name, found[name])
    assert found["collections"][0] == 200
    assert [c["name"] for c in found["collections"][1]["collections"]] == ["Week 1"]
    assert found["audit"] == [200, 0]  # nothing recorded: the audit log cannot be written
    paths = spec()["paths"]
    for name, (path, method) in {
        "create": ("/api/collections", "post"),
        "teaching": ("/api/rulings/{case_id}/teaching", "put"),
    }.items():
        status, body = found[name]
        assert status == 503 and body["error"]["code"] == "storage", found[name]
        assert "503" in paths[path][method]["responses"]  # documented
        message = body["error"]["message"]
        assert str(shipped.data_dir) in message and reason(read_only) in message
        assert "KB_USER_DATA_DIR" in message
    assert sorted(p.name for p in shipped.data_dir.iterdir()) == [
        "CURRENT",
        "generations",
        "userdata.sqlite",
    ]


def test_users_mode_needs_a_writable_user_data_dir(read_only, shipped, tmp_path):
    users = {"KB_AUTH": "users"}
    refused = serve(read_only, shipped, env=users)["create_app"]
    assert refused.startswith("ConfigError: KB_AUTH=users needs a writable folder")
    assert str(shipped.data_dir) in refused and "KB_USER_DATA_DIR" in refused
    one_line_error(kb(read_only, shipped, "serve", env=users), "KB_USER_DATA_DIR")

    userdata = tmp_path / "userdata"
    writable = {**users, "KB_USER_DATA_DIR": str(userdata)}
    added = kb(
        read_only,
        shipped,
        "users",
        "add",
        "ann",
        "--role",
        "policy",
        "--password-stdin",
        env=writable,
        input="a long enough password\n",
        own=[userdata],
    )
    assert added.returncode == 0, added.stderr
    token = kb(read_only, shipped, "users", "token", "ann", env=writable, own=[userdata])
    assert token.returncode == 0, token.stderr
    found = serve(read_only, shipped, token.stdout.strip(), QUERY, env=writable, own=[userdata])
    assert found["search"][0] == 200 and found["search"][1] > 0
    assert found["create"][0] == 201 and found["teaching"][0] == 200
    events = AuditLog(userdata).events(user="ann")
    assert {"search", "answer", "edit"} <= {e["action"] for e in events}
    assert not (shipped.data_dir / "audit.sqlite").exists()


def test_a_read_only_cache_without_vectors_or_model_export(read_only, shipped, tmp_path):
    # Only the model's ONNX export: the answer card embeds its sentences now, keeps them in
    # memory, and cannot store them.
    export_only = tmp_path / "export-only"
    export_only.mkdir()
    (export_only / "onnx").symlink_to(shipped.cache_path() / "onnx")
    settings = shipped.replace(cache_dir=str(export_only))
    found = serve(read_only, settings, "", QUERY, env={"KB_CACHE_DIR": str(export_only)})
    assert found["answer"] == [200, True] and found["search"][0] == 200
    assert list(export_only.iterdir()) == [export_only / "onnx"]

    # Nothing at all: dense search needs the model exported, which cannot be written here.
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = shipped.replace(cache_dir=str(empty))
    env = {"KB_CACHE_DIR": str(empty)}
    keyword = kb(read_only, settings, "search", QUERY, "--mode", "keyword", env=env)
    assert keyword.returncode == 0, keyword.stderr
    dense = kb(read_only, settings, "search", QUERY, "--mode", "dense", env=env)
    one_line_error(dense, str(empty / "onnx"), reason(read_only), "KB_CACHE_DIR")


def test_a_read_only_whoosh_index_is_searched_too(read_only, settings, src):
    settings = settings.replace(keyword_backend="whoosh", dense_index=False)
    for name in ("minors-on-live.md", "animal-welfare.md"):
        shutil.copy(CORPUS / "policies" / name, src / name)
    assert ingest(settings, [src]).errors == []
    env = {"KB_KEYWORD_BACKEND": "whoosh", "KB_DENSE_INDEX": "false"}
    found = kb(read_only, settings, "search", "minor gifts", "--mode", "keyword", env=env)
    assert found.returncode == 0 and "POLICY" in found.stdout, found.stderr


def test_catalogs_open_read_only_whatever_their_path_holds(tmp_path, src):
    # Read-only SQLite files are opened by URI, where "#", "?" and "%" mean something.
    settings = Settings.load(data_dir=tmp_path / "kb #1?mode=rw%20" / "index")
    shutil.copy(CORPUS / "policies" / "animal-welfare.md", src)
    assert ingest(settings.replace(dense_index=False), [src]).errors == []
    catalog = Catalog(DataDir(settings.data_dir).current() / "catalog.sqlite", readonly=True)
    assert catalog.stats()["documents"] == 1
    catalog.close()
