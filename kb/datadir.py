"""The data directory: index generations built beside the live one and swapped in atomically.

Layout::

    DATA_DIR/
      CURRENT                  name of the live generation (replaced atomically)
      ingest.lock              held by the one ingest allowed at a time
      generations/gen-000007/  catalog.sqlite, manifest.json, keyword/, dense/
      cache/                   content-addressed caches shared by generations (embeddings)

A generation is complete once CURRENT names it; folders of interrupted ingests are removed by
the next ingest, including one killed after writing its manifest but before moving CURRENT.
Readers resolve CURRENT once and keep using that generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from kb.errors import IndexNotBuiltError, IngestLockedError, StorageError
from kb.layout import Generation
from kb.manifest import Manifest
from kb.storage import fix, problem

_PREFIX = "gen-"


class DataDir:
    """Access to one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.generations = self.root / "generations"
        self.cache = self.root / "cache"

    def current_name(self) -> str | None:
        """Name of the live generation, or None when nothing was built yet."""
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def current(self) -> Path:
        """Folder of the live generation; IndexNotBuiltError when there is none."""
        name = self.current_name()
        if name is None or not (self.generations / name).is_dir():
            raise IndexNotBuiltError(
                f"no index in {self.root}: run `kb --data-dir {self.root} ingest PATH` first"
            )
        return self.generations / name

    def manifest(self, generation: Path | None = None) -> Manifest:
        """The manifest of a generation (the live one by default), checked."""
        return Manifest.load(Generation(generation or self.current()).manifest)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the ingest lock; IngestLockedError if another ingest has it, StorageError if
        the data dir cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / "ingest.lock", "a+")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            found = problem(exc)
            if found is None:
                raise
            raise StorageError(
                f"cannot ingest into {self.root}: it {found}; {fix(found)} (searching and "
                "serving a read-only data dir work)"
            ) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestLockedError(
                    f"another ingest is running on {self.root}; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def begin(self) -> Path:
        """Create the folder of the next generation, seeded with a copy of the live catalog.

        Call with the lock held. Leftovers of interrupted ingests are removed first: folders
        without a manifest, and any newer than the live generation, which never were live
        (each commit makes the newest generation live) or were rolled back from by hand.
        """
        self.generations.mkdir(parents=True, exist_ok=True)
        live = self.current_name()
        live_number = -1 if live is None else _number(live)
        for child in self.generations.iterdir():
            if child.name != live and (
                not Generation(child).manifest.is_file() or _number(child.name) > live_number
            ):
                shutil.rmtree(child, ignore_errors=True)
        numbers = [_number(c.name) for c in self.generations.iterdir()]
        name = f"{_PREFIX}{max([0, *numbers]) + 1:06d}"
        new = self.generations / name
        new.mkdir()
        try:
            if live is not None and Generation(self.generations / live).catalog.is_file():
                with (
                    contextlib.closing(
                        sqlite3.connect(Generation(self.generations / live).catalog)
                    ) as src,
                    contextlib.closing(sqlite3.connect(Generation(new).catalog)) as dst,
                ):
                    src.backup(dst)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        return new

    def commit(self, generation: Path, manifest: Manifest, keep: int) -> None:
        """Write the manifest, make `generation` live atomically, prune old generations."""
        write_atomic(Generation(generation).manifest, manifest.to_json())
        _fsync_dir(generation)
        write_atomic(self.root / "CURRENT", generation.name + "\n")
        _fsync_dir(self.root)
        complete = sorted(
            (c for c in self.generations.iterdir() if Generation(c).manifest.is_file()),
            key=lambda c: _number(c.name),
        )
        for old in complete[:-keep]:
            if old.name != generation.name:
                shutil.rmtree(old, ignore_errors=True)

    def abandon(self, generation: Path) -> None:
        """Remove a generation that will not be committed; never the live one (an error after
        `CURRENT` moved, say in pruning, must not delete what is now serving)."""
        if generation.name == self.current_name():
            return
        shutil.rmtree(generation, ignore_errors=True)


def _number(name: str) -> int:
    try:
        return int(name.removeprefix(_PREFIX))
    except ValueError:
        return 0


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it, synced, then renamed: a
    reader sees the old file or the new one, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
