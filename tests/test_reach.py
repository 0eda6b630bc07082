"""Reaching agency contacts as real Teams allows (issue 16, part A): the connector emulator
refuses a 1:1 chat with someone the app is not installed for; the bot installs its app through
Microsoft Graph for contacts in its own tenant before their first invitation (once: the chat is
remembered in the database, across restarts); contacts whose organisation has not added the app
get no Teams card and the chair is told at once, with the app's link; the plan card says how
each invitee is reached; check-config checks the directory's organisations."""
from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.reach import Reach, app_deep_link, reach_of
from bot.directory import Directory, load_directory, organisation_problems, resolve
from bot.keys import SERVICE
from bot.settings import Settings
from tests.emulators.connector import running_emulator
from tests.emulators.graph import CATALOG, INSTALL, READ_WRITE, running_graph_emulator
from tests.test_bot_flow import CHAIR_AAD, FORM, Person, Teams, find_data, teams, text_of, until  # noqa: F401

BOT_ID = "strategy-meeting-bot"  # the bot's id when no MicrosoftAppId is set (local runs, tests)
COUNCIL = "7e570017-0000-4000-8000-000000000000"  # Bristol City Council's tenant in the sample directory
POLICE = "7e570002-0000-4000-8000-000000000000"


# --- the pure decision -------------------------------------------------------------------------

@pytest.mark.parametrize("tenant, has_app, bot_tenant, graph, known, expected", [
    (COUNCIL, False, COUNCIL, True, False, Reach.TEAMS),        # the bot installs itself in its tenant
    (POLICE, False, COUNCIL, True, False, Reach.CALENDAR),      # another organisation without the app
    (POLICE, True, COUNCIL, True, False, Reach.TEAMS),          # ... which has added it
    (COUNCIL, False, None, False, False, Reach.EMAIL_LINK),     # no Graph: nothing installs, no calendar
    (POLICE, False, None, False, True, Reach.TEAMS),            # a chat already known is used
])
def test_how_each_contact_is_reached(tenant, has_app, bot_tenant, graph, known, expected):
    assert reach_of(tenant, has_app, bot_tenant=bot_tenant, graph=graph, conversation_known=known) is expected


def test_check_config_names_contacts_whose_organisation_is_missing_and_repeats():
    directory = load_directory("bristol")
    orgs = directory.organisations
    broken = directory.model_copy(update={"organisations": (orgs[0], orgs[0], *orgs[2:])})
    problems = organisation_problems(broken, "directory/bristol.yaml")
    assert any("organisations[1].tenant_id" in p and "listed twice" in p for p in problems), problems
    missing = orgs[1].tenant_id
    assert any(f"tenant_id: {missing}" in p and "is not in 'organisations'" in p for p in problems), problems
    assert organisation_problems(directory, "directory/bristol.yaml") == []


def test_the_schema_refuses_an_unknown_teams_app_value():
    data = load_directory("bristol").model_dump()
    data["organisations"][0]["teams_app"] = "maybe"
    with pytest.raises(ValueError, match="installed"):
        Directory.model_validate(data)


# --- install before the first invitation ------------------------------------------------------

@pytest.fixture
async def with_install(db_url, monkeypatch):
    """The bot with Graph in Bristol City Council's tenant, allowed to install its app; the
    other organisations have installed it for their people (as the sample directory says), the
    council's own staff have not: the bot must install it for them."""
    async with running_emulator() as emulator, running_graph_emulator(
            tenant_id=COUNCIL, roles=(READ_WRITE, INSTALL, CATALOG), teams=emulator) as graph:
        graph.publish_app(BOT_ID)
        directory = load_directory("bristol")
        for c in directory.contacts:
            graph.add_teams_user(c.aad_object_id, c.tenant_id)
            if c.tenant_id != COUNCIL:
                emulator.install(c.aad_object_id)  # installed by their own organisation
        for key, value in graph.env().items():
            monkeypatch.setenv(key, value)
        settings = replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2)

        clients: list[TestClient] = []

        async def start():
            app = create_app(settings)
            client = TestClient(TestServer(app))
            await client.start_server()
            clients.append(client)
            return Teams(client, emulator), app

        try:
            yield start, emulator, graph
        finally:
            for client in clients:
                await client.close()  # once is enough: closing again does nothing


