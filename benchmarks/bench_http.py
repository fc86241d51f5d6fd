"""Latency of /api/search, /api/answer and every page through the whole HTTP stack (gunicorn
+ Flask).

    python benchmarks/bench_http.py [DATA_DIR]      # default: index/ (built by `make run`)

Starts `kb serve` on a free loopback port, sends the same 200 moderator queries as
bench_scale.py one after another over one keep-alive connection to the API and to the search
page (answer card and 20 rendered results), then asks each other page PAGE_ROUNDS times, and
prints p50/p95/p99 in ms.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import free_port, wait_until_serving
from bench_scale import queries


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "index"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kb.cli",
            "--data-dir",
            data_dir,
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        wait_until_serving(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        qs = queries()
        print("| request | p50 | p95 | p99 |\n|---|---|---|---|")
        for path in ("/api/search", "/api/answer"):
            _get(conn, path, qs[0])
            times = []
            for q in qs:
                s = time.perf_counter()
                _get(conn, path, q)
                times.append((time.perf_counter() - s) * 1000)
            _row(f"{path} (k=10, {len(qs)} queries)", times)
        times = []
        for q in qs:
            s = time.perf_counter()
            _page(conn, "/?" + urllib.parse.urlencode({"q": q}))
            times.append((time.perf_counter() - s) * 1000)
        _row(f"search page / (answer + 20 results, {len(qs)} queries)", times)
        for url in PAGES:
            _page(conn, url)
            times = []
            for _ in range(PAGE_ROUNDS):
                s = time.perf_counter()
                _page(conn, url)
                times.append((time.perf_counter() - s) * 1000)
            _row(f"page {url}", times)
        print(f"\nReproduce: python benchmarks/bench_http.py {data_dir}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


PAGE_ROUNDS = 30
# Pages on the shipped corpus (a page missing from another corpus is reported, not timed).
PAGES = (
    "/?type=ruling&outcome=suspend",
    "/?type=policy&page=3",
    "/documents",
    "/documents/dangerous-acts-and-challenges",
    "/documents/enforcement-ladder",
    "/documents/ESC-1010",
    "/documents/dangerous-acts-and-challenges/diff",
    "/documents/dangerous-acts-and-challenges/impact",
    "/rulings/similar?q=host+hands+a+lit+sparkler+to+a+toddler",
    "/consistency",
    "/review",
    "/collections",
)


def _row(label: str, times: list[float]) -> None:
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    print(f"| {label} | {p50:.1f} | {p95:.1f} | {p99:.1f} |", flush=True)


def _page(conn: http.client.HTTPConnection, url: str) -> None:
    conn.request("GET", url)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"{url} answered {response.status}")


def _get(conn: http.client.HTTPConnection, path: str, q: str) -> dict:
    conn.request("GET", f"{path}?{urllib.parse.urlencode({'q': q, 'k': 10})}")
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}: {body}")
    return body


if __name__ == "__main__":
    main()
