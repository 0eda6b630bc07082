"""Initial schema: users, meetings, invitations, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not importing the models) so that this revision keeps creating the
same schema however the models change later.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("aad_object_id", sa.String(), nullable=False),
        sa.Column("teams_user_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("service_url", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=True),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("aad_object_id", name=op.f("pk_users")),
    )
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("area", sa.String(), nullable=False),
        sa.Column("case_ref", sa.String(), nullable=True),
        sa.Column("requester_aad_id", sa.String(), nullable=False),
        sa.Column("chair_aad_id", sa.String(), nullable=False),
        sa.Column("chair_name", sa.String(), nullable=False),
        sa.Column("request", _json(), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("meeting_at", _instant(), nullable=True),
        sa.Column("deadline", _instant(), nullable=False),
        sa.Column("join_url", sa.Text(), nullable=True),
        sa.Column("chair_conversation_id", sa.String(), nullable=True),
        sa.Column("chair_service_url", sa.String(), nullable=True),
        sa.Column("chair_tenant_id", sa.String(), nullable=True),
        sa.Column("plan_activity_id", sa.String(), nullable=True),
        sa.Column("status_activity_id", sa.String(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('draft', 'sending', 'sent', 'cancelled', 'held')", name=op.f("ck_meetings_state")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_meetings_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index(op.f("ix_meetings_state"), "meetings", ["state"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("contact_name", sa.String(), nullable=True),
        sa.Column("contact_aad_id", sa.String(), nullable=True),
        sa.Column("contact_email", sa.String(), nullable=True),
        sa.Column("contact_phone", sa.String(), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("service_url", sa.String(), nullable=True),
        sa.Column("delivery_state", sa.String(length=16), nullable=False),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("delivery_error_kind", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_at", _instant(), nullable=True),
        sa.Column("conversation_id", sa.String(), nullable=True),
        sa.Column("activity_id", sa.String(), nullable=True),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("response_detail", sa.Text(), nullable=True),
        sa.Column("responded_by_aad_id", sa.String(), nullable=True),
        sa.Column("responded_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.CheckConstraint("level IN ('quorum', 'must', 'should')", name=op.f("ck_invitations_level")),
        sa.CheckConstraint(
            "delivery_state IN ('pending', 'delivered', 'failed')", name=op.f("ck_invitations_delivery_state")
        ),
        sa.CheckConstraint(
            "response IN ('none', 'accepted', 'declined', 'nominated', 'written')", name=op.f("ck_invitations_response")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_invitations_attempts_non_negative")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name=op.f("fk_invitations_meeting_id_meetings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("meeting_id", "role", "contact_id", name=op.f("uq_invitations_meeting_id_role_contact_id")),
    )
    op.create_index(op.f("ix_invitations_meeting_id"), "invitations", ["meeting_id"])
    op.create_index(
        op.f("ix_invitations_delivery_state_lease_expires_at"), "invitations", ["delivery_state", "lease_expires_at"]
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("actor_aad_id", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name=op.f("fk_events_meeting_id_meetings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_meeting_id"), "events", ["meeting_id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("invitations")
    op.drop_table("meetings")
    op.drop_table("users")
