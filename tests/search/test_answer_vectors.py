"""The ingest embeds the sentences the answer card may quote, so serving never waits on them."""

from __future__ import annotations

from kb.ingest.pipeline import ingest
from kb.ingest.tokens import SentenceSplitter
from kb.search.answer import SENTENCES_TAG, Answerer, quotable_sentences, sentence_hash
from kb.search.embed_cache import EmbeddingCache
from kb.search.encoders import model_info
from kb.search.hybrid import Searcher

POLICY = """
# Fire on stream

## LIVE-FIR-1.1 Open flames

Hosts must not hand lit sparklers, candles or other open flames to children on stream.
Streams showing a child holding an open flame are ended at once.
Repeat cases lead to a suspension of the hosting feature.
"""


def test_ingest_embeds_quotable_sentences_once_and_the_answerer_reads_them(
    tmp_path, settings, write
):
    settings = settings.replace(cache_dir=str(tmp_path / "cache"))  # nothing cached yet
    write("fire.md", POLICY)
    ingest(settings, [tmp_path / "src"])
    info = model_info(settings)
    cache = EmbeddingCache(settings.cache_path() / "embeddings", info.key, info.dim)
    searcher = Searcher(settings)
    passages = [searcher.catalog.passage(pid) for pid in searcher.ids]
    sentences = [s for p in passages for _, s in quotable_sentences(p.text, SentenceSplitter())]
    assert len(sentences) >= 3
    assert set(cache.get_many([sentence_hash(s) for s in sentences])) == {
        sentence_hash(s) for s in sentences
    }
    assert cache.done(SENTENCES_TAG, [p.content_hash for p in passages])

    answerer = Answerer(searcher, settings.answer_threshold)
    calls = []
    # Sentences would be embedded by the float32 encoder; the query by the query encoder
    # (int8 for longer queries), its vector and word pieces in one pass.
    encode, both = searcher.encoder.encode, searcher.query_encoder.encode_with_tokens
    searcher.encoder.encode = lambda texts, **kw: calls.append(texts) or encode(texts, **kw)
    searcher.query_encoder.encode_with_tokens = lambda texts, **kw: (
        calls.append(texts) or both(texts, **kw)
    )
    answer = answerer.answer("child holding a burning sparkler on a live stream")
    assert answer.answered and answer.sentences
    assert calls == [["child holding a burning sparkler on a live stream"]]  # the query only

    # A question naming a clause: the id goes first, and the words around it are embedded
    # once, for both the search and the choice of sentences.
    calls.clear()
    answer = answerer.answer("LIVE-FIR-1.1 kid holding a candle")
    assert answer.answered and answer.sources[0].passage.clause_id == "LIVE-FIR-1.1"
    assert calls == [["kid holding a candle"]]
