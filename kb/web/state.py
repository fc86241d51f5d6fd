"""Heavy objects shared by every request of one process: loaded once on first use, and
replaced when an ingest makes another generation live, without a restart.

At most once every CHECK_SECONDS a request has a background thread look which generation is
live (kb.live: DATA_DIR/CURRENT, or under backend=postgres the database's pointer). When it is
another, that thread loads a searcher and answerer for it (copying its files from the
database first when the data dir lacks them, and keeping the loaded query encoder) while
requests go on with the old pair, then swaps the new pair in with one assignment. A request
keeps the pair it first touched until it ends, so it never mixes generations. The old pair
is dropped, not closed: it goes away with the last request holding it. Its folder may
meanwhile be pruned by a later ingest (`keep_generations`), which is harmless: a loaded
Searcher already holds every file it reads open, mapped or in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from flask import current_app, has_request_context, request

from kb.config import Settings
from kb.live import generation, live_generation, live_name
from kb.search.answer import Answerer
from kb.search.encoders import Encoder
from kb.search.hybrid import Searcher

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # how often a process looks for a new live generation
RETRY_SECONDS = 30.0  # how long before a generation that failed to load is tried again
_PIN = "kb.generation"  # WSGI environ key: the pair a request uses


@dataclass(frozen=True)
class Loaded:
    """The searcher and answerer of one generation."""

    searcher: Searcher
    answerer: Answerer


class KBState:
    """The searcher (catalog + indexes + encoder) and the answerer of one data dir's live
    generation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # the first load
        self._check_lock = threading.Lock()  # one look for the live generation at a time
        self._loaded: Loaded | None = None
        self._next_check = 0.0
        self._loading: str | None = None  # a look or a load under way ("" or its name)
        self._failed: tuple[str, float] | None = None  # (generation, retry after)

    @property
    def searcher(self) -> Searcher:
        """The live generation's searcher (the same one for the whole of a request)."""
        return self._pinned().searcher

    @property
    def answerer(self) -> Answerer:
        """Extractive answers over the same searcher."""
        return self._pinned().answerer

    @cached_property
    def collections(self):
        """Trainers' collections (user data beside the index generations)."""
        from kb.collections import Collections

        return Collections(self.settings.user_store())

    @cached_property
    def feedback(self):
        """Moderators' judgments of results (user data too)."""
        from kb.feedback import FeedbackStore

        return FeedbackStore(self.settings.user_store())

    @property
    def service(self):
        """The knowledge base as users see it: this request's generation and the user data."""
        from kb.service import KnowledgeBase

        loaded = self._pinned()
        auth = current_app.extensions.get("kb_auth")
        return KnowledgeBase(
            loaded.searcher,
            self.collections,
            loaded.answerer,
            self.feedback,
            auth.audit if auth is not None else None,
        )

    def request(self, args, default_k: int = 10):
        """A validated search request (the knowledge base applies flags and clearance)."""
        from kb.web import params

        return params.parse(
            args, self.service.filter_keys, self.settings.max_k, default_k=default_k
        )

    def _pinned(self) -> Loaded:
        if not has_request_context():
            return self._live()
        pinned = request.environ.get(_PIN)
        if pinned is None:
            pinned = request.environ[_PIN] = self._live()
        return pinned

    def _live(self) -> Loaded:
        """The live pair, loaded here on first use; later calls may start a switch."""
        loaded = self._loaded
        if loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load(live_generation(self.settings))
                return self._loaded
        self._check(loaded)
        return loaded

    def _check(self, loaded: Loaded) -> None:
        """At most once every CHECK_SECONDS, look for another live generation (kb.live) on a
        thread of its own: under backend=postgres the look is a round trip to the database,
        which no request waits for."""
        now = time.monotonic()
        if now < self._next_check or self._loading is not None:
            return
        if not self._check_lock.acquire(blocking=False):
            return
        try:
            if now < self._next_check or self._loading is not None:
                return
            self._next_check = now + CHECK_SECONDS
            self._loading = ""  # a look under way
            threading.Thread(
                target=self._follow, args=(loaded,), name="kb-follow", daemon=True
            ).start()
        finally:
            self._check_lock.release()

    def _follow(self, loaded: Loaded) -> None:
        """Load the live generation if it is not the one served (a failed one only after
        RETRY_SECONDS)."""
        try:
            try:
                name = live_name(self.settings)
            except Exception as exc:  # the database is away: go on serving what is loaded
                log.warning("cannot tell the live generation: %s", exc)
                return
            failed = self._failed
            if (
                name is None
                or name == loaded.searcher.generation.name
                or (failed and failed[0] == name and time.monotonic() < failed[1])
            ):
                return
            self._loading = name
            self._switch(name, loaded)
        finally:
            self._loading = None

    def _switch(self, name: str, old: Loaded) -> None:
        """Load generation `name` and serve it from now on; on failure keep serving `old`."""
        try:
            new = self._load(generation(self.settings, name), old.searcher.loaded_encoder())
        except Exception as exc:  # whatever went wrong, the old generation keeps serving
            self._failed = (name, time.monotonic() + RETRY_SECONDS)
            log.warning(
                "cannot load generation %s, still serving %s: %s",
                name,
                old.searcher.generation.name,
                exc,
            )
        else:
            self._loaded = new
            log.info("serving generation %s (was %s)", name, old.searcher.generation.name)
        finally:
            self._loading = None

    def _load(self, generation: Path, encoder: Encoder | None = None) -> Loaded:
        searcher = Searcher(self.settings, generation, encoder)
        searcher.query_encoder  # noqa: B018 - load the model now, not during a request
        searcher.warm()  # the index files into the page cache, read ahead by the kernel
        return Loaded(searcher, Answerer(searcher, self.settings.answer_threshold))


def kb() -> KBState:
    """The state of the current app."""
    return current_app.extensions["kb"]
