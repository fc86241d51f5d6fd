"""Finding source files (folders, `.kbignore`, manifests) and reading them safely."""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ParseError
from kb.ingest.base import SIDECAR, Source, decode, is_lock_file, json_lines, sidecar_name
from kb.ingest.metadata import normalize_metadata, overlay, slugify
from kb.ingest.registry import BINARY_SUFFIXES, parser_for

IGNORE_FILE = ".kbignore"
NOT_REGULAR = "not a regular file (a FIFO, device or socket); not read"


@dataclass
class SourceFile:
    """A file to ingest: where it is, how reports name it, and metadata from a manifest."""

    path: Path
    display: str
    default_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    parser: str | None = None  # a parser name overriding the suffix (e.g. "beir")

    @property
    def key(self) -> str:
        """Stable key of the file in the catalog (its resolved path)."""
        return str(self.path)


@dataclass
class Collected:
    """What `collect` found."""

    files: list[SourceFile] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    described: set[Path] = field(default_factory=set)  # sidecars of files added


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def collect(
    paths: list[Path], manifest: Path | None = None, *, allow_outside: bool = False
) -> Collected:
    """Files to ingest from PATHs (folders walked, `.kbignore` honoured) or from a manifest.

    With a manifest, exactly the files it lists are ingested (only those under PATHs when
    PATHs are given too). Every file must lie inside the folder being ingested (the
    manifest's folder for a manifest) once symlinks are resolved, unless `allow_outside`:
    a link to `/etc/passwd` in a corpus folder is reported, not ingested.
    """
    out = Collected()
    sidecars: list[Path] = []
    resolved = [Path(p).resolve() for p in paths]
    if manifest is not None:
        _from_manifest(Path(manifest).resolve(), resolved, out, allow_outside)
        return out
    for root in resolved:
        if not root.exists():
            out.errors.append(ParseError(str(root), "no such file or folder"))
            continue
        out.roots.append(root)
        if root.is_file():
            _add(root, root.parent, out, {})
            continue
        if not root.is_dir():
            out.errors.append(ParseError(display_path(root), NOT_REGULAR))
            continue
        ignore = _ignore_patterns(root)
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and not _ignored(rel_dir / d, ignore, is_dir=True)
            )
            for name in sorted(filenames):
                # Hidden files, and the lock files Word leaves beside an open document.
                if name.startswith(".") or is_lock_file(name):
                    continue
                if _ignored(rel_dir / name, ignore, is_dir=False):
                    continue
                path = Path(dirpath) / name
                if name.endswith(SIDECAR):
                    sidecars.append(path)
                elif allow_outside or _inside(path, [root], out):
                    _add(path, root, out, {})
    for path in sidecars:
        stem = path.name.removesuffix(SIDECAR)
        siblings = (p for p in path.parent.glob(glob.escape(stem) + ".*") if p != path)
        if path not in out.described and next(siblings, None) is None:
            # A misspelt sidecar would otherwise be ignored in silence, and with it whatever
            # it restricted.
            out.errors.append(
                ParseError(
                    display_path(path),
                    f"describes no file: a sidecar is named after the file it describes without"
                    f" its suffix (NAME{SIDECAR} for NAME.docx); not read",
                )
            )
    return out


def _add(
    path: Path, root: Path, out: Collected, meta: dict[str, Any], listed: Path | None = None
) -> None:
    """Add `path` (`listed` under that name, a link perhaps, in a manifest)."""
    if path.name.endswith(SIDECAR):
        return  # read with the file it describes
    if parser_for(path) is None:
        out.skipped.append(display_path(path))
        return
    beside = (listed or path).with_name(sidecar_name((listed or path).name))
    if os.path.lexists(beside):
        out.described.add(beside)
        try:
            # The manifest's entry wins, except that visibility only narrows.
            meta = overlay(_read_sidecar(beside, root), meta)
        except ParseError as exc:
            out.errors.append(exc)
            out.missing.add(str(path))  # not read now: what it stored before stays
            return
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    default_id = slugify(str(rel.with_suffix("")).replace(os.sep, "-"))
    out.files.append(
        SourceFile(path=path, display=display_path(path), default_id=default_id, meta=meta)
    )


def _read_sidecar(path: Path, root: Path) -> dict[str, Any]:
    """The metadata a sidecar file sets (kb.ingest.markdown.sidecar_metadata), when it is a
    regular file inside the folder read."""
    from kb.ingest.markdown import MAX_FRONT_MATTER_BYTES, sidecar_metadata

    shown = display_path(path)
    real = path.resolve()
    if not (real == root or real.is_relative_to(root)):
        raise ParseError(shown, f"resolves to {real}, outside {display_path(root)}; not read")
    raw = read_bounded(SourceFile(path=path, display=shown, default_id=""), MAX_FRONT_MATTER_BYTES)
    return sidecar_metadata(raw, shown)


