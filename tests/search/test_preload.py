"""Index files read into the page cache ahead of searches."""

from __future__ import annotations

from kb.search import preload
from kb.search.hybrid import Searcher


def test_the_searched_files_are_read_ahead(corpus_settings, tmp_path):
    searcher = Searcher(corpus_settings)
    try:
        files = searcher.index_files()
        assert files and all(searcher.generation in p.parents for p in files)
        assert any(p.parent.name == "keyword" for p in files)
        size = sum(p.stat().st_size for p in files)
        assert searcher.warm() == size and searcher.warm(wait=True) == size
    finally:
        searcher.close()
    big = tmp_path / "graph"
    big.write_bytes(b"x" * (preload.CHUNK + 5))
    assert preload.warm([big, tmp_path / "gone"], wait=True) == preload.CHUNK + 5


def test_graph_files_are_among_them(tmp_path, settings, write):
    write("rules.md", "---\ntype: policy\n---\n# Rules\n\n## One\n\nNo fireworks indoors.\n")
    from kb.ingest.pipeline import ingest

    graphs = settings.replace(hnsw_threshold=0)  # every index a graph
    ingest(graphs, [tmp_path / "src"])
    searcher = Searcher(graphs)
    try:
        graphs = set(searcher.generation.rglob("hnsw.faiss"))
        assert searcher.generation / "dense" / "hnsw.faiss" in graphs
        assert graphs <= set(searcher.index_files())
    finally:
        searcher.close()
