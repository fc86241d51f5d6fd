"""The Searcher: keyword, dense or hybrid retrieval over one index generation, cited results."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from kb.catalog import Catalog
from kb.config import Settings
from kb.datadir import DataDir
from kb.errors import IndexMismatchError, QueryError
from kb.layout import Generation
from kb.live import live_generation
from kb.search import fusion, highlight, identifiers, intent, preload
from kb.search.dense import DenseIndex
from kb.search.encoders import Encoder, get_encoder, get_query_encoder, model_info
from kb.search.filter_index import FilterIndex
from kb.search.filters import WILDCARDS, Filters
from kb.search.keyword import get_backend
from kb.search.keyword.base import without_stop_words
from kb.search.late import LateIndex
from kb.search.places import named_platforms, named_regions
from kb.search.sentences import SentenceIndex
from kb.search.spelling import Speller
from kb.search.stages import record, stage, timed
from kb.search.units import load_units
from kb.types import Citation, Passage, SearchHit, SearchResponse, VersionInfo

MODES = ("hybrid", "keyword", "dense")
# What one result is: a clause (or section, or ruling) with its best passage, or a passage.
UNITS = ("clause", "passage")
# Fused score of an item an exact id in the query names: above anything retrieval gives.
PINNED_SCORE = 1000.0
# Threads embedding hybrid queries while the keyword side searches, and walking sentence
# graphs while the passages' graph is walked (all release the GIL), shared by a process's
# searchers; a forked child makes its own.
_BESIDE: tuple[int, ThreadPoolExecutor] | None = None
_BESIDE_LOCK = threading.Lock()


def _beside() -> ThreadPoolExecutor:
    global _BESIDE
    with _BESIDE_LOCK:
        if _BESIDE is None or _BESIDE[0] != os.getpid():
            _BESIDE = (os.getpid(), ThreadPoolExecutor(4, thread_name_prefix="kb-beside"))
        return _BESIDE[1]


class Searcher:
    """Loaded once per process (catalog, indexes; the encoder on first dense query)."""

    def __init__(
        self, settings: Settings, generation: Path | None = None, encoder: Encoder | None = None
    ) -> None:
        self.settings = settings
        if encoder is not None:
            # One already loaded for these settings: a server moving to a new generation keeps
            # its model (the manifest check below still applies).
            self.encoder = encoder
        datadir = DataDir(settings.data_dir)
        self.generation = generation or live_generation(settings)
        self.manifest = datadir.manifest(self.generation)
        self._check_manifest()
        files = Generation(self.generation)
        self.catalog: Catalog | None = None
        self.ids = files.ids.read_text().split()
        self.filters = FilterIndex.load(files.filters)
        # Under backend=postgres the keyword and dense searches run in the generation's schema.
        self.postgres = None
        if self.manifest.keyword.backend == "postgres":
            # Imported only here: psycopg adds ~150 ms to every start otherwise.
            from kb.search.postgres import PostgresIndexes

            self.postgres = PostgresIndexes(
                settings.database_url,
                settings.database_schema,
                self.generation,
                self.manifest.dense.dim if self.manifest.dense else None,
            )
            published = self.manifest.postgres.catalog if self.manifest.postgres else ""
            if published:  # documents, versions, passages and rulings from the database too
                self.catalog = Catalog.over(self.postgres.catalog(), published)
            self.keyword = self.postgres.keyword()
            self.dense = (
                self.postgres.dense(np.load(files.dense / "vectors.npy", mmap_mode="r"))
                if self.manifest.dense
                else None
            )
        else:
            backend = get_backend(self.manifest.keyword.backend)
            self.keyword = backend.open(files.keyword, settings.boosts())
            self.dense = (
                DenseIndex(
                    files.dense,
                    threads=settings.query_threads,
                    exact_limit=settings.hnsw_threshold,
                )
                if self.manifest.dense
                else None
            )
        if self.catalog is None:
            self.catalog = Catalog(files.catalog, readonly=True)
        self.sentences = (
            SentenceIndex(
                files.sentences,
                threads=settings.query_threads,
                exact_limit=settings.hnsw_threshold,
            )
            if self.dense is not None and files.sentences.is_dir()
            else None
        )
        self.late = (
            LateIndex.open(files.late)
            if self.dense is not None and self.settings.late_weight > 0 and self.manifest.late
            else None
        )
        self.filter_keys = set(self.manifest.filter_keys)
        # Region values passages are scoped to (not those applying everywhere).
        self.regions = frozenset(
            value
            for name in self.filters.names
            for key, _, value in [name.partition("=")]
            if key == "regions" and value not in WILDCARDS["regions"]
        )
        # Platform values, when the knowledge base holds more than one.
        platforms = frozenset(
            name.partition("=")[2] for name in self.filters.names if name.startswith("platform=")
        )
        self.platforms = platforms if len(platforms) > 1 else frozenset()
        self._versions: dict[int, VersionInfo] = {}
        self._doc_types: dict[str, str] = {}
        # query -> (vector, word pieces); a server's threads share it.
        self._queries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._queries_lock = threading.Lock()
        self.units = load_units(files, self.catalog, self.ids)

    def _check_manifest(self) -> None:
        dense = self.manifest.dense
        info = model_info(self.settings) if dense else None
        if dense and dense.model_key != info.key:
            raise IndexMismatchError(
                f"the index in {self.generation} was embedded with {dense.model!r} "
                f"({dense.model_key}), the settings name {info.name!r} ({info.key}); "
                "re-ingest into a new --data-dir or configure the same model"
            )
        wanted = self.settings.keyword_engine
        if self.manifest.keyword.backend != wanted:
            setting = (
                "KB_BACKEND=postgres"
                if "postgres" in (wanted, self.manifest.keyword.backend)
                else f"KB_KEYWORD_BACKEND={wanted}"
            )
            raise IndexMismatchError(
                f"the index in {self.generation} has a {self.manifest.keyword.backend} "
                f"keyword index, the settings ask for {wanted}; re-ingest with "
                f"{setting} into a new --data-dir, or set it back"
            )

    @cached_property
    def speller(self) -> Speller | None:
        """Corrections from the corpus's own vocabulary, for the keyword side (built on first
        use; None for a generation written before vocabularies were)."""
        return Speller.load(self.generation)

    @cached_property
    def encoder(self) -> Encoder:
        """The float32 encoder, for texts compared with passages' vectors or stored (loaded on
        first use)."""
        return get_encoder(self.settings, threads=self.settings.query_threads)

    @cached_property
    def query_encoder(self) -> Encoder:
        """The encoder of queries: the int8 copy of the model where the ingest's check
        approved it (kb.search.encoders.int8), else `encoder`."""
        found = get_query_encoder(
            self.settings,
            self.encoder,
            Generation(self.generation).query_int8,
            threads=self.settings.query_threads,
        )
        return found if found is not None else self.encoder

    def loaded_encoder(self) -> Encoder | None:
        """The float32 encoder if it is loaded (for the next generation's searcher to keep)."""
        return self.__dict__.get("encoder")

    def index_files(self) -> list[Path]:
        """The files searches read through memory maps: the graphs and the keyword index."""
        files = Generation(self.generation)
        found = [folder / "hnsw.faiss" for folder in (files.dense, files.sentences)]
        if files.keyword.is_dir():
            found += sorted(p for p in files.keyword.iterdir() if p.is_file())
        return [p for p in found if p.is_file()]

    def warm(self, wait: bool = False) -> int:
        """Have the kernel read the index files into the page cache (kb.search.preload);
        returns their bytes."""
        return preload.warm(self.index_files(), wait=wait)

    def close(self) -> None:
        """Release the catalog and indexes."""
        self.keyword.close()
        if self.postgres is not None:
            self.postgres.close()
        self.catalog.close()

    def parse_filters(
        self,
        pairs: Any = None,
        *,
        as_of: str | None = None,
        include_historical: bool = False,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> Filters:
        """Filters validated against the keys this index knows."""
        return Filters.parse(
            pairs,
            as_of=as_of,
            include_historical=include_historical,
            known_keys=self.filter_keys,
            date_from=date_from,
            date_to=date_to,
        )

    def retrieve(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        mode: str = "hybrid",
        fetch: int | None = None,
        dense_text: str | None = None,
    ) -> list[fusion.Fused]:
        """Ranked candidates (ordinals with score breakdowns), no hydration. Each retriever
        hands `fetch` candidates (default fetch_k) to fusion. Items an exact id in the query
        names (clause, section, case or document id) come first; the rest of the query ranks
        the rest. `dense_text`: what the dense side embeds instead (a caller searching twice
        with different filters keeps one query vector)."""
        query = self._check(query, k, mode)
        filters = filters or Filters()
        fetch = max(fetch or self.settings.fetch_k, k)
        with stage("ids"):
            pinned = identifiers.pin(query, self.filters, lambda: self.filters.mask(filters))
        if not pinned.ordinals:
            return self._retrieve(query, k, filters, mode, fetch, dense_text)
        first = [
            fusion.Fused(o, PINNED_SCORE - i * 1e-3, {"id": {"rank": i + 1, "score": 1.0}})
            for i, o in enumerate(pinned.ordinals)
        ]
        rest = (
            self._retrieve(pinned.rest, k, filters, mode, fetch, dense_text) if pinned.rest else []
        )
        taken = set(pinned.ordinals)
        return (first + [f for f in rest if f.ordinal not in taken])[: max(k, len(first))]

    def meaning(self, query: str, filters: Filters | None = None) -> str:
        """The part of `query` the dense side embeds: without the exact ids it names (the
        whole query when it is nothing but ids), and without what a case was reported as
        before what happened (kb.search.intent.without_report)."""
        filters = filters or Filters()
        rest = identifiers.pin(query, self.filters, lambda: self.filters.mask(filters)).rest
        return intent.without_report(rest if rest.strip() else query)

    def _retrieve(
        self,
        query: str,
        k: int,
        filters: Filters,
        mode: str,
        fetch: int,
        dense_text: str | None = None,
    ) -> list[fusion.Fused]:
        lists: dict[str, list[tuple[int, float]]] = {}
        meant = dense_text or intent.without_report(query)
        # A hybrid query is embedded on a second core while the keyword side searches.
        pending = self._embed_beside(meant) if mode == "hybrid" else None
        with stage("spelling"):
            spelled = self.speller.expand(query) if self.speller else query
        with stage("filters"):
            mask = self.filters.mask(filters)
            allowed = None if mask.all() else mask
        if mode in ("keyword", "hybrid"):
            with stage("keyword"):
                lists["keyword"] = self.keyword.search(
                    without_stop_words(spelled, self.keyword.common), filters, fetch, mask
                )
        if mode in ("dense", "hybrid"):
            vector = self._embedded_beside(pending) if pending else self.query_vector(meant)
            sentences = (
                self._sentences(self.sentences, vector, allowed, fetch)
                if self.sentences is not None and self.settings.sentence_weight > 0
                else None
            )
            with stage("dense"):
                lists["dense"] = self.dense.search(vector, allowed, fetch, filters)
            if sentences is not None:
                lists["sentence"] = sentences()
        w = self.dense_weight(query) if mode == "hybrid" else 1.0
        with stage("fusion"):
            if mode == "keyword" or (mode == "dense" and "sentence" not in lists):
                return fusion.single(mode, lists[mode])[:k]  # one retriever's own ranking
            a = self.settings.sentence_weight if "sentence" in lists else 0.0
            weights = {"dense": w * (1 - a), "sentence": w * a, "keyword": 1.0 - w}
            if mode == "dense" or self.settings.fusion == "weighted":
                fused = fusion.weighted(lists, weights)
            else:  # RRF weights scaled so that 0.5/0.5 is plain RRF.
                fused = fusion.rrf(
                    lists, self.settings.rrf_k, {name: 2 * v for name, v in weights.items()}
                )
            return self._by_place(query, spelled, fused, mask)[:k]

    def _sentences(
        self, index: SentenceIndex, vector: np.ndarray, allowed: np.ndarray | None, fetch: int
    ) -> Callable[[], list[tuple[int, float]]]:
        """The sentence side's hits, to be had by calling the returned function. A graph of
        sentences (a large knowledge base) is walked on another core while this thread
        searches the passages (both release the GIL): its wait is stage `sentence_wait`, its
        whole time `sentence`. A flat index is searched here and now: at its size the
        hand-over would cost more than the search."""
        if index.index.kind != "hnsw":
            with stage("sentence"):
                found = index.search(vector, allowed, fetch)
            return lambda: found

        def run() -> tuple[list[tuple[int, float]], float]:
            started = time.perf_counter()
            found = index.search(vector, allowed, fetch)
            return found, (time.perf_counter() - started) * 1000

        pending = _beside().submit(run)

        def result() -> list[tuple[int, float]]:
            with stage("sentence_wait"):
                found, took = pending.result()
            record("sentence", took)
            return found

        return result

    def _by_place(
        self, query: str, spelled: str, fused: list[fusion.Fused], mask: np.ndarray
    ) -> list[fusion.Fused]:
        """Passages scoped to a region the query names ("Indonesian host ...") gain
        `region_boost` of their score, and passages of a platform it names (as typed, or
        as the speller corrects it: "twich") `platform_boost`; passages scoped only to other
        regions, or of other platforms, lose half that. Only values some passage the search
        may return (`mask`) carries count as named: the others would only say that passages
        this reader cannot see exist."""
        scopes = [
            (
                "region",
                "regions",
                self.regions,
                self.settings.region_boost,
                named_regions(query, self.regions),
            ),
            (
                "platform",
                "platform",
                self.platforms,
                self.settings.platform_boost,
                named_platforms(spelled, self.platforms),
            ),
        ]
        changed = False
        for part, key, values, boost, named in scopes:
            named = {v for v in named if mask[self.filters.postings(f"{key}={v}")].any()}
            if not (boost and named and fused):
                continue
            here = np.zeros(self.filters.size, dtype=bool)
            elsewhere = np.zeros(self.filters.size, dtype=bool)
            for value in values:
                (here if value in named else elsewhere)[self.filters.postings(f"{key}={value}")] = (
                    True
                )
            for item in fused:
                # In proportion to the score, so that only passages already on topic move.
                factor = (
                    boost if here[item.ordinal] else -boost / 2 if elsewhere[item.ordinal] else 0
                )
                change = factor * max(item.score, 0.0)
                if change:
                    item.score += change
                    item.parts[part] = {"score": change}
                    changed = True
        return sorted(fused, key=lambda f: -f.score) if changed else fused

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        mode: str = "hybrid",
        max_per_doc: int | None = None,
        candidates: list[fusion.Fused] | None = None,
        by: str = "clause",
        dense_text: str | None = None,
    ) -> SearchResponse:
        """Ranked, cited, highlighted results for `query` (from `candidates` when the caller
        already retrieved them, e.g. for facet counts). `by="clause"`: one result per clause
        (or guidance section, or ruling), its best passage shown and the others listed in
        `more`; `by="passage"`: every passage on its own."""
        with timed() as spent:
            response = self._search(
                query, k, filters or Filters(), mode, max_per_doc, candidates, by, dense_text
            )
        response.stages = spent
        return response

    def _search(
        self,
        query: str,
        k: int,
        filters: Filters,
        mode: str,
        max_per_doc: int | None,
        candidates: list[fusion.Fused] | None,
        by: str,
        dense_text: str | None,
    ) -> SearchResponse:
        started = time.perf_counter()
        if by not in UNITS:
            raise QueryError(f"unknown unit {by!r}; valid: {', '.join(UNITS)}")
        if candidates is None:
            query = self._check(query, k, mode)
            # Results by clause come from as many candidates as the search page's (fetch_k),
            # so that a query ranks alike in the page, the API, the CLI and `kb eval`.
            want = max(self.settings.fetch_k, k) if by == "clause" else k * 4 if max_per_doc else k
            candidates = self.retrieve(
                query,
                k=min(want, max(self.settings.fetch_k, k)),
                filters=filters,
                mode=mode,
                dense_text=dense_text,
            )
        if by == "clause":
            units = [
                (g.best, [m.ordinal for m in g.members[1:]])
                for g in self.group(
                    candidates, query if mode != "keyword" else None, dense_text, filters
                )
            ]
        else:
            units = [(item, []) for item in candidates]
        hits: list[SearchHit] = []
        per_doc: dict[str, int] = {}
        for item, others in units:
            with stage("hydrate"):
                passage = self.catalog.passage(self.ids[item.ordinal])
            if max_per_doc and per_doc.get(passage.doc_id, 0) >= max_per_doc:
                continue
            per_doc[passage.doc_id] = per_doc.get(passage.doc_id, 0) + 1
            hit = self.hydrate(item, query, rank=len(hits) + 1, passage=passage)
            hit.more = [self.ids[o] for o in others]
            hits.append(hit)
            if len(hits) == k:
                break
        return SearchResponse(
            query=query,
            mode=mode,
            results=hits,
            filters=filters.to_dict(),
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def dense_weight(self, query: str) -> float:
        """The dense side's share in fusion: less for a few keywords than for a case."""
        if len(query.split()) <= self.settings.short_query_words:
            return self.settings.dense_weight_short
        return self.settings.dense_weight

    def group(
        self,
        candidates: list[fusion.Fused],
        query: str | None = None,
        dense_text: str | None = None,
        filters: Filters | None = None,
    ) -> list[fusion.Group]:
        """Candidates as results a reader sees: one per clause (or section, or ruling), best
        first. Items an exact id named keep their order (the id's own clause first); the rest
        are grouped and scored as clauses, and, given the `query` (not for keyword-only
        results, which need no model), the top policy clauses are re-scored word by word
        (kb.search.late) against what the dense side embedded: `dense_text`, or the query
        without the ids it names within `filters`."""
        with stage("group"):
            named = [c for c in candidates if "id" in c.parts]
            groups = fusion.group(named, self.unit_key, share=0.0)
            seen = {g.key for g in groups}
            ranked = [c for c in candidates if "id" not in c.parts]
            rest = [g for g in fusion.group(ranked, self.unit_key) if g.key not in seen]
        if query is not None and self.late is not None:
            with stage("late"):
                rest = self.rescore(rest, dense_text or self.meaning(query, filters))
        if query is not None and not groups and intent.asks_for_enforcement(query):
            rest = self.enforcement_first(rest)
        return groups + rest

    def enforcement_first(self, groups: list[fusion.Group], depth: int = 20) -> list[fusion.Group]:
        """For a question about the consequence ("penalty for streaming an animal fight"):
        the enforcement clause of the top policy clause's document, when it is among the
        first `depth`, moved first; the case's own clause follows it."""
        top = None
        for i, group in enumerate(groups[:depth]):
            passage = self.catalog.passage(self.ids[group.best.ordinal])
            if passage.clause_id is None or self.catalog.doc_type(passage.doc_id) != "policy":
                continue
            if top is None:
                top = passage
            if passage.doc_id == top.doc_id and intent.is_enforcement_heading(
                passage.heading_path[-1].removeprefix(passage.clause_id)
            ):
                if not i:
                    return groups
                group.best.parts["intent"] = "enforcement"  # why it leads (its score may not)
                return [group, *groups[:i], *groups[i + 1 :]]
        return groups

    def rescore(
        self,
        groups: list[fusion.Group],
        text: str,
        weight: float | None = None,
        depth: int | None = None,
    ) -> list[fusion.Group]:
        """The top `depth` (late_depth) groups with word-piece vectors (policy clauses)
        reordered by fused score over the first one's plus `weight` (late_weight) times their
        best passage's MaxSim against `text`, within the places they held (rulings and
        guidance keep theirs)."""
        weight = self.settings.late_weight if weight is None else weight
        top = groups[: self.settings.late_depth if depth is None else depth]
        kept = [[m.ordinal for m in g.members if self.late.has(m.ordinal)] for g in top]
        slots = [i for i, ordinals in enumerate(kept) if ordinals]
        if len(slots) < 2:
            return groups
        members = [kept[i] for i in slots]
        flat = [o for ordinals in members for o in ordinals]
        scores = dict(zip(flat, self.late.maxsim(self.query_pieces(text), flat), strict=True))
        lead = top[slots[0]].score if top[slots[0]].score > 0 else 1.0
        keyed = []
        for i, ordinals in zip(slots, members, strict=True):
            group = top[i]
            late = max(scores[o] for o in ordinals)
            key = group.score / lead + weight * late
            group.best.parts["late"] = {"score": late, "rescored": key}
            keyed.append((key, i, group))
        keyed.sort(key=lambda t: (-t[0], t[1]))
        out = list(groups)
        for slot, (_, _, group) in zip(slots, keyed, strict=True):
            out[slot] = group
        return out

    def unit_key(self, ordinal: int) -> int:
        """The unit a passage belongs to for a reader (kb.search.units): its ruling, else its
        clause (or, without a clause id, its section) within its version, by number."""
        return int(self.units[ordinal])

    def query_vector(self, query: str) -> np.ndarray:
        """The (cached) dense vector of a query: the search page embeds each query once for
        results, answer card and facets."""
        return self._embedded(query)[0]

    def query_pieces(self, query: str) -> np.ndarray:
        """The (cached) word-piece vectors of a query, from the pass that embeds it."""
        return self._embedded(query)[1]

    def forget_queries(self) -> None:
        """Empty the query-vector cache (benchmarks timing fresh queries)."""
        with self._queries_lock:
            self._queries.clear()

    def _embedded(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        with self._queries_lock:
            found = self._queries.get(query)
        if found is None:
            with stage("embed"):
                found = self._embed(query)
        return found

    def _embed(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Embed `query` (vector and word pieces) into the query cache."""
        vectors, pieces = self.query_encoder.encode_with_tokens(
            [query], tokens=self.late is not None
        )
        found = (vectors[0], pieces[0])
        with self._queries_lock:
            while len(self._queries) >= 512:
                self._queries.pop(next(iter(self._queries)))
            self._queries[query] = found
        return found

    def _embed_beside(self, query: str) -> Future | None:
        """Start embedding `query` in another thread, unless it is cached (None then)."""
        with self._queries_lock:
            if query in self._queries:
                return None
        if "encoder" not in self.__dict__:
            return None  # the first query loads the model in this thread

        def run() -> tuple[tuple[np.ndarray, np.ndarray], float]:
            started = time.perf_counter()
            return self._embed(query), (time.perf_counter() - started) * 1000

        return _beside().submit(run)

    def _embedded_beside(self, pending: Future) -> np.ndarray:
        """The vector embedded beside the keyword search: the wait for it is stage
        `embed_wait`, its whole time (on the other core) `embed`."""
        with stage("embed_wait"):
            (vector, _), took = pending.result()
        record("embed", took)
        return vector

    def hydrate(
        self, item: fusion.Fused, query: str, rank: int, passage: Passage | None = None
    ) -> SearchHit:
        """A SearchHit for one fused candidate."""
        with stage("hydrate"):
            return self._hydrate(item, query, rank, passage)

    def _hydrate(
        self, item: fusion.Fused, query: str, rank: int, passage: Passage | None
    ) -> SearchHit:
        passage = passage or self.catalog.passage(self.ids[item.ordinal])
        version = self._version(passage.version_id)
        doc_type = self._doc_type(passage.doc_id)
        meta = {**version.metadata, **passage.metadata}
        citation = Citation.of(passage, version, doc_type)
        scores: dict[str, Any] = {"fused": item.score}
        for name in ("keyword", "dense", "sentence"):
            part = item.parts.get(name)
            scores[f"{name}_rank"] = part["rank"] if part else None
            scores[f"{name}_score"] = part["score"] if part else None
        if "late" in item.parts:  # re-scored word by word
            scores["late_score"] = item.parts["late"]["score"]
            scores["rescored"] = item.parts["late"]["rescored"]
        for part in ("region", "platform"):  # scoped to a region (platform) the query names
            if part in item.parts:  # or to another one
                scores[part] = item.parts[part]["score"]
        if "id" in item.parts:  # named by an exact id in the query
            scores["exact_id"] = True
        if "intent" in item.parts:  # moved first for what the question asks (kb.search.intent)
            scores["intent"] = item.parts["intent"]
        return SearchHit(
            rank=rank,
            passage=passage,
            citation=citation,
            score=item.score,
            scores=scores,
            metadata=meta,
            highlighted=_highlighted(passage.text, query),
        )

    def _version(self, version_id: int) -> VersionInfo:
        if version_id not in self._versions:
            self._versions[version_id] = self.catalog.version(version_id)
        return self._versions[version_id]

    def _doc_type(self, doc_id: str) -> str:
        if doc_id not in self._doc_types:
            self._doc_types[doc_id] = self.catalog.doc_type(doc_id)
        return self._doc_types[doc_id]

    def _check(self, query: str, k: int, mode: str) -> str:
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if mode != "keyword" and self.dense is None:
            raise QueryError(
                f"this index was built without dense vectors (dense_index off); "
                f"mode {mode!r} needs them: use mode keyword or re-ingest with dense_index on"
            )
        if not isinstance(k, int) or not 1 <= k <= self.settings.max_k:
            raise QueryError(f"k must be between 1 and {self.settings.max_k}, got {k!r}")
        # The limit counts the characters sent (as the API's document states it), spaces too.
        if len(str(query)) > self.settings.max_query_chars:
            raise QueryError(
                f"the query is {len(str(query))} characters; "
                f"the limit is {self.settings.max_query_chars}"
            )
        query = " ".join(str(query).split())
        if not query:
            raise QueryError("the query is empty")
        return query


def _highlighted(text: str, query: str) -> str:
    with stage("highlight"):
        return highlight.to_html(text, query)
