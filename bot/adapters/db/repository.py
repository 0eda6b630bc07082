"""The bot's persistence API: small, intention-revealing operations, one transaction each.

Everything returned is a plain frozen dataclass copied out before the session closes,
so callers never hold ORM objects bound to a dead session (or mutate rows by accident).

Concurrency model. Several replicas share one PostgreSQL database:
  * Work that must happen once (sending an invitation) is claimed with a lease:
    `claim_invitations` picks pending rows whose lease is free or expired, with
    `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL so concurrent claimers pass each
    other by instead of queueing or double-claiming. A replica that dies mid-send simply
    lets its lease expire and another takes the row over (`attempts` counts the tries).
    On SQLite every writing transaction begins IMMEDIATE (engine.py; reads outside a unit of
    work do not), so there is one writer at a time and the guarded UPDATE is enough.
  * Meetings carry a `version` for optimistic concurrency: pass the version you read to
    `update_meeting_fields` and a concurrent change makes yours fail loudly.
  * State that matters is written before it is acted on: invitations exist (pending)
    before anything is sent, and delivery is recorded by the lease owner only.

Bad input is refused before anything is written (ValueError/TypeError), and the schema's
CHECK/NOT NULL/UNIQUE constraints back that up, so nothing stored is half-written or
silently altered. Changes of audit significance append an `Event` in the same
transaction as the change itself, so the record can never disagree with the state.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from sqlalchemy import case, func, or_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from bot.core.vocabulary import ROLES

from .engine import make_engine, make_sessionmaker
from .models import (
    DELIVERY_STATES, INVITATION_LEVELS, MEETING_STATES, REMINDER_RECIPIENTS, RESPONSES, Event, Invitation, Meeting,
    Reminder, User,
)

__all__ = [
    "Repository", "UserRecord", "MeetingRecord", "InvitationRecord", "NewInvitation", "EventRecord",
    "NewReminder", "ReminderRecord",
    "ResponseResult", "RepositoryError", "NotFound", "VersionConflict",
]

ANSWERS = tuple(r for r in RESPONSES if r != "none")
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
_DEFAULT_CLAIM_STATES = ("sending", "sent", "not_held")
# FOR NO KEY UPDATE, not FOR UPDATE: writing an invitation's or reminder's audit event checks
# its meeting with FOR KEY SHARE, which FOR UPDATE would block. A unit of work that holds its
# meeting and then waits for a reminder row, while the worker holding that row waits to log
# against the meeting, would deadlock; NO KEY UPDATE still serialises the actions on a meeting.
_MEETING_LOCK = {"key_share": True}


from bot.service.records import (  # noqa: E402  (the records live with the ports; re-exported here)
    EventRecord, InvitationRecord, MeetingRecord, NewInvitation, NewReminder, NotFound, ReminderRecord,
    RepositoryError, ResponseResult, UserRecord, VersionConflict,
)


R = TypeVar("R")


def _record(cls: type[R], row: object) -> R:
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


# --- input checks -------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    """A string as given (never trimmed or truncated), refusing what a database would
    mangle or reject: NUL characters (PostgreSQL refuses them, SQLite keeps them)."""
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} is required")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")
    if not optional and not value.strip():
        raise ValueError(f"{name} must not be blank")
    return value


def _choice(name: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value  # type: ignore[return-value]


def _instant(name: str, value: object, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone")
    return value.astimezone(timezone.utc)


def _json(name: str, value: object) -> dict[str, Any]:
    """A JSON object, normalised by a round trip so that what is returned is exactly what
    a later read gives back (tuples become lists, ...). Accepts domain objects that know
    how to become JSON (`model_dump` from pydantic, `to_dict` like the Plan)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a JSON object (a mapping), not {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not valid JSON: {e}") from None
    if "\\u0000" in text:
        raise ValueError(f"{name} contains a NUL character")
    return json.loads(text)


def _new_invitation(row: NewInvitation | Mapping[str, Any]) -> NewInvitation:
    if isinstance(row, Mapping):
        unknown = set(row) - {f.name for f in dataclasses.fields(NewInvitation)}
        if unknown:
            raise ValueError(f"unknown invitation field(s): {', '.join(sorted(unknown))}")
        try:
            row = NewInvitation(**row)
        except TypeError as e:
            raise ValueError(f"invitation: {e}") from None
    if not isinstance(row, NewInvitation):
        raise TypeError(f"expected NewInvitation or a mapping, not {type(row).__name__}")
    _choice("role", row.role, ROLES)
    _choice("level", row.level, INVITATION_LEVELS)
    _text("contact_id", row.contact_id)
    for f in ("contact_name", "contact_aad_id", "contact_email", "contact_phone", "tenant_id", "service_url",
              "nominated_by_id"):
        _text(f, getattr(row, f), optional=True)
    return row


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


# --- the repository -----------------------------------------------------------------


class Repository:
    """Persistence for users, meetings, invitations and the audit log.

    `sessions` is a SQLAlchemy sessionmaker (see engine.make_sessionmaker); `clock` gives
    the current time (aware) for timestamps the caller does not pass in.
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = _utcnow):
        self._sessions = sessions
        self._clock = clock
        self._engine = None
        self._local = threading.local()  # the unit of work open in this thread, if any
        # Reads outside a unit of work: on SQLite they do not queue for the write lock (engine.py).
        self._reads = make_sessionmaker(sessions.kw["bind"], read_only=True)

    @classmethod
    def from_url(cls, url: str | URL | None = None, clock: Callable[[], datetime] = _utcnow, **engine_kwargs) -> "Repository":
        """A repository with its own engine (call `close` to release it). Does not migrate."""
        engine = make_engine(url, **engine_kwargs)
        repo = cls(make_sessionmaker(engine), clock)
        repo._engine = engine
        return repo

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _now(self) -> datetime:
        return _instant("clock()", self._clock())  # type: ignore[return-value]

    # -- units of work --

    @contextmanager
    def transaction(self) -> Iterator["Repository"]:
        """One unit of work: every repository call made in this thread inside the block
        joins one transaction, committed at the end or rolled back whole on an exception.
        So a user's action (the change, its audit events, the re-planned reminders) is
        stored together or not at all. Nested blocks join the outer one."""
        if getattr(self._local, "session", None) is not None:
            yield self
            return
        with self._sessions.begin() as s:
            self._local.session = s
            try:
                yield self
            finally:
                self._local.session = None

    @contextmanager
    def snapshot(self) -> Iterator["Repository"]:
        """Several reads in one read-only transaction (one consistent view, no write lock):
        every repository call made in this thread inside the block joins it."""
        if getattr(self._local, "session", None) is not None:
            yield self
            return
        with self._reads.begin() as s:
            self._local.session = s
            try:
                yield self
            finally:
                self._local.session = None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """The open unit of work's session, or a transaction of this call's own."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._sessions.begin() as s:
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """The open unit of work's session (a read there sees its own changes), or a
        read-only transaction of this call's own."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._reads.begin() as s:
            yield s

    def lock_meeting(self, meeting_id: str) -> MeetingRecord | None:
        """Read a meeting for changing it: on PostgreSQL the row stays locked until the unit of
        work ends, so two actions on one meeting (two answers, an answer and the outcome) take
        turns and each re-plans the reminders from the other's result; on SQLite the IMMEDIATE
        transaction already excludes other writers."""
        with self._session() as s:
            row = s.get(Meeting, meeting_id, with_for_update=_MEETING_LOCK, populate_existing=True)
            return None if row is None else _record(MeetingRecord, row)

    # -- users --

    def upsert_user(
        self, *, aad_object_id: str, teams_user_id: str, name: str, tenant_id: str, service_url: str,
        conversation_id: str | None = None,
    ) -> UserRecord:
        """Insert or refresh what we know of a Teams user. A None conversation_id keeps
        the one already known: a message from a group chat must not erase the 1:1 one."""
        values = dict(
            aad_object_id=_text("aad_object_id", aad_object_id), teams_user_id=_text("teams_user_id", teams_user_id),
            name=_text("name", name), tenant_id=_text("tenant_id", tenant_id),
            service_url=_text("service_url", service_url),
            conversation_id=_text("conversation_id", conversation_id, optional=True), updated_at=self._now(),
        )
        with self._session() as s:
            # A native upsert: two replicas meeting the same new user at once must not
            # collide on the primary key.
            dialect = s.get_bind().dialect.name
            ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(User).values(**values)
            stmt = ins.on_conflict_do_update(
                index_elements=[User.aad_object_id],
                set_={
                    "teams_user_id": ins.excluded.teams_user_id, "name": ins.excluded.name,
                    "tenant_id": ins.excluded.tenant_id, "service_url": ins.excluded.service_url,
                    "conversation_id": func.coalesce(ins.excluded.conversation_id, User.conversation_id),
                    "updated_at": ins.excluded.updated_at,
                },
            ).returning(User)
            return _record(UserRecord, s.scalars(stmt, execution_options={"populate_existing": True}).one())

    def get_user(self, aad_object_id: str) -> UserRecord | None:
        with self._read() as s:
            row = s.get(User, aad_object_id)
            return None if row is None else _record(UserRecord, row)

    # -- meetings --

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
        with self._read() as s:
            row = s.get(Meeting, meeting_id, populate_existing=True)
            return None if row is None else _record(MeetingRecord, row)

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

    # -- invitations --

    def add_invitations(
        self, meeting_id: str, rows: Iterable[NewInvitation | Mapping[str, Any]], *, actor_aad_id: str | None = None,
    ) -> list[InvitationRecord]:
        """Create pending invitations; idempotent on (meeting, role, contact): a row that
        already exists is left exactly as it is (it may already have been sent or
        answered). Returns all the meeting's invitations. All rows are checked before any
        is written, so a bad row stores nothing."""
        new = [_new_invitation(r) for r in rows]
        actor = _text("actor_aad_id", actor_aad_id, optional=True)
        now = self._now()
        with self._session() as s:
            if s.get(Meeting, meeting_id) is None:
                raise NotFound(f"no meeting {meeting_id}")
            insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
            for n in new:
                stmt = insert(Invitation).values(
                    id=uuid.uuid4().hex, meeting_id=meeting_id, **dataclasses.asdict(n),
                    delivery_state="pending", attempts=0, response="none", created_at=now, updated_at=now,
                ).on_conflict_do_nothing(index_elements=["meeting_id", "role", "contact_id"]).returning(Invitation.id)
                inserted = s.execute(stmt).scalar_one_or_none()
                if inserted is not None:
                    s.add(Event(meeting_id=meeting_id, at=now, actor_aad_id=actor, kind="invitation.added", detail={
                        "invitation_id": inserted, "role": n.role, "level": n.level, "contact_id": n.contact_id,
                        "contact_name": n.contact_name, "nominated_by_id": n.nominated_by_id,
                    }))
            s.flush()
            return self._invitations(s, meeting_id)

    def list_invitations(self, meeting_id: str) -> list[InvitationRecord]:
        with self._read() as s:
            return self._invitations(s, meeting_id)

    def get_invitation(self, invitation_id: str) -> InvitationRecord | None:
        with self._read() as s:
            row = s.get(Invitation, invitation_id, populate_existing=True)
            return None if row is None else _record(InvitationRecord, row)

    @staticmethod
    def _invitations(s: Session, meeting_id: str) -> list[InvitationRecord]:
        # Stable, meaningful order: as added, then quorum/must/should, then role.
        rank = case({lvl: i for i, lvl in enumerate(INVITATION_LEVELS)}, value=Invitation.level)
        rows = s.scalars(
            select(Invitation).where(Invitation.meeting_id == meeting_id)
            .order_by(Invitation.created_at, rank, Invitation.role, Invitation.contact_id)
            .execution_options(populate_existing=True)
        ).all()
        return [_record(InvitationRecord, r) for r in rows]

    def claim_invitations(
        self, owner: str, now: datetime, lease_seconds: float = 60, limit: int = 20, *,
        meeting_states: Iterable[str] = _DEFAULT_CLAIM_STATES,
    ) -> list[InvitationRecord]:
        """Lease up to `limit` pending invitations to `owner` until now + lease_seconds,
        counting an attempt on each; returns them, most urgent meeting first.

        Claimable: delivery pending, lease never taken, released, or expired (a claimer
        that crashed), and the meeting in one of `meeting_states` — by default sending or
        sent, so nothing goes out for a draft, cancelled or held meeting.
        """
        owner = _text("owner", owner)  # type: ignore[assignment]
        now = _instant("now", now)  # type: ignore[assignment]
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        if not (isinstance(limit, int) and limit > 0):
            raise ValueError("limit must be a positive integer")
        states = [_choice("meeting state", st, MEETING_STATES) for st in meeting_states]
        expires = now + timedelta(seconds=lease_seconds)
        free = or_(Invitation.lease_expires_at.is_(None), Invitation.lease_expires_at <= now)
        with self._session() as s:
            pick = (
                select(Invitation.id).join(Meeting, Meeting.id == Invitation.meeting_id)
                .where(Invitation.delivery_state == "pending", free, Meeting.state.in_(states))
                .order_by(Meeting.deadline, Invitation.created_at, Invitation.id)
                .limit(limit)
            )
            if s.get_bind().dialect.name == "postgresql":
                # Lock only the invitation rows (not the meeting: that would block other
                # claimers on every invitation of the meeting), and skip rows another
                # claimer holds rather than wait for them.
                pick = pick.with_for_update(skip_locked=True, of=Invitation)
            ids = list(s.scalars(pick))
            if not ids:
                return []
            # The guard is repeated in the UPDATE so that the write itself is conditional,
            # whatever the isolation the SELECT ran under.
            claimed = s.scalars(
                update(Invitation)
                .where(Invitation.id.in_(ids), Invitation.delivery_state == "pending", free)
                .values(lease_owner=owner, lease_expires_at=expires, attempts=Invitation.attempts + 1, updated_at=now)
                .returning(Invitation),
                execution_options={"synchronize_session": False, "populate_existing": True},
            ).all()
            order = {id_: i for i, id_ in enumerate(ids)}
            return sorted((_record(InvitationRecord, r) for r in claimed), key=lambda r: order[r.id])

    def extend_leases(self, invitation_ids: Iterable[str], owner: str, until: datetime) -> int:
        """Keep holding invitations `owner` is still sending (a heartbeat), so a slow send
        (Retry-After waits) is not taken over while alive. Returns how many were extended;
        rows finished, or taken over after the lease lapsed, are left alone."""
        owner = _text("owner", owner)  # type: ignore[assignment]
        until = _instant("until", until)  # type: ignore[assignment]
        ids = list(invitation_ids)
        if not ids:
            return 0
        with self._session() as s:
            result = s.execute(
                update(Invitation)
                .where(Invitation.id.in_(ids), Invitation.lease_owner == owner, Invitation.delivery_state == "pending")
                .values(lease_expires_at=until),
                execution_options={"synchronize_session": False},
            )
            return result.rowcount

    def mark_delivered(self, invitation_id: str, owner: str, conversation_id: str, activity_id: str | None) -> bool:
        """Record that `owner` delivered the invitation. Only the current lease owner may
        (a replica whose lease was taken over gets False, and changes nothing)."""
        owner = _text("owner", owner)  # type: ignore[assignment]
        values = dict(
            delivery_state="delivered", conversation_id=_text("conversation_id", conversation_id),
            activity_id=_text("activity_id", activity_id, optional=True),
            lease_expires_at=None, delivery_error=None, delivery_error_kind=None, delivered_at=self._now(),
        )
        return self._finish_lease(invitation_id, owner, values, "invitation.delivered", {})

    def record_delivery(self, invitation_id: str, owner: str, conversation_id: str, activity_id: str | None) -> bool:
        """Record a delivery Teams has accepted, even if the lease lapsed meanwhile (the
        database was away longer than the lease): the card is in the chat, so the row must
        say so, or it would be sent again. False if it was already recorded as delivered."""
        if self.mark_delivered(invitation_id, owner, conversation_id, activity_id):
            return True
        with self._session() as s:
            row = s.get(Invitation, invitation_id, with_for_update=True, populate_existing=True)
            if row is None or row.delivery_state == "delivered":
                return False
            taken_by = row.lease_owner
            row.lease_owner = owner
        return self._finish_lease(invitation_id, owner, dict(
            delivery_state="delivered", conversation_id=_text("conversation_id", conversation_id),
            activity_id=_text("activity_id", activity_id, optional=True), lease_expires_at=None, delivery_error=None,
            delivery_error_kind=None, delivered_at=self._now()), "invitation.delivered", {"late_record": True,
                                                                                         "lease_was": taken_by})

    def mark_failed(
        self, invitation_id: str, owner: str, kind: str, error: str, permanent: bool, *,
        retry_at: datetime | None = None,
    ) -> bool:
        """Record a failed delivery attempt by the lease owner (False, nothing changed, for
        anyone else). Permanent: the invitation is failed for good. Otherwise it stays
        pending and the lease is released, claimable again at once or, with `retry_at`,
        from then on (a back-off)."""
        owner = _text("owner", owner)  # type: ignore[assignment]
        kind = _text("kind", kind)  # type: ignore[assignment]
        # A diagnostic must never make recording the failure itself fail: NULs (which
        # PostgreSQL refuses) are replaced rather than refused.
        error = str(error).replace("\x00", "\ufffd")
        retry_at = _instant("retry_at", retry_at, optional=True)
        values: dict[str, Any] = dict(delivery_error=error, delivery_error_kind=kind)
        if permanent:
            values.update(delivery_state="failed", lease_expires_at=None)
        else:
            values.update(lease_owner=None, lease_expires_at=retry_at)
        return self._finish_lease(invitation_id, owner, values, "invitation.failed", {
            "kind": kind, "error": error, "permanent": bool(permanent),
            "retry_at": None if retry_at is None else retry_at.isoformat(),
        })

    def _finish_lease(self, invitation_id: str, owner: str, values: dict[str, Any], kind: str, detail: dict[str, Any]) -> bool:
        now = self._now()
        with self._session() as s:
            row = s.execute(
                update(Invitation)
                .where(Invitation.id == invitation_id, Invitation.lease_owner == owner,
                       Invitation.delivery_state == "pending")
                .values(updated_at=now, **values)
                .returning(Invitation.meeting_id, Invitation.role, Invitation.contact_id, Invitation.attempts),
                execution_options={"synchronize_session": False},
            ).one_or_none()
            if row is None:
                return False
            s.add(Event(meeting_id=row.meeting_id, at=now, actor_aad_id=None, kind=kind, detail={
                "invitation_id": invitation_id, "role": row.role, "contact_id": row.contact_id,
                "attempt": row.attempts, "owner": owner, **detail,
            }))
            return True

    def record_response(
        self, invitation_id: str, responder_aad_id: str, response: str, detail: str | None, now: datetime,
    ) -> ResponseResult:
        """Store an invitee's answer. Idempotent: the same answer (and detail) again is
        reported "unchanged" and writes nothing; a different one replaces it ("recorded",
        with `previous`). Anyone but the invitee is "refused" and nothing is written."""
        responder_aad_id = _text("responder_aad_id", responder_aad_id)  # type: ignore[assignment]
        response = _choice("response", response, ANSWERS)
        detail = _text("detail", detail, optional=True)
        now = _instant("now", now)  # type: ignore[assignment]
        with self._session() as s:
            # Row lock (PostgreSQL) so two clicks of the same button are serialised and
            # the second sees the first's answer.
            row = s.get(Invitation, invitation_id, with_for_update=True)
            if row is None:
                return ResponseResult("refused", None, reason="no such invitation")
            if not row.contact_aad_id or row.contact_aad_id != responder_aad_id:
                return ResponseResult("refused", _record(InvitationRecord, row), row.response,
                                      reason="only the invited person may answer this invitation")
            previous = row.response
            if previous == response and row.response_detail == detail:
                return ResponseResult("unchanged", _record(InvitationRecord, row), previous)
            row.response, row.response_detail = response, detail
            row.responded_by_aad_id, row.responded_at, row.updated_at = responder_aad_id, now, now
            s.add(Event(meeting_id=row.meeting_id, at=now, actor_aad_id=responder_aad_id, kind="invitation.response",
                        detail={"invitation_id": row.id, "role": row.role, "contact_id": row.contact_id,
                                "response": response, "detail": detail, "previous": previous}))
            s.flush()
            return ResponseResult("recorded", _record(InvitationRecord, row), previous)

    # -- reminders --

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
        owner = _text("owner", owner)  # type: ignore[assignment]
        now = _instant("now", now)  # type: ignore[assignment]
        if not lease_seconds > 0 or not (isinstance(limit, int) and limit > 0):
            raise ValueError("lease_seconds and limit must be positive")
        free = or_(Reminder.lease_expires_at.is_(None), Reminder.lease_expires_at <= now)
        with self._session() as s:
            pick = (select(Reminder.id).where(Reminder.state == "pending", Reminder.due_at <= now, free)
                    .order_by(Reminder.due_at, Reminder.id).limit(limit))
            if s.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            ids = list(s.scalars(pick))
            if not ids:
                return []
            claimed = s.scalars(
                update(Reminder).where(Reminder.id.in_(ids), Reminder.state == "pending", free)
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                        attempts=Reminder.attempts + 1, updated_at=now)
                .returning(Reminder),
                execution_options={"synchronize_session": False, "populate_existing": True},
            ).all()
            order = {id_: i for i, id_ in enumerate(ids)}
            return sorted((_record(ReminderRecord, r) for r in claimed), key=lambda r: order[r.id])

    def extend_reminder_leases(self, ids: Iterable[str], owner: str, until: datetime) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self._session() as s:
            return s.execute(
                update(Reminder).where(Reminder.id.in_(ids), Reminder.lease_owner == owner, Reminder.state == "pending")
                .values(lease_expires_at=_instant("until", until)),
                execution_options={"synchronize_session": False}).rowcount

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

    # -- audit log --

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
            if s.get(Meeting, meeting_id) is None:
                raise NotFound(f"no meeting {meeting_id}")
            s.add(row)
            s.flush()
            return _record(EventRecord, row)

    def list_events(self, meeting_id: str) -> list[EventRecord]:
        """The meeting's audit log, oldest first."""
        with self._read() as s:
            rows = s.scalars(select(Event).where(Event.meeting_id == meeting_id).order_by(Event.id)).all()
            return [_record(EventRecord, r) for r in rows]
