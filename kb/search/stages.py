"""Where a search's time goes: stages timed with `stage(name)` and collected by the innermost
`timed()` around them (nothing is recorded outside one, and it costs a context-variable read).

Times are exclusive (wall-clock time in the searching thread): a stage that runs inside
another (the query embedding inside late re-scoring, when the dense side has not embedded the
query yet) is taken out of the outer stage's time, so the stages a search runs in its own
thread add up to at most its total. Work done in another thread is added with `record`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_current: contextvars.ContextVar[tuple[dict[str, float], list[str]] | None] = (
    contextvars.ContextVar("kb_stages", default=None)
)


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Collect the stages run inside: name -> milliseconds."""
    spent: dict[str, float] = {}
    token = _current.set((spent, []))
    try:
        yield spent
    finally:
        _current.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage `name` (added up when it runs more than once)."""
    current = _current.get()
    if current is None:
        yield
        return
    spent, stack = current
    stack.append(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        took = (time.perf_counter() - started) * 1000
        stack.pop()
        spent[name] = spent.get(name, 0.0) + took
        if stack:
            spent[stack[-1]] = spent.get(stack[-1], 0.0) - took


def record(name: str, took: float) -> None:
    """Add `took` milliseconds spent elsewhere (another thread) as stage `name`: it is not
    part of the searching thread's time, so the stages may add up to more than the total."""
    current = _current.get()
    if current is not None:
        current[0][name] = current[0].get(name, 0.0) + took
