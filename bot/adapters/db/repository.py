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

from bot.service.records import (
    EventRecord, InvitationRecord, MeetingRecord, NewInvitation, NewReminder, NotFound, ReminderRecord,
    RepositoryError, ResponseResult, UserRecord, VersionConflict,
)

from .answer_links import AnswerLinkStore
from .audit import AuditLog
from .invitations import InvitationStore
from .meetings import MeetingStore
from .reminders import ReminderStore
from .users import UserStore

__all__ = [
    "Repository", "UserRecord", "MeetingRecord", "InvitationRecord", "NewInvitation", "EventRecord",
    "NewReminder", "ReminderRecord",
    "ResponseResult", "RepositoryError", "NotFound", "VersionConflict",
]


class Repository(UserStore, MeetingStore, InvitationStore, ReminderStore, AuditLog, AnswerLinkStore):
    """Persistence for users, meetings, invitations, reminders and the audit log: one store per
    table (bot/adapters/db/users.py, meetings.py, invitations.py, reminders.py, audit.py, answer_links.py) over
    shared units of work (unit_of_work.py), invitations and reminders claimed through one lease
    queue (lease_queue.py). It implements the service's MeetingStore port."""
