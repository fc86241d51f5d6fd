from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kb.web import create_app


@pytest.fixture(scope="session")
def app(corpus_settings):
    """The app on the shipped sample corpus (indexes and model loaded once)."""
    return create_app(corpus_settings, testing=True)


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, **env: str):
    """Start `kb serve` on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kb.cli",
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"kb serve exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        proc.stderr.close()
        pytest.fail("kb serve did not answer within 90 s")
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stderr.close()


@pytest.fixture(scope="session")
def server(corpus_settings):
    """`kb serve` on the shipped corpus in local mode, one for every browser test."""
    yield from serve(corpus_settings.data_dir)
