"""Zipped exports (.zip): a Confluence space or page export, a Google Docs "Web page (.html,
zipped)" download, a Notion export, or any folder of sources zipped up, ingested without
unpacking it first.

Each entry is read by the parser its suffix names (Markdown, HTML, Word, text, rulings), as
if the archive were a folder: its id comes from its path inside the archive, and a
`NAME.meta.yaml` entry beside it sets its metadata, as a sidecar file does. Attachments and
other entries no parser reads (images, stylesheets) are left alone, as are hidden entries
and macOS's `__MACOSX` folder. Notion's exports end every file name with a 32-character hex
id ("Impaired streaming 1f2e...9a.md"): it is left out of the ids.

Nothing is extracted to disk. An archive that is corrupt or encrypted, holds more than
MAX_ENTRIES entries, or would inflate beyond MAX_INFLATED bytes or MAX_RATIO times an
entry's packed size (a zip bomb), is refused whole with an error naming it; an entry whose
name would escape the archive's folder (`../x`, `/etc/x`), a link, or an archive inside the
archive is an error naming the archive and the entry, and is not read.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

from kb.errors import ParseError
from kb.ingest.base import Parser, ParseResult, Source
from kb.ingest.metadata import normalize_metadata, overlay, slugify

MAX_INFLATED = 256 * 1024 * 1024
MAX_RATIO = 200
MAX_ENTRIES = 10_000
SIDECAR = ".meta.yaml"
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
    """One entry's bytes (its size was checked by `checked_zip`)."""
    try:
        return package.read(name)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
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
    entries = {}
    for info in package.infolist():
        name = info.filename
        path = PurePosixPath(name)
        shown = f"{where}/{name}"
        if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in path.parts[0]:
            result.errors.append(ParseError(shown, "entry escapes the archive's folder; not read"))
            continue
        if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in path.parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            result.errors.append(ParseError(shown, "entry is a link; not read"))
            continue
        if path.suffix.lower() == ".zip":
            result.errors.append(ParseError(shown, "an archive inside the archive; not read"))
            continue
        entries[name] = info
    for name in sorted(entries):
        path = PurePosixPath(name)
        if name.endswith(SIDECAR) or path.name.startswith("~$"):
            continue
        parse_entry = parser_for(name)
        if parse_entry is None:
            continue  # an attachment, an image, a stylesheet
        shown = f"{where}/{name}"
        try:
            meta = dict(source.meta)
            sidecar = str(path.with_name(path.stem + SIDECAR))
            if sidecar in entries:
                meta = overlay(_sidecar(package, sidecar, f"{where}/{sidecar}"), meta)
            raw = read_entry(package, name, shown)
            if not raw.strip():
                raise ParseError(shown, "file is empty")
            entry = Source(
                path=shown, text="", default_id=entry_id(name), meta=meta, language=source.language
            )
            if path.suffix.lower() in binary:
                entry.raw = raw
            else:
                try:
                    entry.text = raw.decode("utf-8").removeprefix("\ufeff")
                except UnicodeDecodeError as exc:
                    raise ParseError(shown, f"invalid UTF-8 at offset {exc.start}") from None
                entry.text = entry.text.replace("\r\n", "\n").replace("\r", "\n")
            found = parse_entry(entry)
        except ParseError as exc:
            result.errors.append(exc)
            continue
        result.documents.extend(found.documents)
        result.errors.extend(found.errors)
    return result


def _sidecar(package: zipfile.ZipFile, name: str, shown: str) -> dict:
    from kb.ingest.markdown import MAX_FRONT_MATTER_BYTES, load_mapping

    raw = read_entry(package, name, shown)
    if len(raw) > MAX_FRONT_MATTER_BYTES:
        raise ParseError(shown, f"over the {MAX_FRONT_MATTER_BYTES // 1024} KiB limit")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ParseError(shown, f"invalid UTF-8 at offset {exc.start}") from None
    return normalize_metadata(load_mapping(text, shown, first_line=1), shown)
