"""Queries embedded by the int8 copy of the model, only where the ingest's check approved it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.layout import Generation
from kb.search.encoders import get_encoder, int8, model_info
from kb.search.encoders.onnx import OnnxEncoder
from kb.search.hybrid import Searcher
from tests.conftest import CORPUS

QUESTIONS = [
    json.loads(line)["text"]
    for line in (CORPUS / "eval" / "moderator" / "queries.jsonl").read_text().splitlines()
][::5]


def generation_record(settings) -> Path:
    """The int8 check's record in the settings' live generation."""
    return Generation(DataDir(settings.data_dir).current()).query_int8


@pytest.fixture
def own_cache(tmp_path, corpus_settings):
    """Settings on a copy of the shipped corpus's index with a cache of their own (a copy of
    the ONNX exports and embeddings), so that a test may change the record and the cache."""
    cache = tmp_path / "cache"
    shutil.copytree(corpus_settings.cache_path() / "onnx", cache / "onnx")
    shutil.copytree(corpus_settings.cache_path() / "embeddings", cache / "embeddings")
    shutil.copytree(corpus_settings.data_dir, tmp_path / "index", symlinks=True)
    return corpus_settings.replace(cache_dir=str(cache), data_dir=tmp_path / "index")


def test_ingest_checks_the_int8_copy_on_the_passages_and_queries_use_it(corpus_settings):
    info = model_info(corpus_settings)
    found = int8.record(generation_record(corpus_settings), info)
    assert found is not None and found["passed"] is True
    # The shipped corpus has more passages than are checked; every opening of it is checked.
    assert found["passages"] == int8.CHECK_PASSAGES and found["texts"] > 5 * int8.CHECK_PASSAGES
    assert found["min_cosine"] >= int8.MIN_COSINE and found["min_tokens"] >= int8.MIN_TOKENS
    searcher = Searcher(corpus_settings)
    try:
        query = searcher.query_encoder
        assert isinstance(query, int8.QueryEncoder) and query.fp32 is searcher.encoder
        assert isinstance(query.int8, OnnxEncoder) and query.min_tokens == found["min_tokens"]
        # The check decides from how many word pieces int8 is close enough (it differs with
        # the runtime's release): the questions at least that long go through int8.
        least = max(16, query.min_tokens)
        pairs = [f"{a} {b}" for a, b in zip(QUESTIONS[::2], QUESTIONS[1::2], strict=False)]
        long = [q for q in QUESTIONS + pairs if len(query.int8.tokenizer.encode(q).ids) >= least]
        assert len(long) >= 5, f"min_tokens {query.min_tokens}"
        quick, exact = query.encode(long), searcher.encoder.encode(long)
        cosines = np.sum(quick * exact, axis=1)
        # Close, and really int8.
        assert cosines.min() >= 0.99 and cosines.max() < 0.99999, (query.min_tokens, cosines)
        # Single words are embedded in float32: exactly the same vectors.
        words = ["gun", "doxxing", "n", "strike appeal"]
        assert np.array_equal(query.encode(words), searcher.encoder.encode(words))
        mixed = [words[0], long[0], words[1]]
        vectors, pieces = query.encode_with_tokens(mixed)
        assert np.array_equal(vectors[[0, 2]], searcher.encoder.encode([words[0], words[1]]))
        # int8 embeds one text at a time: a query's vector does not depend on its company.
        assert np.array_equal(vectors[1], quick[0]) and len(pieces) == 3
    finally:
        searcher.close()
    # The dense side finds the same clauses, in the same order, for a case told by its facts;
    # int8 may swap near ties (scores within 0.01, seen between two runtime releases), so the
    # top five share four passages at least.
    case = "streamer drinking heavily and slurring, chat dares him to drive"
    tops, clauses = [], []
    for setting in (True, False):
        searcher = Searcher(corpus_settings.replace(query_int8=setting))
        try:
            hits = searcher.search(case, k=5, mode="dense").results
            tops.append({hit.passage.passage_id for hit in hits})
            clauses.append([hit.passage.clause_id for hit in hits if hit.passage.clause_id])
        finally:
            searcher.close()
    assert clauses[0] == clauses[1] and len(clauses[0]) >= 2
    assert len(tops[0] & tops[1]) >= 4


def test_queries_stay_float32_when_the_check_failed_or_is_missing(own_cache):
    info = model_info(own_cache)
    record = generation_record(own_cache)
    model = int8.model_path(info, own_cache.cache_path())
    least = json.loads(record.read_text())["min_tokens"]
    assert int8.approved(info, own_cache.cache_path(), record) == (model, least)
    failed = {**json.loads(record.read_text()), "min_tokens": None, "passed": False}
    for text in (
        json.dumps(failed),
        "{not json",
        json.dumps({**failed, "format": 99}),
        json.dumps({**failed, "passed": True, "min_tokens": 1}),  # below the floor: not trusted
        json.dumps({**failed, "passed": True, "min_tokens": least, "model_key": "other"}),
        # Checked on another int8 copy (another machine's quantisation): not trusted here.
        json.dumps({**failed, "passed": True, "min_tokens": least, "model_sha256": "0" * 64}),
    ):
        record.write_text(text)
        searcher = Searcher(own_cache)
        assert searcher.query_encoder is searcher.encoder
        searcher.close()
    record.unlink()
    searcher = Searcher(own_cache)
    assert searcher.query_encoder is searcher.encoder
    searcher.close()


def test_the_setting_turns_it_off(corpus_settings):
    searcher = Searcher(corpus_settings.replace(query_int8=False))
    try:
        assert searcher.query_encoder is searcher.encoder
    finally:
        searcher.close()


PASSAGES = [
    "A strike stays on the account for ninety days, after which it expires unless the same "
    "policy is broken again within that window.",
    "Hosts may not show real weapons being handled carelessly, pointed at people, or used "
    "to threaten anyone on or off stream.",
    "Moderators remove a stream at once when a viewer is in immediate danger.",
    "ok",
]


def test_each_knowledge_base_keeps_its_own_check_and_the_cache_memo_spares_a_second(
    own_cache, tmp_path
):
    """Two knowledge bases sharing a cache each read the check of their own passages; the
    same passages checked again reuse the cache's memo instead of embedding them again."""
    info = model_info(own_cache)
    cache = own_cache.cache_path()
    model = int8.model_path(info, cache)
    model.unlink()  # checked from scratch: quantised again
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    small = int8.check(info, cache, lambda: get_encoder(own_cache), PASSAGES, first)
    assert small["passages"] == 4 and small["texts"] > 20 and model.is_file()
    assert small["passed"] is True and small["min_tokens"] >= int8.MIN_TOKENS
    assert int8.record(first, info) == small

    def unused():
        raise AssertionError("no check was due")

    assert int8.check(info, cache, unused, PASSAGES, second) == small
    assert int8.record(second, info) == small
    # The corpus's own record was not touched by the other knowledge base's check.
    mine = int8.record(generation_record(own_cache), info)
    assert mine is not None and mine["passages"] == int8.CHECK_PASSAGES
    assert int8.record(int8.memo_path(info, cache, int8.spread(PASSAGES)), info) == small


