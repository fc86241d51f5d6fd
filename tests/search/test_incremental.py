"""A re-ingest that only adds passages updates a copy of the live keyword index instead of
writing it again, and finds exactly what a full build finds, filters included."""

from __future__ import annotations

from kb.datadir import DataDir
from kb.ingest.pipeline import ingest
from kb.layout import Generation
from kb.search.filters import Filters
from kb.search.keyword.tantivy_backend import TantivyIndex

RISKY = """---
id: risky
title: Risky acts
type: policy
visibility: {visibility}
---
# Risky acts

{clauses}
"""


def _risky(n: int, visibility: str = "all") -> str:
    clauses = "\n\n".join(
        f"## RSK-{i}.1 Rule {i}\n\nHosts must not do risky thing number {i} for gifts."
        for i in range(1, n + 1)
    )
    return RISKY.format(visibility=visibility, clauses=clauses)


def _both(tmp_path, settings, write, second: dict[str, str]):
    """Two data dirs given the same two ingests; in the second, the live keyword index
    cannot be reused (its row keys are gone), so it is built in full."""
    write("risky.md", _risky(3))
    write("other.md", "# Other\n\n## OTH-1.1 Chasing\n\nHosts must not chase animals.\n")
    full = settings.replace(data_dir=tmp_path / "full")
    for s in (settings, full):
        ingest(s, [tmp_path / "src"])
    (DataDir(full.data_dir).current() / "keyword" / "rows.npy").unlink()
    for name, text in second.items():
        write(name, text)
    for s in (settings, full):
        ingest(s, [tmp_path / "src"])
    return settings, full


def _found(settings, query: str, **terms) -> set[str]:
    live = Generation(DataDir(settings.data_dir).current())
    ids = live.ids.read_text().split()
    index = TantivyIndex(live.keyword, settings.boosts())
    hits = index.search(query, Filters(terms=terms) if terms else Filters(), 1000)
    return {ids[o] for o, _ in hits}


def test_a_new_version_updates_the_live_keyword_index(tmp_path, settings, write):
    updated, full = _both(tmp_path, settings, write, {"risky.md": _risky(5)})
    first = Generation(DataDir(settings.data_dir).generations / "gen-000001")
    live = Generation(DataDir(updated.data_dir).current())
    linked = [p for p in live.keyword.iterdir() if p.stat().st_nlink > 1]
    assert linked, "the live index's segments are shared, not written again"
    for query, terms in [
        ("risky thing", {}),
        ("risky thing", {"status": ["current"]}),  # the old version's rows changed status
        ("risky thing", {"status": ["historical"]}),
        ("chase animals", {}),
        ("number 5", {}),
    ]:
        got = _found(updated, query, **terms)
        assert got == _found(full, query, **terms), (query, terms)
    assert len(_found(updated, "risky thing", status=["current"])) == 5
    assert len(_found(updated, "risky thing", status=["historical"])) == 3
    # The generation it came from still finds what it found.
    old = TantivyIndex(first.keyword, updated.boosts())
    assert len(old.search("risky thing", Filters(terms={"status": ["current"]}), 100)) == 3


def test_a_visibility_change_reaches_the_keyword_index(tmp_path, settings, write):
    """A restricted new version: its rows are restricted, and the older version's rows
    (historical now) are indexed again with their new terms."""
    updated, full = _both(tmp_path, settings, write, {"risky.md": _risky(4, "policy-team")})
    public = {"visibility": ["all"]}
    assert _found(updated, "risky thing", **public) == _found(full, "risky thing", **public)
    restricted = _found(updated, "risky thing", visibility=["policy-team"])
    assert len(restricted) == 4 and restricted == _found(
        full, "risky thing", visibility=["policy-team"]
    )


def test_unchanged_passages_keep_the_live_generations_vectors(tmp_path, settings, write):
    """With an empty embedding cache the second time, only the changed passages are
    embedded: the others' vectors come from the live generation, exactly."""
    import shutil

    import numpy as np

    from kb.search.encoders import get_encoder

    write("risky.md", _risky(3))
    write("other.md", "# Other\n\n## OTH-1.1 Chasing\n\nHosts must not chase animals.\n")
    ingest(settings, [tmp_path / "src"])
    before = Generation(DataDir(settings.data_dir).current())
    old_ids = before.ids.read_text().split()
    old_vectors = np.load(before.dense / "vectors.npy")
    fresh = settings.replace(cache_dir=str(tmp_path / "empty-cache"))
    shutil.copytree(settings.cache_path() / "onnx", tmp_path / "empty-cache" / "onnx")
    write("risky.md", _risky(4))  # one clause more; the rest unchanged
    report = ingest(fresh, [tmp_path / "src"])
    live = Generation(DataDir(settings.data_dir).current())
    ids = live.ids.read_text().split()
    vectors = np.load(live.dense / "vectors.npy")
    # The new version's passages: three clauses as they were, one new (embedded).
    assert len(ids) == len(old_ids) + 4 and report.embedded == 1
    # Every vector is the one a fresh embedding gives (copied rows included).
    from kb.catalog import Catalog

    catalog = Catalog(live.catalog, readonly=True)
    try:
        texts = [catalog.passage(pid).embed_text for pid in ids]
    finally:
        catalog.close()
    expected = get_encoder(settings).encode(texts)
    assert np.allclose(vectors, expected, atol=1e-5)
    same = [i for i, pid in enumerate(ids) if pid in old_ids]
    assert same and all(
        np.array_equal(vectors[i], old_vectors[old_ids.index(ids[i])]) for i in same
    )
