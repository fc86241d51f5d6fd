"""Building a generation's search indexes from its catalog (called by the ingest pipeline)."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kb.catalog import Catalog
from kb.config import Settings
from kb.layout import Generation
from kb.progress import progress_bar
from kb.search.dense import build_dense, load_keys, text_keys
from kb.search.embed_cache import EmbeddingCache
from kb.search.encoders import get_encoder, int8, model_info
from kb.search.filter_index import FilterIndex
from kb.search.filters import FAR_FUTURE, date_int, passage_terms
from kb.search.keyword import get_backend
from kb.search.keyword.base import IndexedPassage
from kb.search.late import build_late, late_key, late_text
from kb.search.quotable import SENTENCES_TAG, quotable_sentences, sentence_hash
from kb.search.sentences import (
    EarlierSentences,
    build_sentences,
    passage_sentences,
    sentence_key,
)
from kb.search.spelling import load_vocabulary, save_vocabulary, vocabulary
from kb.search.units import unit_name
from kb.storage import link_file
from kb.types import AUTHORITY_TYPES, HEADING_SEPARATOR, IngestReport


def build_indexes(
    generation: Path,
    catalog: Catalog,
    settings: Settings,
    report: IngestReport,
    progress: bool = False,
    previous: Path | None = None,
) -> dict[str, Any]:
    """Write ids, filter index, keyword index and dense vectors; return manifest entries.
    `previous`: the live generation, embedded by the same model, whose HNSW graphs may be
    extended instead of built again (kb.search.dense)."""
    before = Generation(previous) if previous is not None else None
    t = time.perf_counter()
    ids: list[str] = []
    rows: list[IndexedPassage] = []
    hashes: list[str] = []
    texts: list[str] = []
    quotable: dict[str, str] = {}  # content hash -> text, of passages the answer card quotes
    authority: list[tuple[int, str, str]] = []  # (ordinal, heading, text) for sentence vectors
    # (ordinal, text) for word-piece vectors: policies in force or to come; a version's words
    # are kept for as long as searches without include_historical can find it.
    policies: list[tuple[int, str]] = []
    # The unit (clause, section or ruling) of each passage, numbered: what results group by.
    units: dict[str, int] = {}
    unit_of: list[int] = []
    for passage, version, doc_type in catalog.iter_indexable():
        ordinal = len(ids)
        ids.append(passage.passage_id)
        key = unit_name(
            passage.doc_id, version.version_id, passage.clause_id, passage.anchor, doc_type
        )
        unit_of.append(units.setdefault(key, len(units)))
        rows.append(
            IndexedPassage(
                ordinal=ordinal,
                title=version.title,
                heading=HEADING_SEPARATOR.join(passage.heading_path[1:]),
                text=passage.text,
                terms=passage_terms(passage, version, doc_type),
                eff_from=date_int(version.effective_from, 0),
                eff_to=date_int(version.effective_to, FAR_FUTURE),
            )
        )
        hashes.append(passage.content_hash)
        texts.append(passage.embed_text)
        if doc_type in AUTHORITY_TYPES:
            quotable[passage.content_hash] = passage.text
            authority.append((ordinal, passage.heading_path[-1], passage.text))
        if doc_type == "policy" and version.status != "historical":
            policies.append((ordinal, late_text(passage)))
    files = Generation(generation)
    files.ids.write_text("\n".join(ids) + ("\n" if ids else ""))
    np.save(files.units, np.array(unit_of, dtype=np.int32))
    del units, unit_of
    # Passages only ever added since the live generation (new versions and documents; the
    # older versions' text stays indexed): its word counts plus the new passages'.
    earlier = _earlier_ids(before)
    only_added = bool(earlier) and ids[: len(earlier)] == earlier
    counts = load_vocabulary(before.path) if only_added else None
    new_rows = rows[len(earlier) :] if counts is not None else rows
    counts = (counts or Counter()) + vocabulary(f"{r.title} {r.heading} {r.text}" for r in new_rows)
    save_vocabulary(counts, generation)
    filters = FilterIndex.build(rows)
    filters.save(files.filters)
    report.timings["index_prepare"] = time.perf_counter() - t

    postgres = settings.backend == "postgres"
    if not postgres:
        t = time.perf_counter()
        backend = get_backend(settings.keyword_backend)
        row_keys = _row_keys(rows)
        if not (
            only_added and _update_keyword(backend, files, before, len(earlier), rows, row_keys)
        ):
            backend.build(files.keyword, rows, settings.boosts())
        np.save(files.keyword / f"{ROW_KEYS}.tmp.npy", row_keys)  # never into a linked file
        (files.keyword / f"{ROW_KEYS}.tmp.npy").replace(files.keyword / ROW_KEYS)
        report.timings["keyword_index"] = time.perf_counter() - t
        del rows  # a million passages' fields: not needed any more, and memory is what runs out

    extra = {
        "passages_indexed": len(ids),
        "keyword": {"backend": settings.keyword_engine, "boosts": settings.boosts()},
        "dense": None,
        "filter_keys": sorted(filters.keys()),
    }
    if not settings.dense_index:
        if postgres:
            extra["postgres"] = _publish(settings, generation, rows, None, report)
        return extra
    t = time.perf_counter()
    passage_keys = text_keys(hashes)
    info = model_info(settings)
    cache = EmbeddingCache(settings.cache_path() / "embeddings", info.key, info.dim)
    encoder = None

    def loaded():
        nonlocal encoder
        if encoder is None:  # not loaded at all when every text is cached
            encoder = get_encoder(settings)
        return encoder

    def encode(batch: list[str]):
        return loaded().encode(batch, batch_size=settings.embed_batch_size)

    def encode_tokens(batch: list[str]):
        return loaded().encode_tokens(batch, batch_size=settings.embed_batch_size)

    try:
        with progress_bar(progress, len(texts), "embed") as advance:
            vectors, embedded = _passage_vectors(
                before, passage_keys, hashes, texts, cache, encode, advance
            )
        report.timings["embed"] = time.perf_counter() - t
        if settings.query_int8 and settings.encoder == "onnx":
            t = time.perf_counter()
            int8.check(info, settings.cache_path(), loaded, texts, files.query_int8)
            report.timings["query_int8_check"] = time.perf_counter() - t
        del texts
        report.embedded = embedded
        if settings.answer_vectors:
            t = time.perf_counter()
            _embed_answer_sentences(quotable, cache, encode, progress)
            report.timings["answer_sentences"] = time.perf_counter() - t
        if settings.sentence_vectors:
            t = time.perf_counter()
            reused = EarlierSentences.open(before, earlier) if before is not None else None
            if reused is not None and reused.same_rows(
                authority, ids, passage_keys, settings.hnsw_threshold
            ):
                # No policy or guidance passage changed (new rulings, say): the live
                # generation's sentence index, linked, not read, extended and written again.
                files.sentences.mkdir(parents=True, exist_ok=True)
                for path in reused.folder.iterdir():
                    link_file(path, files.sentences / path.name)
                extra["sentences"] = {"count": reused.count}
            else:
                owners, sentence_vectors, keys = _sentence_vectors(
                    authority, cache, encode, progress, files.sentences, reused, ids, passage_keys
                )
                if owners:
                    build_sentences(
                        files.sentences,
                        owners,
                        sentence_vectors,
                        settings.hnsw_threshold,
                        keys=keys,
                        previous=before.sentences if before else None,
                    )
                extra["sentences"] = {"count": len(owners)}
            report.timings["sentence_vectors"] = time.perf_counter() - t
        if settings.late_interaction:
            t = time.perf_counter()
            late_texts = [text for _, text in policies]
            with progress_bar(progress, len(late_texts), "word pieces") as advance:
                arrays, _ = cache.embed_pieces(
                    [late_key(t) for t in late_texts], late_texts, encode_tokens, progress=advance
                )
            pieces = dict(zip([o for o, _ in policies], arrays, strict=True))
            stored = build_late(files.late, len(ids), pieces)
            extra["late"] = {"passages": len(pieces), "pieces": stored}
            report.timings["word_pieces"] = time.perf_counter() - t
    finally:
        cache.close()

    t = time.perf_counter()
    kind = build_dense(
        files.dense,
        vectors,
        # Under backend=postgres the graph is PostgreSQL's; the vectors stay for lookups.
        len(vectors) if postgres else settings.hnsw_threshold,
        keys=passage_keys,
        previous=before.dense if before else None,
    )
    report.timings["dense_index"] = time.perf_counter() - t
    if postgres:
        extra["postgres"] = _publish(settings, generation, rows, vectors, report)
        kind = extra["postgres"]["dense"]
    extra["dense"] = {
        "model": info.name,
        "model_key": info.key,
        "dim": info.dim,
        "kind": kind,
        "encoder": settings.encoder,
        "embedded_this_build": embedded,
    }
    return extra


def _publish(settings, generation, rows, vectors, report) -> dict:
    """Publish the generation's keyword and dense indexes to PostgreSQL (backend=postgres)."""
    from kb.search.postgres import publish

    t = time.perf_counter()
    out = publish(
        settings.database_url,
        settings.database_schema,
        generation,
        rows,
        vectors,
        settings.boosts(),
        settings.hnsw_threshold,
    )
    report.timings["postgres"] = time.perf_counter() - t
    return out