async def _send_a_meeting(t: Teams, chair: Person) -> str:
    meeting_id = find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    return meeting_id


async def test_the_first_invitation_installs_the_app_and_the_second_reuses_the_chat_after_a_restart(with_install):
    start, emulator, graph = with_install
    t, app = await start()
    repo = app[SERVICE].repo
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
    meeting_id = await _send_a_meeting(t, chair)
    await until(lambda: all(i.delivery_state == "delivered" for i in repo.list_invitations(meeting_id)), timeout=30)
    council = {i.contact_aad_id for i in repo.list_invitations(meeting_id) if i.tenant_id == COUNCIL}
    assert council, "the plan invites someone of the council"
    installs = graph.count("graph", method="POST", path_contains="/teamwork/installedApps")
    assert installs == len(council)  # one installation each, before their first card
    for aad in council:
        chat = emulator.conversation_of(aad)
        assert chat and chat.endswith("@unq.gbl.spaces")  # the chat Graph gave, not a connector create
        assert t.cards_to(chat), "the card reached the chat the installation made"
        stored = repo.get_teams_contact(aad)
        assert stored.app_installed and stored.conversation_id == chat
    creates = lambda: [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/v3/conversations")]
    opened = len(creates())
    assert {r.user_id for r in creates()}.isdisjoint(council)  # never refused: installed first
    assert all(r.status != 403 for r in emulator.requests)
    await t.client.close()

    # A restart (a new process, the same database): the second meeting installs nothing and
    # opens no chat again; the cards go to the chats remembered.
    t2, app2 = await start()
    second = await _send_a_meeting(t2, chair)
    repo2 = app2[SERVICE].repo
    await until(lambda: all(i.delivery_state == "delivered" for i in repo2.list_invitations(second)), timeout=30)
    assert graph.count("graph", method="POST", path_contains="/teamwork/installedApps") == installs
    assert graph.count("graph", method="GET", path_contains="/teamwork/installedApps") == len(council) * 2
    assert len(creates()) == opened
    await t2.client.close()


async def test_graph_cannot_install_for_another_tenant(with_install):
    start, emulator, graph = with_install
    police = resolve(load_directory("bristol"), "police", False)
    from bot.adapters.graph import GraphClient, GraphRefused, GraphSettings

    async with GraphClient(GraphSettings.from_env(graph.env())) as client:
        catalog = await client.find_teams_app(BOT_ID)
        with pytest.raises(GraphRefused) as refused:
            await client.install_app_for_user(police.aad_object_id, catalog)
        assert refused.value.status == 403
        council = resolve(load_directory("bristol"), "social_care", False).aad_object_id
        assert await client.install_app_for_user(council, catalog) is True
        assert await client.install_app_for_user(council, catalog) is False  # 409: already installed
        installation = await client.app_installation(council, BOT_ID)
        assert await client.installation_chat(council, installation) == emulator.conversation_of(council)


# --- no Teams card where it would fail -----------------------------------------------------------

async def test_without_graph_contacts_without_the_app_are_not_messaged_and_the_chair_is_told(teams):
    """Police's organisation has not added the app; health's has, but Teams refuses at send
    time (the app was removed for them): police get no card attempt and the chair is told at
    once with the app's link; health is a permanent failure told with email and phone."""
    t, app = teams
    service = app[SERVICE]
    directory = service.directories["bristol"]
    service.directories["bristol"] = directory.model_copy(update={"organisations": tuple(
        o.model_copy(update={"teams_app": "not_installed"}) if o.tenant_id == POLICE else o
        for o in directory.organisations)})
    police, health = (resolve(directory, r, False) for r in ("police", "health"))
    t.emulator.uninstall(health.aad_object_id)
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))

    plan = (await t.press(chair, "request_submit", FORM))["value"]
    assert "How they are reached: Invitation card in Teams" in text_of(plan)
    assert "How they are reached: You send them an answer link by secure email" in text_of(plan)
    assert police.name in text_of(plan)
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    told = " ".join(t.texts_to(chair.conversation))
    assert police.name in told and app_deep_link(BOT_ID) in told and "will not get a Teams card" in told
    assert health.name not in told  # their organisation has the app: a card is tried

    repo = service.repo
    await until(lambda: all(i.delivery_state != "pending" for i in repo.list_invitations(meeting_id)), timeout=30)
    by_role = {i.role: i for i in repo.list_invitations(meeting_id)}
    assert by_role["police"].delivery_state == "failed" and by_role["police"].delivery_error_kind == "no_teams_app"
    assert not [r for r in t.emulator.requests if r.user_id == police.aad_object_id]  # never tried in Teams
    notice = lambda: [text_of(c) for c in t.cards_to(chair.conversation)
                      if "Police: no Teams card, an answer link instead" in text_of(c)]
    await until(lambda: notice())
    assert "/answer/" in notice()[0] and "secure email" in notice()[0]  # no Graph: the chair sends the link
    assert by_role["health"].delivery_error_kind == "not_installed"
    await until(lambda: any(health.email in text_of(c) for c in t.cards_to(chair.conversation)))
    notice = next(text_of(c) for c in t.cards_to(chair.conversation) if health.email in text_of(c))
    assert health.phone in notice and "not installed for them" in notice
    assert by_role["social_care"].delivery_state == "delivered"


