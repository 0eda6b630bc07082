"""The meetings table: one strategy meeting each, changed only with its version checked."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from bot.service.records import (
    MeetingRecord, NotFound, VersionConflict,
)

from .checks import _columns, _choice, _instant, _json, _record, _text
from .models import (
    MEETING_STATES, Event, Invitation, Meeting,
)
from .unit_of_work import StoreBase


# Fields the bot may change after creation. Not: identity, timestamps, version, and who
# asked for the meeting (that is history).
MEETING_UPDATABLE = frozenset({
    "area", "case_ref", "chair_aad_id", "chair_name", "request", "plan", "state", "meeting_at",
    "deadline", "join_url", "chair_conversation_id", "chair_service_url", "chair_tenant_id",
    "plan_activity_id", "status_activity_id", "outcome", "event_id", "event_organiser",
    "state_changed_at", "state_changed_by", "cancel_reason",
})
# Card/conversation plumbing: updated often, of no interest to the audit record.
_UNAUDITED = frozenset({"plan_activity_id", "status_activity_id", "chair_conversation_id", "chair_service_url", "chair_tenant_id"})
# FOR NO KEY UPDATE, not FOR UPDATE: writing an invitation's or reminder's audit event checks
# its meeting with FOR KEY SHARE, which FOR UPDATE would block. A unit of work that holds its
# meeting and then waits for a reminder row, while the worker holding that row waits to log
# against the meeting, would deadlock; NO KEY UPDATE still serialises the actions on a meeting.
_MEETING_LOCK = {"key_share": True}


def _check_meeting_field(name: str, value: object) -> object:
    if name in ("request", "plan"):
        return _json(name, value)
    if name == "outcome":
        return None if value is None else _json(name, value)
    if name == "state":
        return _choice("state", value, MEETING_STATES)
    if name == "deadline":
        return _instant(name, value)
    if name in ("meeting_at", "state_changed_at"):
        return _instant(name, value, optional=True)
    required = name in ("area", "chair_aad_id", "chair_name")
    return _text(name, value, optional=not required)


class MeetingStore(StoreBase):
    """Meetings: created, read, locked for a unit of work, changed with their version checked."""

    def lock_meeting(self, meeting_id: str) -> MeetingRecord | None:
        """Read a meeting for changing it: on PostgreSQL the row stays locked until the unit of
        work ends, so two actions on one meeting (two answers, an answer and the outcome) take
        turns and each re-plans the reminders from the other's result; on SQLite the IMMEDIATE
        transaction already excludes other writers."""
        with self._conn() as conn:
            row = conn.execute(_LOCK_MEETING, {"meeting_id": meeting_id}).first()
            if row is None:
                return None
            self._locked(meeting_id)
            return MeetingRecord(*row)


    def create_meeting(
        self, *, area: str, case_ref: str | None, requester_aad_id: str, chair_aad_id: str, chair_name: str,
        request: Mapping[str, Any] | Any, plan: Mapping[str, Any] | Any, deadline: datetime,
        meeting_at: datetime | None = None, state: str = "draft", join_url: str | None = None,
        chair_conversation_id: str | None = None, chair_service_url: str | None = None,
        chair_tenant_id: str | None = None, meeting_id: str | None = None,
    ) -> MeetingRecord:
        now = self._now()
        fields = {
            name: _check_meeting_field(name, value) for name, value in dict(
                area=area, case_ref=case_ref, chair_aad_id=chair_aad_id, chair_name=chair_name, request=request,
                plan=plan, state=state, meeting_at=meeting_at, deadline=deadline, join_url=join_url,
                chair_conversation_id=chair_conversation_id, chair_service_url=chair_service_url,
                chair_tenant_id=chair_tenant_id,
            ).items()
        }
        row = Meeting(
            id=_text("meeting_id", meeting_id) if meeting_id is not None else uuid.uuid4().hex,
            requester_aad_id=_text("requester_aad_id", requester_aad_id),
            created_at=now, updated_at=now, version=1, **fields,
        )
        with self._session() as s:
            s.add(row)
            s.flush()
            s.add(Event(meeting_id=row.id, at=now, actor_aad_id=row.requester_aad_id, kind="meeting.created",
                        detail={"state": row.state, "area": row.area}))
            return _record(MeetingRecord, row)

    def get_meeting(self, meeting_id: str) -> MeetingRecord | None:
        with self._conn(read=True) as conn:
            row = conn.execute(_GET_MEETING, {"meeting_id": meeting_id}).first()
            return None if row is None else MeetingRecord(*row)

    def get_meetings(self, meeting_ids: Iterable[str]) -> dict[str, MeetingRecord]:
        """The meetings among these ids, by id, in one read (a delivery batch's meetings)."""
        ids = list(dict.fromkeys(meeting_ids))
        if not ids:
            return {}
        with self._read() as s:
            rows = s.execute(select(*_MEETING_COLUMNS).where(Meeting.id.in_(ids))).all()
            return {r.id: _record(MeetingRecord, r) for r in rows}

    def update_meeting_fields(
        self, meeting_id: str, expected_version: int | None = None, *, actor_aad_id: str | None = None, **fields: Any,
    ) -> MeetingRecord:
        """Change some of a meeting's fields and bump its version.

        With `expected_version`, raise VersionConflict (changing nothing) unless the
        meeting is still at that version; without it, last writer wins (use that only for
        fields no one decides on, like card activity ids). Raises NotFound for an unknown
        meeting and ValueError for a field that cannot be changed or a bad value.
        """
        if not fields:
            raise ValueError("no fields to update")
        bad = set(fields) - MEETING_UPDATABLE
        if bad:
            raise ValueError(
                f"cannot update meeting field(s) {', '.join(sorted(bad))}; "
                f"updatable: {', '.join(sorted(MEETING_UPDATABLE))}"
            )
        values = {name: _check_meeting_field(name, value) for name, value in fields.items()}
        actor = _text("actor_aad_id", actor_aad_id, optional=True)
        now = self._now()
        with self._session() as s:
            # Row lock on PostgreSQL so the version check and the write are one step;
            # on SQLite the IMMEDIATE transaction already excludes other writers.
            row = s.get(Meeting, meeting_id, with_for_update=_MEETING_LOCK)
            if row is None:
                raise NotFound(f"no meeting {meeting_id}")
            self._locked(meeting_id)
            if expected_version is not None and row.version != expected_version:
                raise VersionConflict(meeting_id, expected_version, row.version)
            previous_state = row.state
            changed = sorted(n for n, v in values.items() if getattr(row, n) != v)
            for name, value in values.items():
                setattr(row, name, value)
            row.version += 1
            row.updated_at = now
            audited = [n for n in changed if n not in _UNAUDITED]
            if audited:
                detail: dict[str, Any] = {"fields": audited, "version": row.version}
                if row.state != previous_state:
                    detail.update(from_state=previous_state, to_state=row.state)
                s.add(Event(meeting_id=meeting_id, at=now, actor_aad_id=actor, kind="meeting.updated", detail=detail))
            s.flush()
            return _record(MeetingRecord, row)

    def meeting_by_code(self, code: str) -> MeetingRecord | None:
        """The meeting whose short code (bot.core.privacy.meeting_code, shown on its cards) is
        `code`, whatever its case; None if none is. A code is a digest of the id, so every
        meeting's id is read: fine for a command run by hand."""
        from bot.core.privacy import meeting_code

        wanted = code.strip().upper()
        with self._read() as s:
            ids = [i for i in s.scalars(select(Meeting.id)) if meeting_code(i) == wanted]
        return self.get_meeting(ids[0]) if len(ids) == 1 else None

    def meetings_sending_with_nothing_pending(self) -> list[str]:
        """Meetings still "sending" whose invitations are all delivered or given up: a worker
        died before it settled them."""
        with self._read() as s:
            pending = select(Invitation.id).where(Invitation.meeting_id == Meeting.id,
                                                   Invitation.delivery_state == "pending").exists()
            return list(s.scalars(select(Meeting.id).where(Meeting.state == "sending", ~pending)))

    def meetings_with_events(self, starting_after: datetime) -> list[MeetingRecord]:
        """Meetings with a calendar event still worth reading answers from: sent (or being
        sent) and starting after the given instant."""
        with self._read() as s:
            rows = s.scalars(select(Meeting).where(
                Meeting.event_id.is_not(None), Meeting.state.in_(("sending", "sent", "not_held")),
                Meeting.meeting_at > starting_after).order_by(Meeting.meeting_at))
            return [_record(MeetingRecord, r) for r in rows]


_MEETING_COLUMNS = _columns(Meeting, MeetingRecord)
_GET_MEETING = select(*_MEETING_COLUMNS).where(Meeting.__table__.c.id == bindparam("meeting_id"))
_LOCK_MEETING = _GET_MEETING.with_for_update(**_MEETING_LOCK)
