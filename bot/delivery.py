"""Delivering invitations exactly as the database says, across replicas and restarts.

Each invitation row is written before it is sent. A worker claims a batch with a lease
(FOR UPDATE SKIP LOCKED on PostgreSQL), delivers each card as a proactive 1:1 message,
and records the outcome. It claims the next batch while earlier ones are still sending, up
to `window` invitations in hand, so that Teams' rate limits (the connector's RateLimiter),
not the database round trips between batches, set the pace of a large fan-out; and the
deliveries Teams accepts meanwhile are recorded together, one transaction for all those
waiting. While sends are in flight the worker renews their leases (a heartbeat), so a slow
send is never taken over by a live replica; a worker that dies mid-batch stops renewing,
its leases expire, and another worker (or the same one after restart) takes the rows over;
delivered rows are never claimed again. After `max_attempts` failed attempts an invitation
is failed for good and the chair told how else to reach them.

What Teams accepted is never sent again by the live process that sent it: once Teams
answers with an activity id, the worker keeps it and retries recording it (backing off) until
the database answers — an outage costs a late record, never a second card from this
worker, even when a lease lapsed meanwhile and the worker claims the invitation back
(`_claim`). Another replica takes an invitation over only once its lease has lapsed (60 s,
renewed every 20 s while the sender lives), so an outage longer than the lease is the one
case in which a replica could race the recovering worker's record (which retries within 2 s; the replica's own pass backs
off with the outage). Otherwise only a process killed between Teams accepting a card and the
record being written can cause a repeat: at most the invitations in hand at that instant,
`window` = 40 (claimed and not yet recorded; bench/crash_fanout.py measures how many were
actually in flight at each kill and that no repeat falls outside them).
A repeated card is the same invitation (same id): answering either counts once.
A meeting left "sending" by a process that died is settled by whichever worker looks next.
"""
from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import Executor
from dataclasses import dataclass, field

from . import cards
from .adapters.connector import DeliveryError
from .adapters.db.repository import InvitationRecord, MeetingRecord
from .service import ConversationService
from .service.core import Change
from .service.link_answers import offer_answer_link
from .service.reach import forget_installation
from .db_threads import own_threads
from .leases import keep_leases, retry_delay
from .outage import Outage, dependency_of


log = logging.getLogger(__name__)

# Some permanent refusals come back as a 5xx (Agents Playground: 500 "UserNotFound"): the
# connector's error code says what the status does not, so they are told at once, not retried.
PERMANENT_CODES = {"UserNotFound": "not_found", "MemberNotFound": "not_found",
                   "ConversationBlockedByUser": "blocked", "BotNotInConversationRoster": "not_installed"}

