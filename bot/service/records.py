"""What the store returns and refuses, as plain values: the records the service layer reads
and the errors it may meet. No SQLAlchemy here: the database adapter
(bot.adapters.db.repository) fills them in, and the use cases depend only on these and on
the ports (bot.service.ports)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal


# --- errors -------------------------------------------------------------------------


class RepositoryError(Exception):
    """Base of the errors the repository raises on purpose."""


class NotFound(RepositoryError, LookupError):
    pass


class VersionConflict(RepositoryError):
    """The meeting changed since the caller read it: re-read, re-decide, retry."""

    def __init__(self, meeting_id: str, expected: int, actual: int):
        super().__init__(
            f"meeting {meeting_id} is at version {actual}, not {expected}: "
            "it was changed concurrently; reload it and try again"
        )
        self.meeting_id, self.expected, self.actual = meeting_id, expected, actual


# --- records returned ---------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    aad_object_id: str
    teams_user_id: str
    name: str
    tenant_id: str
    service_url: str
    conversation_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class TeamsContactRecord:
    """What the bot knows of reaching someone in Teams (bot/service/reach.py)."""
    aad_object_id: str
    tenant_id: str | None
    app_installed: bool
    conversation_id: str | None
    service_url: str | None
    updated_at: datetime


@dataclass(frozen=True)
class MeetingRecord:
    id: str
    area: str
    case_ref: str | None
    requester_aad_id: str
    chair_aad_id: str
    chair_name: str
    request: dict[str, Any]  # a fresh copy each read: mutating it changes nothing stored
    plan: dict[str, Any]
    state: str
    meeting_at: datetime | None
    deadline: datetime
    join_url: str | None
    chair_conversation_id: str | None
    chair_service_url: str | None
    chair_tenant_id: str | None
    plan_activity_id: str | None
    status_activity_id: str | None
    outcome: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    version: int
    event_id: str | None = None          # the Graph calendar event behind the Teams meeting
    event_organiser: str | None = None   # whose calendar holds it
    state_changed_at: datetime | None = None
    state_changed_by: str | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True)
class NewInvitation:
    """What `add_invitations` needs to know about one invitee (a Mapping with these keys
    is accepted too)."""

    role: str
    level: str
    contact_id: str
    contact_name: str | None = None
    contact_aad_id: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    tenant_id: str | None = None
    service_url: str | None = None
    nominated_by_id: str | None = None  # the invitation whose invitee nominated this contact


@dataclass(frozen=True)
class InvitationRecord:
    id: str
    meeting_id: str
    role: str
    level: str
    contact_id: str
    contact_name: str | None
    contact_aad_id: str | None
    contact_email: str | None
    contact_phone: str | None
    tenant_id: str | None
    service_url: str | None
    delivery_state: str
    delivery_error: str | None
    delivery_error_kind: str | None
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    conversation_id: str | None
    activity_id: str | None
    delivered_at: datetime | None
    response: str
    response_detail: str | None
    responded_by_aad_id: str | None
    responded_at: datetime | None
    nominated_by_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewReminder:
    """A reminder as the planner wants it (bot.core.reminders.Planned, stored)."""

    key: str
    kind: str
    recipient: str
    due_at: datetime
    detail: dict[str, Any]
    invitation_id: str | None = None


@dataclass(frozen=True)
class ReminderRecord:
    id: str
    meeting_id: str
    key: str
    kind: str
    recipient: str
    invitation_id: str | None
    due_at: datetime
    detail: dict[str, Any]
    state: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventRecord:
    id: int
    meeting_id: str
    at: datetime
    actor_aad_id: str | None
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ResponseResult:
    """Outcome of `record_response`:
    - "recorded": the answer was stored (first answer, or a changed one; see `previous`);
    - "unchanged": the same answer was already stored; nothing was written;
    - "refused": nothing was written; `reason` says why (not the invitee, no such invitation).
    """

    outcome: Literal["recorded", "unchanged", "refused"]
    invitation: InvitationRecord | None
    previous: str | None = None
    reason: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "recorded"

    @property
    def refused(self) -> bool:
        return self.outcome == "refused"
