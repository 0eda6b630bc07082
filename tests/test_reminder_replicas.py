"""Reminders across replicas: several bot processes on one PostgreSQL database send every due
reminder exactly once, share the work, and take over what a killed replica had claimed once
its lease expires; and (in-process, SQLite and PostgreSQL) a claim left by a replica that
died before sending holds the row until the lease expires, then the row goes out once.

The replicas are real processes (`python -m bot serve`); Teams is the connector emulator
running in the test process. The reminders are the planner's own (tests/reminder_load.py:
meetings 30 minutes from their deadline with three silent quorum agencies, and meetings
with nobody to invite), so the worker's re-check keeps every one of them; what is not yet
due must stay untouched."""
from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError

from bot.adapters.connector import ConnectorClient, NoAuth
from bot.adapters.db import migrate
from bot.adapters.db.repository import Repository
from bot.adapters.teams.messenger import ConnectorMessenger
from bot.reminding import ReminderWorker
from tests.emulators.connector import install_as_directories_say, ANY, running_emulator
from tests.reminder_load import PG_URL, BotProcess, Load, Tables, card_posts, pg_schema, seed, service_for

LEASE_SECONDS = 5
REPLICA_ENV = {"STRATBOT_REMINDER_POLL_SECONDS": "1", "STRATBOT_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
               "STRATBOT_REPLICAS": "3"}
