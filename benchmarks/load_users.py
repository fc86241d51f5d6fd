"""Locust users for bench_load.py: moderators searching the knowledge base.

    locust -f benchmarks/load_users.py --headless -u 20 -r 20 -t 60s --host http://127.0.0.1:8000

Each user loops over a realistic mix: JSON searches (with and without filters), the HTML
search page, the answer card, and the passages and document pages its searches returned.
Queries are the sample corpus' moderator questions (with their own filters) and the first
sentence of ruling facts, each in a few moderator phrasings, so that most queries are new to
the server's 512-entry query-vector cache, as real traffic would be. KB_LOAD_THINK (seconds,
default 1) is the mean pause between a user's requests; 0 sends them back to back.
KB_LOAD_WARM=1 draws the queries from other phrasings (for an unmeasured warm-up run).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import threading
import urllib.parse
from collections import deque
from pathlib import Path

from locust import FastHttpUser, between, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import queries as fact_queries

ROOT = Path(__file__).resolve().parents[1]
THINK = float(os.environ.get("KB_LOAD_THINK", "1"))
PHRASINGS = (
    "{}",
    "{}?",
    "is this allowed: {}",
    "{} - what applies",
    "report: {}",
    "{} (viewer report)",
    "what do we do when {}",
    "policy for {}",
)
# bench_load.py --warm asks these instead, so that the measured run's queries stay unseen.
WARM_PHRASINGS = ("{} again", "second report: {}", "{}, which clause", "need guidance: {}")
# Filters moderators add, with how often (None: no filter beyond the query's own).
FILTERS = [
    (None, 40),
    ({"type": "policy"}, 20),
    ({"type": "ruling"}, 12),
    ({"type": "guidance"}, 4),
    ({"surfaces": "live"}, 4),
    ({"surfaces": "gifting"}, 3),
    ({"surfaces": "multi-guest"}, 3),
    ({"regions": "EU"}, 4),
    ({"regions": "KR"}, 3),
    ({"regions": "IN"}, 3),
    ({"type": "policy", "regions": "BR"}, 4),
]


def _queries() -> list[tuple[str, dict]]:
    """(query, its own filters) in every phrasing, shuffled with a fixed seed."""
    base = []
    for line in (ROOT / "corpus" / "eval" / "queries.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            base.append((row["text"], dict(row.get("metadata") or {})))
    asked = {text for text, _ in base}
    base += [(text, {}) for text in fact_queries() if text not in asked]
    phrasings = WARM_PHRASINGS if os.environ.get("KB_LOAD_WARM") else PHRASINGS
    out = [(p.format(text.rstrip("?")), meta) for p in phrasings for text, meta in base]
    random.Random(7).shuffle(out)
    return out


_QUERIES = itertools.cycle(_queries())
_NEXT = threading.Lock()


def next_query() -> tuple[str, dict]:
    """The next query of the shared stream, with a filter mix drawn for it."""
    with _NEXT:
        text, own = next(_QUERIES)
    extra = random.choices([f for f, _ in FILTERS], weights=[w for _, w in FILTERS])[0]
    return text, {**own, **(extra or {})}


class Moderator(FastHttpUser):
    """One moderator: searches, reads answers, opens passages and documents."""

    wait_time = between(THINK / 2, THINK * 1.5) if THINK > 0 else constant(0)

    def on_start(self) -> None:
        self.passages: deque[str] = deque(maxlen=50)
        self.documents: deque[str] = deque(maxlen=50)

    def _get(self, path: str, params: dict, name: str, *, json_body: bool):
        url = f"{path}?{urllib.parse.urlencode(params)}" if params else path
        with self.client.get(url, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
                return None
            if not json_body:
                if "<!doctype html>" not in (r.text or "")[:200].lower():
                    r.failure("not an HTML page")
                return None
            try:
                return r.json()
            except ValueError:
                r.failure("not JSON")
                return None

    @task(35)
    def search_api(self) -> None:
        """/api/search, k=10, with a filter mix; remembers what it returned."""
        text, filters = next_query()
        body = self._get(
            "/api/search", {"q": text, "k": 10, **filters}, "/api/search", json_body=True
        )
        for hit in (body or {}).get("results", []):
            self.passages.append(hit["passage_id"])
            self.documents.append(hit["citation"]["url"])

    @task(20)
    def search_page(self) -> None:
        """The HTML search page: results grouped by authority, answer card, facets."""
        text, filters = next_query()
        self._get("/", {"q": text, **filters}, "/?q=", json_body=False)

    @task(15)
    def answer(self) -> None:
        """/api/answer: extractive, cited answer or abstention."""
        text, filters = next_query()
        self._get("/api/answer", {"q": text, **filters}, "/api/answer", json_body=True)

    @task(15)
    def passage(self) -> None:
        """/api/passages/<id> for a passage a search returned."""
        if not self.passages:
            return self.search_api()
        pid = random.choice(self.passages)
        self._get(f"/api/passages/{pid}", {}, "/api/passages/[id]", json_body=True)

    @task(15)
    def document(self) -> None:
        """A document page (HTML) at the version a search cited."""
        if not self.documents:
            return self.search_api()
        url = urllib.parse.urlsplit(random.choice(self.documents))  # no #anchor
        params = dict(urllib.parse.parse_qsl(url.query))
        self._get(url.path, params, "/documents/[id]", json_body=False)
