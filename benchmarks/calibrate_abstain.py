"""Calibrate the answer card's abstention threshold.

    python benchmarks/calibrate_abstain.py DATA_DIR

DATA_DIR holds the shipped sample corpus (`make run` builds `index/`). For the in-domain
moderator questions of corpus/eval and for the off-topic questions below, prints what the
answer card compares with its threshold (the best dense similarity among the policy and
guidance passages its search ranks), and the threshold that separates them best
(ties broken toward answering: a moderator mid-stream is better served by a cited passage
than by a refusal, as long as off-topic questions are refused).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.config import Settings
from kb.search.answer import Answerer
from kb.search.hybrid import Searcher

ROOT = Path(__file__).resolve().parents[1]
OFF_TOPIC = [
    "best pizza in town",
    "what's the weather tomorrow in Lisbon",
    "recipe for banana bread",
    "how do I reset my laptop password",
    "python list comprehension syntax",
    "who won the 1998 world cup",
    "translate good morning into French",
    "apple share price today",
    "how many calories are in an avocado",
    "train times from Leeds to York",
    "how to change a bike tyre",
    "best budget headphones",
    "what is the capital of Australia",
    "how long to boil an egg",
    "moderator parental leave entitlement",
    "how do I book annual leave",
    "expense claim for a team lunch",
    "VPN not connecting on the office wifi",
    "when is the next payday",
    "how to knit a scarf",
    "symptoms of the flu",
    "cheap flights to Tokyo in May",
    "how to file my taxes",
    "good sci-fi books",
    "how to make cold brew coffee",
    "what time does the gym open",
    "how do magnets work",
    "lyrics of a famous song",
    "convert 5 miles to km",
    "who is the CEO of the company",
]


def best_scores(answerer: Answerer, queries: list[str]) -> list[float]:
    """What the answer card compares with its threshold: the best dense similarity among the
    policy and guidance passages its search ranks (1.0 for a query naming a clause id)."""
    return [answerer.answer(q).confidence for q in queries]


def main() -> None:
    settings = Settings.load(data_dir=sys.argv[1] if len(sys.argv) > 1 else "index")
    searcher = Searcher(settings)
    answerer = Answerer(searcher, settings.answer_threshold)
    in_domain = [
        json.loads(line)["text"]
        for line in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines()
    ]
    rulings = []
    for path in sorted((ROOT / "corpus" / "rulings").glob("*.jsonl")):
        rulings += [json.loads(line)["title"] for line in path.read_text().splitlines()]
    inside = best_scores(answerer, in_domain + rulings[::4])
    outside = best_scores(answerer, OFF_TOPIC)
    searcher.close()
    print(
        f"in-domain ({len(inside)}): min {min(inside):.3f}  p5 {np.percentile(inside, 5):.3f}"
        f"  median {np.median(inside):.3f}"
    )
    print(
        f"off-topic ({len(outside)}): max {max(outside):.3f}  p95 "
        f"{np.percentile(outside, 95):.3f}  median {np.median(outside):.3f}"
    )
    best = None
    for t in np.arange(0.10, 0.60, 0.005):
        correct = sum(s >= t for s in inside) + sum(s < t for s in outside)
        if best is None or correct > best[1]:
            best = (round(float(t), 3), correct)
    t, correct = best
    print(
        f"threshold {t}: {correct}/{len(inside) + len(outside)} correct; in-domain answered "
        f"{sum(s >= t for s in inside)}/{len(inside)}, off-topic refused "
        f"{sum(s < t for s in outside)}/{len(outside)}"
    )


if __name__ == "__main__":
    main()
