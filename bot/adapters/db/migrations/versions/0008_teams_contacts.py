"""How the bot reaches each person in Teams: whether its app is installed for them and their 1:1
chat, shared by every replica and kept across restarts (issue 16; issue 13 asked that remembered
chats be persisted rather than held in one process's memory).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "teams_contacts",
        sa.Column("aad_object_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("app_installed", sa.Boolean(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=True),
        sa.Column("service_url", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("aad_object_id", name=op.f("pk_teams_contacts")),
    )


def downgrade() -> None:
    op.drop_table("teams_contacts")
