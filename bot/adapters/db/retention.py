"""Deleting meetings past the retention period (bot.core.retention decides which), each in
its own transaction with an anonymous row left in `purged_meetings` for reporting.

Replicas may purge at the same time: a meeting is locked (FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite has one writer) and read again inside the transaction, so it is deleted
and summarised once. Live meetings, and their reminders, are never touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, delete, func, select, type_coerce, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.retention import MeetingAge, anonymous_summary, verdict

from .models import AnswerLinkUse, Event, Invitation, Meeting, PurgedMeeting, Reminder, UTCDateTime


@dataclass
class PurgeReport:
    """Counts only: what was (or, on a dry run, would be) deleted, and what is kept."""

    applied: bool
    retention_days: int
    meetings: int = 0
    invitations: int = 0
    reminders: int = 0
    events: int = 0
    kept_live: int = 0
    open_past_retention: int = 0  # sent (held or not) but never closed, silent for longer than the period
    by_state: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        verb = "deleted" if self.applied else "would delete"
        line = (f"retention {self.retention_days} days: {verb} {self.meetings} meeting(s) "
                f"({', '.join(f'{n} {s}' for s, n in sorted(self.by_state.items())) or 'none'}), "
                f"{self.invitations} invitation(s), {self.reminders} reminder(s), {self.events} event(s); "
                f"kept {self.kept_live} live or recent meeting(s)")
        if self.open_past_retention:
            line += (f"; {self.open_past_retention} meeting(s) were sent but never closed and have been silent for longer "
                     "than the retention period: record their outcome and close them, or cancel them")
        return line


def _ages(s: Session, meeting_id: str | None = None) -> list[tuple[Meeting, MeetingAge]]:
    """Every meeting (or one) with what the retention rule needs, in one query."""
    last_event = select(Event.meeting_id, type_coerce(func.max(Event.at), UTCDateTime()).label("at")) \
        .group_by(Event.meeting_id).subquery()
    reminders = select(Reminder.meeting_id, type_coerce(func.max(Reminder.updated_at), UTCDateTime()).label("at"),
                       func.sum(case((Reminder.state == "pending", 1), else_=0)).label("pending")) \
        .group_by(Reminder.meeting_id).subquery()
    query = (select(Meeting, last_event.c.at, reminders.c.at, reminders.c.pending)
             .outerjoin(last_event, last_event.c.meeting_id == Meeting.id)
             .outerjoin(reminders, reminders.c.meeting_id == Meeting.id))
    if meeting_id is not None:
        query = query.where(Meeting.id == meeting_id)
    return [(m, MeetingAge(m.state, m.deadline, max(t for t in (m.updated_at, event_at, reminder_at) if t is not None),
                           int(pending or 0)))
            for m, event_at, reminder_at, pending in s.execute(query).all()]


def purge(sessions: sessionmaker[Session], now: datetime, days: int, *, apply: bool) -> PurgeReport:
    report = PurgeReport(applied=apply, retention_days=days)
    with sessions.begin() as s:
        candidates = []
        for meeting, age in _ages(s):
            v = verdict(age, now, days)
            if v == "purge":
                candidates.append(meeting.id)
            elif v == "open_past_retention":
                report.open_past_retention += 1
            else:
                report.kept_live += 1
    for meeting_id in candidates:
        with sessions.begin() as s:
            _purge_one(s, meeting_id, now, days, apply, report)
    return report


def _purge_one(s: Session, meeting_id: str, now: datetime, days: int, apply: bool, report: PurgeReport) -> None:
    pick = select(Meeting.id).where(Meeting.id == meeting_id)
    if s.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    if s.scalars(pick).first() is None:
        return  # another replica has it, or has purged it
    ((meeting, age),) = _ages(s, meeting_id)
    if verdict(age, now, days) != "purge":
        return  # something happened since it was listed
    counts = {
        "invitations": s.scalar(select(func.count()).select_from(Invitation).where(Invitation.meeting_id == meeting_id)),
        "reminders": s.scalar(select(func.count()).select_from(Reminder).where(Reminder.meeting_id == meeting_id)),
        "events": s.scalar(select(func.count()).select_from(Event).where(Event.meeting_id == meeting_id)),
    }
    report.meetings += 1
    report.by_state[meeting.state] = report.by_state.get(meeting.state, 0) + 1
    for k, n in counts.items():
        setattr(report, k, getattr(report, k) + int(n or 0))
    if not apply:
        return
    s.add(PurgedMeeting(purged_at=now, **anonymous_summary(
        area=meeting.area, state=meeting.state, created_at=meeting.created_at, deadline=meeting.deadline,
        meeting_at=meeting.meeting_at, plan=meeting.plan or {}, outcome=meeting.outcome,
        invitations=int(counts["invitations"] or 0))))
    s.execute(delete(Reminder).where(Reminder.meeting_id == meeting_id))
    s.execute(delete(Event).where(Event.meeting_id == meeting_id))
    s.execute(delete(AnswerLinkUse).where(AnswerLinkUse.meeting_id == meeting_id))
    s.execute(update(Invitation).where(Invitation.meeting_id == meeting_id).values(nominated_by_id=None))
    s.execute(delete(Invitation).where(Invitation.meeting_id == meeting_id))
    s.execute(delete(Meeting).where(Meeting.id == meeting_id))
