"""Running a parser in a child process with a memory and a time limit.

For formats whose libraries cannot bound what a file makes them do: a PDF's streams inflate
without limit inside pdfminer, and a crafted file can keep it busy for a long time. The child
(`python -m kb.ingest.isolation`, so it shares no threads, model or main module with the
ingest) is started once, reused for every file and replaced when a file kills it or runs past
its time. Such a file is a ParseError naming it; nothing else is disturbed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.errors import ParseError
from kb.ingest.base import ParseResult, Source

_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class Limits:
    """What one file may cost the child."""

    memory_bytes: int
    seconds: float


class Worker:
    """One child process that parses files in turn."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None

    def run(self, func: Callable[[Source], ParseResult], source: Source) -> ParseResult:
        """`func(source)` in the child (`func` a module-level function): its result, or a
        ParseError naming the file when the file made it fail, exhaust its memory, die, or
        run past its time."""
        with self._lock:
            process = self._start(source.path)
            try:
                _send(process.stdin, (func, source))
                outcome = _receive(process.stdout, time.monotonic() + self.limits.seconds)
            except TimeoutError:
                self.stop()
                raise ParseError(
                    source.path, f"reading this file took over {self.limits.seconds:.0f} s"
                ) from None
            except (EOFError, OSError):
                self.stop()
                raise ParseError(
                    source.path,
                    "reading this file exhausted the reader's memory "
                    f"({self.limits.memory_bytes / 2**30:.1f} GiB) or crashed it",
                ) from None
        if isinstance(outcome, tuple):
            _, path, reason, line, field = outcome
            raise ParseError(path, reason, line=line, field=field)
        return outcome

    def _start(self, where: str) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.stop()
        root = str(Path(__file__).resolve().parents[2])  # where the kb package is
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
        try:
            # -P: the working folder is not on the child's path (a stray select.py there
            # must not run in it).
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "kb.ingest.isolation", str(self.limits.memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=root,
            )
        except OSError as exc:
            raise ParseError(where, f"cannot start the reader process: {exc}") from None
        return self._process

    def stop(self) -> None:
        """End the child (it is started again when needed)."""
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


def _send(stream, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream, deadline: float | None = None):
    header = _read(stream, _HEADER.size, deadline)
    return pickle.loads(_read(stream, _HEADER.unpack(header)[0], deadline))


def _read(stream, size: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    fd = stream.fileno()
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _serve(memory_bytes: int) -> None:
    """The child: parse each (function, source) read from stdin, write the outcome."""
    import ctypes
    import logging
    import resource
    import signal

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the ingest
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            return
    # Libraries log every oddity of a damaged file; what matters comes back as the outcome.
    logging.disable(logging.WARNING)
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what libraries print goes to stderr, not into the channel
    requests = sys.stdin.buffer
    while True:
        try:
            func, source = _receive(requests)
        except EOFError:
            return
        try:
            outcome = func(source)
        except ParseError as exc:
            outcome = ("error", exc.path, exc.reason, exc.line, exc.field)
        except MemoryError:
            outcome = (
                "error",
                source.path,
                "reading it needs more memory than allowed",
                None,
                None,
            )
        except RecursionError:
            outcome = ("error", source.path, "nested too deeply to read", None, None)
        except Exception as exc:  # a library's own failure on a damaged file
            reason = f"cannot read this file ({type(exc).__name__}: {exc})"
            outcome = ("error", source.path, reason, None, None)
        try:
            _send(channel, outcome)
        except MemoryError:
            _send(channel, ("error", source.path, "too large a result to hand back", None, None))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
