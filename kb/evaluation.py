"""Retrieval evaluation on BEIR-layout data with ir-measures (pytrec_eval underneath)."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import RR, R, nDCG

from kb.config import Settings
from kb.errors import KBError
from kb.ingest.pipeline import ingest
from kb.ingest.sources import Collected, SourceFile, display_path
from kb.search.filters import Filters
from kb.search.hybrid import MODES, Searcher

MEASURES = {"nDCG@10": nDCG @ 10, "Recall@10": R @ 10, "Recall@100": R @ 100, "MRR@10": RR @ 10}
PRIMARY = "nDCG@10"


@dataclass
class Dataset:
    """Queries and judgments of a BEIR-layout folder (and its corpus file, if any)."""

    folder: Path
    split: str
    queries: dict[str, tuple[str, dict[str, Any]]]
    qrels: dict[str, dict[str, int]]
    corpus: Path | None

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
        queries = {}
        for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                if str(obj["_id"]) in qrels:
                    queries[str(obj["_id"])] = (obj["text"], obj.get("metadata") or {})
        corpus = folder / "corpus.jsonl"
        return cls(folder, split, queries, qrels, corpus if corpus.is_file() else None)


@dataclass
class EvalResult:
    """Metrics per mode, plus how they were obtained."""

    dataset: str
    split: str
    queries: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    unit: str = "document"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "unit": self.unit,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
        }


def evaluate(
    settings: Settings,
    folder: Path,
    *,
    split: str = "test",
    modes: tuple[str, ...] = MODES,
    progress: bool = False,
) -> EvalResult:
    """Evaluate each mode on a BEIR folder.

    With a corpus.jsonl, it is ingested into the data dir first (unchanged corpora are not
    re-ingested) and hits count per document. Without one, the data dir's live index is
    searched and a hit counts for its passage's clause id (or its document id when the passage
    has no clause): that is how the shipped corpus' questions are judged.
    """
    data = Dataset.load(folder, split)
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
        unit="document" if data.corpus is not None else "clause",
    )
    try:
        for mode in modes:
            run, took = _run(searcher, data, mode, by_clause=data.corpus is None)
            scores = ir_measures.calc_aggregate(list(MEASURES.values()), data.qrels, run)
            result.metrics[mode] = {name: float(scores[m]) for name, m in MEASURES.items()}
            result.latency_ms[mode] = took
    finally:
        searcher.close()
    return result


def _run(searcher: Searcher, data: Dataset, mode: str, *, by_clause: bool):
    run: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for qid, (text, meta) in data.queries.items():
        pairs = dict(meta)
        if by_clause:
            # Judged on policy clauses, so searched among policies (as the Policy group of
            # the results page); precedents and guidance are judged by people, not here.
            pairs.setdefault("type", "policy")
        filters = Filters.parse(pairs, known_keys=searcher.filter_keys) if pairs else Filters()
        fused = searcher.retrieve(
            text, k=min(searcher.settings.max_k, 100), filters=filters, mode=mode, fetch=300
        )
        ranked: dict[str, float] = {}
        for position, item in enumerate(fused):
            passage = searcher.catalog.passage(searcher.ids[item.ordinal])
            unit = (passage.clause_id or passage.doc_id) if by_clause else passage.doc_id
            if unit not in ranked:
                # Rank-based scores keep ties out of pytrec_eval's ordering.
                ranked[unit] = 1.0 / (position + 1)
        run[qid] = ranked
    took = (time.perf_counter() - started) * 1000 / max(1, len(data.queries))
    return run, took
