"""The invitations table: one agency contact invited to one meeting, its delivery and answer."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Boolean, bindparam, case, column, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.dialects import postgresql, sqlite

from bot.core.vocabulary import ROLES
from bot.service.records import (
    InvitationRecord, MeetingRecord, NewInvitation, NotFound, ResponseResult,
)

from .checks import _columns, _choice, _instant, _record, _text
from .lease_queue import LeaseQueue
from .models import (
    INVITATION_LEVELS, MEETING_STATES, RESPONSES, Event, Invitation, Meeting,
)
from .meetings import _MEETING_COLUMNS, _MEETING_LOCK
from .unit_of_work import StoreBase


ANSWERS = tuple(r for r in RESPONSES if r != "none")
_DEFAULT_CLAIM_STATES = ("sending", "sent", "not_held")
DELIVERIES = LeaseQueue(Invitation, Invitation.delivery_state == "pending")


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


class InvitationStore(StoreBase):
    """Invitations: written before they are sent, delivered once through the lease queue, answered
    only by the person invited."""


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
            if not self._meeting_exists(s, meeting_id):
                raise NotFound(f"no meeting {meeting_id}")
            # One INSERT for all the rows, and their events in one flush: a round trip per row
            # made a Send of 20 invitations 40 statements on PostgreSQL (25 chairs pressing at
            # once held up their invitations' delivery behind them).
            ids = [uuid.uuid4().hex for _ in new]
            inserted: set[str] = set()
            if new:
                insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
                stmt = insert(Invitation).values([dict(
                    id=invitation_id, meeting_id=meeting_id, **dataclasses.asdict(n),
                    delivery_state="pending", attempts=0, response="none", created_at=now, updated_at=now,
                ) for invitation_id, n in zip(ids, new)]).on_conflict_do_nothing(
                    index_elements=["meeting_id", "role", "contact_id"]).returning(Invitation.id)
                inserted.update(s.execute(stmt).scalars())
            s.add_all(Event(meeting_id=meeting_id, at=now, actor_aad_id=actor, kind="invitation.added", detail={
                "invitation_id": invitation_id, "role": n.role, "level": n.level, "contact_id": n.contact_id,
                "contact_name": n.contact_name, "nominated_by_id": n.nominated_by_id,
            }) for invitation_id, n in zip(ids, new) if invitation_id in inserted)  # in the rows' order
            return self._invitations(self._core(s), meeting_id)  # _core flushes the events first

    def list_invitations(self, meeting_id: str) -> list[InvitationRecord]:
        unit = getattr(self._local, "unit", None)
        if unit is not None and meeting_id in unit.invitations:
            return list(unit.invitations[meeting_id])  # read with this unit's answer (_Unit)
        with self._conn(read=True) as conn:
            return self._invitations(conn, meeting_id)

    def get_invitation(self, invitation_id: str) -> InvitationRecord | None:
        with self._conn(read=True) as conn:
            row = conn.execute(_GET_INVITATION, {"invitation_id": invitation_id}).first()
            return None if row is None else InvitationRecord(*row)

    def lock_answer(self, invitation_id: str) -> tuple[InvitationRecord, MeetingRecord] | None:
        """An invitation and its meeting, read in one statement to answer it: the meeting is
        locked for the unit of work as `lock_meeting` locks it (the invitation is not: its
        answer is written with `record_response`, which locks it). None if there is no such
        invitation."""
        with self._conn() as conn:
            row = conn.execute(_LOCK_ANSWER, {"invitation_id": invitation_id}).first()
            if row is None:
                return None
            split = len(_INVITATION_COLUMNS)
            return InvitationRecord(*row[:split]), MeetingRecord(*row[split:])

    @staticmethod
    def _invitations(conn: Connection, meeting_id: str) -> list[InvitationRecord]:
        return [InvitationRecord(*r) for r in conn.execute(_LIST_INVITATIONS, {"meeting_id": meeting_id})]

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
        states = [_choice("meeting state", st, MEETING_STATES) for st in meeting_states]
        with self._session() as s:
            pick = DELIVERIES.ids().join(Meeting, Meeting.id == Invitation.meeting_id).where(Meeting.state.in_(states))
            claimed = DELIVERIES.claim(s, owner, now, lease_seconds, limit, pick=pick,
                                       order_by=(Meeting.deadline, Invitation.created_at, Invitation.id))
            return [_record(InvitationRecord, r) for r in claimed]

    def extend_leases(self, invitation_ids: Iterable[str], owner: str, until: datetime) -> int:
        """Keep holding invitations `owner` is still sending (a heartbeat), so a slow send
        (Retry-After waits) is not taken over while alive. Returns how many were extended;
        rows finished, or taken over after the lease lapsed, are left alone."""
        with self._session() as s:
            return DELIVERIES.extend(s, invitation_ids, owner, until)

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

    def record_deliveries(self, owner: str, deliveries: Iterable[tuple[str, str, str | None]]) -> list[bool]:
        """`record_delivery` for each (invitation id, conversation id, activity id), in one
        transaction: a fan-out's records cost one commit per group, not one per card. All or
        nothing: if the database fails, none is recorded and the caller tries them again."""
        with self.transaction():
            return [self.record_delivery(invitation_id, owner, conversation_id, activity_id)
                    for invitation_id, conversation_id, activity_id in deliveries]

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
        self, invitation_id: str, responder_aad_id: str | None, response: str, detail: str | None, now: datetime,
        *, by_link: bool = False,
    ) -> ResponseResult:
        """Store an invitee's answer. Idempotent: the same answer (and detail) again is
        reported "unchanged" and writes nothing; a different one replaces it ("recorded",
        with `previous`). Anyone but the invitee is "refused" and nothing is written.
        `by_link`: the answer came with the invitee's signed answer link, which is what
        identifies them (someone invited by email address has no Teams identity)."""
        responder_aad_id = _text("responder_aad_id", responder_aad_id, optional=by_link)  # type: ignore[assignment]
        response = _choice("response", response, ANSWERS)
        detail = _text("detail", detail, optional=True)
        now = _instant("now", now)  # type: ignore[assignment]
        with self._conn() as conn:
            if conn.dialect.name == "postgresql" and not by_link:  # the card's hot path; a link answer is rare
                result, invitations, reminders = _answer_in_one_statement(conn, invitation_id, responder_aad_id,
                                                                          response, detail, now)
                if invitations:
                    unit = self._local.unit
                    unit.invitations[invitations[0].meeting_id] = invitations
                    unit.reminders[invitations[0].meeting_id] = reminders
                return result
            # Row lock (PostgreSQL) so two clicks of the same button are serialised and
            # the second sees the first's answer.
            row = conn.execute(_LOCK_INVITATION, {"invitation_id": invitation_id}).first()
            if row is None:
                return ResponseResult("refused", None, reason="no such invitation")
            invitation = InvitationRecord(*row)
            if by_link:
                responder_aad_id = invitation.contact_aad_id
            elif not invitation.contact_aad_id or invitation.contact_aad_id != responder_aad_id:
                return ResponseResult("refused", invitation, invitation.response,
                                      reason="only the invited person may answer this invitation")
            previous = invitation.response
            if previous == response and invitation.response_detail == detail:
                return ResponseResult("unchanged", invitation, previous)
            answer = dict(response=response, response_detail=detail, responded_by_aad_id=responder_aad_id,
                          responded_at=now, updated_at=now)
            conn.execute(_SET_ANSWER, {"invitation_id": invitation.id, **answer})
            conn.execute(_ADD_EVENT, {
                "meeting_id": invitation.meeting_id, "at": now, "actor_aad_id": responder_aad_id,
                "kind": "invitation.response", "detail": {
                    "invitation_id": invitation.id, "role": invitation.role, "contact_id": invitation.contact_id,
                    "response": response, "detail": detail, "previous": previous}})
            return ResponseResult("recorded", dataclasses.replace(invitation, **answer), previous)


def _answer_in_one_statement(
    conn: Connection, invitation_id: str, responder_aad_id: str, response: str, detail: str | None, now: datetime,
) -> tuple[ResponseResult, list[InvitationRecord], list[tuple]]:
    """`record_response` on PostgreSQL: the invitation locked and read, the answer written and
    its audit event added in ONE statement (_ANSWER), one round trip instead of three. The
    same rules as the portable path: decided in the statement's WHERE and told apart here.
    Also returns the meeting's invitations, the answer included, in `list_invitations`' order,
    and the meeting's reminders locked as `sync_reminders` locks them (its rows: id, key,
    state, last_error, due_at, detail, by id): the unit of work's re-planning uses both next.
    Both empty if there is no such invitation."""
    rows = conn.execute(_ANSWER, {"invitation_id": invitation_id, "responder": responder_aad_id,
                                  "response": response, "detail": detail, "now": now}).all()
    n = len(_INVITATION_COLUMNS)
    answered = [r for r in rows if r[n + 1]]
    if not answered:
        return ResponseResult("refused", None, reason="no such invitation"), [], []
    row = answered[0]
    invitation, changed = InvitationRecord(*row[:n]), row[n]
    if not changed:
        if invitation.contact_aad_id != responder_aad_id:
            result = ResponseResult("refused", invitation, invitation.response,
                                    reason="only the invited person may answer this invitation")
        else:
            result = ResponseResult("unchanged", invitation, invitation.response)
    else:
        result = ResponseResult("recorded", dataclasses.replace(
            invitation, response=response, response_detail=detail, responded_by_aad_id=responder_aad_id,
            responded_at=now, updated_at=now), invitation.response)
    ids, keys, states, errors, due, details = row[n + 2:]
    # An instant as the store's type reads it back (UTC), as sync_reminders' own select would.
    reminders = [] if ids is None else [
        (i, k, st, e, d.astimezone(timezone.utc), dt) for i, k, st, e, d, dt in zip(ids, keys, states, errors, due, details)]
    invitations = [result.invitation if r[n + 1] else InvitationRecord(*r[:n]) for r in rows]  # type: ignore[misc]
    return result, invitations, reminders


_INVITATION_COLUMNS = _columns(Invitation, InvitationRecord)
_INVITATIONS = Invitation.__table__
# Core statements built once (see StoreBase._core): the answer's hot path.
_GET_INVITATION = select(*_INVITATION_COLUMNS).where(_INVITATIONS.c.id == bindparam("invitation_id"))
_LOCK_INVITATION = _GET_INVITATION.with_for_update()
# Stable, meaningful order: as added, then quorum/must/should, then role.
_LEVEL_RANK = {lvl: i for i, lvl in enumerate(INVITATION_LEVELS)}  # a meeting's invitations, in order (also _ANSWER)
_LIST_INVITATIONS = select(*_INVITATION_COLUMNS).where(_INVITATIONS.c.meeting_id == bindparam("meeting_id")).order_by(
    _INVITATIONS.c.created_at, case(_LEVEL_RANK, value=_INVITATIONS.c.level),
    _INVITATIONS.c.role, _INVITATIONS.c.contact_id)
# The columns to set are the parameters' other keys.
_LOCK_ANSWER = (select(*_INVITATION_COLUMNS, *_MEETING_COLUMNS)
                .join_from(_INVITATIONS, Meeting.__table__, Meeting.__table__.c.id == _INVITATIONS.c.meeting_id)
                .where(_INVITATIONS.c.id == bindparam("invitation_id"))
                .with_for_update(of=Meeting.__table__, **_MEETING_LOCK))
_SET_ANSWER = update(_INVITATIONS).where(_INVITATIONS.c.id == bindparam("invitation_id"))
_ADD_EVENT = insert(Event.__table__)
# record_response on PostgreSQL in one statement. `old`: the invitation as it stands, locked
# FOR UPDATE as on the portable path (a lock_answer that waited for the meeting may have read
# it before another answer committed; this lock re-reads it). `upd`: the answer, only from the
# invitee and only if it differs; `ev`: its audit event, only if written. The statement
# returns the invitation as it was and whether the answer was written, and with it the meeting's
# other invitations, in _LIST_INVITATIONS' order (`answered` tells the one answered apart). Those
# are as the statement's snapshot has them, taken with the meeting held (lock_answer), so every
# other answer to the meeting is in; `old` re-reads the answered one as its lock found it.
# On the answered row only, the meeting's reminders as `sync_reminders` reads them, one array a
# column (rows of another shape than the invitations'), locked FOR UPDATE in the same order
# (`rem`), so the re-planning that follows needs no round trip of its own to lock them. They too
# are read with the meeting held, which every re-plan holds: no reminder of it can be added
# between this statement and the re-planning's writes.
_NAMES = ", ".join(f'"{c.name}"' for c in _INVITATION_COLUMNS)
_OLD = ", ".join(f'old."{c.name}"' for c in _INVITATION_COLUMNS)
_OTHERS = ", ".join(f'i."{c.name}"' for c in _INVITATION_COLUMNS)
_LEVEL_ORDER = " ".join(f"WHEN '{lvl}' THEN {n}" for lvl, n in _LEVEL_RANK.items())
_ANSWER = text(f"""
WITH old AS (
    SELECT {_NAMES} FROM invitations
    WHERE id = :invitation_id FOR UPDATE
), upd AS (
    UPDATE invitations SET response = :response, response_detail = :detail, responded_by_aad_id = :responder,
        responded_at = :now, updated_at = :now
    FROM old
    WHERE invitations.id = old.id AND old.contact_aad_id = :responder
        AND NOT (old.response = :response AND old.response_detail IS NOT DISTINCT FROM :detail)
    RETURNING old.meeting_id, old.id, old.role, old.contact_id, old.response AS previous
), ev AS (
    INSERT INTO events (meeting_id, at, actor_aad_id, kind, detail)
    SELECT meeting_id, :now, :responder, 'invitation.response', jsonb_build_object(
        'invitation_id', id, 'role', role, 'contact_id', contact_id, 'response', CAST(:response AS text),
        'detail', CAST(:detail AS text), 'previous', previous)
    FROM upd
), rem AS (
    SELECT r.id, r.key, r.state, r.last_error, r.due_at, r.detail FROM reminders r
    WHERE r.meeting_id = (SELECT meeting_id FROM old) ORDER BY r.id FOR UPDATE
), rems AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(key ORDER BY id) AS keys,
        array_agg(state ORDER BY id) AS states, array_agg(last_error ORDER BY id) AS errors,
        array_agg(due_at ORDER BY id) AS due, array_agg(detail ORDER BY id) AS details
    FROM rem
)
SELECT {_NAMES}, changed, answered, ids, keys, states, errors, due, details FROM (
    SELECT {_OLD}, EXISTS (SELECT 1 FROM upd) AS changed, TRUE AS answered,
        rems.ids, rems.keys, rems.states, rems.errors, rems.due, rems.details
    FROM old, rems
    UNION ALL
    SELECT {_OTHERS}, FALSE, FALSE,
        NULL::varchar[], NULL::varchar[], NULL::varchar[], NULL::text[], NULL::timestamptz[], NULL::jsonb[]
    FROM invitations i, old
    WHERE i.meeting_id = old.meeting_id AND i.id <> old.id
) AS meeting_invitations
ORDER BY created_at, CASE level {_LEVEL_ORDER} END, role, contact_id
""").bindparams(bindparam("now", type_=Invitation.__table__.c.responded_at.type)).columns(
    *_INVITATION_COLUMNS, column("changed", Boolean), column("answered", Boolean),
    *(column(name) for name in ("ids", "keys", "states", "errors", "due", "details")))
