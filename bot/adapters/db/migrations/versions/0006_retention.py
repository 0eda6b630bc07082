"""What is left of meetings deleted after the retention period: one anonymous row each
(area, month, state, held, quorate, on time, decision, how many invitations), for reporting.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "purged_meetings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("area", sa.String(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_month", sa.String(7), nullable=False),
        sa.Column("out_of_hours", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=True),
        sa.Column("quorate", sa.Boolean(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.Column("invitations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purged_meetings")),
    )


def downgrade() -> None:
    op.drop_table("purged_meetings")
