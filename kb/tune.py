"""`kb tune`: fine-tune the embedding model on the knowledge base's own data.

Rulings already say which clauses governed which facts: exactly the moderator's question
("these facts -> that clause"). The pairs come from the catalog only:

- each active ruling's facts -> each clause it applied, in the version in force on its decision
  date and in the current version;
- each clause's heading -> its text;
- each guidance passage that cites a clause id -> that clause (the id taken out of the
  guidance text, so the model learns the words, not the id);
- optionally, questions judged per clause (a BEIR folder's tuning split, `--questions`): each
  question -> each clause judged to govern it.

Training uses in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss) on CPU.
A share of the rulings is held out: after each epoch the model ranks every current clause for
their facts (MRR@10), and training stops when that stops improving. The best model is saved
in the cache by content hash (base model, pairs, parameters), with a card, and recorded in
DATA_DIR/tuned-model.json, which `KB_MODEL=tuned` reads. Nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.catalog import Catalog, now
from kb.config import TUNED_POINTER, Settings
from kb.datadir import DataDir
from kb.errors import KBError
from kb.ingest.structure import CLAUSE_ID_RE
from kb.layout import Generation
from kb.search.encoders import model_info
from kb.types import HEADING_SEPARATOR, Passage

CARD = "kb_tune.json"
TUNE_FORMAT = 1
# A clause id anywhere in a text (guidance cites "see LIVE-DNG-3.1").
_CITED_RE = re.compile(r"\b(?:[A-Z][A-Z0-9]*-)+\d+(?:\.\d+)*\b")


@dataclass(frozen=True)
class Pair:
    """One training example: a text and the passage it should find."""

    anchor: str
    positive: str
    source: str  # "ruling", "heading" or "guidance"
    group: str  # the ruling's case id (held out together), else the clause id
    clause: str  # the clause the anchor should find
    negative: str = ""  # a clause the anchor should not find (hard negatives)


@dataclass(frozen=True)
class TuneParams:
    """What a tuning run does (part of the tuned model's content hash)."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1
    holdout: float = 0.15
    # Epochs after the best one that may fail to beat it: 0 stops at the first worse epoch.
    patience: int = 0
    seed: int = 13
    sentences: int = 0  # per clause: its own sentences -> the rest of it (0: none)
    hard_negatives: bool = False  # each pair also gets the base model's best wrong clause


@dataclass
class TuneResult:
    """What `tune` produced: the model folder and its card (None when tuning did not beat the
    base model on the held-out rulings)."""

    path: Path | None
    card: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


def build_pairs(
    catalog: Catalog, sentences: int = 0, questions: dict[str, set[str]] | None = None
) -> list[Pair]:
    """Training pairs from what the catalog holds (see the module docstring); with
    `sentences`, also up to that many sentences of each clause -> the rest of the clause; with
    `questions` (text -> the clause ids judged to govern it), each question -> each of its
    clauses (section ids are skipped: no one passage is a section)."""
    pairs: list[Pair] = []
    for ruling in catalog.current_rulings():
        if ruling.status != "active":
            continue  # overturned or superseded: its clauses are not the ones to learn
        seen: set[str] = set()
        for clause in ruling.clauses:
            for on in (ruling.decision_date, None):
                passage = catalog.clause_passage(clause, on)
                if passage is not None and passage.embed_text not in seen:
                    seen.add(passage.embed_text)
                    pairs.append(
                        Pair(ruling.facts, passage.embed_text, "ruling", ruling.case_id, clause)
                    )
    firsts: dict[str, Passage] = {}
    for passage in catalog.current_passages("policy"):
        if passage.clause_id and passage.clause_id not in firsts:
            firsts[passage.clause_id] = passage
    for clause, passage in firsts.items():
        title = CLAUSE_ID_RE.sub("", passage.heading_path[-1]).strip(" :")
        if title and passage.text.strip():
            pairs.append(Pair(title, passage.text, "heading", clause, clause))
    if sentences:
        pairs += _sentence_pairs(catalog, sentences)
    for passage in catalog.current_passages("guidance"):
        for clause in sorted(set(_CITED_RE.findall(passage.text)) & set(firsts)):
            text = " ".join(_CITED_RE.sub(" ", passage.text).split())
            if len(text.split()) >= 5:
                pairs.append(Pair(text, firsts[clause].embed_text, "guidance", clause, clause))
    for text, wanted in (questions or {}).items():
        for clause in sorted(set(wanted) & set(firsts)):
            pairs.append(Pair(text, firsts[clause].embed_text, "question", text, clause))
    return pairs


def _sentence_pairs(catalog: Catalog, per_clause: int) -> list[Pair]:
    """A clause's own sentences (the longest first) -> the clause without that sentence: the
    cases a clause describes, in other words than its heading."""
    from kb.ingest.tokens import SentenceSplitter

    splitter = SentenceSplitter()
    texts: dict[str, list[Passage]] = {}
    for passage in catalog.current_passages("policy"):
        if passage.clause_id:
            texts.setdefault(passage.clause_id, []).append(passage)
    pairs = []
    for clause, passages in texts.items():
        text = "\n".join(p.text for p in passages)
        found = sorted(
            (text[s:e] for s, e in splitter.spans(text)), key=lambda t: (-len(t.split()), t)
        )
        heading = HEADING_SEPARATOR.join(passages[0].heading_path)
        for sentence in [t for t in found if len(t.split()) >= 8][:per_clause]:
            rest = " ".join(text.replace(sentence, " ").split())
            pairs.append(Pair(sentence, f"{heading}\n{rest}", "sentence", clause, clause))
    return pairs


def load_questions(folder: Path, split: str) -> dict[str, set[str]]:
    """Question text -> its judged clause ids, from a BEIR folder's qrels/<split>.tsv."""
    from kb.evaluation import Dataset

    data = Dataset.load(folder, split)
    return {
        text: {doc for doc, score in data.qrels.get(qid, {}).items() if score > 0}
        for qid, (text, _) in data.queries.items()
    }


def feedback_questions(entries: list) -> dict[str, set[str]]:
    """Question text -> the clauses moderators judged right for it: a helpful result's
    clause, or the clause named instead of a wrong one (newest judgment of a pair wins)."""
    from kb.feedback import judgments

    queries, rows = judgments(entries)
    text = {q["_id"]: q["text"] for q in queries}
    out: dict[str, set[str]] = {}
    for qid, target, score in rows:
        if score > 0:
            out.setdefault(text[qid], set()).add(target)
    return out


def split_pairs(pairs: list[Pair], params: TuneParams) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): a `holdout` share of the rulings (all their pairs) is held out."""
    cases = sorted({p.group for p in pairs if p.source == "ruling"})
    random.Random(params.seed).shuffle(cases)
    held = set(cases[: round(len(cases) * params.holdout)])
    train = [p for p in pairs if p.group not in held]
    return train, [p for p in pairs if p.group in held]


def tune(
    settings: Settings,
    params: TuneParams | None = None,
    *,
    force: bool = False,
    record: bool = True,
    questions: dict[str, set[str]] | None = None,
    log=lambda message: None,
) -> TuneResult:
    """Fine-tune the base model on the live generation's catalog; see the module docstring.
    With `record`, the model is also named in DATA_DIR/tuned-model.json (see `record_model`)."""
    params = params or TuneParams()
    settings = base_settings(settings)
    base = model_info(settings)
    catalog = Catalog(Generation(DataDir(settings.data_dir).current()).catalog, readonly=True)
    try:
        pairs = build_pairs(catalog, params.sentences, questions)
        clauses = _clause_texts(catalog)
    finally:
        catalog.close()
    if not any(p.source == "ruling" for p in pairs):
        log("no active rulings: training on clause headings and guidance citations only")
    train, validation = split_pairs(pairs, params)
    if len(train) < params.batch_size:
        raise KBError(
            f"only {len(train)} training pairs (need at least {params.batch_size}): the "
            "knowledge base needs rulings or clause headings to learn from"
        )
    data_hash = hashlib.sha256(
        json.dumps([asdict(p) for p in pairs], sort_keys=True).encode()
    ).hexdigest()
    key = hashlib.sha256(
        f"{base.key}\x00{data_hash}\x00{json.dumps(asdict(params), sort_keys=True)}".encode()
    ).hexdigest()[:12]
    folder = settings.cache_path() / "models" / f"{base.name}-tuned-{key}"
    if (folder / CARD).is_file() and not force:
        card = json.loads((folder / CARD).read_text())
        if record:
            record_model(settings, folder, card)
        return TuneResult(folder, card, reused=True)

    started = time.perf_counter()
    model, loss, torch = _load(base.path, params.seed)
    if params.hard_negatives:
        train = _with_hard_negatives(model, train, pairs, clauses)
    base_mrr = validation_mrr(model, validation, clauses)
    log(f"base model: held-out rulings' clause MRR@10 {base_mrr:.3f}")
    history: list[dict[str, float]] = []
    best, best_epoch, waited = base_mrr, 0, 0
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    steps = params.epochs * max(1, len(train) // params.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=0.01)
    warmup = max(1, int(steps * params.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup + 1)))
    )
    rng = random.Random(params.seed)
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in version 6
    for epoch in range(1, params.epochs + 1):
        model.train()
        total, batches = 0.0, 0
        for batch in _batches(train, params.batch_size, rng):
            features = [prepare([p.anchor for p in batch]), prepare([p.positive for p in batch])]
            if params.hard_negatives:
                features.append(prepare([p.negative for p in batch]))
            value = loss(features, None)
            optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += value.detach().item()
            batches += 1
        mrr = validation_mrr(model, validation, clauses)
        history.append({"epoch": epoch, "loss": total / max(1, batches), "mrr": mrr})
        log(f"epoch {epoch}: loss {total / max(1, batches):.3f}, held-out clause MRR@10 {mrr:.3f}")
        if mrr > best:
            best, best_epoch, waited = mrr, epoch, 0
            shutil.rmtree(work, ignore_errors=True)
            model.save(str(work))
        else:
            waited += 1
            if waited > params.patience:
                break
    card = {
        "format": TUNE_FORMAT,
        "base": base.name,
        "base_key": base.key,
        "data_hash": data_hash,
        "params": asdict(params),
        "pairs": {
            s: sum(p.source == s for p in pairs)
            for s in ("ruling", "heading", "guidance", "sentence", "question")
        },
        "train_pairs": len(train),
        "validation_pairs": len(validation),
        "validation_rulings": len({p.group for p in validation}),
        "validation": {"base_mrr": base_mrr, "best_mrr": best, "best_epoch": best_epoch},
        "history": history,
        "seconds": round(time.perf_counter() - started, 1),
        "created_at": now(),
    }
    if best_epoch == 0:
        shutil.rmtree(work, ignore_errors=True)
        return TuneResult(None, card)
    (work / CARD).write_text(json.dumps(card, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    if record:
        record_model(settings, folder, card)
    return TuneResult(folder, card)


def validation_mrr(model, validation: list[Pair], clauses: dict[str, list[str]]) -> float:
    """MRR@10 of the held-out rulings' clauses when their facts rank every current clause; 0
    without held-out rulings."""
    gold: dict[str, set[str]] = {}
    for p in validation:
        if p.source == "ruling":
            gold.setdefault(p.anchor, set()).add(p.clause)
    return clause_mrr(model, gold, clauses)


def clause_mrr(model, gold: dict[str, set[str]], clauses: dict[str, list[str]]) -> float:
    """MRR@10 of the gold clauses when each text of `gold` ranks every clause of `clauses` by
    dense similarity (a clause scores as its best passage; a section id is found by any of its
    clauses)."""
    if not gold:
        return 0.0
    names = list(clauses)
    texts = [t for name in names for t in clauses[name]]
    owner = np.array([i for i, name in enumerate(names) for _ in clauses[name]])
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    queries = model.encode(
        list(gold), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
    )
    total = 0.0
    for qvec, wanted in zip(queries, gold.values(), strict=True):
        per_clause = np.full(len(names), -np.inf)
        np.maximum.at(per_clause, owner, vectors @ qvec)
        order = np.argsort(-per_clause)[:10]
        rank = next(
            (
                r
                for r, i in enumerate(order, 1)
                if any(names[i] == g or names[i].startswith(g + ".") for g in wanted)
            ),
            None,
        )
        total += 1.0 / rank if rank else 0.0
    return total / len(gold)


def base_settings(settings: Settings) -> Settings:
    """The settings naming the model to tune from: `auto` tunes the bundled model (what `auto`
    falls back to), `tuned` is refused (a tuned model is not tuned again)."""
    if settings.model == "tuned":
        raise KBError("tune starts from a base model: unset KB_MODEL=tuned (or name a folder)")
    return settings.replace(model="") if settings.model == "auto" else settings


def check(settings: Settings, tuned: Path, dataset: Path, split: str) -> dict[str, float]:
    """Dense clause MRR@10 of the base and the tuned model on a BEIR folder's questions (judged
    per clause, as `kb eval` does for the shipped corpus)."""
    gold = load_questions(dataset, split)
    catalog = Catalog(Generation(DataDir(settings.data_dir).current()).catalog, readonly=True)
    try:
        clauses = _clause_texts(catalog)
    finally:
        catalog.close()
    out = {}
    for name, path in (("base", model_info(base_settings(settings)).path), ("tuned", tuned)):
        model, _, _ = _load(path, 0)
        out[name] = clause_mrr(model, gold, clauses)
    return out


def _clause_texts(catalog: Catalog) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for passage in catalog.current_passages("policy"):
        if passage.clause_id:
            out.setdefault(passage.clause_id, []).append(passage.embed_text)
    return out


def _batches(pairs: list[Pair], size: int, rng: random.Random):
    """Shuffled batches in which no text repeats: a repeated positive would be an in-batch
    negative of itself (several rulings apply one clause)."""
    pending = pairs[:]
    rng.shuffle(pending)
    while pending:
        batch, texts, rest = [], set(), []
        for p in pending:
            mine = {p.anchor, p.positive, p.negative} - {""}
            if len(batch) < size and not mine & texts:
                batch.append(p)
                texts |= mine
            else:
                rest.append(p)
        pending = rest
        if len(batch) >= 2:
            yield batch


def _with_hard_negatives(
    model, train: list[Pair], pairs: list[Pair], clauses: dict[str, list[str]]
) -> list[Pair]:
    """Each training pair with the clause the base model ranks highest among those its anchor
    should not find (a clause no pair with that anchor names), as its negative."""
    from dataclasses import replace

    names = list(clauses)
    firsts = [clauses[name][0] for name in names]
    wanted: dict[str, set[str]] = {}
    for p in pairs:
        wanted.setdefault(p.anchor, set()).add(p.clause)
    vectors = model.encode(firsts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    anchors = list(dict.fromkeys(p.anchor for p in train))
    queries = model.encode(anchors, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    negative = {}
    for anchor, qvec in zip(anchors, queries, strict=True):
        for i in np.argsort(-(vectors @ qvec)):
            if names[i] not in wanted[anchor]:
                negative[anchor] = firsts[i]
                break
    return [replace(p, negative=negative.get(p.anchor, "")) for p in train if p.anchor in negative]


def _load(path: Path, seed: int):
    import os

    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    return model, MultipleNegativesRankingLoss(model), torch


def record_model(settings: Settings, folder: Path, card: dict[str, Any]) -> None:
    """Point DATA_DIR/tuned-model.json at `folder` (read by KB_MODEL=tuned and auto)."""
    pointer = Path(settings.data_dir) / TUNED_POINTER
    try:  # relative to the data dir when inside it, so a moved data dir keeps its model
        where = str(folder.resolve().relative_to(pointer.parent.resolve()))
    except ValueError:
        where = str(folder.resolve())
    tmp = pointer.with_name(pointer.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "path": where,
                "name": folder.name,
                "base": card["base"],
                "validation": card["validation"],
            },
            indent=2,
        )
        + "\n"
    )
    tmp.replace(pointer)
