"""Answer links (issue 16, part B): the nonce of each answer link used, written in the same
transaction as the answer it gave, so a link answers once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "answer_link_uses",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("invitation_id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"],
                                name=op.f("fk_answer_link_uses_invitation_id_invitations")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name=op.f("fk_answer_link_uses_meeting_id_meetings")),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_answer_link_uses")),
    )
    op.create_index(op.f("ix_answer_link_uses_meeting_id"), "answer_link_uses", ["meeting_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_answer_link_uses_meeting_id"), table_name="answer_link_uses")
    op.drop_table("answer_link_uses")
