"""The events table: every change of audit significance, in the transaction that made it."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.service.records import (
    EventRecord, NotFound,
)

from .checks import _instant, _json, _record, _text
from .models import (
    Event,
)
from .unit_of_work import StoreBase


class AuditLog(StoreBase):
    """The meeting's audit record: appended to, never changed."""


    def add_event(
        self, meeting_id: str, kind: str, detail: Mapping[str, Any] | None = None, *,
        actor_aad_id: str | None = None, at: datetime | None = None,
    ) -> EventRecord:
        row = Event(
            meeting_id=meeting_id, kind=_text("kind", kind), detail=_json("detail", detail or {}),
            actor_aad_id=_text("actor_aad_id", actor_aad_id, optional=True),
            at=self._now() if at is None else _instant("at", at),
        )
        with self._session() as s:
            if not self._meeting_exists(s, meeting_id):
                raise NotFound(f"no meeting {meeting_id}")
            s.add(row)
            s.flush()
            return _record(EventRecord, row)

    def list_events(self, meeting_id: str) -> list[EventRecord]:
        """The meeting's audit log, oldest first."""
        with self._read() as s:
            rows = s.scalars(select(Event).where(Event.meeting_id == meeting_id).order_by(Event.id)).all()
            return [_record(EventRecord, r) for r in rows]
