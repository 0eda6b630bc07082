"""Retention, run: `python -m bot purge --dry-run|--apply` and a daily job in the running bot
(APScheduler, at 02:30 UK time) that delete the meetings past the retention period
(bot.core.retention; bot.adapters.db.retention) and log the counts, never a case reference.

The period is `STRATBOT_RETENTION_DAYS` (default 90 days after a meeting is closed or
cancelled): the case system holds the record, the bot only convenes the meeting.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from .core.retention import DEFAULT_RETENTION_DAYS

log = logging.getLogger(__name__)

ENV = "STRATBOT_RETENTION_DAYS"
DAILY_AT = {"hour": 2, "minute": 30}  # UK time: quiet, and after the night's out-of-hours work


def retention_days(env: Mapping[str, str] | None = None) -> int:
    """The retention period in days from the environment; ValueError naming the variable."""
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV}: expected a whole number of days, at least 1 (got {raw!r})")
    return int(raw)


def purge(database_url: str, now: datetime, days: int, *, apply: bool):
    """One purge pass over the database at `database_url` (its own short-lived engine)."""
    from .adapters.db.engine import make_engine, make_sessionmaker
    from .adapters.db.retention import purge as purge_rows

    engine = make_engine(database_url)
    try:
        return purge_rows(make_sessionmaker(engine), now, days, apply=apply)
    finally:
        engine.dispose()


class RetentionJob:
    """The daily purge in the running bot. Replicas may all run it: each meeting is purged
    once (bot.adapters.db.retention locks it)."""

    def __init__(self, database_url: str, days: int, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.database_url, self.days, self.clock = database_url, days, clock
        self.scheduler = AsyncIOScheduler(timezone=ZoneInfo("Europe/London"))

    async def run_once(self):
        try:
            report = await asyncio.to_thread(purge, self.database_url, self.clock(), self.days, apply=True)
        except Exception:
            log.exception("retention purge failed; it runs again tomorrow")
            return None
        log.info("retention purge: %s", report.text())
        return report

    def start(self) -> None:
        self.scheduler.add_job(self.run_once, "cron", id="retention-daily", coalesce=True, max_instances=1,
                               misfire_grace_time=3600, **DAILY_AT)
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
