"""Holding leased work while it is in flight (shared by invitation delivery and reminders)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from .db_threads import in_thread

log = logging.getLogger(__name__)


def retry_delay(attempts: int) -> timedelta:
    """How long a failed send waits before it is tried again: 5 s doubling per attempt, at
    most 5 minutes."""
    return timedelta(seconds=min(300, 5 * 2 ** min(attempts, 6)))


async def keep_leases(in_flight: set[str], extend: Callable[[list[str], datetime], object],
                      clock: Callable[[], datetime], lease_seconds: float) -> None:
    """Renew the leases of the rows still in `in_flight` every third of a lease, until the
    set is empty (or the task is cancelled): a live worker keeps its rows however long Teams
    makes it wait; a dead one stops renewing and its rows are taken over when the lease ends.
    `extend(ids, until)` is the repository call (run in a thread: db_threads.py)."""
    while in_flight:
        await asyncio.sleep(lease_seconds / 3)
        until = clock() + timedelta(seconds=lease_seconds)
        try:
            await in_thread(extend, list(in_flight), until)
        except Exception as e:
            from .outage import dependency_of

            if dependency_of(e) is None:
                log.exception("could not renew leases")
            else:  # the worker's own outage line says the database is away; no traceback per beat
                log.warning("could not renew %d lease(s): the %s is unavailable", len(in_flight), dependency_of(e))
