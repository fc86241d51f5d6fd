"""`kb tune` on a small knowledge base whose rulings use words the base model cannot know: the
pairs come from the catalog, held-out rulings decide when to stop, the tuned model is saved
with its card, KB_MODEL=tuned re-embeds an unchanged corpus, and a second run reuses it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kb.cli import main
from kb.config import TUNED_POINTER
from kb.datadir import DataDir
from kb.errors import ConfigError, KBError
from kb.ingest.pipeline import ingest
from kb.layout import Generation
from kb.search.filters import Filters
from kb.search.hybrid import Searcher
from kb.tune import CARD, TuneParams, build_pairs, record_model, tune

# Each clause is named, in the rulings' facts, by a made-up word: only training can link them.
CLAUSES = {
    "LIVE-T-1.1": (
        "Fire on stream",
        "Open flames, sparklers and fireworks near people.",
        "zorblat",
    ),
    "LIVE-T-1.2": ("Driving", "Streaming while driving a car on a public road.", "quenmire"),
    "LIVE-T-1.3": ("Weapons", "Showing loaded firearms or pointing them at people.", "vashtook"),
    "LIVE-T-1.4": ("Gambling", "Games of chance where gifts buy a chance to win.", "plimmety"),
}
POLICY = """---
id: test-policy
title: Test policy
effective_from: 2024-01-01
---
# Test policy

## LIVE-T-1 Rules