# Logged by every process started without a Bot registration.
EXPECTED_LOG = ("Bot Framework authentication is OFF",)


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema (as tests/conftest.py's db_url makes one), dropped after."""
    if os.environ.get("STRATBOT_SKIP_POSTGRES") == "1":
        pytest.skip("STRATBOT_SKIP_POSTGRES=1")
    try:
        with pg_schema(PG_URL) as url:
            migrate.upgrade(url)
            yield url
    except OperationalError as e:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable ({e.orig}); set STRATBOT_SKIP_POSTGRES=1 to skip")


async def wait_for(check, timeout: float, what: str, every: float = 0.2):
    """Poll `check` (a blocking function, run in a thread) until it returns a true value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


def due_settled(tables: Tables, load: Load) -> bool:
    rows = tables.reminders()
    return all(rows[i].state != "pending" for i in load.due)


def assert_each_due_reminder_went_exactly_once(load: Load, emu, tables: Tables) -> Counter:
    """Every due reminder: row sent, one reminder.sent event, one card answered 201 in the
    right chat. Nothing not yet due touched or sent, nothing cancelled or failed. Returns
    the number of reminders sent per owner."""
    rows = tables.reminders()
    assert Counter(rows[i].state for i in load.due) == {"sent": len(load.due)}
    assert all(rows[i].state == "pending" and rows[i].attempts == 0 and rows[i].lease_owner is None
               for i in load.later), "a reminder not yet due was touched"
    events = tables.events()
    assert Counter(kind for kind, _, _ in events) == {"reminder.sent": len(load.due)}, \
        Counter(kind for kind, _, _ in events)
    sent = Counter(detail["reminder_id"] for _, detail, _ in events)
    assert sent == Counter(set(load.due)), "reminder.sent more than once, or for the wrong reminder"

    by_card = load.by_card()
    delivered = Counter(card for card, rec in card_posts(emu) if rec.status == 201)
    unknown = [card for card in delivered if card not in by_card]
    assert not unknown, f"cards nobody planned: {unknown[:5]}"
    twice = {card: n for card, n in delivered.items() if n > 1}
    assert not twice, f"{len(twice)} reminders delivered more than once: {list(twice.items())[:5]}"
    missing = [e.key for e in load.due.values() if delivered[(e.conversation_id, e.title)] != 1]
    assert not missing, f"{len(missing)} due reminders never delivered: {missing[:5]}"
    early = [e.key for e in load.later.values() if delivered[(e.conversation_id, e.title)]]
    assert not early, f"sent before they were due: {early[:5]}"
    return Counter(detail["owner"] for _, detail, _ in events)


def unexpected_log_lines(bots: list[BotProcess], allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{b.name}: {line}" for b in bots for line in b.problems()
            if not any(a in line for a in EXPECTED_LOG + allowed)]


# --- three replicas, a few hundred reminders due at once --------------------------------------

@pytest.mark.postgres
@pytest.mark.slow
async def test_three_replicas_send_a_few_hundred_due_reminders_each_exactly_once(pg_url, tmp_path):
    async with running_emulator() as emu, aiohttp.ClientSession() as http:
        install_as_directories_say(emu)  # the app, where the directory says it is installed
        load = await seed(pg_url, emu, meetings=100)
        assert len(load.due) >= 300 and load.later
        tables = Tables(pg_url)
        # All three start at once and find everything already due.
        bots = [BotProcess(pg_url, tmp_path, f"replica-{n}", REPLICA_ENV) for n in range(3)]
        try:
            await asyncio.gather(*(b.ready(http) for b in bots))
            await wait_for(lambda: due_settled(tables, load), 90, "every due reminder to be sent")
            await asyncio.sleep(2 * LEASE_SECONDS / 3 + 2)  # more polls (and lease renewals): a second send would show
        finally:
            for b in bots:
                b.stop()
        try:
            per_owner = assert_each_due_reminder_went_exactly_once(load, emu, tables)
            rows = tables.reminders()
            assert Counter(rows[i].attempts for i in load.due) == {1: len(load.due)}, "a reminder was claimed twice"
        finally:
            tables.close()
        assert set(per_owner) <= {b.owner for b in bots}
        shares = {b.name: per_owner[b.owner] for b in bots}
        print(f"\n{len(load.due)} due reminders of {len(load.meeting_ids)} meetings sent by: {shares}")
        assert sum(n > 0 for n in shares.values()) >= 2, f"one replica sent everything: {shares}"
        assert Counter(rec.status for _, rec in card_posts(emu)) == {201: len(load.due)}
        assert not unexpected_log_lines(bots), unexpected_log_lines(bots)


# --- a replica killed while its sends are in flight ------------------------------------------

@pytest.mark.postgres
@pytest.mark.slow
async def test_a_replica_killed_holding_claimed_reminders_is_taken_over_after_its_lease(pg_url, tmp_path):
    async with running_emulator() as emu, aiohttp.ClientSession() as http:
        install_as_directories_say(emu)  # the app, where the directory says it is installed
        load = await seed(pg_url, emu, meetings=40)
        tables = Tables(pg_url)
        by_card = load.by_card()
        # Teams keeps every card waiting: each replica claims a batch and parks its sends.
        emu.hold(ANY)
        bots = [BotProcess(pg_url, tmp_path, f"replica-{n}", REPLICA_ENV) for n in range(3)]
        victim, survivors = bots[0], bots[1:]
        try:
            await asyncio.gather(*(b.ready(http) for b in bots))

            def victim_parked() -> set[str] | None:
                rows = tables.reminders()
                owners = {r.lease_owner for r in rows.values() if r.state == "pending" and r.lease_owner}
                claimed = {i for i, r in rows.items() if r.lease_owner == victim.owner and r.state == "pending"}
                meetings = {rows[i].meeting_id for i in claimed}
                held_ids = {id(r) for r in list(emu.held)}
                held = {by_card[card].reminder_id for card, rec in card_posts(emu) if id(rec) in held_ids} & claimed
                # Every replica holds a batch, and the victim's first card of each of its
                # meetings is at Teams (its others wait behind them: one chat at a time).
                if owners == {b.owner for b in bots} and claimed and len(held) == len(meetings):
                    return claimed
                return None

            claimed_by_victim = await wait_for(victim_parked, 30, "every replica to claim and send a batch")
            in_flight = len([rec for rec in emu.held])
            victim.kill()  # SIGKILL: no clean-up, its leases simply stop being renewed
            killed_at = datetime.now(timezone.utc)
            emu.release()  # too late for the victim: its connections are gone, so nothing of its is delivered
            await wait_for(lambda: not emu.held, 10, "the held sends to be answered")
            await wait_for(lambda: due_settled(tables, load), 90, "the survivors to send everything")
            await asyncio.sleep(2 * LEASE_SECONDS / 3 + 2)
        finally:
            emu.release()
            for b in bots:
                b.stop()
        try:
            per_owner = assert_each_due_reminder_went_exactly_once(load, emu, tables)
            rows = tables.reminders()
        finally:
            tables.close()
        assert victim.owner not in per_owner, "the killed replica was recorded as sending"
        assert set(per_owner) <= {b.owner for b in survivors}
        # The victim's rows were claimed twice (it, then a survivor after the lease ran out);
        # everybody else's once.
        assert all(rows[i].attempts == 2 for i in claimed_by_victim)
        assert all(rows[i].attempts == 1 for i in set(load.due) - claimed_by_victim)
        abandoned = [(card, rec) for card, rec in card_posts(emu) if rec.status == 499]
        assert abandoned and {by_card[c].reminder_id for c, _ in abandoned} <= claimed_by_victim
        assert Counter(rec.status for _, rec in card_posts(emu)) == {201: len(load.due), 499: len(abandoned)}
        taken_over = max(rows[i].sent_at for i in claimed_by_victim) - killed_at
        print(f"\n{len(load.due)} due; {len(claimed_by_victim)} claimed by the killed replica "
              f"({len(abandoned)} of its cards in flight of {in_flight} held), all sent "
              f"{taken_over.total_seconds():.1f} s after the kill (lease {LEASE_SECONDS} s); sent by: "
              f"{ {b.name: per_owner[b.owner] for b in survivors} }")
        # Polls queued behind the held batch may be skipped by APScheduler (max_instances).
        assert not unexpected_log_lines(survivors, ("maximum number of running instances",)), \
            unexpected_log_lines(survivors)


# --- in-process: claimed, then the claimer died before sending -------------------------------

async def test_a_claim_left_by_a_dead_replica_holds_until_its_lease_expires_then_each_goes_once(db_url):
    migrate.upgrade(db_url)
    t0 = datetime.now(timezone.utc)
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        install_as_directories_say(emu)  # the app, where the directory says it is installed
        load = await seed(db_url, emu, meetings=6, unanswered_every=3, now=t0)
        assert len(load.due) == 2 * 8 + 4 * 3
        now = [t0]
        repo = Repository.from_url(db_url, clock=lambda: now[0])
        try:
            client = ConnectorClient(session, NoAuth(), bot_id="strategy-meeting-bot")
            service = service_for(repo, ConnectorMessenger(client), clock=lambda: now[0])
            # A replica claims every due reminder, then dies before sending any.
            dead = repo.claim_reminders("dead-replica", t0, lease_seconds=60, limit=500)
            assert {r.id for r in dead} == set(load.due)
            survivor = ReminderWorker(service, owner="survivor", lease_seconds=60)

            now[0] = t0 + timedelta(seconds=59)  # the lease still holds: nothing for the survivor
            assert await survivor.run_due() == 0
            assert card_posts(emu) == []
            assert all(r.lease_owner == "dead-replica" for m in load.meeting_ids for r in repo.list_reminders(m)
                       if r.id in load.due)

            now[0] = t0 + timedelta(seconds=60)  # expired: the survivor takes every row over, once
            assert await survivor.run_due() == len(load.due)
            now[0] = t0 + timedelta(seconds=200)  # and nothing is left for later passes
            assert await survivor.run_due() == 0
            assert survivor.sent == len(load.due) and survivor.cancelled == 0

            # The dead replica, were it only paused, could not record anything over the survivor.
            assert not repo.finish_reminder(dead[0].id, "dead-replica", "sent")
            assert not repo.finish_reminder(dead[1].id, "dead-replica", "pending", retry_at=t0)
            rows = {r.id: r for m in load.meeting_ids for r in repo.list_reminders(m)}
            assert all(rows[i].state == "sent" and rows[i].attempts == 2 for i in load.due)
            events = [e for m in load.meeting_ids for e in repo.list_events(m) if e.kind.startswith("reminder.")]
            assert Counter((e.kind, e.detail["reminder_id"], e.detail["owner"]) for e in events) == \
                Counter(("reminder.sent", i, "survivor") for i in load.due)
        finally:
            repo.close()
        delivered = Counter(card for card, rec in card_posts(emu) if rec.status == 201)
        assert delivered == Counter((e.conversation_id, e.title) for e in load.due.values())
