"""Invitations remember who nominated their contact (a colleague sent in someone's place).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("nominated_by_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(op.f("fk_invitations_nominated_by_id_invitations"), "invitations",
                                 ["nominated_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("fk_invitations_nominated_by_id_invitations"), type_="foreignkey")
        batch.drop_column("nominated_by_id")
