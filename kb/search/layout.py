"""Names in a generation's folder that the index build writes and the searcher reads."""

from __future__ import annotations

IDS_FILE = "passage_ids.txt"  # line n: the passage id of ordinal n in every index
