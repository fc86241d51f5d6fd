"""The ingest pipeline: collect, parse, chunk, store a new generation, index, swap it in."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kb.catalog import Catalog, now
from kb.config import Settings
from kb.datadir import DataDir, write_atomic
from kb.errors import IndexMismatchError, KBError, ParseError, StorageError
from kb.ingest.chunker import Chunker
from kb.ingest.registry import parser_for
from kb.ingest.sources import Collected, SourceFile, collect, read_bounded, read_source
from kb.ingest.tokens import TokenCounter
from kb.layout import Generation
from kb.manifest import FORMAT as MANIFEST_FORMAT
from kb.manifest import Manifest
from kb.progress import progress_bar
from kb.storage import fix, problem
from kb.types import DOC_TYPES, IngestReport, ParsedDocument

log = logging.getLogger(__name__)

# Bump when parsing or chunking changes what a file turns into, so unchanged files re-parse.
PARSER_VERSION = "6"


class _Run:
    """State of one ingest run."""

    def __init__(
        self,
        catalog: Catalog,
        chunker: Chunker,
        settings: Settings,
        checked: dict[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        # Parse keys of files an earlier run found rewritten but holding what the catalog
        # holds (that run changed nothing, so its catalog, with their new keys, was dropped).
        self.checked = checked or {}
        # This run's such files: file key -> parse key (kept if the run changes nothing).
        self.rechecked: dict[str, str] = {}
        self.shadowed = False  # the file being read holds a text another file holds too
        self.chunker = chunker
        self.settings = settings
        self.report = IngestReport()
        self.doc_status: dict[str, str] = {}
        self.touched: set[str] = set()
        self.versions_seen: set[int] = set()
        self.present: set[str] = set()  # display paths of every file in this run
        self.held: Counter[str] = Counter()  # doc id -> how often this run read it
        # Documents read holding a stored text that is not their newest (a reverted edit?):
        # doc id -> (document, that version, file key), settled once every file is read.
        self.put_back: dict[str, tuple[ParsedDocument, Any, str]] = {}
        self.dirty = False
        params = json.dumps(chunker.params.to_dict(), sort_keys=True)
        self.parse_salt = f"{PARSER_VERSION}\x00{params}"

    def mark(self, doc_id: str, status: str) -> None:
        rank = {"unchanged": 0, "updated": 1, "added": 2}
        if rank[status] >= rank.get(self.doc_status.get(doc_id, "unchanged"), -1):
            self.doc_status[doc_id] = status

    def process_file(self, file: SourceFile) -> None:
        cat, report = self.catalog, self.report
        report.files_seen += 1
        max_bytes = int(self.settings.max_file_mb * 1e6)
        try:
            raw = read_bounded(file, max_bytes)
        except ParseError as exc:
            report.errors.append(exc)
            return
        parse_key = hashlib.sha256(
            raw + self.parse_salt.encode() + json.dumps(file.meta, sort_keys=True).encode()
        ).hexdigest()
        previous = cat.source_file(file.key)
        if previous and parse_key in (previous[0], self.checked.get(file.key)):
            report.files_unchanged += 1
            for doc_id in previous[1]:
                self.mark(doc_id, "unchanged")
            if parse_key != previous[0]:  # checked by an earlier run: this catalog learns it
                cat.record_source_file(file.key, parse_key, previous[1])
            return
        errors_before = len(report.errors)
        self.shadowed = False
        try:
            source = read_source(file, raw, max_bytes, self.settings.default_language)
            result = parser_for(file.path, file.parser)(source)
        except ParseError as exc:
            report.errors.append(exc)
            return
        report.errors.extend(result.errors)
        doc_ids: list[str] = []
        for doc in result.documents:
            try:
                self.store(doc, file.key)
            except ParseError as exc:
                report.errors.append(exc)
                continue
            doc_ids.append(doc.doc_id)
        # Bad lines, or documents refused (a clash with another file's): the file is read
        # again by every ingest, so the error is reported until it is mended.
        clean = len(report.errors) == errors_before
        if not clean and previous:
            # A file with bad lines keeps the documents it held before: nothing stored is lost.
            doc_ids = sorted(set(doc_ids) | set(previous[1]))
        cat.record_source_file(file.key, parse_key if clean else "", doc_ids)
        self.dirty = self.dirty or previous is None or previous[1] != doc_ids
        # Not a file whose text another file already holds: its own metadata was set aside
        # for that file's, and must be read again once that file is gone.
        if clean and not self.shadowed:
            self.rechecked[file.key] = parse_key

    def store(self, doc: ParsedDocument, file_key: str) -> None:
        cat = self.catalog
        if doc.doc_type not in DOC_TYPES:
            raise ParseError(
                doc.source_path,
                f"{doc.doc_type!r} is not one of {', '.join(DOC_TYPES)}",
                line=doc.source_line,
                field="type",
            )
        if not doc.sections:
            raise ParseError(doc.source_path, "no text to index", line=doc.source_line)
        content_hash = hashlib.sha256(doc.body.encode()).hexdigest()
        effective_from = doc.metadata.get("effective_from")
        stored = cat.document(doc.doc_id) if cat.has_document(doc.doc_id) else None
        if stored is not None:
            self._check_conflicts(doc, stored, content_hash)
        existing = cat.find_version(doc.doc_id, content_hash, effective_from)
        self.held[doc.doc_id] += 1
        if existing is not None:
            if existing.version_id in self.versions_seen or (
                existing.source_path != doc.source_path and existing.source_path in self.present
            ):
                # The same text twice (an archive's copy of its newest version): stored once,
                # the first file's metadata kept, but never the wider of two visibilities.
                self._same_text_twice(doc, existing)
                self.shadowed = True
                self.mark(doc.doc_id, "unchanged")
            elif cat.update_version_metadata(existing.version_id, doc):
                self.mark(doc.doc_id, "updated")
                self.touched.add(doc.doc_id)
            else:
                self.mark(doc.doc_id, "unchanged")
            self.versions_seen.add(existing.version_id)
            if stored is not None and _superseded(existing, stored):
                self.put_back[doc.doc_id] = (doc, existing, file_key)
        else:
            self.versions_seen.add(self._add_version(doc, content_hash))
            self.mark(doc.doc_id, "added" if stored is None else "updated")
        if cat.set_removed(doc.doc_id, False):
            self.mark(doc.doc_id, "updated")
            self.touched.add(doc.doc_id)

    def _add_version(self, doc: ParsedDocument, content_hash: str) -> int:
        """Store `doc` as a new version. A text stored before (put back after an edit) gets
        passage ids of its own; the earlier version and its citations stay as they were."""
        effective_from = doc.metadata.get("effective_from")
        key = f"{content_hash}\x00{effective_from or ''}"
        again = self.catalog.count_versions(doc.doc_id, content_hash, effective_from)
        passages = self.chunker.chunk(doc, key + (f"\x00{again}" if again else ""))
        version_id = self.catalog.add_version(doc, content_hash, passages)
        self.report.versions_added += 1
        self.report.passages_added += len(passages)
        self.touched.add(doc.doc_id)
        return version_id

    def _read_again(self, key: str) -> None:
        """Record no parse key for file `key`: the next ingest reads it again."""
        recorded = self.catalog.source_file(key)
        if recorded is not None:
            self.catalog.record_source_file(key, "", recorded[1])
        self.rechecked.pop(key, None)

    def settle_put_back(self) -> None:
        """A document whose one source file now holds a text stored before, superseded since
        (a reverted edit), serves that text again, as the file says. Decided once every file
        is read: only when no other file holds the document (not an archive's copy of an
        earlier version, nor a file outside this run; the report says so) and the file holds
        it once.
        - The superseding version has the same effective date (or none): the text is stored
          again as the newest version.
        - It starts later: its date keeps it in force (status follows effective dates); the
          report says how to put the text back, and if the file now says restricted, that
          version is restricted too (fails closed) until the file holds it again."""
        cat = self.catalog
        for doc_id, (doc, existing, key) in sorted(self.put_back.items()):
            if doc.metadata.get("declared_status") == "draft":
                continue
            holders = cat.holders(doc_id)
            if key not in holders:
                continue
            stored = cat.document(doc_id)
            day = existing.effective_from or ""
            same_day = _newest([v for v in stored.versions if (v.effective_from or "") == day])
            replaced = same_day is not None and same_day.version_id != existing.version_id
            if self.held[doc_id] != 1 or holders != [key]:
                rival = same_day if replaced else _newest(stored.versions)
                if rival is None or rival.version_id == existing.version_id:
                    continue
                if rival.source_path != doc.source_path:
                    continue  # an archive's older version, or replaced by another file's text
                # This file's own edit, put back while another file holds the document: the
                # file is read again by the next ingest, to decide once the other file goes.
                self._read_again(key)
                if day and self.held[doc_id] == 1 and replaced:
                    self.report.notices.append(
                        f"{doc.source_path}: {doc_id!r} holds an earlier text effective {day} "
                        f"again, but {len(holders) - 1} other file(s) hold this document too, "
                        "so the version that replaced it stays: give the text a later "
                        "effective_from to put it back in force"
                    )
                continue
            if replaced:
                content_hash = existing.content_hash
                existing = cat.version(self._add_version(doc, content_hash))
                self.mark(doc_id, "updated")
                stored = cat.document(doc_id)
            newest = _newest(stored.versions)
            if newest is None or newest.version_id == existing.version_id:
                continue
            notice = (
                f"{doc.source_path}: {doc_id!r} holds its text effective {day or '(undated)'} "
                f"again; the version effective {newest.effective_from} stays in force (status "
                "follows effective dates): give the restored text a later effective_from to "
                "put it back in force"
            )
            mine = doc.metadata.get("visibility", "all")
            if mine != "all" and newest.metadata.get("visibility", "all") == "all":
                cat.narrow_visibility(newest.version_id, mine)
                self.touched.add(doc_id)
                self.dirty = True
                notice += f"; until then it is treated as {mine!r}, as the file now says"
            self.report.notices.append(notice)

    def _check_conflicts(self, doc: ParsedDocument, stored, content_hash: str) -> None:
        """Refuse a document that would silently merge with another file's: an id already used
        by a document of another type, or other text for the same effective date."""
        others = [v for v in stored.versions if v.source_path != doc.source_path]
        if stored.doc_type != doc.doc_type:
            where = f" in {others[0].source_path}" if others else ""
            raise ParseError(
                doc.source_path,
                f"id {doc.doc_id!r} is already a {stored.doc_type}{where}; a {doc.doc_type} "
                "needs an id of its own",
                line=doc.source_line,
                field="case_id" if doc.doc_type == "ruling" else "id",
            )
        date = doc.metadata.get("effective_from")
        if not date or doc.metadata.get("declared_status") == "draft":
            return
        for v in others:
            if (
                v.effective_from == date
                and v.content_hash != content_hash
                and v.source_path in self.present
                and v.metadata.get("declared_status") != "draft"
            ):
                raise self._clash(
                    doc,
                    v,
                    f"{doc.doc_id!r} effective {date} is also in {v.source_path} with other "
                    "text; two versions cannot start on one day (change one effective_from)",
                    "effective_from",
                )

    def _same_text_twice(self, doc: ParsedDocument, existing) -> None:
        """A second file with a stored version's text and date: refused if it disagrees about
        visibility."""
        mine = doc.metadata.get("visibility", "all")
        theirs = existing.metadata.get("visibility", "all")
        if mine != theirs:
            raise self._clash(
                doc,
                existing,
                f"{doc.doc_id!r} effective {doc.metadata.get('effective_from') or '(undated)'} "
                f"has the same text as {existing.source_path} but visibility {mine!r}, not "
                f"{theirs!r}",
                "visibility",
            )

    def _clash(self, doc: ParsedDocument, stored, reason: str, field: str) -> ParseError:
        """The error for a file refused because `stored` (another file's version) holds its
        place. Fails closed: if the refused file is restricted and the stored one is not, the
        stored one becomes restricted too until the files agree."""
        mine = doc.metadata.get("visibility", "all")
        if mine != "all" and stored.metadata.get("visibility", "all") == "all":
            self.catalog.narrow_visibility(stored.version_id, mine)
            self.touched.add(doc.doc_id)
            self.dirty = True
            reason += f"; {stored.source_path} is treated as {mine!r} until they agree"
        return ParseError(doc.source_path, reason, line=doc.source_line, field=field)

    def detect_removed(self, files: list[SourceFile], roots: list[Path], failed: set[str]) -> None:
        """Documents whose source file disappeared (or no longer holds them) leave the index."""
        cat = self.catalog
        scanned = {f.key for f in files}
        candidates: set[str] = set()
        for path, ids in cat.source_files().items():
            if path in scanned or path in failed:
                continue
            if any(path == str(r) or Path(path).is_relative_to(r) for r in roots):
                candidates.update(ids)
                cat.forget_source_file(path)
                self.dirty = True
        for doc_id in sorted(candidates - set(self.doc_status)):
            if cat.set_removed(doc_id, True):
                self.report.removed_ids.append(doc_id)


def ingest(
    settings: Settings,
    paths: list[Path],
    manifest: Path | None = None,
    *,
    progress: bool = False,
    found: Collected | None = None,
    allow_outside: bool = False,
) -> IngestReport:
    """Ingest PATHs (or a manifest's files, or files already `found`) into a new generation
    and make it live. Files that resolve outside the folders being ingested are refused
    unless `allow_outside`. A full or read-only disk raises StorageError and changes nothing."""
    started = time.perf_counter()
    datadir = DataDir(settings.data_dir)
    found = found or collect(paths, manifest, allow_outside=allow_outside)
    with datadir.lock():
        live = datadir.current_name()
        generation = None
        try:
            generation = datadir.begin()
            report = _ingest_into(generation, datadir, settings, found, progress)
        except BaseException as exc:
            if generation is not None:
                datadir.abandon(generation)
            if isinstance(exc, Exception):
                _stopped_by_storage(exc, generation or datadir.generations, live)
            raise
    report.seconds = time.perf_counter() - started
    return report


def _checked_files(generation: Path) -> dict[str, str]:
    """The files an earlier ingest found rewritten but unchanged against `generation`'s
    catalog: file key -> parse key ({} when none, or the record is unreadable)."""
    try:
        found = json.loads(Generation(generation).checked_files.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str) and v}


def _remember_checked(generation: Path, checked: dict[str, str]) -> None:
    """Record beside the live generation's catalog which rewritten files hold what it holds,
    so the next ingest skips them as it skips files whose bytes did not change: a run that
    changes nothing keeps no catalog of its own, and without this a large file whose bytes
    changed but not its documents (its keys reordered, say) would be parsed
    again by every ingest. Best effort: a failure only costs the next ingest that parse."""
    try:
        write_atomic(Generation(generation).checked_files, json.dumps(checked, sort_keys=True))
    except OSError as exc:
        log.warning("could not record the files checked against %s: %s", generation.name, exc)


def _stopped_by_storage(exc: Exception, where: Path, live: str | None) -> None:
    """Raise a StorageError if `exc` came from a full or read-only disk."""
    kept = f"{live} is still live" if live else "nothing was live yet"
    if isinstance(exc, StorageError):
        raise StorageError(f"ingest stopped, nothing changed ({kept}): {exc}") from exc
    found = problem(exc)
    if found is not None:
        path = getattr(exc, "filename", None) or where
        raise StorageError(
            f"ingest stopped, nothing changed ({kept}): {path} {found}; {fix(found)}, then "
            "ingest again"
        ) from exc


def _ingest_into(generation, datadir, settings, found, progress) -> IngestReport:
    catalog = Catalog(Generation(generation).catalog)
    try:
        counter = TokenCounter(settings.model_path(), settings.tokenizer_name())
        chunker = Chunker(counter, settings.chunk_max_tokens)
        params = chunker.params.to_dict()
        stored = catalog.get_meta("chunking")
        if stored is not None and json.loads(stored) != params:
            raise IndexMismatchError(
                f"the catalog in {settings.data_dir} was chunked with {stored}, the settings now "
                f"ask for {json.dumps(params)}; use a new --data-dir to re-chunk"
            )
        live = datadir.current_name()
        checked = _checked_files(datadir.generations / live) if live else {}
        run = _Run(catalog, chunker, settings, checked)
        run.present = {f.display for f in found.files}
        report = run.report
        report.skipped = found.skipped
        report.errors.extend(found.errors)
        t = time.perf_counter()
        with catalog.transaction():
            with progress_bar(progress, len(found.files), "parse + chunk") as advance:
                for file in found.files:
                    errors_before = len(report.errors)
                    run.process_file(file)
                    if len(report.errors) > errors_before:
                        found.missing.add(file.key)
                    advance()
            run.detect_removed(found.files, found.roots, found.missing)
            run.settle_put_back()
            for doc_id in sorted(run.touched | set(report.removed_ids)):
                catalog.refresh_document(doc_id)
            catalog.set_meta("chunking", json.dumps(params, sort_keys=True))
            counts = {"added": 0, "updated": 0, "unchanged": 0}
            for status in run.doc_status.values():
                counts[status] += 1
            report.added, report.updated = counts["added"], counts["updated"]
            report.unchanged, report.removed = counts["unchanged"], len(report.removed_ids)
            report.timings["parse_chunk_store"] = time.perf_counter() - t
            changed = (
                report.changed
                or run.dirty
                or datadir.current_name() is None
                or _indexes_outdated(datadir, settings)
            )
            if changed:
                catalog.record_run(report.to_dict())
        if not changed:
            catalog.close()
            datadir.abandon(generation)
            if run.rechecked:
                _remember_checked(datadir.current(), {**checked, **run.rechecked})
            report.generation = datadir.current_name()
            if settings.backend == "postgres" and report.generation:
                _point_database(settings, datadir.current())
            return report
        from kb.search.build import build_indexes

        extra = build_indexes(
            generation, catalog, settings, report, progress, previous=_reusable(datadir, settings)
        )
        manifest = Manifest.from_dict(
            {
                "format_version": MANIFEST_FORMAT,
                "generation": generation.name,
                "created_at": now(),
                "model": {"name": settings.model_name(), "setting": settings.model or None},
                "chunking": params,
                "corpus_hash": catalog.corpus_hash(),
                "stats": catalog.stats(),
                **extra,
            }
        )
    finally:
        catalog.close()
    if settings.backend == "postgres":
        # App servers elsewhere copy the generation's files from the database.
        from kb.search.postgres import publish_files, set_live

        t = time.perf_counter()
        publish_files(
            settings.database_url, settings.database_schema, generation, manifest.to_json()
        )
        report.timings["publish_files"] = time.perf_counter() - t
    datadir.commit(generation, manifest, settings.keep_generations)
    if settings.backend == "postgres":
        # Live for every server at once; after the data dir's switch, so that a kill between
        # the two leaves the database's servers on the previous generation, which is kept.
        set_live(settings.database_url, settings.database_schema, generation.name)
    report.generation = generation.name
    return report


def _point_database(settings: Settings, generation: Path) -> None:
    """Make the database's live pointer name the data dir's live generation, storing its files
    first if they are not: after an ingest killed between the two switches, or a generation
    published before files were stored in the database."""
    from kb.search.postgres import has_files, live, publish_files, set_live

    url, prefix = settings.database_url, settings.database_schema
    if live(url, prefix) == generation.name:
        return
    if not has_files(url, prefix, generation.name):
        manifest = Generation(generation).manifest.read_text()
        publish_files(url, prefix, generation, manifest)
    set_live(url, prefix, generation.name)


def _reusable(datadir: DataDir, settings: Settings) -> Path | None:
    """The live generation, when its vectors came from the model the settings name (so its
    HNSW graphs can be extended rather than built again)."""
    if datadir.current_name() is None or not settings.dense_index:
        return None
    from kb.search.encoders import model_info

    try:
        live = datadir.current()
        dense = datadir.manifest(live).dense
    except KBError:  # no readable live generation: build everything afresh
        return None
    return live if dense is not None and dense.model_key == model_info(settings).key else None


def _indexes_outdated(datadir: DataDir, settings: Settings) -> bool:
    """Whether the live generation was embedded by another model than the settings name (say,
    after `kb tune`), or lacks the word-piece vectors the settings ask for (an index built
    before they existed): then an unchanged corpus is indexed again (embeddings are cached by
    model, so only what is missing is embedded)."""
    if not settings.dense_index:
        return False
    from kb.search.encoders import model_info

    live = datadir.manifest(datadir.current())
    if live.dense is None or live.dense.model_key != model_info(settings).key:
        return True
    return settings.late_interaction and live.late is None


def _live(versions) -> list:
    return [v for v in versions if v.metadata.get("declared_status") != "draft"]


def _newest(versions):
    """The version in force, or to come: the newest not a draft (by date, then as stored)."""
    return max(_live(versions), key=lambda v: (v.effective_from or "", v.version_id), default=None)


def _superseded(existing, stored) -> bool:
    """Whether a later version replaced `existing`, not a draft."""
    if existing.metadata.get("declared_status") == "draft":
        return False
    newest = _newest(stored.versions)
    return newest is not None and newest.version_id != existing.version_id
