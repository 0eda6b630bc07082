"""How long the bot keeps a meeting, as a rule (no I/O). The case system holds the record;
the bot keeps a meeting only while it is live and for a retention period after it is
closed, then deletes it, leaving an anonymous row for reporting (area, month, state,
whether it was held, quorate and on time, the section 47 decision).

A meeting is past retention when it is finished (closed, cancelled or withdrawn: the
Meeting aggregate's final states), nothing about it is still due (no pending reminder), and
its last activity is older than the period. A request never sent (a draft) counts as
finished once its deadline is that old. A meeting sent, held or not held but never closed is
kept, and counted for someone to close or cancel it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from .meeting import FINAL

DEFAULT_RETENTION_DAYS = 90
CLOSED_STATES = tuple(sorted(FINAL))


@dataclass(frozen=True)
class MeetingAge:
    """What the rule needs to know about one meeting."""

    state: str
    deadline: datetime
    last_activity: datetime  # the latest of its own update, its events and its reminders
    pending_reminders: int


def verdict(m: MeetingAge, now: datetime, days: int) -> Literal["purge", "keep", "open_past_retention"]:
    cutoff = now - timedelta(days=days)
    if m.pending_reminders or m.last_activity >= cutoff:
        return "keep"
    if m.state in CLOSED_STATES:
        return "purge"
    if m.state == "draft":  # never sent nor withdrawn: abandoned once its deadline is as old as the period
        return "purge" if m.deadline < cutoff else "keep"
    return "open_past_retention"


def anonymous_summary(*, area: str, state: str, created_at: datetime, deadline: datetime, meeting_at: datetime | None,
                      plan: dict[str, Any], outcome: dict[str, Any] | None, invitations: int) -> dict[str, Any]:
    """What is left of a purged meeting for reporting: nothing that identifies a child,
    a professional or the meeting itself (no id, no case reference, no names, month only)."""
    outcome = outcome or {}
    held = outcome.get("held") if "held" in outcome else None
    return {
        "area": area, "state": state, "requested_month": created_at.strftime("%Y-%m"),
        "out_of_hours": bool((plan.get("routing") or {}).get("out_of_hours", plan.get("out_of_hours"))),
        "held": held, "quorate": outcome.get("quorate"), "decision": outcome.get("decision"),
        "on_time": (meeting_at <= deadline) if (held and meeting_at is not None) else None,
        "invitations": invitations,
    }
