"""Reminders (durable, claimed with leases), the meeting's recorded outcome, and when each
invitation was delivered (reminders to answer count from then).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("outcome", _json(), nullable=True))
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("delivered_at", _instant(), nullable=True))
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("invitation_id", sa.String(length=32), nullable=True),
        sa.Column("due_at", _instant(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_at", _instant(), nullable=True),
        sa.Column("sent_at", _instant(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'sent', 'cancelled', 'failed')", name=op.f("ck_reminders_state")),
        sa.CheckConstraint("recipient IN ('chair', 'invitee')", name=op.f("ck_reminders_recipient")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_reminders_attempts_non_negative")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name=op.f("fk_reminders_meeting_id_meetings")),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"], name=op.f("fk_reminders_invitation_id_invitations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("meeting_id", "key", name=op.f("uq_reminders_meeting_id_key")),
    )
    op.create_index(op.f("ix_reminders_meeting_id"), "reminders", ["meeting_id"])
    op.create_index(op.f("ix_reminders_state_due_at"), "reminders", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reminders_state_due_at"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_meeting_id"), table_name="reminders")
    op.drop_table("reminders")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("delivered_at")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("outcome")
