"""Which times a request can sensibly carry, and how a delay reads.

The plan engine (shared/spec/plan.md) plans for any decision time: the CLI and the contract
keep that. The bot, where a person types the times, refuses the impossible ones field by
field: a decision made in the future, a meeting before the decision. A meeting after the
deadline is possible but needs the reason for the delay (the protocols ask the chair to
record it), and an overdue deadline is said plainly, with how long ago it passed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from .wording import uk_time

# A decision time this far ahead of the bot's clock is a typo, not a clock difference.
DECISION_AHEAD = timedelta(minutes=5)


def how_long(delta: timedelta) -> str:
    """'2 days 3 hours', '4 hours 10 minutes', '25 minutes'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, hours, mins = minutes // (24 * 60), minutes // 60 % 24, minutes % 60

    def n(count: int, unit: str) -> str:
        return f"{count} {unit}{'' if count == 1 else 's'}"

    if days:
        return n(days, "day") + (f" {n(hours, 'hour')}" if hours else "")
    if hours:
        return n(hours, "hour") + (f" {n(mins, 'minute')}" if mins else "")
    return n(mins, "minute")


def overdue_by(deadline: datetime | None, now: datetime | None) -> timedelta | None:
    """How long ago the deadline passed; None while it is still ahead (or there is none)."""
    if deadline is None or now is None or now <= deadline:
        return None
    return now - deadline


def request_time_problems(decided_at: datetime | None, meeting_at: datetime | None,
                          now: datetime) -> dict[str, str]:
    """Problems with the times typed on a request, by form field ('decided_at', 'meeting_at')."""
    problems: dict[str, str] = {}
    if decided_at is not None and decided_at > now + DECISION_AHEAD:
        problems["decided_at"] = (f"{uk_time(decided_at)} is in the future: enter when the decision that a "
                                  f"strategy meeting is needed was made (it is now {uk_time(now)}).")
    if decided_at is not None and meeting_at is not None and meeting_at < decided_at:
        problems["meeting_at"] = (f"The meeting cannot be before the decision ({uk_time(decided_at)}): "
                                  "enter a later time, or leave it blank.")
    return problems


def late_meeting_problem(meeting_at: datetime | None, deadline: datetime | None, reason: str) -> str | None:
    """A meeting after the deadline with no reason for the delay: what to ask for."""
    if meeting_at is None or deadline is None or meeting_at <= deadline or reason.strip():
        return None
    return (f"The proposed meeting is {how_long(meeting_at - deadline)} after the deadline "
            f"({uk_time(deadline)}). Give the reason for the delay below, or choose an earlier time.")