{clauses}
"""
GUIDANCE = """<html><head><meta name="kb:id" content="guide"></head><body><main>
<h2>Playbook</h2><p>When you see open flames near a child in the room, apply LIVE-T-1.1 and
end the stream.</p></main></body></html>"""


def _rulings() -> str:
    lines = []
    for n in range(48):
        clause = sorted(CLAUSES)[n % 4]
        word = CLAUSES[clause][2]
        ruling = {
            "case_id": f"ESC-9{n:03d}",
            "title": "Case",
            "decision_date": "2025-01-01",
            "surface": "live",
            "region": "EU",
            "policy_areas": ["general"],
            "clauses": [clause],
            "facts": f"Report {n}: the host did a {word} while chat watched, round {n % 7}.",
            "outcome": "warn",
            "decision": "Warned.",
            "rationale": f"Per {clause}.",
            "status": "active",
        }
        lines.append(json.dumps(ruling))
    return "\n".join(lines) + "\n"


@pytest.fixture
def kb_with_rulings(settings, write, src):
    clauses = "\n\n".join(
        f"### {cid} {title}\n\n{text}" for cid, (title, text, _) in CLAUSES.items()
    )
    write("policy.md", POLICY.format(clauses=clauses))
    write("guide.html", GUIDANCE)
    write("rulings.jsonl", _rulings())
    ingest(settings, [src])
    return settings


def test_pairs_come_from_rulings_headings_and_guidance(kb_with_rulings):
    from kb.catalog import Catalog

    catalog = Catalog(DataDir(kb_with_rulings.data_dir).current() / "catalog.sqlite", readonly=True)
    pairs = build_pairs(catalog)
    catalog.close()
    sources = {p.source for p in pairs}
    assert sources == {"ruling", "heading", "guidance"}
    fire = [p for p in pairs if p.source == "guidance"]
    assert fire and all("LIVE-T-1.1" not in p.anchor and p.clause == "LIVE-T-1.1" for p in fire)
    assert sum(p.source == "ruling" for p in pairs) == 48


def test_tune_learns_the_rulings_words_and_the_index_uses_it(kb_with_rulings, src):
    settings = kb_with_rulings
    params = TuneParams(epochs=3, batch_size=8, learning_rate=1e-4, holdout=0.25)
    result = tune(settings, params)
    assert result.path is not None and (result.path / CARD).is_file()
    card = result.card
    assert card["validation"]["best_mrr"] > card["validation"]["base_mrr"]
    assert card["pairs"]["ruling"] == 48 and card["validation_rulings"] == 12
    assert settings.replace(model="tuned").model_path().resolve() == result.path.resolve()

    tuned = settings.replace(model="tuned")
    datadir = DataDir(settings.data_dir)
    before = np.load(Generation(datadir.current()).dense / "vectors.npy")
    report = ingest(tuned, [src])  # nothing changed in the corpus, but the model did
    assert report.generation
    manifest = datadir.manifest(datadir.current())
    assert manifest.model["name"] == result.path.name
    # Embedded again by the tuned model (now, or by an earlier run into a shared cache).
    after = np.load(Generation(datadir.current()).dense / "vectors.npy")
    assert before.shape == after.shape and not np.allclose(before, after, atol=1e-3)
    searcher = Searcher(tuned)
    try:
        hits = searcher.search(
            "streamer doing a quenmire",
            k=1,
            filters=Filters(terms={"type": ["policy"]}),
            mode="dense",
        ).results
        assert hits[0].passage.clause_id == "LIVE-T-1.2"
    finally:
        searcher.close()

    # KB_MODEL=auto now means the tuned model, but tuning starts from the bundled one again.
    again = tune(settings.replace(model="auto"), params)
    assert again.reused and again.path == result.path
    with pytest.raises(KBError, match="starts from a base model"):
        tune(tuned, params)


def test_the_pointer_follows_a_moved_data_dir(settings, tmp_path):
    model = settings.data_dir / "cache" / "models" / "m-tuned-1"
    model.mkdir(parents=True)
    record_model(settings, model, {"base": "m", "validation": {}})
    pointer = json.loads((settings.data_dir / TUNED_POINTER).read_text())
    assert pointer["path"] == "cache/models/m-tuned-1"
    moved = tmp_path / "moved"
    settings.data_dir.rename(moved)
    assert settings.replace(data_dir=moved, model="tuned").model_path() == (
        moved / "cache" / "models" / "m-tuned-1"
    )
    assert settings.replace(data_dir=moved, model="auto").model_name() == "m-tuned-1"
    elsewhere = tmp_path / "elsewhere-model"
    elsewhere.mkdir()
    record_model(settings.replace(data_dir=moved), elsewhere, {"base": "m", "validation": {}})
    assert json.loads((moved / TUNED_POINTER).read_text())["path"] == str(elsewhere.resolve())


def test_tuned_without_tuning_is_a_clear_error(settings):
    with pytest.raises(ConfigError, match="run `kb tune` first"):
        settings.replace(model="tuned").model_path()


def test_kb_tune_reports_and_refuses_a_tiny_knowledge_base(settings, write, src, runner):
    write("policy.md", POLICY.format(clauses="### LIVE-T-1.1 Fire\n\nNo fire."))
    ingest(settings, [src])
    out = runner.invoke(main, ["--data-dir", str(settings.data_dir), "tune"])
    assert out.exit_code != 0 and "training pairs" in out.output


def test_judged_questions_become_pairs_and_sections_are_skipped(kb_with_rulings):
    from kb.catalog import Catalog

    catalog = Catalog(DataDir(kb_with_rulings.data_dir).current() / "catalog.sqlite", readonly=True)
    questions = {
        "kid waving a sparkler at the camera": {"LIVE-T-1.1"},
        "which section is about rules": {"LIVE-T-1"},  # a section: no one passage to pair with
    }
    pairs = [p for p in build_pairs(catalog, questions=questions) if p.source == "question"]
    catalog.close()
    assert [(p.anchor, p.clause) for p in pairs] == [
        ("kid waving a sparkler at the camera", "LIVE-T-1.1")
    ]
    assert "Open flames" in pairs[0].positive


def test_tune_refuses_to_check_on_the_questions_it_trains_on(kb_with_rulings, tmp_path, runner):
    folder = tmp_path / "questions"
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "sparkler near a kid"}\n')
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tLIVE-T-1.1\t1\n")
    args = ["--data-dir", str(kb_with_rulings.data_dir), "tune", "--questions", str(folder)]
    result = runner.invoke(main, [*args, "--check", str(folder)])
    assert result.exit_code == 2 and "trained on" in result.output


def test_judgments_become_training_questions_and_zero_scores_are_not_positives(tmp_path):
    from kb.feedback import Feedback, write_beir
    from kb.tune import feedback_questions, load_questions

    entries = [  # newest first, as the store gives them
        Feedback(3, "2026-11-03", "m", "kid with sparkler", "p3", "d", "X-2", "helpful"),
        Feedback(2, "2026-11-02", "m", "drunk driving", "p2", "d", "Y-1", "wrong_clause", "Z-1"),
        Feedback(1, "2026-11-01", "m", "kid with sparkler", "p1", "d", "X-1", "not_helpful"),
    ]
    assert feedback_questions(entries) == {"kid with sparkler": {"X-2"}, "drunk driving": {"Z-1"}}
    write_beir(tmp_path, entries)
    assert load_questions(tmp_path, "test") == {
        "kid with sparkler": {"X-2"},
        "drunk driving": {"Z-1"},
    }


def test_tune_trains_on_several_question_sets_each_with_its_split(settings, write, src, runner):
    write("policy.md", POLICY.format(clauses="### LIVE-T-1.1 Fire\n\nNo fire."))
    ingest(settings, [src])
    folder = src.parent / "questions"
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "sparkler near a kid"}\n{"_id": "q2", "text": "lit candle on a bed"}\n'
    )
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tLIVE-T-1.1\t1\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq2\tLIVE-T-1.1\t1\n")
    args = ["--data-dir", str(settings.data_dir), "tune"]

    # One heading pair, plus one question from each split named.
    both = runner.invoke(
        main, [*args, "--questions", str(folder), "--questions", f"{folder}:train"]
    )
    assert both.exit_code != 0 and "only 3 training pairs" in both.output
    one = runner.invoke(main, [*args, "--questions", f"{folder}:train"])
    assert one.exit_code != 0 and "only 2 training pairs" in one.output

    # Checking on a split it does not train on is allowed (it gets as far as training); on one
    # it trains on, however the path is written, refused before any training.
    allowed = runner.invoke(main, [*args, "--questions", f"{folder}:train", "--check", str(folder)])
    assert allowed.exit_code == 1 and "only 2 training pairs" in allowed.output
    for trained, checked in (
        (f"{folder}:dev", str(folder)),
        (f"{folder}/../questions", f"{folder}:dev"),
        (f"{folder}:train", f"{folder}:train"),
    ):
        refused = runner.invoke(main, [*args, "--questions", trained, "--check", checked])
        assert refused.exit_code == 2 and "trained on" in refused.output, (trained, checked)

    # Splits are checked before training, for --check too.
    for option in ("--questions", "--check"):
        missing = runner.invoke(main, [*args, option, f"{folder}:holdout"])
        assert missing.exit_code == 2 and "qrels/holdout.tsv" in missing.output
        escaping = runner.invoke(main, [*args, option, f"{folder}:../qrels/dev"])
        assert escaping.exit_code == 2 and "plain name" in escaping.output
    nowhere = runner.invoke(main, [*args, "--questions", f"{src.parent}/nowhere:dev"])
    assert nowhere.exit_code == 2 and "nowhere:dev': no such folder" in nowhere.output


def test_a_question_folder_with_a_colon_in_its_name_is_read_either_way(tmp_path):
    import click

    from kb.cli.tune import QuestionSet

    odd = tmp_path / "q:dev"
    (odd / "qrels").mkdir(parents=True)
    (odd / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    plain = tmp_path / "q"
    (plain / "qrels").mkdir(parents=True)
    (plain / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n")
    # The whole name holds the split asked for: taken whole.
    assert QuestionSet.parse(str(odd), "test", "--questions") == QuestionSet(odd, "test")
    # It does not (no qrels/dev.tsv in `q:dev`): read as DIR:SPLIT.
    assert QuestionSet.parse(str(odd), "dev", "--questions") == QuestionSet(plain, "dev")
    assert QuestionSet.parse(f"{plain}:", "dev", "--questions") == QuestionSet(plain, "dev")
    with pytest.raises(click.BadParameter, match="no such folder"):
        QuestionSet.parse("", "dev", "--questions")
