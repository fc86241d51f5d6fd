"""The shape of the package: imports between kb's modules go one way only, and only the
catalog module runs SQL on the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest


def test_no_import_cycles():
    # Imports inside functions and under TYPE_CHECKING count too: a cycle hidden in a function
    # still ties the two modules together. No cache: the graph of this checkout, every time.
    graph = grimp.build_graph("kb", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer, *back)))
    if cycles:
        pytest.fail("import cycles in kb:\n" + "\n".join(cycles), pytrace=False)


KB = Path(__file__).resolve().parents[1] / "kb"


def test_only_the_catalog_queries_the_catalog():
    """SQL on catalog.sqlite lives in kb/catalog.py, as named methods: any other module reaching
    for a `.db` that is not its own (`self.db`: the embedding cache, user data) is a leak."""
    leaks = []
    for path in sorted(KB.rglob("*.py")):
        if path.name == "catalog.py" and path.parent == KB:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "db"
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                leaks.append(f"{path.relative_to(KB.parent)}:{node.lineno}")
    assert not leaks, "catalog SQL outside kb/catalog.py: " + ", ".join(leaks)
