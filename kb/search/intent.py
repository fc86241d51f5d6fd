"""What a question asks for beyond its topic: "what's the penalty for X" asks for the
enforcement clause of X's policy (its severity table or defaults), not X's own clause."""

from __future__ import annotations

import re

# The words of a question about the consequence ("default enforcement for ...", "what
# severity is ...", "penalty for ...", "outcome for a first ..."). Not "strike": "does that
# add a strike?" asks whether a case counts, which the case's own clause answers; not
# "punishment": battle punishments are a topic.
_ASKS_RE = re.compile(r"\b(?:enforc\w*|penalt(?:y|ies)|sanctions?|outcomes?|severity)\b", re.I)
# The heading of a policy's enforcement clause: "Enforcement by severity", "Enforcement
# defaults", "Penalties".
_ENFORCEMENT_HEADING_RE = re.compile(
    r"\b(?:enforcement|severity|penalt(?:y|ies)|sanctions)\b", re.I
)


def asks_for_enforcement(query: str) -> bool:
    """Whether the question asks what happens to a case rather than what the rule is."""
    return bool(_ASKS_RE.search(query))


def is_enforcement_heading(heading: str) -> bool:
    """Whether a clause's own heading names it as its policy's enforcement clause."""
    return bool(_ENFORCEMENT_HEADING_RE.search(heading))
