"""What a passage belongs to for a reader: its ruling, else its clause (or, without a clause id,
its section) within its version. Results are grouped by it; each generation numbers its units
in `units.npy` (one int32 per passage ordinal), so grouping reads an array instead of asking
the catalog about every candidate."""

from __future__ import annotations

import numpy as np

from kb.catalog import Catalog
from kb.errors import NotFoundError
from kb.layout import Generation


def unit_name(
    doc_id: str, version_id: int, clause_id: str | None, anchor: str, doc_type: str
) -> str:
    """The unit a passage belongs to, as a name."""
    if doc_type == "ruling":
        return f"ruling:{doc_id}"
    return f"{version_id}:{clause_id or '#' + anchor}"


def load_units(files: Generation, catalog: Catalog, ids: list[str]) -> np.ndarray:
    """The unit number of each passage ordinal: the generation's file, mapped (workers share
    it), or, for a generation written before it existed, numbered from the catalog."""
    if files.units.is_file():
        units = np.load(files.units, mmap_mode="r")
        if units.shape == (len(ids),):
            return units
    found = catalog.units(ids)
    numbers: dict[str, int] = {}
    out = np.empty(len(ids), dtype=np.int32)
    for ordinal, passage_id in enumerate(ids):
        row = found.get(passage_id)
        if row is None:
            raise NotFoundError(f"no passage {passage_id!r}")
        out[ordinal] = numbers.setdefault(unit_name(*row), len(numbers))
    return out
