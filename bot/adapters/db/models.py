"""SQLAlchemy 2 models of what the bot must remember across restarts and replicas.

Only plain values are stored: a user's Teams address is the conversation id, service URL
and tenant, never a serialized botbuilder object (those change shape between SDK
versions and would make old rows unreadable).

The schema itself is owned by the Alembic migrations in `migrations/`; these models must
agree with them (a test compares the two). Change both together, through a new revision.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, MetaData, String, Text,
    TypeDecorator, UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MEETING_STATES = ("draft", "sending", "sent", "held", "not_held", "closed", "cancelled", "withdrawn")
DELIVERY_STATES = ("pending", "delivered", "failed")
RESPONSES = ("none", "accepted", "declined", "nominated", "written")
INVITATION_LEVELS = ("quorum", "must", "should")
REMINDER_STATES = ("pending", "sent", "cancelled", "failed")
REMINDER_RECIPIENTS = ("chair", "invitee")

# Deterministic constraint names: Alembic can only alter or drop what it can name, and
# SQLite's batch mode (table copy) needs the names to recreate constraints.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that `column` holds one of `values` (all are plain identifiers)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored as UTC and always returned timezone-aware (UTC).

    A naive datetime is refused rather than guessed at: in a system that works out
    statutory deadlines, an hour's silent shift is corruption. SQLite has no time zone
    type, so there the UTC wall time is stored without offset and UTC is re-attached on
    read; storing every value in UTC also keeps SQLite's text comparisons (lease expiry)
    chronological.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# JSONB on PostgreSQL (indexable, validated on input); plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class User(Base):
    """Someone the bot has met in Teams, with what it needs to message them proactively."""

    __tablename__ = "users"

    aad_object_id: Mapped[str] = mapped_column(String, primary_key=True)
    teams_user_id: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    tenant_id: Mapped[str] = mapped_column(String)
    service_url: Mapped[str] = mapped_column(String)
    # The bot's 1:1 conversation with this user; unknown until the bot is installed for them.
    conversation_id: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime]


class TeamsContact(Base):
    """How the bot reaches someone in Teams, shared by every replica and kept across restarts:
    whether its app is installed for them (the bot installed it, or found it installed) and
    their 1:1 chat once known, so the bot installs at most once and opens a chat at most once."""

    __tablename__ = "teams_contacts"

    aad_object_id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String)
    app_installed: Mapped[bool] = mapped_column(Boolean)
    conversation_id: Mapped[str | None] = mapped_column(String)
    service_url: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime]


class Meeting(Base):
    """One strategy meeting, from the first draft to held or cancelled."""

    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint(one_of("state", MEETING_STATES), name="state"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(None, "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    area: Mapped[str] = mapped_column(String)
    case_ref: Mapped[str | None] = mapped_column(String)
    requester_aad_id: Mapped[str] = mapped_column(String)
    chair_aad_id: Mapped[str] = mapped_column(String)
    chair_name: Mapped[str] = mapped_column(String)
    request: Mapped[dict[str, Any]]
    plan: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    meeting_at: Mapped[datetime | None]
    deadline: Mapped[datetime]
    join_url: Mapped[str | None] = mapped_column(Text)
    # The calendar event (Microsoft Graph) behind the Teams meeting, and whose calendar holds it.
    event_id: Mapped[str | None] = mapped_column(Text)
    event_organiser: Mapped[str | None] = mapped_column(String)
    # Where the chair's cards live, so they can be updated in place.
    chair_conversation_id: Mapped[str | None] = mapped_column(String)
    chair_service_url: Mapped[str | None] = mapped_column(String)
    chair_tenant_id: Mapped[str | None] = mapped_column(String)
    plan_activity_id: Mapped[str | None] = mapped_column(String)
    status_activity_id: Mapped[str | None] = mapped_column(String)
    # What the chair recorded after the meeting (bot.core.outcome.Outcome as JSON).
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The lifecycle (bot.core.meeting): when and by whom the state last changed, and why a
    # meeting was cancelled, so a refused command can say so.
    state_changed_at: Mapped[datetime | None]
    state_changed_by: Mapped[str | None] = mapped_column(String)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Optimistic concurrency: every update bumps it; a writer that read an older version
    # loses instead of silently overwriting another replica's change.
    version: Mapped[int] = mapped_column(Integer)


class Invitation(Base):
    """One contact invited in one role to one meeting: a unit of work (delivery) and a
    record (who answered what, when)."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("meeting_id", "role", "contact_id"),
        CheckConstraint(one_of("level", INVITATION_LEVELS), name="level"),
        CheckConstraint(one_of("delivery_state", DELIVERY_STATES), name="delivery_state"),
        CheckConstraint(one_of("response", RESPONSES), name="response"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # What claim_invitations scans: pending rows by lease expiry.
        Index(None, "delivery_state", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id"), index=True)
    role: Mapped[str] = mapped_column(String)
    level: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[str] = mapped_column(String)
    contact_name: Mapped[str | None] = mapped_column(String)
    contact_aad_id: Mapped[str | None] = mapped_column(String)
    contact_email: Mapped[str | None] = mapped_column(String)
    contact_phone: Mapped[str | None] = mapped_column(String)
    tenant_id: Mapped[str | None] = mapped_column(String)
    service_url: Mapped[str | None] = mapped_column(String)
    delivery_state: Mapped[str] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_error_kind: Mapped[str | None] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String)
    lease_expires_at: Mapped[datetime | None]
    conversation_id: Mapped[str | None] = mapped_column(String)
    activity_id: Mapped[str | None] = mapped_column(String)
    delivered_at: Mapped[datetime | None]
    response: Mapped[str] = mapped_column(String(16))
    response_detail: Mapped[str | None] = mapped_column(Text)
    responded_by_aad_id: Mapped[str | None] = mapped_column(String)
    responded_at: Mapped[datetime | None]
    # The invitation whose invitee nominated this one's contact to go in their place.
    nominated_by_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("invitations.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """Append-only audit log: the exportable record of who was invited, who answered what
    and when. Rows are only ever inserted."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id"), index=True)
    at: Mapped[datetime]
    actor_aad_id: Mapped[str | None] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]]