async def test_with_graph_another_organisation_without_the_app_is_invited_by_calendar(with_install):
    """Police's force has not added the app: with Graph they get the calendar invitation (and an
    answer link), never a Teams card; the chair is told at once with the app's link, then given
    or told of their answer link; their row on the status card says why rather than 'blocked'."""
    start, emulator, graph = with_install
    t, app = await start()
    service = app[SERVICE]
    directory = service.directories["bristol"]
    service.directories["bristol"] = directory.model_copy(update={"organisations": tuple(
        o.model_copy(update={"teams_app": "not_installed"}) if o.tenant_id == POLICE else o
        for o in directory.organisations)})
    police = resolve(directory, "police", False)
    emulator.uninstall(police.aad_object_id)
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    assert "How they are reached: Calendar invitation with a link to answer" in text_of(plan)
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    told = " ".join(t.texts_to(chair.conversation))
    assert police.name in told and "calendar invitation" in told and app_deep_link(BOT_ID) in told
    repo = service.repo
    await until(lambda: all(i.delivery_state != "pending" for i in repo.list_invitations(meeting_id)), timeout=30)
    assert not [r for r in emulator.requests if r.user_id == police.aad_object_id]
    assert graph.count("graph", path_contains=police.aad_object_id) == 0  # not installable: not tried
    # Then their personal answer link (part B: bot/service/link_answers.py), not a "could not be
    # reached" failure. The status card's row says why they got no card and how else to reach them.
    await until(lambda: any("Police: no Teams card, an answer link instead" in text_of(c)
                            for c in t.cards_to(chair.conversation)))
    assert not [c for c in t.cards_to(chair.conversation) if "Police could not be reached in Teams" in text_of(c)]
    status_cards = lambda: [text_of(a) for a in emulator.activities[chair.conversation].values()]  # as updated
    await until(lambda: any("their organisation has not added the app in Teams (invited by calendar or answer link)"
                            in c and police.phone in c for c in status_cards()))
    await t.client.close()


# --- the journey: one agency by card, another by its answer link --------------------------------

