"""The reminders table: what the planner wants sent, when, claimed and sent once."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.service.records import (
    NewReminder, ReminderRecord,
)

from .checks import _choice, _columns, _instant, _json, _record, _text
from .lease_queue import LeaseQueue
from .models import (
    REMINDER_RECIPIENTS, Event, Reminder,
)
from .unit_of_work import StoreBase


REMINDERS = LeaseQueue(Reminder, Reminder.state == "pending")
# Core statements built once (see StoreBase._core): every action re-plans its meeting's reminders.
_TABLE = Reminder.__table__
_LOCK_REMINDERS = (select(_TABLE.c.id, _TABLE.c.key, _TABLE.c.state, _TABLE.c.last_error, _TABLE.c.due_at,
                          _TABLE.c.detail)
                   .where(_TABLE.c.meeting_id == bindparam("meeting_id")).order_by(_TABLE.c.id).with_for_update())
_LIST_REMINDERS = (select(*_columns(Reminder, ReminderRecord)).where(_TABLE.c.meeting_id == bindparam("meeting_id"))
                   .order_by(_TABLE.c.due_at, _TABLE.c.key))
_CHANGE_REMINDER = update(_TABLE).where(_TABLE.c.id == bindparam("reminder_id"))  # sets the parameters' other keys
_ADD_REMINDER = {name: dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["meeting_id", "key"])
                 for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


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
            _instant("due_at", w.due_at)
        by_key = {w.key: w for w in wanted}
        now = self._now()
        unit = getattr(self._local, "unit", None)
        # Locked already by the statement that answered in this unit of work (_Unit.reminders), if one did.
        locked = unit.reminders.pop(meeting_id, None) if unit is not None else None
        with self._conn() as conn:
            # In one order, so that two units of work on one meeting lock its rows alike.
            existing = locked if locked is not None else conn.execute(_LOCK_REMINDERS, {"meeting_id": meeting_id}).all()
            # Each detail as stored, and as a read gives it back. One equal to the stored detail
            # is that already (the stored one is decoded JSON, and a value equal to it becomes
            # an equal value through JSON), and was checked when it was stored; the others are
            # checked and put through JSON here, before anything is written. Re-planning on
            # every action wants mostly the details already stored.
            stored = {key: detail for _, key, _, _, _, detail in existing}
            details = {w.key: stored[w.key] if w.key in stored and stored[w.key] == w.detail
                       else _json("detail", w.detail) for w in wanted}
            changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by the columns they set
            for reminder_id, key, state, last_error, due_at, detail in existing:
                w = by_key.get(key)
                values: dict[str, Any] = {}
                if w is None:
                    if state == "pending":
                        values = dict(state="cancelled", last_error="no longer needed", updated_at=now,
                                      lease_owner=None, lease_expires_at=None)
                else:
                    if state == "cancelled" and last_error == "no longer needed":
                        values, state = dict(state="pending", last_error=None, attempts=0), "pending"
                    if state == "pending" and (due_at != w.due_at or detail != details[key]):
                        values.update(due_at=w.due_at, detail=details[key], updated_at=now)
                if values:
                    changes.setdefault(tuple(sorted(values)), []).append({"reminder_id": reminder_id, **values})
            for rows in changes.values():
                conn.execute(_CHANGE_REMINDER, rows)
            taken = {key for _, key, *_ in existing}
            new = [dict(id=uuid.uuid4().hex, meeting_id=meeting_id, key=w.key, kind=w.kind, recipient=w.recipient,
                        invitation_id=w.invitation_id, due_at=w.due_at, detail=details[w.key], state="pending",
                        attempts=0, created_at=now, updated_at=now)
                   for key, w in by_key.items() if key not in taken]
            if new:
                conn.execute(_ADD_REMINDER[conn.dialect.name], new)
            if not returning:  # the service re-plans on every action and needs nothing back
                return []
            return [ReminderRecord(*r) for r in conn.execute(_LIST_REMINDERS, {"meeting_id": meeting_id})]

    def list_reminders(self, meeting_id: str) -> list[ReminderRecord]:
        with self._conn(read=True) as conn:
            return [ReminderRecord(*r) for r in conn.execute(_LIST_REMINDERS, {"meeting_id": meeting_id})]

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
