"""Retrieval evaluation on BEIR-layout data with ir-measures (pytrec_eval underneath)."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import RR, R, Success, nDCG

from kb.config import Settings
from kb.errors import KBError
from kb.ingest.pipeline import ingest
from kb.ingest.sources import Collected, SourceFile, display_path
from kb.search.filters import Filters
from kb.search.hybrid import MODES, Searcher

MEASURES = {"nDCG@10": nDCG @ 10, "Recall@10": R @ 10, "Recall@100": R @ 100, "MRR@10": RR @ 10}
# Where the judged unit is one governing clause or section, what a moderator sees first.
CLAUSE_MEASURES = {
    "MRR@10": RR @ 10,
    "Success@1": Success @ 1,
    "Success@3": Success @ 3,
    "Success@10": Success @ 10,
    "nDCG@10": nDCG @ 10,
}
PRIMARY = "nDCG@10"
CLAUSE_PRIMARY = "MRR@10"
# What a hit counts for: its document, its clause (clause id, else document id), or its
# section (document id and heading anchor).
UNITS = ("document", "clause", "section")


@dataclass
class Dataset:
    """Queries and judgments of a BEIR-layout folder (and its corpus file, if any)."""

    folder: Path
    split: str
    queries: dict[str, tuple[str, dict[str, Any]]]
    qrels: dict[str, dict[str, int]]
    corpus: Path | None
    kinds: dict[str, str] = field(default_factory=dict)  # query id -> kind (metadata.kind)

    @classmethod
    def load(cls, folder: Path, split: str = "test") -> Dataset:
        """Read queries.jsonl and qrels/<split>.tsv; KBError naming what is missing."""
        folder = Path(folder)
        qrels_path = folder / "qrels" / f"{split}.tsv"
        if not (folder / "queries.jsonl").is_file() or not qrels_path.is_file():
            raise KBError(
                f"{folder} is not BEIR layout: need queries.jsonl and {qrels_path.name}"
                " under qrels/"
            )
        qrels: dict[str, dict[str, int]] = {}
        with open(qrels_path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
        queries, kinds = {}, {}
        for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                qid = str(obj["_id"])
                if qid in qrels:
                    meta = dict(obj.get("metadata") or {})
                    if "kind" in meta:  # describes the question; not a filter
                        kinds[qid] = str(meta.pop("kind"))
                    queries[qid] = (obj["text"], meta)
        corpus = folder / "corpus.jsonl"
        return cls(folder, split, queries, qrels, corpus if corpus.is_file() else None, kinds)


@dataclass
class EvalResult:
    """Metrics per mode, plus how they were obtained."""

    dataset: str
    split: str
    queries: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    unit: str = "document"
    # mode -> kind -> (number of queries, metrics), when the questions say their kind.
    by_kind: dict[str, dict[str, tuple[int, dict[str, float]]]] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        """The metric the table marks: nDCG@10 for documents, MRR@10 for clauses and sections."""
        return PRIMARY if self.unit == "document" else CLAUSE_PRIMARY

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "unit": self.unit,
            "metrics": self.metrics,
            "by_kind": {
                mode: {kind: {"queries": n, **m} for kind, (n, m) in kinds.items()}
                for mode, kinds in self.by_kind.items()
            },
            "latency_ms": self.latency_ms,
        }


def evaluate(
    settings: Settings,
    folder: Path,
    *,
    split: str = "test",
    modes: tuple[str, ...] = MODES,
    progress: bool = False,
    unit: str | None = None,
) -> EvalResult:
    """Evaluate each mode on a BEIR folder.

    With a corpus.jsonl, it is ingested into the data dir first (unchanged corpora are not
    re-ingested) and hits count per document. Without one, the data dir's live index is
    searched, among policies, and a hit counts for its passage's clause id (or its document id
    when the passage has no clause): that is how the shipped corpus' questions are judged;
    `unit="section"` counts `document_id#anchor` instead (real policies without clause ids).
    Questions whose metadata names a `kind` are also scored per kind.
    """
    data = Dataset.load(folder, split)
    unit = unit or ("document" if data.corpus is not None else "clause")
    if unit not in UNITS:
        raise KBError(f"unknown unit {unit!r}; valid units: {', '.join(UNITS)}")
    if data.corpus is not None:
        found = Collected(
            files=[
                SourceFile(
                    path=data.corpus.resolve(),
                    display=display_path(data.corpus.resolve()),
                    default_id="beir",
                    parser="beir",
                )
            ],
            roots=[data.corpus.resolve()],
        )
        # Benchmark corpora are single big files: the per-file size limit is for sources.
        # Evaluation never shows answer cards: no answer sentences to embed.
        report = ingest(
            settings.replace(max_file_mb=1e6, answer_vectors=False),
            [],
            progress=progress,
            found=found,
        )
        if report.errors:
            raise KBError(f"{len(report.errors)} corpus errors, first: {report.errors[0]}")
    searcher = Searcher(settings)
    result = EvalResult(
        dataset=display_path(Path(folder).resolve()),
        split=split,
        queries=len(data.queries),
        unit=unit,
    )
    measures = MEASURES if unit == "document" else CLAUSE_MEASURES
    try:
        for mode in modes:
            run, took = _run(searcher, data, mode, unit=unit)
            result.metrics[mode] = _scores(measures, data.qrels, run)
            result.latency_ms[mode] = took
            kinds = sorted(set(data.kinds.values()))
            result.by_kind[mode] = {
                kind: (len(ids), _scores(measures, {q: data.qrels[q] for q in ids}, run))
                for kind in kinds
                for ids in [[q for q, k in data.kinds.items() if k == kind]]
            }
    finally:
        searcher.close()
    return result


def _scores(measures, qrels, run) -> dict[str, float]:
    # pytrec_eval leaves out queries with no results at all: score them as zeros instead.
    run = {qid: run.get(qid) or {"-": 0.0} for qid in qrels}
    scores = ir_measures.calc_aggregate(list(measures.values()), qrels, run)
    return {name: float(scores[m]) for name, m in measures.items()}


def _run(searcher: Searcher, data: Dataset, mode: str, *, unit: str):
    run: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for qid, (text, meta) in data.queries.items():
        pairs = dict(meta)
        if unit != "document":
            # Judged on policy clauses, so searched among policies (as the Policy group of
            # the results page); precedents and guidance are judged by people, not here.
            pairs.setdefault("type", "policy")
        filters = Filters.parse(pairs, known_keys=searcher.filter_keys) if pairs else Filters()
        # The candidates the search page ranks (kb.service: fetch_k of them).
        fused = searcher.retrieve(
            text, k=max(searcher.settings.fetch_k, 10), filters=filters, mode=mode
        )
        ranked: dict[str, float] = {}
        # In the order results are shown: one per clause (or section), as `kb search` does.
        shown = searcher.group(fused, text if mode != "keyword" else None, filters=filters)
        for item in [g.best for g in shown]:
            passage = searcher.catalog.passage(searcher.ids[item.ordinal])
            if unit == "clause":
                key = passage.clause_id or passage.doc_id
                # A section judged as a whole (its id typed, or no clause of it fitting): any
                # of its clauses is that section.
                gold = data.qrels.get(qid, {})
                if key not in gold:
                    key = next((g for g in gold if key.startswith(g + ".")), key)
            elif unit == "section":
                key = f"{passage.doc_id}#{passage.anchor}"
            else:
                key = passage.doc_id
            if key not in ranked:
                # Rank-based scores keep ties out of pytrec_eval's ordering.
                ranked[key] = 1.0 / (len(ranked) + 1)
        run[qid] = ranked
    took = (time.perf_counter() - started) * 1000 / max(1, len(data.queries))
    return run, took