class AnswerLinkUse(Base):
    """An answer link that has been used (bot/answer_links.py): its nonce, stored in the
    transaction of the answer it gave, so the same link never answers twice."""

    __tablename__ = "answer_link_uses"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    invitation_id: Mapped[str] = mapped_column(String(32), ForeignKey("invitations.id"))
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id"), index=True)
    used_at: Mapped[datetime]


class Reminder(Base):
    """A message the bot owes someone at a time: the source of truth for reminders, so that
    none is lost in a restart and none is sent twice by replicas. APScheduler only decides
    when to look; a replica claims due rows with a lease (FOR UPDATE SKIP LOCKED), sends,
    and marks them sent. `key` is unique per meeting: the same reminder is never planned twice."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("meeting_id", "key"),
        CheckConstraint(one_of("state", REMINDER_STATES), name="state"),
        CheckConstraint(one_of("recipient", REMINDER_RECIPIENTS), name="recipient"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # What claim_reminders scans: pending rows by due time.
        Index(None, "state", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), ForeignKey("meetings.id"), index=True)
    key: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    recipient: Mapped[str] = mapped_column(String(16))
    invitation_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("invitations.id"))
    due_at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String)
    lease_expires_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PurgedMeeting(Base):
    """What is left of a meeting deleted after the retention period (bot.core.retention):
    counts for reporting, with nothing that identifies the child, the people or the meeting."""

    __tablename__ = "purged_meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purged_at: Mapped[datetime]
    area: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String(16))
    requested_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    out_of_hours: Mapped[bool] = mapped_column(Boolean)
    held: Mapped[bool | None] = mapped_column(Boolean)
    quorate: Mapped[bool | None] = mapped_column(Boolean)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    decision: Mapped[str | None] = mapped_column(String)
    invitations: Mapped[int] = mapped_column(Integer)