FAILURE_TEXT = {
    "blocked": "the bot is blocked or the app is not installed for them",
    "not_installed": "the Strategy meetings app is not installed for them in Teams",
    "no_teams_app": "their organisation has not added the Strategy meetings app in Teams",
    "outside_teams": "they were invited by email address and are not in your organisation's Teams",
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
    batch: int = 20    # claim again once this many of the window are free
    window: int = 40   # at most this many in hand: claimed and not yet recorded (the repeat bound after a kill)
    max_attempts: int = 10  # then the invitation is failed for good and the chair told
    outage: Outage = field(default_factory=lambda: Outage("database"))
    # The threads of its database calls, apart from the presses' (db_threads.py); None: the default executor.
    threads: Executor | None = None

    def __post_init__(self) -> None:
        if not 0 < self.batch <= self.window:
            raise ValueError("a delivery batch must be positive and no larger than the window")
        self._wake = asyncio.Event()
        # Claimed and not yet finished (being sent, or delivered with the record not yet
        # written): never send again, even if the lease ran out meanwhile (the database away)
        # and a later claim took it back. `_finished_meanwhile` collects what left the hand
        # while a claim was in the database: that claim may have read the row before its
        # record was written, so what it returns for those ids is stale (see `_claim`).
        self._in_hand: set[str] = set()
        self._finished_meanwhile: set[str] | None = None
        self._unrecorded: list[tuple[tuple[str, str, str | None], asyncio.Future[bool]]] = []
        self._recorder: asyncio.Task | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver what is claimable, in batches, until nothing is; returns how many were
        claimed.

        The next batch is claimed while earlier ones are still sending, as long as at most
        `window` invitations are in hand: Teams' limits, not the database round trips between
        batches, set the pace of a fan-out, and a card waiting out a Retry-After holds up
        only itself. Its database calls, and those of the tasks it starts, run on `threads`."""
        with own_threads(self.threads):
            return await self._run_once()

    async def _run_once(self) -> int:
        hand = _Hand()
        running: set[asyncio.Task] = set()
        claimed_total = 0
        try:
            while True:
                await hand.room_for(self.window - self.batch)
                claimed = await self._claim(self.window - hand.held)
                if claimed:
                    claimed_total += len(claimed)
                    hand.take(len(claimed))
                    running.add(asyncio.create_task(self._deliver_batch(claimed, hand)))
                elif running:  # what is in hand may free rows (a retry due at once): look again after
                    await asyncio.wait(running)
                else:
                    break
                for task in [t for t in running if t.done()]:
                    running.discard(task)
                    task.result()  # a batch that failed (the database away) ends the pass
        except asyncio.CancelledError:
            for task in running:  # shutting down: as a kill would, but records already on their way are written
                task.cancel()
            raise
        finally:
            if running:  # never leave a batch half-sent: a card Teams accepted must be recorded
                await asyncio.gather(*running, return_exceptions=True)
        # A process that died after its last send left its meeting "sending": finish it.
        for meeting_id in await self.service.db(self.service.repo.meetings_sending_with_nothing_pending):
            await self._settle(meeting_id)
        return claimed_total

    async def _claim(self, limit: int) -> list[InvitationRecord]:
        """Lease up to `limit` invitations and take them in hand, less those this worker
        already holds or finished while the claim was in the database.

        A lease lapses when the database is away longer than it (the heartbeat cannot renew
        it), so a claim can return an invitation this worker sent and is still recording;
        and that record can land, and the invitation leave the hand, between the claim
        reading the row and the claim returning. Either way the claim's copy is stale: the
        card is in the chat. Taken in hand at once, not when its send starts, so that no
        later claim can slip in between."""
        self._finished_meanwhile = finished = set()
        try:
            claimed: list[InvitationRecord] = await self.service.db(
                self.service.repo.claim_invitations, self.owner, self.service.clock(), self.lease_seconds, limit)
        finally:
            self._finished_meanwhile = None
        fresh = [inv for inv in claimed if inv.id not in self._in_hand and inv.id not in finished]
        if len(fresh) < len(claimed):  # the send still in hand records them; a retry's lease lapses in its time
            log.info("%d invitation(s) claimed back while this worker still had them: not sent again",
                     len(claimed) - len(fresh))
        self._in_hand.update(inv.id for inv in fresh)
        return fresh

    def _let_go(self, invitation_id: str) -> None:
        self._in_hand.discard(invitation_id)
        if self._finished_meanwhile is not None:
            self._finished_meanwhile.add(invitation_id)

    async def _deliver_batch(self, claimed: list[InvitationRecord], hand: "_Hand") -> None:
        """Send one claimed batch, its leases renewed until each invitation is finished, then
        settle its meetings."""
        repo = self.service.repo
        in_flight = {inv.id for inv in claimed}
        try:
            meetings = await self.service.db(repo.get_meetings, [inv.meeting_id for inv in claimed])
            # The chats already open, read for the whole batch: a read per invitation was 500
            # round trips in a 500-invitation fan-out, competing with everything else for the CPU.
            chats = await self.service.db(repo.known_chats, [inv.contact_aad_id for inv in claimed])
            heartbeat = asyncio.create_task(keep_leases(
                in_flight, lambda ids, until: repo.extend_leases(ids, self.owner, until), self.service.clock,
                self.lease_seconds))
            try:
                outcomes = await asyncio.gather(*(self._deliver(inv, meetings.get(inv.meeting_id), chats, in_flight,
                                                                hand) for inv in claimed), return_exceptions=True)
            finally:
                heartbeat.cancel()
            for outcome in outcomes:  # every send of the batch finished first, then its first failure
                if isinstance(outcome, BaseException):
                    raise outcome
        finally:
            for invitation_id in in_flight:  # those never started (the database failed first)
                self._let_go(invitation_id)
            hand.release(len(in_flight))
            in_flight.clear()
        for meeting_id in dict.fromkeys(inv.meeting_id for inv in claimed):
            await self._settle(meeting_id)

    async def run_forever(self, poll_seconds: float) -> None:
        while True:
            wait = poll_seconds
            try:
                await self.run_once()
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

    async def _deliver(self, inv: InvitationRecord, meeting: MeetingRecord | None, chats: dict[str, str],
                       in_flight: set[str], hand: "_Hand") -> None:
        try:
            await self._deliver_one(inv, meeting, chats)
        finally:
            self._let_go(inv.id)
            in_flight.discard(inv.id)
            hand.release(1)

    async def _deliver_one(self, inv: InvitationRecord, meeting: MeetingRecord | None,
                           chats: dict[str, str] | None = None) -> None:
        service, repo = self.service, self.service.repo
        if meeting is None or meeting.state not in ("sending", "sent", "not_held"):
            # Cancelled between the claim and now: send nothing, let the lease go.
            await self.service.db(repo.mark_failed, inv.id, self.owner, "meeting_closed",
                                  f"the meeting is {meeting.state if meeting else 'gone'}", False)
            return
        service_url = inv.service_url or meeting.chair_service_url
        try:
            if not inv.contact_aad_id and inv.contact_email:  # invited by address from outside (inviting.py)
                raise DeliveryError("outside_teams", None, "invited by email address, not in Teams")
            if not inv.contact_aad_id or not service_url:
                raise DeliveryError("not_found", None, "no Teams identity is known for this contact")
            # Ensure reachable: the chat known (read with the batch), or the app installed first (service/reach.py).
            conversation_id = inv.conversation_id or (chats or {}).get(inv.contact_aad_id) \
                or await service.conversation_with(inv.contact_aad_id, service_url, inv.tenant_id, meeting.area)
            card = cards.invitation_card(await service.invitation_view(meeting, inv))
            activity_id = await service.messenger.send_card(service_url, conversation_id, card, inv.tenant_id)
        except Exception as e:  # an unexpected fault counts as a failed attempt, never a lost invitation
            if not isinstance(e, DeliveryError):
                if dependency_of(e) is not None:  # the worker's outage line says the rest; no traceback each
                    log.warning("invitation %s not delivered yet: the %s is unavailable", inv.id, dependency_of(e))
                else:
                    log.exception("delivering invitation %s failed unexpectedly", inv.id)
                e = DeliveryError("server", None, "the bot hit an internal error sending it (see the bot's log)")
            kind = PERMANENT_CODES.get(e.code or "", e.kind)
            permanent = e.permanent or kind != e.kind or inv.attempts >= self.max_attempts
            retry_at = None if permanent else service.clock() + retry_delay(inv.attempts)
            await self.service.db(repo.mark_failed, inv.id, self.owner, kind, str(e), permanent, retry_at=retry_at)
            if kind == "not_installed" and inv.contact_aad_id:  # removed since: start afresh next time
                await forget_installation(service, inv.contact_aad_id, inv.tenant_id)
            if kind in ("no_teams_app", "outside_teams"):  # no card was tried: their answer link instead
                await service.tell_chair(
                    meeting, f"{cards.role_name(inv.role)}: no Teams card, an answer link instead",
                    f"{inv.contact_name or 'The contact'}: {FAILURE_TEXT[kind]}, so no Teams card was sent."
                    + (await offer_answer_link(service, meeting, inv) or
                       f" Reach them another way: email {inv.contact_email or 'not known'}, "
                       f"phone {inv.contact_phone or 'not known'}."))
            elif permanent:  # mark_failed has logged it
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
        give up and never send again, since a second card is what this prevents. Records
        arriving together are written together (`_write_records`)."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._unrecorded.append(((inv.id, conversation_id, activity_id), written))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_records())
        # Shielded: a cancelled send still gets its record written by the recorder.
        if not await asyncio.shield(written):
            log.warning("invitation %s was delivered, but another worker had recorded it", inv.id)

    async def _write_records(self) -> None:
        """Write the deliveries waiting to be recorded, all of them in one transaction, until
        none are left: while one commit runs, the next group gathers. After a failure, one by
        one until none are left (so that a record the database refuses cannot hold up the
        others), retrying until the database answers with a short back-off: the sooner a
        delivery is recorded, the smaller the window in which a kill could make it go twice."""
        delay, one_by_one = 0.2, False
        while self._unrecorded:
            group = self._unrecorded[:1] if one_by_one else self._unrecorded
            self._unrecorded = self._unrecorded[len(group):]
            try:
                results = await self.service.db(self.service.repo.record_deliveries, self.owner,
                                                [delivery for delivery, _ in group])
            except Exception as e:
                self._unrecorded.extend(group)  # behind the others: one the database refuses blocks none
                if not one_by_one:
                    log.warning("%d delivered invitation(s) could not be recorded (%s): retrying until the "
                                "database answers", len(group), type(e).__name__)
                one_by_one = True
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, 2.0)
                continue
            for (_, written), recorded in zip(group, results):
                if not written.done():
                    written.set_result(recorded)

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


class _Hand:
    """How many invitations a delivery pass holds (claimed, not yet finished), and a way to
    wait until it holds few enough to claim more."""

    def __init__(self) -> None:
        self.held = 0
        self._changed = asyncio.Event()

    def take(self, n: int) -> None:
        self.held += n

    def release(self, n: int) -> None:
        if n:
            self.held -= n
            self._changed.set()

    async def room_for(self, most: int) -> None:
        """Wait until at most `most` are held."""
        while self.held > most:
            self._changed.clear()
            await self._changed.wait()
