"""Shared fixtures: settings on a temporary data dir, file writers, the external data folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from kb.config import Settings

# Property tests and API fuzzing: the same examples on every `make test` run (CI must not fail
# by chance); `make fuzz` (KB_FUZZ=1) draws new random examples, KB_FUZZ_SCALE times as many.
FUZZ = os.environ.get("KB_FUZZ") == "1"
hypothesis_settings.register_profile("kb-test", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("kb-fuzz", derandomize=False, print_blob=True)
hypothesis_settings.load_profile("kb-fuzz" if FUZZ else "kb-test")
FUZZ_SCALE = int(os.environ.get("KB_FUZZ_SCALE", "5")) if FUZZ else 1
# The seed of the API fuzzing in `make test` (schemathesis seeds each operation from it).
API_SEED = 20261130


def examples(n: int) -> int:
    """How many examples a property test draws: `n`, or KB_FUZZ_SCALE * n under `make fuzz`."""
    return n * FUZZ_SCALE


ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
# The fields every search result carries (the CLI contract of `kb search --json` and the API).
RESULT_FIELDS = {
    "rank",
    "passage_id",
    "document_id",
    "title",
    "heading_path",
    "text",
    "score",
    "scores",
    "metadata",
    "citation",
}
SHARED_DATA = Path(os.environ.get("KB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory) -> Path:
    """One embedding/ONNX cache for the whole session: the model is exported once, and a text
    embedded by one test is not embedded again by the next (as in real use across ingests)."""
    path = Path(os.environ.get("KB_TEST_CACHE") or tmp_path_factory.mktemp("kb-cache"))
    os.environ["KB_CACHE_DIR"] = str(path)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data dir under tmp_path (and the session's shared cache)."""
    return Settings.load(data_dir=tmp_path / "index")


@pytest.fixture
def write(tmp_path: Path):
    """write("docs/a.md", text) creates a file under tmp_path/src and returns its path."""

    def _write(rel: str, text: str | bytes, dedent: bool = True) -> Path:
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n") if dedent else text)
        return path

    return _write


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """The folder `write` puts files in."""
    (tmp_path / "src").mkdir(exist_ok=True)
    return tmp_path / "src"


def shared(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"external data {path} is not available")
    return path


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory, shared_cache) -> Settings:
    """The shipped sample corpus, ingested once for the whole session."""
    from kb.ingest.pipeline import ingest

    settings = Settings.load(data_dir=tmp_path_factory.mktemp("corpus") / "index")
    report = ingest(settings, [CORPUS])
    assert report.errors == [], [str(e) for e in report.errors]
    return settings
