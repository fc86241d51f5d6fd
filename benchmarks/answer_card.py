"""How often the answer card leads with the governing clause.

    python benchmarks/answer_card.py DATA_DIR [--split dev|test] [--questions DIR]

DATA_DIR holds the shipped sample corpus (`make run` builds `index/`). For each moderator
question of corpus/eval/moderator (or of the BEIR folder `--questions`, e.g.
corpus/eval/holdout2; the chosen split), builds the answer card as the web app
does and prints, per kind of question and overall: how often the card answers, how often its
governing (first) source is a gold clause, and how often its first sentence comes from one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.config import Settings
from kb.evaluation import Dataset
from kb.search.answer import Answerer
from kb.search.hybrid import Searcher

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "corpus" / "eval" / "moderator"


def _gold(clause: str | None, wanted: set[str]) -> bool:
    return bool(clause) and any(clause == g or clause.startswith(g + ".") for g in wanted)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS, help="a BEIR folder of judged questions"
    )
    args = parser.parse_args()
    settings = Settings.load(data_dir=args.data_dir)
    data = Dataset.load(args.questions, args.split)
    gold = {qid: set(judged) for qid, judged in data.qrels.items()}
    searcher = Searcher(settings)
    answerer = Answerer(searcher, settings.answer_threshold)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for qid, wanted in gold.items():
        card = answerer.answer(data.queries[qid][0])
        lead = card.sources[0].passage.clause_id if card.sources else None
        first = card.sources[card.sentences[0].source].passage.clause_id if card.sentences else None
        for kind in (data.kinds[qid], "all"):
            c = counts[kind]
            c[0] += 1
            c[1] += card.answered
            c[2] += card.answered and _gold(lead, wanted)
            c[3] += card.answered and _gold(first, wanted)
    searcher.close()
    shown = args.questions.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else args.questions
    print(f"answer card on {shown.as_posix()} ({args.split}), model {settings.model_name()}")
    print(f"{'kind':8} {'n':>4} {'answers':>8} {'governing':>10} {'1st sentence':>13}")
    for kind in sorted(counts, key=lambda k: (k == "all", k)):
        n, answered, lead, first = counts[kind]
        print(f"{kind:8} {n:4d} {answered / n:8.2f} {lead / n:10.2f} {first / n:13.2f}")
    print("command: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


if __name__ == "__main__":
    main()
