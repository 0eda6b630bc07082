"""The reminders table: what the planner wants sent, when, claimed and sent once."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.service.records import (
    NewReminder, ReminderRecord,
)

from .checks import _choice, _instant, _json, _record, _text
from .lease_queue import LeaseQueue
from .models import (
    REMINDER_RECIPIENTS, Event, Reminder,
)
from .unit_of_work import StoreBase


REMINDERS = LeaseQueue(Reminder, Reminder.state == "pending")


class ReminderStore(StoreBase):
    """A meeting's reminders: planned rows with a key unique per meeting, sent once through the
    lease queue."""


    def sync_reminders(self, meeting_id: str, wanted: Iterable[NewReminder], *,
                       returning: bool = True) -> list[ReminderRecord]:
        """Make the meeting's pending reminders exactly `wanted`: add the new ones, move the
        ones whose time or text changed, cancel the ones no longer wanted. A reminder already
        sent is never touched (its key stays taken, so it is never sent again); one cancelled
        as no longer needed comes back if it is wanted again. Safe to run concurrently: keys
        are unique per meeting. Returns the meeting's reminders."""
        wanted = list(wanted)
        for w in wanted:
            _text("key", w.key), _text("kind", w.kind), _choice("recipient", w.recipient, REMINDER_RECIPIENTS)
            _instant("due_at", w.due_at), _json("detail", w.detail)
        by_key = {w.key: w for w in wanted}
        now = self._now()
        with self._session() as s:
            dialect = s.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            existing = {r.key: r for r in s.scalars(
                # In one order, so that two units of work on one meeting lock its rows alike.
                select(Reminder).where(Reminder.meeting_id == meeting_id).order_by(Reminder.id).with_for_update())}
            for key, row in existing.items():
                w = by_key.get(key)
                if w is None:
                    if row.state == "pending":
                        row.state, row.last_error, row.updated_at = "cancelled", "no longer needed", now
                        row.lease_owner = row.lease_expires_at = None
                    continue
                if row.state == "cancelled" and row.last_error == "no longer needed":
                    row.state, row.last_error, row.attempts = "pending", None, 0
                if row.state == "pending" and (row.due_at != w.due_at or row.detail != w.detail):
                    row.due_at, row.detail, row.updated_at = w.due_at, dict(w.detail), now
            for key, w in by_key.items():
                if key in existing:
                    continue
                s.execute(insert(Reminder).values(
                    id=uuid.uuid4().hex, meeting_id=meeting_id, key=w.key, kind=w.kind, recipient=w.recipient,
                    invitation_id=w.invitation_id, due_at=w.due_at, detail=dict(w.detail), state="pending",
                    attempts=0, created_at=now, updated_at=now,
                ).on_conflict_do_nothing(index_elements=["meeting_id", "key"]))
            s.flush()
            if not returning:  # the service re-plans on every action and needs nothing back
                return []
            rows = s.scalars(select(Reminder).where(Reminder.meeting_id == meeting_id).order_by(Reminder.due_at, Reminder.key))
            return [_record(ReminderRecord, r) for r in rows]

    def list_reminders(self, meeting_id: str) -> list[ReminderRecord]:
        with self._read() as s:
            rows = s.scalars(select(Reminder).where(Reminder.meeting_id == meeting_id).order_by(Reminder.due_at, Reminder.key))
            return [_record(ReminderRecord, r) for r in rows]

    def next_reminder_due(self) -> datetime | None:
        """When the earliest pending reminder falls due (for the scheduler)."""
        with self._read() as s:
            # A row held by a lease (in flight, or backing off) is not due before the lease ends.
            ready = case((Reminder.lease_expires_at > Reminder.due_at, Reminder.lease_expires_at), else_=Reminder.due_at)
            # Typed as the column, so the UTC instant type reads the result (SQLite returns text).
            return s.scalar(select(type_coerce(func.min(ready), Reminder.due_at.type)).where(Reminder.state == "pending"))

    def claim_reminders(self, owner: str, now: datetime, lease_seconds: float = 60, limit: int = 50) -> list[ReminderRecord]:
        """Lease up to `limit` pending reminders due by `now` (earliest first) to `owner`,
        counting an attempt on each. FOR UPDATE SKIP LOCKED on PostgreSQL: replicas claiming
        at once take different rows. A lease that expired (its claimer died) is taken over."""
        now = _instant("now", now)  # type: ignore[assignment]
        with self._session() as s:
            claimed = REMINDERS.claim(s, owner, now, lease_seconds, limit, pick=REMINDERS.ids().where(Reminder.due_at <= now),
                                      order_by=(Reminder.due_at, Reminder.id))
            return [_record(ReminderRecord, r) for r in claimed]

    def extend_reminder_leases(self, ids: Iterable[str], owner: str, until: datetime) -> int:
        """Keep holding reminders `owner` is still sending (a heartbeat)."""
        with self._session() as s:
            return REMINDERS.extend(s, ids, owner, until)

    def finish_reminder(self, reminder_id: str, owner: str, state: str, *, error: str | None = None,
                        retry_at: datetime | None = None) -> bool:
        """The lease owner records the outcome: "sent", "cancelled" (with why), "failed"
        (for good), or "pending" again with `retry_at` (a transient failure). Anyone else
        (a lease taken over) gets False and changes nothing. Sent, cancelled and failed
        reminders are logged in the meeting's audit record."""
        state = _choice("state", state, ("sent", "cancelled", "failed", "pending"))
        now = self._now()
        values: dict[str, Any] = dict(state=state, last_error=error, updated_at=now, lease_owner=None,
                                      lease_expires_at=None)
        if state == "sent":
            values["sent_at"] = now
        if state == "pending":
            values["lease_expires_at"] = _instant("retry_at", retry_at, optional=True)
        with self._session() as s:
            row = s.execute(
                update(Reminder).where(Reminder.id == reminder_id, Reminder.lease_owner == owner,
                                       Reminder.state == "pending")
                .values(**values).returning(Reminder.meeting_id, Reminder.key, Reminder.kind, Reminder.attempts),
                execution_options={"synchronize_session": False}).one_or_none()
            if row is None:
                return False
            if state != "pending":
                s.add(Event(meeting_id=row.meeting_id, at=now, actor_aad_id=None, kind=f"reminder.{state}", detail={
                    "reminder_id": reminder_id, "key": row.key, "kind": row.kind, "attempt": row.attempts,
                    "owner": owner, **({"reason": error} if error else {})}))
            return True
