"""Sending reminders exactly as the database says, across replicas and restarts.

The `reminders` table is the source of truth (bot.core.reminders plans the rows, the
service stores them). This worker claims due rows with a lease (FOR UPDATE SKIP LOCKED on
PostgreSQL, so replicas take different rows), asks the planner once more whether each is
still wanted (an answer may have come in another replica a moment ago), sends it as a card,
and marks it sent. A worker that dies between claim and send leaves a lease that expires;
another takes the row over. After a restart, overdue reminders are simply due: they go at
once. Leases are renewed while sends are in flight. The remaining duplicate window is the
instant between Teams accepting a message and the row being marked sent.

APScheduler only decides *when* to look (`ReminderScheduler`): an interval job as a safety
net and a one-off job at the next due time; its in-memory job store holds nothing that
matters, so nothing is lost with the process.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import cards
from .adapters.connector import DeliveryError
from .adapters.db.repository import ReminderRecord
from .service import ConversationService
from .core.reminders import recipients_of
from .leases import keep_leases, retry_delay
from .outage import Outage

log = logging.getLogger(__name__)


@dataclass
class ReminderWorker:
    service: ConversationService
    owner: str
    lease_seconds: float = 60
    batch: int = 50
    max_attempts: int = 8
    sent: int = 0  # counters, for the benchmark and the log
    cancelled: int = 0
    on_sent: Callable[[ReminderRecord, datetime], None] | None = None  # (reminder, sent at): for benchmarks
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _again: bool = False

    async def run_due(self) -> int:
        """Send everything due now; returns how many reminders were claimed. If a pass is
        already running in this process, ask it to look once more and return at once (so
        scheduler runs never pile up behind a long pass)."""
        if self._lock.locked():
            self._again = True
            return 0
        total = 0
        async with self._lock:  # one pass at a time in this process; replicas share via leases
            while True:
                self._again = False
                n = await self._run_batch()
                total += n
                if n < self.batch and not self._again:
                    return total

    async def run_until_idle(self) -> int:
        """Send everything due now, after waiting for a pass already under way: for callers
        that must know the pass has happened (the tests' hand-wound clock), not the scheduler."""
        total = 0
        async with self._lock:
            while True:
                n = await self._run_batch()
                total += n
                if n < self.batch:
                    return total

    async def _run_batch(self) -> int:
        repo, now = self.service.repo, self.service.clock()
        claimed: list[ReminderRecord] = await asyncio.to_thread(
            repo.claim_reminders, self.owner, now, self.lease_seconds, self.batch)
        if not claimed:
            return 0
        in_flight = {r.id for r in claimed}
        heartbeat = asyncio.create_task(keep_leases(
            in_flight, lambda ids, until: repo.extend_reminder_leases(ids, self.owner, until),
            self.service.clock, self.lease_seconds))
        try:
            by_meeting: dict[str, list[ReminderRecord]] = {}
            for r in claimed:
                by_meeting.setdefault(r.meeting_id, []).append(r)
            await asyncio.gather(*(self._meeting(mid, rs, in_flight) for mid, rs in by_meeting.items()))
        finally:
            heartbeat.cancel()
        return len(claimed)

    async def _meeting(self, meeting_id: str, due: list[ReminderRecord], in_flight: set[str]) -> None:
        service, repo = self.service, self.service.repo
        meeting = await asyncio.to_thread(repo.get_meeting, meeting_id)
        invitations = await asyncio.to_thread(repo.list_invitations, meeting_id)
        still = {p.key for p in service.planned_reminders(meeting, invitations)}
        by_id = {i.id: i for i in invitations}
        for r in due:  # in order: a meeting's reminders go out one after another (7/s per chat)
            try:
                await self._one(r, meeting, by_id, still)
            finally:
                in_flight.discard(r.id)

    async def _one(self, r: ReminderRecord, meeting, invitations: dict, still: set[str]) -> None:
        repo, now = self.service.repo, self.service.clock()
        expires = r.detail.get("expires_at")
        if r.key not in still:
            await self._finish(r, "cancelled", "no longer needed")
            return
        if expires and datetime.fromisoformat(expires) < now:
            await self._finish(r, "cancelled", "too late to be useful")
            return
        if r.recipient == "chair":
            if not meeting.chair_conversation_id and meeting.chair_service_url:
                meeting = await self._open_chair_conversation(r, meeting)
                if meeting is None:
                    return
            target = (meeting.chair_service_url, meeting.chair_conversation_id, meeting.chair_tenant_id)
        else:
            inv = invitations.get(r.invitation_id or "")
            target = (inv.service_url or meeting.chair_service_url, inv.conversation_id, inv.tenant_id) if inv else (None, None, None)
        if not target[0] or not target[1]:
            await self._finish(r, "failed", "no Teams conversation is known for the recipient")
            return
        follow_up = r.detail.get("follow_up")
        minutes_to = recipients_of(meeting.plan, {follow_up}) if follow_up else []
        card = cards.reminder_card(meeting.id, r.kind, r.detail, minutes_to=minutes_to)
        if r.kind == "handover":  # a meeting raised for the daytime team: its chair gets the plan to act on
            card = cards.plan_card(meeting.plan, meeting.case_ref or "", meeting.id,
                                   area_name=self.service.profiles[meeting.area].name, note=r.detail.get("text") or "")
        try:
            await self.service.messenger.send_card(target[0], target[1], card, target[2])
        except Exception as e:
            permanent = (isinstance(e, DeliveryError) and e.permanent) or r.attempts >= self.max_attempts
            if not isinstance(e, DeliveryError):
                log.exception("reminder %s failed unexpectedly", r.id)
            if permanent:
                await self._finish(r, "failed", str(e) if isinstance(e, DeliveryError) else "internal error")
            else:
                retry_at = now + retry_delay(r.attempts)
                await asyncio.to_thread(repo.finish_reminder, r.id, self.owner, "pending",
                                        error=str(e)[:500], retry_at=retry_at)
            return
        if await self._finish(r, "sent"):
            self.sent += 1
            if self.on_sent:
                self.on_sent(r, datetime.now(timezone.utc))

    async def _open_chair_conversation(self, r: ReminderRecord, meeting):
        """A chair the bot has not talked to yet (the daytime chair of a follow-on meeting):
        open their 1:1 chat, as for an invitee, and remember it. None: the reminder is settled."""
        repo = self.service.repo
        try:
            conversation_id = await self.service.conversation_with(
                meeting.chair_aad_id, meeting.chair_service_url, meeting.chair_tenant_id, meeting.area)
        except DeliveryError as e:
            if e.permanent or r.attempts >= self.max_attempts:
                await self._finish(r, "failed", f"could not reach the chair in Teams: {e}")
            else:
                await asyncio.to_thread(repo.finish_reminder, r.id, self.owner, "pending", error=str(e)[:500],
                                        retry_at=self.service.clock() + retry_delay(r.attempts))
            return None
        return await asyncio.to_thread(repo.update_meeting_fields, meeting.id, chair_conversation_id=conversation_id)

    async def _finish(self, r: ReminderRecord, state: str, error: str | None = None) -> bool:
        done = await asyncio.to_thread(self.service.repo.finish_reminder, r.id, self.owner, state, error=error)
        if state == "cancelled" and done:
            self.cancelled += 1
        return done


class ReminderScheduler:
    """APScheduler drives the timing: a safety-net poll every `poll_seconds` (which also
    fires overdue reminders at start-up), and a one-off run at the next due time whenever
    reminders change. Only the timing lives here; the database holds the reminders."""

    def __init__(self, worker: ReminderWorker, poll_seconds: float = 30.0, outage: Outage | None = None):
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.worker, self.poll_seconds = worker, poll_seconds
        self.outage = outage or Outage("database")
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self._wake_wanted = False
        self._planner: asyncio.Task | None = None

    def start(self) -> None:
        # A run returns at once when a pass is already under way (it asks that pass to look
        # again), so runs never pile up; a few may overlap for an instant.
        self.scheduler.add_job(self._run, "interval", seconds=self.poll_seconds, id="reminders-poll",
                               next_run_time=datetime.now(timezone.utc), max_instances=3, coalesce=True)
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)

    def wake(self) -> None:
        """Look again soon: at the next due time, or now if something is already due. Wakes
        arriving together (fifty answers in a second) share one look."""
        self._wake_wanted = True
        if self._planner is None or self._planner.done():
            self._planner = asyncio.get_running_loop().create_task(self._plan_while_wanted())

    async def _plan_while_wanted(self) -> None:
        while self._wake_wanted:
            self._wake_wanted = False
            await self._plan_next()

    async def _plan_next(self) -> None:
        try:
            due = await asyncio.to_thread(self.worker.service.repo.next_reminder_due)
        except Exception as e:
            if not self.outage.is_outage(e):
                log.exception("could not read the next reminder's time")
            else:
                self.outage.failed(e)
            return
        if due is None:
            return
        # The service clock may be ahead of (tests) or equal to real time: wait the difference.
        wait = max(0.0, (due - self.worker.service.clock()).total_seconds())
        self.scheduler.add_job(self._run, "date", run_date=datetime.now(timezone.utc) + timedelta(seconds=wait),
                               id="reminders-next", replace_existing=True, misfire_grace_time=None,
                               max_instances=10)

    async def _run(self) -> None:
        if not self.outage.due():
            return  # backing off from an outage; a poll after the backoff tries again
        try:
            try:
                await self.worker.run_due()
                self.outage.recovered()
            except Exception as e:
                if not self.outage.is_outage(e):
                    log.exception("reminder pass failed")
                else:  # one line when it starts and one when it ends
                    self.outage.failed(e)
                    return
            await self._plan_next()
        except asyncio.CancelledError:
            # The app is stopping while a pass runs: its leases expire and whoever runs next
            # sends what it had claimed. Not a fault, so no traceback in the log.
            log.info("reminder pass stopped with the app")
