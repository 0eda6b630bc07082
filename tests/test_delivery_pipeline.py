"""A fan-out keeps going while one card waits out Teams' Retry-After: the worker claims the
next batch while earlier ones are still sending (bot/delivery.py), so one throttled contact
holds up only their own card. On SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.db.repository import NewInvitation
from bot.app import create_app
from bot.keys import SERVICE, WORKER
from bot.settings import Settings
from tests.emulators.connector import running_emulator
from tests.emulators.teams import Person, find_data
from tests.test_bot_flow import CHAIR_AAD, FORM, Teams, until

RETRY_AFTER = 3  # seconds Teams asks the first contact's chat to wait


COUNCIL_TENANT = "7e570017-0000-4000-8000-000000000000"  # Bristol City Council's, in the sample directory


@pytest.fixture
async def teams(db_url):
    async with running_emulator() as emulator:
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2)
        async with TestClient(TestServer(create_app(settings))) as client:
            yield Teams(client, emulator), client.app


async def test_one_card_waiting_out_a_retry_after_does_not_hold_up_the_others(teams):
    t, app = teams
    service, worker = app[SERVICE], app[WORKER]
    worker.batch, worker.window = 2, 4  # small, so that twelve invitations take several batches
    repo = service.repo
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting = repo.get_meeting(find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id"))
    roles = [i["role"] for i in meeting.plan["invitees"]]
    contacts = [f"{n:08d}-0000-4000-8000-000000000000" for n in range(12)]
    # In the council's tenant, which has the app (config/directory/bristol.yaml) installed for them.
    t.emulator.install(*contacts)
    repo.add_invitations(meeting.id, [NewInvitation(
        role=roles[n % len(roles)], level="should", contact_id=f"c{n}", contact_name=f"Contact {n}",
        contact_aad_id=aad, tenant_id=COUNCIL_TENANT, service_url=t.emulator.url) for n, aad in enumerate(contacts)])
    # The one the worker will claim first (a lease of a millisecond, which it takes over).
    first = repo.claim_invitations("peek", service.clock(), 0.001, 1, meeting_states=[meeting.state])[0]
    t.emulator.throttle(first.contact_aad_id, times=1, retry_after=RETRY_AFTER)

    repo.update_meeting_fields(meeting.id, state="sending")
    service.wake_delivery()
    cards = lambda: [r for r in t.emulator.requests if r.method == "POST" and r.status == 201
                     and r.conversation_id and "/activities" in r.path and r.conversation_id != chair.conversation]
    await until(lambda: len(cards()) == 12, timeout=60)
    throttled_chat = t.emulator.conversation_of(first.contact_aad_id)
    order = [r.conversation_id for r in cards()]
    # Every other contact had their card before the throttled one's came through.
    assert order[-1] == throttled_chat, order.index(throttled_chat)
    assert len(set(order)) == 12
    await until(lambda: repo.get_meeting(meeting.id).state == "sent", timeout=20)
