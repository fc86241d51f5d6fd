"""Heavy objects shared by every request of one process, loaded once on first use."""

from __future__ import annotations

import threading
from functools import cached_property

from flask import current_app

from kb.config import Settings
from kb.search.answer import Answerer
from kb.search.hybrid import Searcher


class KBState:
    """The searcher (catalog + indexes + encoder) and the answerer of one data dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @cached_property
    def searcher(self) -> Searcher:
        """Loaded on first use (after an ingest, restart the server to pick up a generation)."""
        with self._lock:
            searcher = Searcher(self.settings)
            searcher.encoder  # noqa: B018 - load the model now, not during a request
            return searcher

    @cached_property
    def collections(self):
        """Trainers' collections (user data beside the index generations)."""
        from kb.collections import Collections

        return Collections(self.settings.data_dir)

    @cached_property
    def answerer(self) -> Answerer:
        """Extractive answers over the same searcher."""
        return Answerer(self.searcher, self.settings.answer_threshold)

    def request(self, args, default_k: int = 10):
        """A validated search request, with trainers' teaching flags applied."""
        from kb.web import params

        req = params.parse(
            args, self.searcher.filter_keys, self.settings.max_k, default_k=default_k
        )
        req.filters = self.collections.apply_teaching(req.filters, self.searcher.catalog)
        return req


def kb() -> KBState:
    """The state of the current app."""
    return current_app.extensions["kb"]
