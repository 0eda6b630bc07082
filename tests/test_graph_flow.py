"""The Teams meeting itself, end to end: the bot over HTTP with the connector emulator and the
local Entra + Graph emulator (tests/emulators/graph.py, real MSAL over TLS). A Bristol
request: free slots proposed from the calendars the organiser can see, the calendar event
created with every invitee and its join link on the cards, an answer given in Outlook
counting for quoracy, the meeting moved (through a 429) and cancelled. Without credentials
the chair is told to add the link by hand."""
from __future__ import annotations

import re

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.directory import load_directory, resolve
from bot.keys import CLOCK, SERVICE
from bot.online_meetings import CalendarWatcher
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.emulators.graph import CATALOG, INSTALL, READ_WRITE, USER_READ, running_graph_emulator
from tests.test_bot_flow import CHAIR_AAD, FORM, Person, Teams, find_data, teams, text_of, until  # noqa: F401

UK = ZoneInfo("Europe/London")
ORGANISER = "strategy.meetings@bristol-council.example"


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UK)


@pytest.fixture
async def with_graph(db_url, monkeypatch):
    async with running_emulator() as emulator, running_graph_emulator(
            roles=(READ_WRITE, USER_READ, INSTALL, CATALOG), teams=emulator) as graph:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        # The app is in the organisation's catalog, and the bot may install it for colleagues in
        # Graph's tenant (someone the chair invites by email), as README's permissions table says.
        graph.publish_app("strategy-meeting-bot")
        for key, value in graph.env(organiser=ORGANISER).items():
            monkeypatch.setenv(key, value)
        graph.add_mailbox(ORGANISER)
        app = create_app(replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2))
        async with TestClient(TestServer(app)) as client:
            yield Teams(client, emulator), app, graph


async def test_the_teams_meeting_is_created_moved_answered_and_cancelled_through_graph(with_graph):
    t, app, graph = with_graph
    service = app[SERVICE]
    app[CLOCK].now = at("2026-11-25T10:00")
    directory = load_directory("bristol")
    contacts = {r: resolve(directory, r, False) for r in ("social_care", "police", "health")}
    # Social care's calendar is in the organiser's tenant and busy until 12:00; police and
    # health are in other organisations: Graph cannot see them.
    graph.add_busy(contacts["social_care"].email, at("2026-11-25T10:00"), at("2026-11-25T12:00"))
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))

    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    assert "Free before the deadline" in text_of(plan)
    assert "Wed 25 Nov 12:00" in text_of(plan) and "Wed 25 Nov 10:00" not in text_of(plan)
    assert contacts["police"].email in text_of(plan)  # named as not visible, not assumed free

    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    assert graph.events_of(ORGANISER) == []  # no time yet: no event
    await until(lambda: all(t.emulator.conversation_of(c.aad_object_id) for c in contacts.values()))
    # The chair picks the proposed 12:00: the event is created with every invitee.
    picked = (await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                                         "meeting_time": "12:00"}))["value"]
    events = graph.events_of(ORGANISER)
    assert len(events) == 1
    event = events[0]
    invited = {a.address.lower() for a in event.attendees}
    assert {c.email.lower() for c in contacts.values()} <= invited
    meeting = service.repo.get_meeting(meeting_id)
    assert meeting.event_id == event.id and meeting.join_url and meeting.join_url.startswith("https://")
    assert "Join the Teams meeting" in text_of(picked) and meeting.join_url in text_of(picked)

    # Police answer in Outlook, never in Teams: it counts like a card answer.
    graph.respond(event.id, contacts["police"].email, "accepted")
    graph.respond(event.id, contacts["health"].email, "tentativelyAccepted")  # not an answer
    watcher = CalendarWatcher(service, service.meetings)
    assert await watcher.poll_once() == 1
    answers = {i.role: i.response for i in service.repo.list_invitations(meeting_id)}
    assert answers["police"] == "accepted" and answers["health"] == "none"
    assert await watcher.poll_once() == 0  # nothing new: nothing written

    # Moving the meeting moves the event, through Graph throttling (Retry-After honoured).
    graph.throttle(1, retry_after=1)
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                               "meeting_time": "14:30"})
    moved = graph.events_of(ORGANISER)[0]
    assert moved.id == event.id and moved.start.astimezone(UK) == at("2026-11-25T14:30")
    # Tokens expire: the next call gets a new one and succeeds.
    tokens = graph.count("token")
    graph.advance(7200)
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                               "meeting_time": "15:00"})
    assert graph.events_of(ORGANISER)[0].start.astimezone(UK) == at("2026-11-25T15:00")
    assert graph.count("token") > tokens

    # The chair cancels: the calendar event goes, the invitees are told in Teams.
    done = (await t.press(chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Child moved out of area"}))["value"]
    assert "Cancelled" in text_of(done) and "calendar invitation was cancelled" in text_of(done)
    assert [e.cancelled for e in graph.events_of(ORGANISER)] == [True]
    # The chair's words never leave the organisation: not in Outlook's cancellation, not to the police.
    assert graph.events_of(ORGANISER)[0].cancel_comment == "Cancelled by the chair (Sam Chair). To ask why, contact the chair directly."
    assert service.repo.get_meeting(meeting_id).state == "cancelled"
    police_chat = t.emulator.conversation_of(contacts["police"].aad_object_id)
    told = [text_of(c) for c in t.cards_to(police_chat) if "cancelled" in text_of(c)]
    assert told and all("Child moved out of area" not in c and "Cancelled by the chair (Sam Chair)" in c for c in told)
    assert not [r for r in service.repo.list_reminders(meeting_id) if r.state == "pending"]


async def test_without_graph_the_chair_adds_the_link_by_hand(teams):
    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    assert "Free before the deadline" not in text_of(plan)
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    await until(lambda: any("No Microsoft Graph credentials" in x for x in t.texts_to(chair.conversation)))
    bad = await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                                     "meeting_time": "14:00", "join_url": "javascript:alert(1)"})
    assert "https:// join link" in text_of(bad)
    link = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0"
    ok = (await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                                     "meeting_time": "14:00", "join_url": link}))["value"]
    assert link in text_of(ok) and app[SERVICE].repo.get_meeting(meeting_id).join_url == link


