"""The meeting's lifecycle (bot/core/meeting.py): the states not held, closed and withdrawn;
when and by whom the state last changed (so a refusal can say "cancelled on Tue 1 Dec at
10:58 by Sam Chairperson"); the chair's reason for cancelling.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from bot.adapters.db.models import UTCDateTime

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD = ("draft", "sending", "sent", "cancelled", "held")
NEW = ("draft", "sending", "sent", "held", "not_held", "closed", "cancelled", "withdrawn")


def _one_of(values: tuple[str, ...]) -> str:
    return f"state IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint(op.f("ck_meetings_state"), type_="check")
        batch.create_check_constraint(op.f("ck_meetings_state"), _one_of(NEW))
        batch.add_column(sa.Column("state_changed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("state_changed_by", sa.String(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
    # A meeting whose outcome said "not held" was left in "sent": give it its own state.
    held = ("json_extract(outcome, '$.held') = 0" if op.get_bind().dialect.name == "sqlite"
            else "(outcome->>'held') = 'false'")
    op.execute(f"UPDATE meetings SET state = 'not_held' WHERE state = 'sent' AND outcome IS NOT NULL AND {held}")


def downgrade() -> None:
    op.execute("UPDATE meetings SET state = 'sent' WHERE state = 'not_held'")
    op.execute("UPDATE meetings SET state = 'held' WHERE state = 'closed'")
    op.execute("UPDATE meetings SET state = 'cancelled' WHERE state = 'withdrawn'")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("cancel_reason")
        batch.drop_column("state_changed_by")
        batch.drop_column("state_changed_at")
        batch.drop_constraint(op.f("ck_meetings_state"), type_="check")
        batch.create_check_constraint(op.f("ck_meetings_state"), _one_of(OLD))