# Beside a keyword index: a key of each row's indexed fields, to tell which ones changed.
ROW_KEYS = "rows.npy"


def _passage_vectors(
    before: Generation | None,
    keys: np.ndarray,
    hashes: list[str],
    texts: list[str],
    cache: EmbeddingCache,
    encode,
    advance,
) -> tuple[np.ndarray, int]:
    """The passages' vectors: a row the live generation (same model) holds under the same
    key is copied from its matrix, the others come from the embedding cache or the model.
    At a million passages, reading every vector from the cache took 50 of a re-ingest's 157 s.
    Returns (matrix, number newly embedded)."""
    earlier = None
    if before is not None:
        old_keys = load_keys(before.dense)
        path = before.dense / "vectors.npy"
        if old_keys is not None and path.is_file():
            old = np.load(path, mmap_mode="r")
            if old.ndim == 2 and old.shape == (len(old_keys), cache.dim):
                earlier = (old_keys, old)
    if earlier is None:
        return cache.embed(hashes, texts, encode, progress=advance)
    # Each row whose key the live generation holds takes that row's vector (a key held twice,
    # by an old version and its unchanged successor, is one text: one vector).
    old_keys = np.asarray(earlier[0])
    order = np.argsort(old_keys, kind="stable")
    ordered = old_keys[order]
    at = np.minimum(np.searchsorted(ordered, keys), max(len(ordered) - 1, 0))
    found = ordered[at] == keys if len(ordered) else np.zeros(len(keys), dtype=bool)
    held = np.flatnonzero(found)
    matrix = np.zeros((len(hashes), cache.dim), dtype=np.float32)
    source = order[at[held]]
    by_source = np.argsort(source, kind="stable")  # read the old matrix in file order
    matrix[held[by_source]] = earlier[1][source[by_source]]
    left = np.flatnonzero(~found)
    if not len(left):
        return matrix, 0
    rest, embedded = cache.embed(
        [hashes[i] for i in left], [texts[i] for i in left], encode, progress=advance
    )
    matrix[left] = rest
    return matrix, embedded


