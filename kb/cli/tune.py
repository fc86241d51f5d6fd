"""`kb tune`: fine-tune the embedding model on this knowledge base."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import click

from kb.cli.common import console, json_option
from kb.config import Settings


@click.command()
@click.option("--epochs", type=int, default=3, show_default=True, help="At most this many.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--learning-rate", type=float, default=2e-5, show_default=True)
@click.option(
    "--holdout",
    type=float,
    default=0.15,
    show_default=True,
    help="Share of rulings held out to decide when to stop.",
)
@click.option(
    "--sentences",
    type=int,
    default=0,
    show_default=True,
    help="Also pair up to this many of each clause's own sentences with the rest of it.",
)
@click.option(
    "--hard-negatives",
    is_flag=True,
    help="Give each pair the base model's best wrong clause as a negative.",
)
@click.option(
    "--questions",
    "question_sets",
    multiple=True,
    metavar="DIR[:SPLIT]",
    help="Also train on these BEIR questions (qrels/<SPLIT>.tsv, --split when not given): each "
    "question -> the clauses judged to govern it. Repeatable.",
)
@click.option(
    "--feedback",
    "use_feedback",
    is_flag=True,
    help="Also train on moderators' judgments: each question with the clause judged helpful "
    "or named as the right one.",
)
@click.option("--force", is_flag=True, help="Train again even if this exact model exists.")
@click.option(
    "--check",
    "check_set",
    metavar="DIR[:SPLIT]",
    help="Keep the tuned model only if it beats the base model on these BEIR questions "
    "(judged per clause; qrels/<SPLIT>.tsv, --split when not given).",
)
@click.option(
    "--split",
    default="dev",
    show_default=True,
    help="qrels/<split>.tsv of --check, and of --questions that name no split.",
)
@json_option("Print the model card as JSON.")
@click.pass_obj
def tune(
    settings: Settings,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    holdout: float,
    sentences: int,
    hard_negatives: bool,
    question_sets: tuple[str, ...],
    use_feedback: bool,
    force: bool,
    check_set: str | None,
    split: str,
    as_json: bool,
) -> None:
    """Fine-tune the embedding model on this knowledge base's own rulings, clause headings and
    guidance citations (CPU, minutes); then KB_MODEL=tuned (or auto) uses it."""
    from kb.config import TUNED_POINTER
    from kb.tune import TuneParams, check, load_questions, record_model
    from kb.tune import tune as run_tune

    sets = [QuestionSet.parse(value, split, "--questions") for value in question_sets]
    checked = QuestionSet.parse(check_set, split, "--check") if check_set else None
    if checked is not None and any(checked.same_as(other) for other in sets):
        raise click.UsageError(
            "--check would judge the model on the questions it was trained on: check on "
            "other questions, or leave --check out (held-out rulings still decide)"
        )
    # Question text -> judged clause ids, from each set and from moderators' judgments.
    found = [load_questions(question_set.folder, question_set.split) for question_set in sets]
    if use_feedback:
        from kb.feedback import FeedbackStore
        from kb.tune import feedback_questions

        store = FeedbackStore(settings.user_store())
        found.append(feedback_questions(store.entries()))
        store.close()
    questions: dict[str, set[str]] | None = None
    if found:
        questions = {}
        for judged in found:
            for text, clauses in judged.items():
                questions[text] = questions.get(text, set()) | clauses

    params = TuneParams(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        holdout=holdout,
        sentences=sentences,
        hard_negatives=hard_negatives,
    )

    def say(message: str) -> None:
        if not as_json:
            console.print(message, markup=False)

    result = run_tune(
        settings, params, force=force, record=checked is None, questions=questions, log=say
    )
    if result.path is not None and checked is not None:
        scores = check(settings, result.path, checked.folder, checked.split)
        result.card["check"] = {"dataset": str(checked.folder), "split": checked.split, **scores}
        say(
            f"{checked.folder} ({checked.split}), dense clause MRR@10: base "
            f"{scores['base']:.3f}, tuned {scores['tuned']:.3f}"
        )
        if scores["tuned"] > scores["base"]:
            record_model(settings, result.path, result.card)
        else:
            (settings.data_dir / TUNED_POINTER).unlink(missing_ok=True)
            say("the tuned model does not win there: the base model stays (KB_MODEL=auto)")
            if as_json:
                click.echo(json.dumps({"path": None, **result.card}))
            return
    if as_json:
        click.echo(json.dumps({"path": str(result.path) if result.path else None, **result.card}))
        return
    v = result.card["validation"]
    if result.path is None:
        console.print(
            f"no epoch beat the base model on the held-out rulings (clause MRR@10 "
            f"{v['base_mrr']:.3f}); nothing saved, the base model stays"
        )
        return
    console.print(
        f"{'reused' if result.reused else 'saved'} {result.path.name}: held-out rulings' clause "
        f"MRR@10 {v['base_mrr']:.3f} -> {v['best_mrr']:.3f} (epoch {v['best_epoch']}); "
        f"pairs {result.card['pairs']}"
    )
    console.print("use it: KB_MODEL=tuned kb ingest ... (re-embeds), then KB_MODEL=tuned kb serve")


@dataclass(frozen=True)
class QuestionSet:
    """One split of a BEIR folder of questions judged per clause."""

    folder: Path
    split: str

    @property
    def qrels(self) -> Path:
        return self.folder / "qrels" / f"{self.split}.tsv"

    @classmethod
    def parse(cls, value: str, split: str, option: str) -> QuestionSet:
        """`DIR` (with `split`) or `DIR:SPLIT`. A folder named by the whole value, colon and
        all, is taken whole when it holds that split; the reading that finds a qrels file wins."""
        readings = [cls(Path(value), split)] if value else []
        if ":" in value:
            head, _, tail = value.rpartition(":")
            if head:
                readings.append(cls(Path(head), tail or split))
        for reading in readings:
            if not _SPLIT_RE.fullmatch(reading.split):
                raise click.BadParameter(
                    f"{value!r}: a split is a plain name such as dev or test", param_hint=option
                )
            if reading.qrels.is_file():
                return reading
        folders = [r for r in readings if r.folder.is_dir()]
        if not folders:
            raise click.BadParameter(f"{value!r}: no such folder", param_hint=option)
        raise click.BadParameter(
            f"{value!r}: no {folders[-1].qrels} (name the split as DIR:SPLIT)", param_hint=option
        )

    def same_as(self, other: QuestionSet) -> bool:
        """Whether both name the same qrels file (however the path was written)."""
        return os.path.samefile(self.qrels, other.qrels)


_SPLIT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


COMMANDS = (tune,)
