"""The shape of the package: imports between kb's modules go one way only."""

from __future__ import annotations

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
