"""policy-kb: a searchable policy knowledge base with cited, extractive answers."""

from __future__ import annotations

__version__ = "0.1.0"
