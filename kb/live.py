"""Which generation is live, and where its files are, for a searcher or an app server.

With the embedded backend the data dir says (`CURRENT`, kb.datadir). Under backend=postgres
the database says: an ingest stores each generation's files in its schema and then points
`<database_schema>_live.generation` at it (kb.search.postgres), so an app server needs only
the database's address and a data dir of its own to copy generations into. A generation the
data dir already holds (the one the ingest built it in) is read in place; another is copied
once into `generations/<name>/` (marked MIRRORED; one worker copies while the others wait,
and the copy is on disk before it takes its name), and copies beyond `keep_generations` are
removed. A database with no pointer yet (generations published before it existed) falls
back to the data dir's `CURRENT`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from pathlib import Path

from kb.config import Settings
from kb.datadir import DataDir
from kb.errors import IndexNotBuiltError, StorageError
from kb.layout import Generation
from kb.storage import fix, problem

MIRRORED = "MIRRORED"


def live_name(settings: Settings) -> str | None:
    """The live generation's name, or None when nothing was built yet."""
    if settings.backend == "postgres":
        from kb.search.postgres import live

        name = live(settings.database_url, settings.database_schema)
        if name is not None:
            return name
    return DataDir(settings.data_dir).current_name()


def live_generation(settings: Settings) -> Path:
    """The live generation's folder (copied from the database first when needed)."""
    name = live_name(settings)
    if name is None:
        root = settings.data_dir
        raise IndexNotBuiltError(
            f"no index in {root}: run `kb --data-dir {root} ingest PATH` first"
        )
    return generation(settings, name)


def generation(settings: Settings, name: str) -> Path:
    """The folder of generation `name`: in the data dir, or copied there from the database."""
    datadir = DataDir(settings.data_dir)
    path = datadir.generations / name
    if Generation(path).manifest.is_file():
        return path
    if settings.backend != "postgres":
        return datadir.current()  # says what is missing
    return _mirror(settings, datadir, name)


def _mirror(settings: Settings, datadir: DataDir, name: str) -> Path:
    from kb.search.postgres import fetch_files

    path = datadir.generations / name
    partial = datadir.generations / f".{name}.{os.getpid()}.{time.monotonic_ns()}.partial"
    try:
        datadir.generations.mkdir(parents=True, exist_ok=True)
        # One copy at a time in a data dir: the other workers of a server wait for it.
        with open(datadir.root / "copy.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if Generation(path).manifest.is_file():
                return path
            fetch_files(settings.database_url, settings.database_schema, name, partial)
            (partial / MIRRORED).write_text("copied from the database\n")
            _sync(partial)  # on disk before it is named: a crash leaves no torn copy
            partial.rename(path)
            _sync_dir(datadir.generations)
    except OSError as exc:
        found = problem(exc)
        if found is None:
            raise
        raise StorageError(
            f"cannot copy generation {name} from the database into {datadir.root}: it "
            f"{found}; {fix(found)}"
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _prune(datadir, settings.keep_generations, name)
    return path


def _sync(folder: Path) -> None:
    """fsync every file and folder under `folder`."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            _sync_dir(path)
    _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(datadir: DataDir, keep: int, newest: str) -> None:
    """Remove copied generations beyond the newest `keep` (never `newest`), and leftovers of
    copies interrupted an hour ago or more (not another worker's copy under way)."""
    copies = sorted(
        (g for g in datadir.generations.iterdir() if (g / MIRRORED).is_file()),
        key=lambda g: g.name,
    )
    for old in copies[:-keep]:
        if old.name != newest:
            shutil.rmtree(old, ignore_errors=True)
    for left in datadir.generations.glob(".gen-*.partial"):
        with contextlib.suppress(OSError):
            if left.stat().st_mtime < time.time() - 3600:
                shutil.rmtree(left, ignore_errors=True)
