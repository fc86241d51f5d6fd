"""Latency of /api/search and /api/answer through the whole HTTP stack (gunicorn + Flask).

    python benchmarks/bench_http.py [DATA_DIR]      # default: index/ (built by `make run`)

Starts `kb serve` on a free loopback port, sends the same 200 moderator queries as
bench_scale.py one after another over one keep-alive connection, and prints p50/p95/p99.
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
        for path in ("/api/search", "/api/answer"):
            _get(conn, path, qs[0])
            times = []
            for q in qs:
                s = time.perf_counter()
                _get(conn, path, q)
                times.append((time.perf_counter() - s) * 1000)
            p50, p95, p99 = np.percentile(times, [50, 95, 99])
            print(f"| {path} (k=10, {len(qs)} queries) | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
        print(f"\nReproduce: python benchmarks/bench_http.py {data_dir}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(conn: http.client.HTTPConnection, path: str, q: str) -> dict:
    conn.request("GET", f"{path}?{urllib.parse.urlencode({'q': q, 'k': 10})}")
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}: {body}")
    return body


if __name__ == "__main__":
    main()
