"""The bot driven over HTTP at /api/messages the way Teams drives it, with the local Bot
Connector emulator standing in for Teams' connector service: a social worker requests a
meeting, the agencies answer their cards in different orders, an impostor is refused, and
the chair's status card turns quorate. Runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.directory import load_directory, resolve
from bot.settings import Settings
from bot.adapters.connector import RetryPolicy
from bot.delivery import DeliveryWorker
from bot.keys import CLOCK, SERVICE, WORKER
from tests.emulators.connector import install_as_directories_say, ANY, running_emulator
from tests.emulators.teams import TENANT, Person, activity, card_action, find_data  # noqa: F401  (re-exported)

CHAIR_AAD = "22222222-2222-4222-8222-222222222222"


class Teams:
    """Sends activities as Teams would and reads what the bot sent back."""

    def __init__(self, client: TestClient, emulator):
        self.client, self.emulator, self._n = client, emulator, 0

    def next_id(self) -> str:
        """A fresh activity id, as Teams gives each activity its own."""
        self._n += 1
        return f"act-{self._n}"

    async def say(self, who: Person, text: str) -> int:
        body = activity(self.emulator.url, who, id=self.next_id(), type="message", text=text)
        r = await self.client.post("/api/messages", json=body)
        return r.status

    async def press(self, who: Person, verb: str, data: dict) -> dict:
        r = await self.client.post("/api/messages", json=card_action(self.emulator.url, who, verb, data, id=self.next_id()))
        assert r.status == 200, await r.text()
        return await r.json()

    def texts_to(self, conversation: str) -> list[str]:
        return [rec.body["text"] for rec in self.emulator.requests
                if rec.conversation_id == conversation and rec.method == "POST" and isinstance(rec.body, dict)
                and rec.body.get("text")]

    def cards_to(self, conversation: str) -> list[dict]:
        out = []
        for rec in self.emulator.requests:
            if rec.conversation_id == conversation and rec.method == "POST" and isinstance(rec.body, dict):
                for a in rec.body.get("attachments") or []:
                    out.append(a["content"])
        return out


def text_of(card) -> str:
    return json.dumps(card, ensure_ascii=False)


@pytest.fixture
async def teams(db_url):
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2)
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            yield Teams(client, emulator), app


async def until(predicate, timeout=15.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


FORM = {
    "area": "bristol", "case_ref": "BR-2026-0042", "child1_age": "7", "child1_education": "school",
    "concerns": "physical_abuse", "flags": "serious_harm", "referrer": "education",
    "decided_date": "2026-11-25", "decided_time": "10:00",
}


async def test_request_to_quorate_meeting(teams):
    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))

    # 1. The social worker asks for a meeting and gets the request form.
    assert await t.say(chair, "new") == 201
    (form,) = t.cards_to(chair.conversation)
    assert "request_submit" in text_of(form)

    # 2. A mistake comes back field by field; nothing is stored.
    bad = await t.press(chair, "request_submit", {**FORM, "child1_education": "", "decided_time": "25:99"})
    assert bad["type"] == "application/vnd.microsoft.card.adaptive" and "request_submit" in text_of(bad["value"])
    assert "Enter a date (YYYY-MM-DD) and a time (HH:MM), UK time." in text_of(bad["value"])  # on the wrong field
    assert "plan_send" not in text_of(bad["value"])

    # 3. A valid request: the plan card with the deadline, its rule and citation.
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    assert "Bristol strategy meeting guidance §3.2" in text_of(plan) and "plan_send" in text_of(plan)
    meeting_id = find_data(plan, "meeting_id")

    # 4. Send: every invitee gets a card in a new 1:1 conversation; the chair gets a status card.
    status = (await t.press(chair, "plan_send", {"meeting_id": meeting_id}))["value"]
    assert "Not yet quorate" in text_of(status) and "0 of 3 quorum roles filled" in text_of(status)
    directory = load_directory("bristol")
    contacts = {role: resolve(directory, role, False) for role in ("social_care", "health", "police", "education")}
    creates = lambda: [r for r in t.emulator.requests if r.method == "POST" and r.path.endswith("/v3/conversations")]
    await until(lambda: len(creates()) >= 4)
    conversations = {r.body["members"][0]["id"]: t.emulator.conversation_of(r.body["members"][0]["id"]) for r in creates()}
    people = {role: Person(c.aad_object_id, f"29:{role}", c.name, conversations[c.aad_object_id]) for role, c in contacts.items()}
    await until(lambda: all(t.cards_to(p.conversation) for p in people.values()))
    invitation = {role: find_data(t.cards_to(p.conversation)[0], "invitation_id") for role, p in people.items()}
    assert all(invitation.values())
    police_card = t.cards_to(people["police"].conversation)[0]
    assert "Bristol strategy meeting guidance §4.2" in text_of(police_card)  # why they are invited, with citation
    assert "criminal investigation" in text_of(police_card)  # what police must bring (§4.6)

    # 5. An impostor cannot answer someone else's invitation.
    impostor = Person("33333333-3333-4333-8333-333333333333", "29:x", "Not Police", "a:x")
    refused = await t.press(impostor, "invite_accept", {"invitation_id": invitation["police"]})
    assert "only they can answer" in json.dumps(refused)

    # 6. Agencies answer in their own order; a double click changes nothing twice.
    await t.press(people["police"], "invite_accept", {"invitation_id": invitation["police"]})
    again = await t.press(people["police"], "invite_accept", {"invitation_id": invitation["police"]})
    assert "You accepted" in text_of(again["value"])
    declined = await t.press(people["education"], "invite_decline",
                             {"invitation_id": invitation["education"], "decline_reason": "Inset day, sending notes"})
    assert "You declined" in text_of(declined["value"])
    await t.press(people["health"], "invite_accept", {"invitation_id": invitation["health"]})
    assert not any("is quorate" in text_of(c) for c in t.cards_to(chair.conversation))
    await t.press(people["social_care"], "invite_accept", {"invitation_id": invitation["social_care"]})

    # 7. The chair is told once that the meeting is quorate, and the status card was updated in place.
    notices = lambda: [c for c in t.cards_to(chair.conversation) if "is quorate" in text_of(c)]
    await until(lambda: notices())  # sent by the reminder worker, at once
    await asyncio.sleep(0.3)
    assert len(notices()) == 1
    updates = lambda: [r for r in t.emulator.requests if r.method == "PUT" and r.conversation_id == chair.conversation]
    await until(lambda: updates() and "Quorate" in text_of(updates()[-1].body))

    # 8. Only the chair manages the meeting.
    refused = await t.press(people["police"], "plan_send", {"meeting_id": meeting_id})
    assert "Only the chair" in json.dumps(refused)


async def test_an_unreachable_agency_is_reported_to_the_chair_with_email_and_phone(teams):
    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    police = resolve(load_directory("bristol"), "police", False)
    t.emulator.block(police.aad_object_id)
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    await t.press(chair, "plan_send", {"meeting_id": find_data(plan, "meeting_id")})
    await until(lambda: any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation)))
    notice = next(c for c in t.cards_to(chair.conversation) if "could not be reached" in text_of(c))
    assert police.email in text_of(notice) and police.phone in text_of(notice)


async def test_bad_requests_get_clear_answers_not_500s(teams):
    t, app = teams
    c = t.client
    r = await c.post("/api/messages", data="{", headers={"Content-Type": "application/json"})
    assert r.status == 400 and "not valid JSON" in (await r.json())["error"]
    r = await c.post("/api/messages", data="hello", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = await c.post("/api/messages", json={"no": "type"})
    assert r.status == 400
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    unknown = await t.press(chair, "launch_rockets", {})
    assert "don't know the action" in json.dumps(unknown)
    r = await c.get("/healthz")
    assert r.status == 200 and (await r.json())["checks"]["database"] is True


async def _sent_invitations(t: Teams, chair: Person, roles) -> tuple[str, dict[str, Person], dict[str, str]]:
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    directory = load_directory("bristol")
    contacts = {role: resolve(directory, role, False) for role in roles}
    await until(lambda: all(t.emulator.conversation_of(c.aad_object_id) for c in contacts.values()))
    people = {role: Person(c.aad_object_id, f"29:{role}", c.name, t.emulator.conversation_of(c.aad_object_id))
              for role, c in contacts.items()}
    await until(lambda: all(t.cards_to(p.conversation) for p in people.values()))
    return meeting_id, people, {role: find_data(t.cards_to(p.conversation)[0], "invitation_id") for role, p in people.items()}


async def test_a_nominated_colleague_in_the_directory_is_invited_in_the_same_role_and_can_fill_it(teams):
    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id, people, invitation = await _sent_invitations(t, chair, ("social_care", "health", "police"))
    colleague = load_directory("bristol").by_email("bo.pretend@avon-somerset.police.example")
    for role in ("social_care", "health"):
        await t.press(people[role], "invite_accept", {"invitation_id": invitation[role]})

    answer = await t.press(people["police"], "invite_nominate", {
        "invitation_id": invitation["police"], "nominee_name": "PS Bo Pretend", "nominee_email": colleague.email.upper()})
    assert "You nominated" in text_of(answer["value"])
    assert "They have been sent this invitation" in text_of(answer["value"])
    # The colleague gets their own invitation card, saying who sent them.
    await until(lambda: t.emulator.conversation_of(colleague.aad_object_id)
                and t.cards_to(t.emulator.conversation_of(colleague.aad_object_id)))
    bo = Person(colleague.aad_object_id, "29:bo", colleague.name, t.emulator.conversation_of(colleague.aad_object_id))
    card = t.cards_to(bo.conversation)[0]
    assert "DC Bea Madeup nominated you" in text_of(card) and "Police" in text_of(card)
    assert any("nominated PS Bo Pretend" in text_of(c) for c in t.cards_to(chair.conversation))
    assert not any("is quorate" in text_of(c) for c in t.cards_to(chair.conversation))
    # The nominator cannot answer the colleague's invitation; the colleague's acceptance fills police.
    bo_invitation = find_data(card, "invitation_id")
    refused = await t.press(people["police"], "invite_accept", {"invitation_id": bo_invitation})
    assert "only they can answer" in json.dumps(refused)
    await t.press(bo, "invite_accept", {"invitation_id": bo_invitation})
    # The notice may come from the delivery worker settling Bo's card at the same moment.
    await until(lambda: any("is quorate" in text_of(c) for c in t.cards_to(chair.conversation)))
    await asyncio.sleep(0.3)
    assert sum("is quorate" in text_of(c) for c in t.cards_to(chair.conversation)) == 1


async def test_a_nominee_the_bot_cannot_invite_is_passed_to_the_chair_and_a_declining_nominee_means_escalation(teams):
    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id, people, invitation = await _sent_invitations(t, chair, ("social_care", "health", "police"))
    answer = await t.press(people["health"], "invite_nominate", {
        "invitation_id": invitation["health"], "nominee_name": "Nia Elsewhere", "nominee_email": "nia@elsewhere.example"})
    # What really happened, said once: not "they have been sent this invitation".
    assert "You nominated" in text_of(answer["value"]) and "not in the bot's directory" in text_of(answer["value"])
    assert "They have been sent this invitation" not in text_of(answer["value"])
    await until(lambda: any("nia@elsewhere.example" in text_of(c) for c in t.cards_to(chair.conversation)))
    assert not any("directory" in m for m in t.texts_to(people["health"].conversation))
    told = [c for c in t.cards_to(chair.conversation) if "nia@elsewhere.example" in text_of(c)]
    assert told and "not in the bot's directory" in text_of(told[0])
    # Police nominate someone the bot can invite, who then declines: the chair must escalate police.
    colleague = load_directory("bristol").by_email("bo.pretend@avon-somerset.police.example")
    await t.press(people["police"], "invite_nominate", {
        "invitation_id": invitation["police"], "nominee_name": "Bo", "nominee_email": colleague.email})
    await until(lambda: t.emulator.conversation_of(colleague.aad_object_id)
                and t.cards_to(t.emulator.conversation_of(colleague.aad_object_id)))
    bo = Person(colleague.aad_object_id, "29:bo", colleague.name, t.emulator.conversation_of(colleague.aad_object_id))
    bo_invitation = find_data(t.cards_to(bo.conversation)[0], "invitation_id")
    assert not any("Police cannot make the meeting quorate" in text_of(c) for c in t.cards_to(chair.conversation))
    await t.press(bo, "invite_decline", {"invitation_id": bo_invitation, "decline_reason": "On leave"})
    escalations = lambda: [c for c in t.cards_to(chair.conversation) if "Police cannot make the meeting quorate" in text_of(c)]
    await until(lambda: escalations())
    await asyncio.sleep(0.3)
    assert len(escalations()) == 1 and "Bristol strategy meeting guidance §" in text_of(escalations()[0])


async def test_delivery_that_keeps_failing_is_given_up_after_its_attempts_and_the_chair_told(teams):
    t, app = teams
    service, worker = app[SERVICE], app[WORKER]
    worker.max_attempts = 3
    service.messenger.client.retry = RetryPolicy(max_attempts=1)  # one HTTP try per delivery attempt
    now = [datetime.now(timezone.utc)]
    service.clock = lambda: now[0]
    police = resolve(load_directory("bristol"), "police", False)
    t.emulator.fail(police.aad_object_id, 503, times=None)
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    await t.press(chair, "plan_send", {"meeting_id": find_data(plan, "meeting_id")})
    tries = lambda: [r for r in t.emulator.requests if r.user_id == police.aad_object_id]
    for attempt in (1, 2):  # failed, to be retried after a back-off: the chair is not troubled yet
        await until(lambda: len(tries()) >= attempt)
        await asyncio.sleep(0.3)
        assert len(tries()) == attempt  # the back-off holds
        assert not any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation))
        now[0] += timedelta(minutes=10)  # past the back-off
        worker.wake()
    await until(lambda: any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation)))
    notice = next(c for c in t.cards_to(chair.conversation) if "could not be reached" in text_of(c))
    assert "gave up" in text_of(notice) and police.phone in text_of(notice)
    await asyncio.sleep(0.5)
    assert len(tries()) == 3


async def test_a_slow_send_keeps_its_lease_so_another_replica_does_not_send_it_again(teams):
    t, app = teams
    service, worker, clock = app[SERVICE], app[WORKER], app[CLOCK]
    clock.now = datetime.now(timezone.utc)  # leases expire on the bot's clock, which the test moves
    worker.lease_seconds = 0.6  # renewed every 0.2 s while the send is in flight
    other = DeliveryWorker(service, owner="replica-2", lease_seconds=0.6)
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    t.emulator.hold(ANY, ("create",))  # Teams keeps the invitees' chats waiting: far longer than a lease
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    creates = lambda: [r for r in t.emulator.requests if r.path.endswith("/v3/conversations")]
    await until(lambda: len(creates()) >= 4)
    renewed = lambda: all(i.delivery_state == "pending" and i.lease_expires_at > clock.now + timedelta(seconds=0.4)
                          for i in service.repo.list_invitations(meeting_id))
    for _ in range(8):  # 2.4 s of the bot's time, four leases: the other replica keeps looking
        clock.now += timedelta(seconds=0.3)
        await until(renewed)  # the heartbeat has renewed every lease in flight, however busy the machine
        assert await other.run_once() == 0
    t.emulator.release()
    sends = lambda: [r for r in t.emulator.requests if r.method == "POST" and r.conversation_id
                     and r.conversation_id != chair.conversation and r.status == 201]
    await until(lambda: len(sends()) >= 4)
    await asyncio.sleep(1.0)
    assert len(sends()) == 4 and len(creates()) == 4
