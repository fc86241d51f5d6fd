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


# A case told by what it was reported as before what happened ("looks like a weapons case,
# but the host is juggling real machetes", "reported as a scam dispute, but the host put the
# viewer's address on screen"): the report's area is a decoy that pulls a query's meaning
# towards the wrong policy. The framing: "looks / looked / seems / seemed / sounds like" or
# "reported / flagged / came in / filed as / for / under" at the start of the query (after
# an optional "it", "this" or "that"), then at most 200 characters without punctuation up
# to "but" (one comma, colon or semicolon may stand right before it).
_REPORTED_AS_RE = re.compile(
    r"^\W*(?:(?:it|this|that)\s+)?"
    r"(?:(?:looks?|looked|seems?|seemed|sounds?)\s+like"
    r"|(?:reported|flagged|came\s+in|filed)\s+(?:as|for|under))\b"
    r"[^,;:.!?]{0,200}?[,;:]?\s?\bbut\b[\s,]*(?:(?:it'?s|actually|really)\s+)*",
    re.I,
)


def without_report(query: str) -> str:
    """What happened, without what the case was reported or looked like first: the part of
    a query its meaning (the dense side's embedding) is taken from. The keyword side still
    searches every word. A query without that framing, or with too little after it, is
    returned as it is."""
    found = _REPORTED_AS_RE.search(query)
    if found is None:
        return query
    rest = query[found.end() :]
    return rest if len(rest.split()) >= 3 else query