def _inside(path: Path, roots: list[Path], out: Collected) -> bool:
    """True when `path`, symlinks resolved, lies inside one of `roots`; else reported."""
    real = path.resolve()
    if any(real == r or real.is_relative_to(r) for r in roots):
        return True
    out.errors.append(
        ParseError(
            display_path(path),
            f"resolves to {real}, outside {', '.join(map(display_path, roots))}; not ingested "
            "(kb ingest --allow-outside to read it anyway)",
        )
    )
    return False


def _from_manifest(manifest: Path, within: list[Path], out: Collected, allow_outside: bool) -> None:
    shown = display_path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.errors.append(ParseError(shown, f"cannot read manifest: {exc}"))
        return
    folder = manifest.parent
    out.roots.append(folder)
    for item in json_lines(text, shown):
        if isinstance(item, ParseError):
            out.errors.append(item)
            continue
        n, entry = item
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            out.errors.append(
                ParseError(shown, "each line needs a 'path' string", line=n, field="path")
            )
            continue
        listed = folder / entry.pop("path")
        path = listed.resolve()
        if within and not any(path == w or path.is_relative_to(w) for w in within):
            continue
        if not allow_outside and not _inside(listed, [folder], out):
            continue
        if not path.exists():
            out.errors.append(
                ParseError(
                    shown, f"listed file {display_path(path)} does not exist", line=n, field="path"
                )
            )
            out.missing.add(str(path))
            continue
        try:
            meta = normalize_metadata(entry, shown, line=n)
        except ParseError as exc:
            out.errors.append(exc)
            out.missing.add(str(path))
            continue
        _add(path, folder, out, meta, listed)


def _ignore_patterns(root: Path) -> list[str]:
    try:
        text = (root / IGNORE_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _ignored(rel: Path, patterns: list[str], *, is_dir: bool) -> bool:
    rel_s = rel.as_posix()
    for pat in patterns:
        if pat.endswith("/"):
            if is_dir and fnmatch.fnmatch(rel_s, pat.rstrip("/")):
                return True
        elif fnmatch.fnmatch(rel_s, pat) or fnmatch.fnmatch(rel.name, pat):
            return True
    return False


def read_bounded(file: SourceFile, max_bytes: int) -> bytes:
    """A regular file's bytes, read only up to the size limit.

    FIFOs, devices and sockets (or links to them, such as /dev/zero) are refused before
    anything is read, and opening never blocks; a file whose size or modification time changes
    while it is read is refused rather than stored truncated.
    """
    where = file.display
    try:
        fd = os.open(file.path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ParseError(where, f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise ParseError(where, NOT_REGULAR)
        if before.st_size > max_bytes:
            raise ParseError(where, _too_big(before.st_size, max_bytes))
        try:
            # Never ask for more than the file holds: read(n) allocates n bytes up front, and
            # the limit may be huge (kb eval lifts it for benchmark corpora).
            raw = f.read(min(max_bytes, before.st_size) + 1)
        except OSError as exc:
            raise ParseError(where, f"cannot read: {exc.strerror}") from None
        after = os.fstat(fd)
    if len(raw) > max_bytes:
        raise ParseError(where, _too_big(len(raw), max_bytes))
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(
        raw
    ) != after.st_size:
        raise ParseError(where, "changed while it was being read; ingest again once it is saved")
    return raw


def _too_big(size: int, max_bytes: int) -> str:
    return (
        f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit "
        "(setting max_file_mb)"
    )


def read_source(file: SourceFile, raw: bytes, max_bytes: int, language: str) -> Source:
    """Decode a file's bytes, rejecting empty, oversized, binary and non-UTF-8 content; the
    bytes as they are for binary formats (BINARY_SUFFIXES), whose parsers check them."""
    where = file.display
    if not raw.strip():
        raise ParseError(where, "file is empty")
    if len(raw) > max_bytes:
        raise ParseError(where, _too_big(len(raw), max_bytes))
    if file.parser is None and file.path.suffix.lower() in BINARY_SUFFIXES:
        return Source(
            path=where,
            text="",
            default_id=file.default_id,
            meta=dict(file.meta),
            language=language,
            raw=raw,
        )
    text = decode(raw, where)
    return Source(
        path=where, text=text, default_id=file.default_id, meta=dict(file.meta), language=language
    )
