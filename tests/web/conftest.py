from __future__ import annotations

import pytest

from kb.web import create_app


@pytest.fixture(scope="session")
def app(corpus_settings):
    """The app on the shipped sample corpus (indexes and model loaded once)."""
    return create_app(corpus_settings, testing=True)


@pytest.fixture
def client(app):
    return app.test_client()
