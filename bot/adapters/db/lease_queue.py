"""One lease queue for work that must be done once across replicas: delivering an invitation,
sending a reminder. Claiming takes pending rows whose lease is free or expired — with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so claimers pass each other by instead of queueing or
double-claiming — and leases them to an owner, counting an attempt; the owner renews the
lease while it works (a heartbeat) and a dead owner's lease simply expires."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from .checks import _instant, _text


@dataclass(frozen=True)
class LeaseQueue:
    """The rows of `model` (with `id`, `lease_owner`, `lease_expires_at`, `attempts`,
    `updated_at`) for which `pending` holds."""

    model: Any
    pending: ColumnElement[bool]

    def free(self, now: datetime) -> ColumnElement[bool]:
        lease = self.model.lease_expires_at
        return or_(lease.is_(None), lease <= now)

    def claim(self, s: Session, owner: str, now: datetime, lease_seconds: float, limit: int, *,
              pick: Select, order_by: Sequence[Any]) -> list[Any]:
        """Lease up to `limit` rows among `pick` (a select of ids, narrowed by the caller:
        what is due, which meetings) to `owner` until now + lease_seconds; returns the rows
        in `order_by` order."""
        owner = _text("owner", owner)  # type: ignore[assignment]
        now = _instant("now", now)  # type: ignore[assignment]
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be positive")
        if not (isinstance(limit, int) and limit > 0):
            raise ValueError("limit must be a positive integer")
        query = pick.where(self.pending, self.free(now)).order_by(*order_by).limit(limit)
        if s.get_bind().dialect.name == "postgresql":
            # Lock only this queue's rows (not a joined meeting: that would block other
            # claimers on every row of the meeting), and skip rows another claimer holds.
            query = query.with_for_update(skip_locked=True, of=self.model)
        ids = list(s.scalars(query))
        if not ids:
            return []
        # The guard is repeated in the UPDATE so that the write itself is conditional,
        # whatever the isolation the SELECT ran under.
        claimed = s.scalars(
            update(self.model).where(self.model.id.in_(ids), self.pending, self.free(now))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=self.model.attempts + 1, updated_at=now)
            .returning(self.model),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).all()
        order = {id_: i for i, id_ in enumerate(ids)}
        return sorted(claimed, key=lambda row: order[row.id])

    def extend(self, s: Session, ids: Iterable[str], owner: str, until: datetime) -> int:
        """Renew the leases `owner` still holds on `ids`; rows finished, or taken over after
        the lease lapsed, are left alone. Returns how many were renewed."""
        owner = _text("owner", owner)  # type: ignore[assignment]
        until = _instant("until", until)  # type: ignore[assignment]
        ids = list(ids)
        if not ids:
            return 0
        return s.execute(
            update(self.model).where(self.model.id.in_(ids), self.model.lease_owner == owner, self.pending)
            .values(lease_expires_at=until),
            execution_options={"synchronize_session": False},
        ).rowcount

    def ids(self) -> Select:
        return select(self.model.id)
