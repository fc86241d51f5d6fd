"""The app behind real servers and sockets: `kb serve` (gunicorn) and werkzeug's development
server, each on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from werkzeug.serving import make_server

from kb.web import MAX_BODY, create_app
from tests.web.conftest import free_port


def _oversized(port: int, *, chunked: bool = False) -> http.client.HTTPResponse:
    """POST a JSON body over the size limit on a fresh connection (with a Content-Length, or
    chunked with none); the response, read."""
    body = json.dumps({"q": "x" * (MAX_BODY + 1000)}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/api/search",
        body=iter([body[:1000], body[1000:]]) if chunked else body,
        headers={"Content-Type": "application/json"},
        encode_chunked=chunked,
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.fixture(scope="module")
def gunicorn_port(corpus_settings):
    """`kb serve` (gunicorn, one worker) on the sample corpus."""
    port = free_port()
    args = ["--data-dir", str(corpus_settings.data_dir), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.cli", *args, "--workers", "1", "--threads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "KB_AUTH": "local"},
    )
    deadline = time.monotonic() + 120
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"kb serve did not start: {proc.communicate()[1][-2000:]!r}")
            time.sleep(0.3)
        finally:
            conn.close()
    yield port
    proc.terminate()
    proc.wait(30)
    proc.stderr.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_gunicorn_answers_an_oversized_body_with_413_and_closes(gunicorn_port, chunked):
    response = _oversized(gunicorn_port, chunked=chunked)
    assert response.status == 413
    assert response.getheader("Connection") == "close"
    # Other requests keep their connection.
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=30)
    conn.request("GET", "/api/health")
    health = conn.getresponse()
    health.read()
    assert health.status == 200 and health.getheader("Connection") == "keep-alive"
    conn.request("GET", "/api/health")
    assert conn.getresponse().status == 200  # the same connection, reused
    conn.close()


def test_a_small_chunked_body_is_read_whole(gunicorn_port):
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=60)
    body = json.dumps({"q": "sparkler handed to a toddler", "k": 1}).encode()
    conn.request(
        "POST",
        "/api/search",
        body=iter([body[:10], body[10:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["query"] == "sparkler handed to a toddler"
    conn.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_the_development_server_answers_an_oversized_body_with_413_and_closes(
    corpus_settings, chunked
):
    server = make_server("127.0.0.1", 0, create_app(corpus_settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        response = _oversized(server.server_port, chunked=chunked)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert response.status == 413
    assert response.getheader("Connection") == "close"