def _row_keys(rows: list[IndexedPassage]) -> np.ndarray:
    """A 64-bit key of everything the keyword index holds for each row."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        fields = [r.title, r.heading, r.text, "\x1e".join(sorted(r.terms)), str(r.eff_from)]
        digest = hashlib.blake2b("\x1f".join([*fields, str(r.eff_to)]).encode(), digest_size=8)
        out[i] = int.from_bytes(digest.digest(), "little", signed=True)
    return out


def _update_keyword(backend, files, before, kept: int, rows, row_keys) -> bool:
    """Update a copy of the live keyword index, whose `kept` rows are the first of `rows`
    (passages were only added since; some rows' fields may have changed: an older version's
    status or end date, its visibility): the changed rows indexed again, the new ones added.
    False when it cannot be done."""
    update = getattr(backend, "update", None)
    old = before.keyword / ROW_KEYS
    if update is None or not old.is_file():
        return False
    old_keys = np.load(old)
    if len(old_keys) != kept:
        return False
    changed = np.flatnonzero(row_keys[:kept] != old_keys).tolist()
    return update(files.keyword, before.keyword, changed, [rows[i] for i in changed] + rows[kept:])


def _earlier_ids(before: Generation | None) -> list[str]:
    """The passage ids, by ordinal, of the live generation (none without one)."""
    return before.ids.read_text().split() if before is not None and before.ids.is_file() else []


def _embed_answer_sentences(passages: dict[str, str], cache, encode, progress: bool) -> None:
    """Put the vectors of every sentence the answer card may quote into the embedding cache,
    so a server never embeds them while a moderator waits. Passages already done (by content
    hash) are skipped, so a re-ingest only splits and embeds what changed."""
    from kb.ingest.tokens import SentenceSplitter

    done = cache.done(SENTENCES_TAG, list(passages))
    new = [h for h in passages if h not in done]
    splitter = SentenceSplitter()
    sentences = {
        sentence_hash(s): s for h in new for _, s in quotable_sentences(passages[h], splitter)
    }
    have = cache.get_many(list(sentences))
    todo = {h: s for h, s in sentences.items() if h not in have}
    with progress_bar(progress, len(todo), "answer sentences") as advance:
        cache.embed(list(todo), list(todo.values()), encode, progress=advance)
    cache.mark_done(SENTENCES_TAG, new)


def _sentence_vectors(
    passages: list[tuple[int, str, str]],
    cache,
    encode,
    progress: bool,
    folder: Path,
    earlier: EarlierSentences | None = None,
    ids: list[str] | None = None,
    passage_keys: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(passage ordinal of each sentence, vectors, keys) for the sentence index; each text
    embedded once ever (the cache is keyed by its hash). With `earlier` (the live
    generation's sentences), an unchanged passage's rows are copied from there. The vectors
    are written straight into `folder`/vectors.npy, mapped into memory: at millions of
    sentences they would otherwise be held twice while the graph is built."""
    from kb.ingest.tokens import SentenceSplitter

    splitter = SentenceSplitter()
    owners: list[int] = []
    # Where each row comes from: the earlier generation's row, or -1 - (index into texts).
    source: list[np.ndarray] = []
    texts: list[str] = []
    for ordinal, heading, text in passages:
        rows = earlier.find(ids[ordinal], int(passage_keys[ordinal])) if earlier else None
        if rows is not None:
            owners.extend([ordinal] * (rows[1] - rows[0]))
            source.append(np.arange(rows[0], rows[1], dtype=np.int64))
            continue
        split = passage_sentences(heading, text, splitter)
        owners.extend([ordinal] * len(split))
        source.append(-1 - np.arange(len(texts), len(texts) + len(split), dtype=np.int64))
        texts.extend(split)
    hashes = [sentence_key(t) for t in texts]
    where = np.concatenate(source) if source else np.zeros(0, dtype=np.int64)
    keys = np.zeros(len(where), dtype=np.int64)
    if not len(where):
        return owners, np.zeros((0, cache.dim), dtype=np.float32), keys
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.lib.format.open_memmap(
        folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(len(where), cache.dim)
    )
    new = where < 0
    with progress_bar(progress, len(texts), "sentence vectors") as advance:
        if new.all():  # nothing taken from before: the texts' vectors are the rows, in order
            cache.embed(hashes, texts, encode, progress=advance, out=vectors)
            keys[:] = text_keys(hashes)
            return owners, vectors, keys
        fresh, _ = cache.embed(hashes, texts, encode, progress=advance)
    rows = np.flatnonzero(new)
    vectors[rows] = fresh[-1 - where[rows]]
    keys[rows] = text_keys(hashes)[-1 - where[rows]]
    rows = np.flatnonzero(~new)
    for start in range(0, len(rows), 65_536):  # a bounded slice at a time
        part = rows[start : start + 65_536]
        vectors[part] = earlier.vectors[where[part]]
        keys[part] = earlier.keys[where[part]]
    return owners, vectors, keys
