"""The manifest: written by the ingest, read back as a typed record, every field checked."""

from __future__ import annotations

import json

import pytest

from kb.datadir import DataDir
from kb.errors import IndexMismatchError
from kb.ingest.pipeline import ingest
from kb.manifest import Manifest

POLICY = """
# Test policy

## LIVE-T-1.1 Sparklers

Hosts must not hand lit sparklers to children on stream.
"""


def test_the_manifest_round_trips_and_names_what_is_wrong(settings, write, src):
    write("policy.md", POLICY)
    ingest(settings, [src])
    datadir = DataDir(settings.data_dir)
    path = datadir.current() / "manifest.json"
    manifest = datadir.manifest()
    assert isinstance(manifest, Manifest)
    assert json.loads(path.read_text()) == manifest.to_dict()
    assert manifest.generation == datadir.current_name()
    assert manifest.keyword.backend == settings.keyword_backend
    assert manifest.dense is not None and manifest.dense.dim == 384
    assert manifest.sentences is not None and manifest.sentences.count >= 1

    data = manifest.to_dict()
    for broken, named in (
        ({**data, "dense": {**data["dense"], "dim": "384"}}, "dense.'dim'"),
        ({k: v for k, v in data.items() if k != "corpus_hash"}, "'corpus_hash'"),
        ({**data, "keyword": "tantivy"}, "'keyword'"),
        ({**data, "passages_indexed": True}, "'passages_indexed'"),
    ):
        path.write_text(json.dumps(broken))
        with pytest.raises(IndexMismatchError, match=f"field {named} is missing or malformed"):
            datadir.manifest()
    path.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(IndexMismatchError, match="has format 99"):
        datadir.manifest()