def test_a_failed_check_is_recorded_and_said(own_cache, caplog, tmp_path):
    """A float32 'reference' that disagrees with the int8 copy (another model's vectors) fails
    the check: the record says so and queries stay float32."""
    info = model_info(own_cache)
    cache = own_cache.cache_path()
    exact = get_encoder(own_cache)

    class Shuffled:
        def encode_with_tokens(self, texts):
            vectors, pieces = exact.encode_with_tokens(texts)
            return np.roll(vectors, 1, axis=1), pieces

    out = tmp_path / "record.json"
    found = int8.check(info, cache, Shuffled, ["a strike lasts ninety days", "no weapons"], out)
    assert found["passed"] is False and found["min_tokens"] is None
    assert found["min_cosine_all"] < 0.99
    assert "queries stay float32" in caplog.text
    assert int8.approved(info, cache, out) is None


def test_ingest_with_the_setting_off_writes_no_int8_model(tmp_path, settings, write):
    write("a.md", "---\ntype: policy\n---\n# Rules\n\n## Strikes\n\nA strike lasts 90 days.\n")
    off = settings.replace(query_int8=False, cache_dir=str(tmp_path / "cache"))
    shutil.copytree(settings.cache_path() / "onnx", tmp_path / "cache" / "onnx")
    for found in (tmp_path / "cache" / "onnx").glob("*/query-int8*"):
        found.unlink()
    report = ingest(off, [tmp_path / "src"])
    assert report.errors == [] and "query_int8_check" not in report.timings
    assert not list((tmp_path / "cache" / "onnx").glob("*/query-int8*"))
    assert not generation_record(off).exists()
