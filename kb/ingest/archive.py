"""Zipped exports (.zip): a Confluence space or page export, a Google Docs "Web page (.html,
zipped)" download, a Notion export, or any folder of sources zipped up, ingested without
unpacking it first.

Each entry is read by the parser its suffix names (Markdown, HTML, Word, text, rulings), as
if the archive were a folder: its id comes from its path inside the archive, and a
`NAME.meta.yaml` entry beside it sets its metadata, as a sidecar file does. Attachments and
other entries no parser reads (images, stylesheets, archives within the archive) are left
alone, as are hidden entries, Word's lock files and macOS's `__MACOSX` folder. Notion's
exports end every file name with a 32-character hex id ("Impaired streaming 1f2e...9a.md"):
it is left out of the ids.

Nothing is extracted to disk. An archive that is corrupt or encrypted, holds more than
MAX_ENTRIES entries, or would inflate beyond MAX_INFLATED bytes or MAX_RATIO times an
entry's packed size (a zip bomb), is refused whole with an error naming it; an entry whose
name would escape the archive's folder (`../x`, `/etc/x`) or that is a link is an error
naming the archive and the entry, and is not read (nor is the entry a refused sidecar
describes); an entry inflating beyond MAX_ENTRY_BYTES or that does not inflate is an error
naming it.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

from kb.errors import ParseError
from kb.ingest.base import SIDECAR, Parser, ParseResult, Source, decode, is_lock_file, sidecar_name
from kb.ingest.markdown import sidecar_metadata
from kb.ingest.metadata import overlay, slugify

MAX_INFLATED = 256 * 1024 * 1024
MAX_RATIO = 200
MAX_ENTRIES = 10_000
# One entry read: parsers hold a few times its size (mammoth's XML tree some twenty times).
MAX_ENTRY_BYTES = 32 * 1024 * 1024
_NOTION_ID_RE = re.compile(r"\s+[0-9a-f]{32}$")


def checked_zip(
    raw: bytes, where: str, what: str = "not a readable zip archive"
) -> zipfile.ZipFile:
    """The zip in `raw`, once its directory says it is safe to inflate; ParseError otherwise
    (`what` says what a file that is no zip at all is not)."""
    try:
        package = zipfile.ZipFile(io.BytesIO(raw))
        infos = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseError(where, f"{what}: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise ParseError(where, f"{len(infos):,} zip entries, over the {MAX_ENTRIES:,} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_INFLATED:
        raise ParseError(
            where, f"would inflate to {total / 1e6:.0f} MB, over {MAX_INFLATED / 1e6:.0f} MB"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise ParseError(where, f"zip entry {info.filename!r} is encrypted")
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(1, info.compress_size):
            ratio = info.file_size // max(1, info.compress_size)
            raise ParseError(
                where, f"zip entry {info.filename!r} would inflate {ratio:,} times (a zip bomb?)"
            )
    return package


def read_entry(package: zipfile.ZipFile, name: str, where: str) -> bytes:
    """One entry's bytes, at most MAX_ENTRY_BYTES; ParseError when it is larger or does not
    inflate (damaged data, a method zipfile lacks such as Deflate64)."""
    try:
        size = package.getinfo(name).file_size
        if size > MAX_ENTRY_BYTES:
            raise ParseError(
                where,
                f"zip entry {name!r} inflates to {size / 1e6:.0f} MB, over "
                f"{MAX_ENTRY_BYTES / 1e6:.0f} MB",
            )
        return package.read(name)
    except ParseError:
        raise
    except Exception as exc:  # zlib.error, NotImplementedError, BadZipFile, EOFError, ...
        raise ParseError(where, f"zip entry {name!r} is damaged: {exc}") from None


def entry_id(name: str) -> str:
    """The default id of an entry: its path in the archive without suffix (and without a
    Notion export's hex id), slugified."""
    path = PurePosixPath(name)
    parts = [*path.parts[:-1], path.stem]
    return slugify("-".join(_NOTION_ID_RE.sub("", part) for part in parts))


def parse(
    source: Source, parser_for: Callable[[str], Parser | None], binary: frozenset[str]
) -> ParseResult:
    """Every readable entry of a zipped export: `parser_for(name)` gives each entry's parser
    (kb.ingest.registry, which hands itself in), `binary` the suffixes read as bytes."""
    where = source.path
    package = checked_zip(source.raw, where)
    result = ParseResult()
    entries, refused = {}, set()
    for info in package.infolist():
        name = info.filename
        path = PurePosixPath(name)
        shown = f"{where}/{name}"
        if not path.parts:
            continue
        if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in path.parts[0]:
            result.errors.append(ParseError(shown, "entry escapes the archive's folder; not read"))
            refused.add(name)
        elif stat.S_ISLNK(info.external_attr >> 16):
            result.errors.append(ParseError(shown, "entry is a link; not read"))
            refused.add(name)
        elif not (
            info.is_dir()
            or any(p.startswith(".") or p == "__MACOSX" for p in path.parts)
            or is_lock_file(path.name)
            or path.suffix.lower() == ".zip"  # an archive within (an attachment): not opened
        ):
            entries[name] = info
    for name in sorted(entries):
        path = PurePosixPath(name)
        parse_entry = parser_for(name)
        if name.endswith(SIDECAR) or parse_entry is None:
            continue  # a sidecar is read with its file; attachments, images, stylesheets
        shown = f"{where}/{name}"
        try:
            meta = dict(source.meta)
            sidecar = str(path.with_name(sidecar_name(path.name)))
            if sidecar in refused:
                raise ParseError(shown, f"its sidecar {sidecar!r} was refused; not read")
            if sidecar in entries:
                # The archive's manifest entry wins, except that visibility only narrows.
                meta = overlay(
                    sidecar_metadata(read_entry(package, sidecar, shown), f"{where}/{sidecar}"),
                    meta,
                )
            raw = read_entry(package, name, shown)
            entry = Source(
                path=shown, text="", default_id=entry_id(name), meta=meta, language=source.language
            )
            if path.suffix.lower() in binary:
                if not raw.strip():
                    raise ParseError(shown, "file is empty")
                entry.raw = raw
            else:
                entry.text = decode(raw, shown)
            found = parse_entry(entry)
        except ParseError as exc:
            result.errors.append(exc)
            continue
        result.documents.extend(found.documents)
        result.errors.extend(found.errors)
    return result
