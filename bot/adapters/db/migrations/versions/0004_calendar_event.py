"""Meetings remember their Outlook/Teams calendar event (Microsoft Graph): its id and whose
calendar holds it, so moving or cancelling the meeting updates that event and attendees'
calendar answers can be read back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("event_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("event_organiser", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("event_organiser")
        batch.drop_column("event_id")
