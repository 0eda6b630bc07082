"""Delivering invitations exactly as the database says, across replicas and restarts.

Each invitation row is written before it is sent. A worker claims a batch with a lease
(FOR UPDATE SKIP LOCKED on PostgreSQL), delivers each card as a proactive 1:1 message,
and records the outcome. While sends are in flight the worker renews their leases (a
heartbeat), so a slow send is never taken over by a live replica; a worker that dies
mid-batch stops renewing, its leases expire, and another worker (or the same one after
restart) takes the rows over; delivered rows are never claimed again. After `max_attempts`
failed attempts an invitation is failed for good and the chair told how else to reach
them.

What Teams accepted is never sent again by a live process: once Teams answers with an
activity id, the worker keeps it and retries recording it (backing off) until the database
answers — an outage of seconds or minutes costs a late record, never a second card. Only a
process killed between Teams accepting a card and the record being written can cause a
repeat: at most the invitations in flight at that instant, one batch (`batch` = 20; the
bound is reached, since a batch's sends fit inside Teams' 50 a second: bench/crash_fanout.py
measured 446 repeats for 446 sends in flight over 96 kills, never more).
A repeated card is the same invitation (same id): answering either counts once.
A meeting left "sending" by a process that died is settled by whichever worker looks next.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from . import cards
from .adapters.connector import DeliveryError
from .adapters.db.repository import InvitationRecord
from .service import ConversationService
from .service.core import Change
from .service.link_answers import offer_answer_link
from .leases import keep_leases, retry_delay
from .outage import Outage


log = logging.getLogger(__name__)

# Some permanent refusals come back as a 5xx (Agents Playground: 500 "UserNotFound"): the
# connector's error code says what the status does not, so they are told at once, not retried.
PERMANENT_CODES = {"UserNotFound": "not_found", "MemberNotFound": "not_found",
                   "ConversationBlockedByUser": "blocked"}

FAILURE_TEXT = {
    "blocked": "the bot is blocked or the app is not installed for them",
    "not_found": "no Teams account was found for them",
    "unauthorized": "the bot was not authorised to message them",
    "bad_request": "Teams refused the message",
    "server": "sending kept failing, so the bot gave up",
    "network": "Teams could not be reached, so the bot gave up",
    "throttled": "Teams kept asking the bot to slow down, so it gave up",
}


@dataclass
class DeliveryWorker:
    service: ConversationService
    owner: str
    lease_seconds: float = 60
    batch: int = 20
    max_attempts: int = 10  # then the invitation is failed for good and the chair told
    outage: Outage = field(default_factory=lambda: Outage("database"))

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._recording: set[str] = set()  # delivered, the record not yet written: never send again

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and deliver one batch; returns how many were claimed."""
        repo, now = self.service.repo, self.service.clock()
        claimed: list[InvitationRecord] = await asyncio.to_thread(
            repo.claim_invitations, self.owner, now, self.lease_seconds, self.batch)
        if not claimed:
            # A process that died after its last send left its meeting "sending": finish it.
            for meeting_id in await asyncio.to_thread(repo.meetings_sending_with_nothing_pending):
                await self._settle(meeting_id)
            return 0
        in_flight = {inv.id for inv in claimed}
        heartbeat = asyncio.create_task(keep_leases(
            in_flight, lambda ids, until: repo.extend_leases(ids, self.owner, until), self.service.clock, self.lease_seconds))
        try:
            await asyncio.gather(*(self._deliver(inv, in_flight) for inv in claimed))
        finally:
            heartbeat.cancel()
        for meeting_id in dict.fromkeys(inv.meeting_id for inv in claimed):
            await self._settle(meeting_id)
        return len(claimed)

    async def run_forever(self, poll_seconds: float) -> None:
        while True:
            wait = poll_seconds
            try:
                while await self.run_once():
                    pass
                self.outage.recovered()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep delivering; the rows keep the state
                if not self.outage.is_outage(e):
                    log.exception("delivery pass failed")
                else:  # one line when it starts and one when it ends, backing off between
                    wait = self.outage.failed(e)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, inv: InvitationRecord, in_flight: set[str] | None = None) -> None:
        try:
            await self._deliver_one(inv)
        finally:
            if in_flight is not None:
                in_flight.discard(inv.id)

    async def _deliver_one(self, inv: InvitationRecord) -> None:
        service, repo = self.service, self.service.repo
        if inv.id in self._recording:
            return  # Teams has it; its record is being written (the lease ran out meanwhile)
        meeting = await asyncio.to_thread(repo.get_meeting, inv.meeting_id)
        if meeting.state not in ("sending", "sent", "not_held"):
            # Cancelled between the claim and now: send nothing, let the lease go.
            await asyncio.to_thread(repo.mark_failed, inv.id, self.owner, "meeting_closed",
                                    f"the meeting is {meeting.state}", False)
            return
        service_url = inv.service_url or meeting.chair_service_url
        try:
            if not inv.contact_aad_id or not service_url:
                raise DeliveryError("not_found", None, "no Teams identity is known for this contact")
            conversation_id = inv.conversation_id or await service.conversation_with(
                inv.contact_aad_id, service_url, inv.tenant_id)
            card = cards.invitation_card(await service.invitation_view(meeting, inv))
            activity_id = await service.messenger.send_card(service_url, conversation_id, card, inv.tenant_id)
        except Exception as e:  # an unexpected fault counts as a failed attempt, never a lost invitation
            if not isinstance(e, DeliveryError):
                log.exception("delivering invitation %s failed unexpectedly", inv.id)
                e = DeliveryError("server", None, "the bot hit an internal error sending it (see the bot's log)")
            kind = PERMANENT_CODES.get(e.code or "", e.kind)
            permanent = e.permanent or kind != e.kind or inv.attempts >= self.max_attempts
            retry_at = None if permanent else service.clock() + retry_delay(inv.attempts)
            await asyncio.to_thread(repo.mark_failed, inv.id, self.owner, kind, str(e), permanent, retry_at=retry_at)
            if permanent:  # mark_failed has logged it
                await service.tell_chair(
                    meeting, f"{cards.role_name(inv.role)} could not be reached in Teams",
                    f"{inv.contact_name or 'The contact'}: {FAILURE_TEXT.get(kind, kind)}. "
                    f"Reach them another way: email {inv.contact_email or 'not known'}, phone {inv.contact_phone or 'not known'}."
                    + await offer_answer_link(service, meeting, inv))
            else:  # plan the chair's "not delivered yet, still trying", and show it on the card
                try:
                    await service.after_answer(inv.meeting_id)
                except Exception as e:  # the next change re-plans it; the failure itself is recorded
                    log.warning("could not re-plan the reminders of %s: %s", inv.meeting_id, type(e).__name__)
            return
        await self._record_delivered(inv, conversation_id, activity_id or None)

    async def _record_delivered(self, inv: InvitationRecord, conversation_id: str, activity_id: str | None) -> None:
        """Teams has the card: record it, however long the database takes to come back. Never
        give up and never send again, since a second card is what this prevents."""
        delay = 0.2
        self._recording.add(inv.id)
        try:
            while True:
                try:
                    if not await asyncio.to_thread(self.service.repo.record_delivery, inv.id, self.owner,
                                                   conversation_id, activity_id):
                        log.warning("invitation %s was delivered, but another worker had recorded it", inv.id)
                    return
                except Exception as e:
                    if delay == 0.2:
                        log.warning("invitation %s was delivered; recording it failed (%s): retrying until the "
                                    "database answers", inv.id, type(e).__name__)
                    await asyncio.sleep(delay * (0.5 + random.random() / 2))
                    delay = min(delay * 2, 2.0)  # short: the sooner it is recorded, the smaller the window
        finally:
            self._recording.discard(inv.id)

    async def _settle(self, meeting_id: str) -> None:
        """Every invitation delivered or given up: the meeting is "sent" (a meeting cancelled
        meanwhile stays cancelled: the aggregate decides), its reminders re-planned and the
        chair's card brought up to date."""
        repo = self.service.repo

        def decide(rec, m):
            if any(i.delivery_state == "pending" for i in repo.list_invitations(meeting_id)):
                return Change(m)
            return Change(*m.delivered(self.service.clock()))

        await self.service.change(meeting_id, None, decide)
        self.service.refresh_soon(meeting_id)
