"""Load benchmark: many moderators at once against the real server (gunicorn via `kb serve`).

    python benchmarks/bench_load.py [DATA_DIR] [--users 20] [--duration 60] [--workers 2]
                                    [--threads 4] [--think 1.0]

Builds DATA_DIR from corpus/ when it holds no index (`kb --data-dir DATA_DIR ingest corpus`),
starts `kb serve` on a free loopback port, warms each worker up, then runs locust headless
(benchmarks/load_users.py: JSON search with filters, the HTML search page, the answer card,
passages and document pages the searches returned) and prints requests/s, p50/p95/p99 and
errors per endpoint. Needs the `bench` extra (`pip install -e '.[bench]'`).

The load generator runs on the same machine and takes CPU from the server, so figures on a
small machine are pessimistic. `--think 0` sends requests back to back (capacity, not a
realistic load). Outputs (locust's CSVs and log, the server's log) go to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import os
import resource
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
ENDPOINTS = ("/api/search", "/?q=", "/api/answer", "/api/passages/[id]", "/documents/[id]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default="index", help="index data dir")
    parser.add_argument("--users", type=int, default=20, help="concurrent users")
    parser.add_argument("--spawn-rate", type=float, help="users started per second (all at once)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="kb serve --workers")
    parser.add_argument("--threads", type=int, default=4, help="kb serve --threads")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between a user's requests"
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=0,
        help="seconds of unmeasured load first (back to back), to measure warm caches",
    )
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KB_LOAD_THINK": str(args.think)}
    data_dir = Path(args.data_dir)
    kb = [sys.executable, "-m", "kb.cli", "--data-dir", str(data_dir)]
    if not (data_dir / "CURRENT").exists():
        print(f"building {data_dir} from corpus/ ...", flush=True)
        subprocess.run([*kb, "ingest", str(ROOT / "corpus")], check=True, env=env)

    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    serve = [*kb, "serve", "--port", str(port)]
    serve += ["--workers", str(args.workers), "--threads", str(args.threads)]
    log = (OUT / "load_server.log").open("w")
    server = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_serving(port, "see benchmarks/out/load_server.log")
        _warm_up(port, args.workers)
        prefix = OUT / "load"
        locust = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "benchmarks" / "load_users.py"),
            "--headless",
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate or args.users),
            "-t",
            f"{args.duration}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(prefix),
            "--only-summary",
            "--stop-timeout",
            "10",
            "--loglevel",
            "WARNING",
        ]
        if args.warm:
            print(f"warming caches: {args.warm} s of load, not measured", flush=True)
            warm = [*locust, "-t", f"{args.warm}s", "--csv", str(OUT / "load_warm")]
            _locust(warm, {**env, "KB_LOAD_THINK": "0", "KB_LOAD_WARM": "1"})
        cpu = _CPU(server.pid)
        _locust(locust, env)
        cpu.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    _report(prefix, args, cpu)
    print("\nReproduce:")
    print("  python " + shlex.join(["benchmarks/bench_load.py", *sys.argv[1:]]))
    print(
        "  # = kb serve "
        + shlex.join(serve[serve.index("--port") :])
        + f" + KB_LOAD_THINK={args.think} "
        + shlex.join(["locust", *locust[3:]]).replace(str(ROOT) + "/", "")
    )


def _report(prefix: Path, args, cpu: _CPU) -> None:
    stats = Path(f"{prefix}_stats.csv").read_text().splitlines()
    rows = {r["Name"]: r for r in csv.DictReader(stats)}
    failures = list(csv.DictReader(Path(f"{prefix}_failures.csv").read_text().splitlines()))
    print(
        f"\n{args.users} users, {args.duration} s, think {args.think} s, "
        f"{f'after {args.warm} s of warm-up load, ' if args.warm else ''}kb serve "
        f"--workers {args.workers} --threads {args.threads}, {os.cpu_count()} CPUs. "
        f"CPU used in cores (of {os.cpu_count()}): server {cpu.server:.2f}, load generator "
        f"{cpu.client:.2f}, everything else on the machine {cpu.other:.2f}\n"
    )
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name in (*ENDPOINTS, "Aggregated"):
        row = rows.get(name)
        if row is None:
            continue
        label = "**total**" if name == "Aggregated" else name
        print(
            f"| {label} | {row['Request Count']} | {float(row['Requests/s']):.1f} | "
            f"{row['50%']} | {row['95%']} | {row['99%']} | {row['Failure Count']} |"
        )
    for f in failures:
        print(f"error x{f['Occurrences']}: {f['Method']} {f['Name']}: {f['Error'][:300]}")


def _locust(command: list[str], env: dict) -> None:
    with (OUT / "load_locust.log").open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode not in (0, 1):  # 1: some requests failed (reported)
        raise SystemExit(f"locust failed; see {OUT / 'load_locust.log'}")


class _CPU:
    """Average cores busy while the load ran: the server's processes, the load generator's,
    and everything else on the machine (other work sharing it makes the figures worse)."""

    def __init__(self, server_pid: int) -> None:
        import psutil  # installed with locust

        self.proc = psutil.Process(server_pid)
        self.start = time.monotonic()
        self.busy = self._busy()
        self.served = self._served()
        self.children = self._children()

    def stop(self) -> None:
        seconds = time.monotonic() - self.start
        total = (self._busy() - self.busy) / seconds
        self.server = (self._served() - self.served) / seconds
        self.client = (self._children() - self.children) / seconds
        self.other = max(0.0, total - self.server - self.client)

    def _served(self) -> float:
        procs = [self.proc, *self.proc.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    @staticmethod
    def _busy() -> float:
        import psutil

        t = psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq + t.steal

    @staticmethod
    def _children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(port: int, hint: str = "") -> None:
    """Until `kb serve` on `port` answers /api/health (at most 3 minutes)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"kb serve did not start; {hint}".rstrip("; "))


def _warm_up(port: int, workers: int) -> None:
    """Until every worker has loaded its indexes and model (each loads its own): a few
    searches and pages on parallel connections, so that each worker answers some."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        failed = []
        for path in ("/api/search", "/api/answer", "/"):
            conn.request("GET", f"{path}?{urllib.parse.urlencode({'q': f'warm up {i}'})}")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failed.append(f"{path} answered {response.status}")
        conn.close()
        return failed

    with ThreadPoolExecutor(max_workers=4 * workers) as pool:
        failed = [f for fs in pool.map(one, range(8 * workers)) for f in fs]
    if failed:
        print(f"warm-up: {len(failed)} of {24 * workers} requests failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