async def test_in_tenant_agencies_answer_by_card_another_force_by_its_emailed_link_and_the_meeting_is_quorate(
        db_url, monkeypatch, tmp_path):
    """Issue 16's journey. The council's social worker gets the app installed by the bot and
    answers on the card; health (its trust has the app) answers on the card; the police force
    has not added the app, so its officer gets no card but an email from the organiser with a
    personal link, opens the page as a stranger to the bot would, accepts, and the chair's one
    status card turns quorate. The link then refuses a second answer and changes nothing."""
    from html import unescape
    import re

    from tests.emulators.connector import install_as_directories_say
    from tests.emulators.graph import MAIL_SEND

    async with running_emulator() as emulator, running_graph_emulator(
            tenant_id=COUNCIL, roles=(READ_WRITE, INSTALL, CATALOG, MAIL_SEND), teams=emulator) as graph:
        graph.publish_app(BOT_ID)
        directory = load_directory("bristol")
        for c in directory.contacts:
            graph.add_teams_user(c.aad_object_id, c.tenant_id)
        install_as_directories_say(emulator)
        organiser = "strategy.meetings@bristol-council.example"
        graph.add_mailbox(organiser)
        for key, value in graph.env(organiser=organiser).items():
            monkeypatch.setenv(key, value)
        app = create_app(replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2, var_dir=tmp_path,
                                 public_url="https://bot.example"))
        async with TestClient(TestServer(app)) as client:
            t, service = Teams(client, emulator), app[SERVICE]
            service.directories["bristol"] = directory.model_copy(update={"organisations": tuple(
                o.model_copy(update={"teams_app": "not_installed"}) if o.tenant_id == POLICE else o
                for o in directory.organisations)})
            police, health, social_care = (resolve(directory, r, False) for r in ("police", "health", "social_care"))
            emulator.uninstall(police.aad_object_id)
            for c in directory.contacts:
                if c.tenant_id == COUNCIL:
                    emulator.uninstall(c.aad_object_id)  # the bot must install itself for its own staff
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))

            plan = (await t.press(chair, "request_submit", FORM))["value"]
            assert "How they are reached: Calendar invitation with a link to answer" in text_of(plan)
            meeting_id = find_data(plan, "meeting_id")
            await t.press(chair, "plan_send", {"meeting_id": meeting_id})

            # In the council and the trust: a Teams card each, answered on the card.
            people = {}
            for role, c in (("social_care", social_care), ("health", health)):
                await until(lambda c=c: emulator.conversation_of(c.aad_object_id)
                            and t.cards_to(emulator.conversation_of(c.aad_object_id)), timeout=30)
                people[role] = Person(c.aad_object_id, f"29:{role}", c.name, emulator.conversation_of(c.aad_object_id))
                card = t.cards_to(people[role].conversation)[0]
                await t.press(people[role], "invite_accept", {"invitation_id": find_data(card, "invitation_id")})
            assert graph.count("graph", method="POST", path_contains=f"/users/{social_care.aad_object_id}/teamwork") == 1
            def status_headers() -> list[str]:
                """The header of each status card in the chair's chat, as it stands now."""
                return [att["content"]["body"][0]["items"][0]["text"]
                        for a in emulator.activities[chair.conversation].values()
                        for att in a.get("attachments") or [] if "refresh" in att.get("content", {})]

            await until(lambda: status_headers() == ["Not yet quorate"])

            # The other force: never a Teams card, an email with their own link.
            await until(lambda: any(police.email in m.to for m in graph.mails), timeout=30)
            assert not [r for r in emulator.requests if r.user_id == police.aad_object_id]
            mail = next(m for m in graph.mails if police.email in m.to)
            assert FORM["case_ref"] not in mail.body_html
            link = re.search(r'https?://[^"\s<]+/answer/[A-Za-z0-9._-]+', unescape(mail.body_html)).group(0)
            path = link[link.index("/answer/"):]

            page = await client.get(path)
            html = await page.text()
            assert page.status == 200 and "Sam Chair" in html and FORM["case_ref"] not in html
            nonce = re.search(r'name="form_nonce" value="([^"]+)"', html).group(1)
            done = await client.post(path, data={"choice": "accept", "form_nonce": nonce})
            assert done.status == 200 and "your answer is recorded" in await done.text()

            # The chair's one status card, updated in place, now says quorate.
            await until(lambda: status_headers() == ["Quorate"], timeout=30)
            answers = {i.role: i.response for i in service.repo.list_invitations(meeting_id)}
            assert answers["police"] == answers["health"] == answers["social_care"] == "accepted"
            again = await client.post(path, data={"choice": "decline", "decline_reason": "x", "form_nonce": nonce})
            assert again.status == 410
            assert {i.role: i.response for i in service.repo.list_invitations(meeting_id)} == answers
