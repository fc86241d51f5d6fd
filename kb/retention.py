"""A retention period for what holds moderators' raw questions: audit events and feedback
older than `retention_days` are deleted, and the deletion is itself recorded in the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kb.audit import AuditLog
from kb.config import Settings
from kb.feedback import FeedbackStore


@dataclass(frozen=True)
class Purged:
    """What one purge deleted."""

    before: str
    events: int
    feedback: int


def purge(settings: Settings, days: int | None = None) -> Purged | None:
    """Delete audit events and feedback older than `days` (default: the retention_days
    setting); None when there is no retention period."""
    days = settings.retention_days if days is None else days
    if days <= 0:
        return None
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(microsecond=0)
    cutoff = before.isoformat()
    where = settings.user_store()
    feedback = FeedbackStore(where)
    audit = AuditLog(where)
    try:
        judged = feedback.purge(cutoff)
        events = audit.purge(cutoff, {"feedback": judged})
    finally:
        feedback.close()
        audit.close()
    return Purged(cutoff, events, judged)