# --- the chair invites someone by email address (issue 14, item 7) ------------------------------

KIM = "0b5e7c1a-4d2f-4e8a-9c3b-6a1d2e3f4a5b"


async def test_the_chair_invites_someone_by_email_found_in_the_organisations_directory(with_graph):
    import json

    from tests.emulators.graph import USER_READ
    from tests.emulators.teams import find_verb, open_form

    t, app, graph = with_graph
    service = app[SERVICE]
    app[CLOCK].now = at("2026-11-25T10:00")
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id = find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    # A detective in the organisation's directory whose address differs in case from what is typed.
    graph.add_mailbox("Kim.Example@example.gov.uk", name="DS Kim Example", object_id=KIM, phone="07700 900555")
    graph.add_mailbox("lee.mail@example.gov.uk", name="Lee Sample", upn="lee.sample@example.gov.uk")

    form = await open_form(t, chair, "invite_open", {"meeting_id": meeting_id})
    assert find_verb(form, "invite_email") and "Or by email address" in text_of(form)
    assert "Police" in text_of(form) and "Housing" in text_of(form)  # the roles to choose from
    ask = lambda email, role="police": t.press(chair, "invite_email", {"meeting_id": meeting_id, "invite_email": email,
                                                                       "invite_role": role})
    for typed, said in (("", "Give the email address"), ("kim at example.gov.uk", "is not an email address"),
                        ("kim@example", "is not an email address"), ("a@b.c d@e.f", "is not an email address")):
        assert said in json.dumps(await ask(typed)), typed
    assert "Choose the role" in json.dumps(await ask("kim.example@example.gov.uk", "astronaut"))
    lookups = graph.count("graph", path_contains="/users?")
    planned = len(service.repo.list_invitations(meeting_id))
    # Not in the directory (another organisation): invited by their own answer link, never a
    # Teams card; the chair is told so, then given or told of the link.
    outside = (await ask("Duty.Sergeant@police.example"))["value"]
    assert "invited by answer link" in text_of(outside) and "will not get a Teams card" in text_of(outside)
    assert graph.count("graph", path_contains="/users?") == lookups + 1
    (sergeant,) = [i for i in service.repo.list_invitations(meeting_id) if i.contact_aad_id is None]
    assert (sergeant.role, sergeant.level, sergeant.contact_email) == ("police", "quorum", "Duty.Sergeant@police.example")
    await until(lambda: any("Police: no Teams card, an answer link instead" in text_of(c)
                            and "Duty.Sergeant@police.example" in text_of(c) for c in t.cards_to(chair.conversation)))
    assert not [r for r in t.emulator.requests if r.user_id is None and r.path.endswith("/v3/conversations")]
    assert "already invited" in json.dumps(await ask("duty.sergeant@POLICE.example"))
    link = service.answer_links.url(sergeant.id)
    page = await t.client.get(link[link.index("/answer/"):])
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', await page.text()).group(1)
    done = await t.client.post(link[link.index("/answer/"):], data={
        "choice": "decline", "decline_reason": "No sergeant free tonight", "form_nonce": nonce})
    assert done.status == 200 and service.repo.get_invitation(sergeant.id).response == "declined"  # by the link

    # Found: invited in Teams by their Entra object id, in the role chosen (police, a quorum place).
    invited = (await ask("kim.example@EXAMPLE.gov.uk"))["value"]
    assert "DS Kim Example invited" in text_of(invited) and "07700 900555" in text_of(invited)
    (row,) = [i for i in service.repo.list_invitations(meeting_id) if i.contact_aad_id == KIM]
    assert (row.role, row.level, row.contact_email) == ("police", "quorum", "Kim.Example@example.gov.uk")
    await until(lambda: t.emulator.conversation_of(KIM) and t.cards_to(t.emulator.conversation_of(KIM)))
    # Kim is in the bot's own tenant and had never used the bot: it installed its app for her first.
    assert graph.count("graph", method="POST", path_contains=f"/users/{KIM}/teamwork/installedApps") == 1
    kim = Person(KIM, "29:kim", "DS Kim Example", t.emulator.conversation_of(KIM))
    card = t.cards_to(kim.conversation)[0]
    await t.press(kim, "invite_accept", {"invitation_id": find_data(card, "invitation_id")})
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Accepted by DS Kim Example" in text_of(status)
    assert "already invited" in json.dumps(await ask("kim.example@example.gov.uk", "health"))
    # An address that is someone's sign-in name (user principal name), not their mail, is found too.
    assert "Lee Sample invited" in text_of((await ask("lee.sample@example.gov.uk", "housing"))["value"])
    assert [e.detail["name"] for e in service.repo.list_events(meeting_id) if e.kind == "invited_by_chair"] == \
        ["Duty.Sergeant@police.example", "DS Kim Example", "Lee Sample"]

    # Without the User.Read.All permission (new tokens lack it): said plainly, nothing changed.
    graph.roles.discard(USER_READ)
    graph.advance(7200)
    refused = json.dumps(await ask("someone.else@example.gov.uk"))
    assert "not allowed to read the organisation's directory" in refused and "User.Read.All" in refused
    assert len(service.repo.list_invitations(meeting_id)) == planned + 3


async def test_without_graph_the_invite_form_offers_no_email_and_an_email_is_refused(teams):
    import json

    from tests.emulators.teams import find_verb, open_form

    t, app = teams
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id = find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    planned = len(app[SERVICE].repo.list_invitations(meeting_id))
    form = await open_form(t, chair, "invite_open", {"meeting_id": meeting_id})
    assert not find_verb(form, "invite_email") and "invite_email" not in json.dumps(form)
    refused = json.dumps(await t.press(chair, "invite_email", {"meeting_id": meeting_id, "invite_role": "police",
                                                               "invite_email": "kim.example@example.gov.uk"}))
    assert "needs Microsoft Graph, which is not configured" in refused and "nothing was changed" in refused
    assert len(app[SERVICE].repo.list_invitations(meeting_id)) == planned
