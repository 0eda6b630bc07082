"""Children's identifiers stay out, end to end: a child's name with a date of birth, an NHS
number, a National Insurance number or a postcode is typed into every input the bot accepts,
over /api/messages (connector emulator) with Microsoft Graph on (Entra + Graph emulator).
Then the database, the log, every card and message sent to anyone, every Graph request and
every export are searched: none of it appears. The calendar carries the meeting code, never
the case reference; a cancellation's reason does not leave the organisation."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine, inspect, text

from bot import cli
from bot.adapters.db.engine import normalize_url
from bot.app import create_app
from bot.core.privacy import meeting_code
from bot.directory import load_directory, resolve
from bot.keys import CLOCK, SERVICE
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.test_graph_flow import ORGANISER, at, with_graph  # noqa: F401  (fixture)
from tests.test_bot_flow import CHAIR_AAD, FORM, Person, Teams, find_data, text_of, until

UK = ZoneInfo("Europe/London")
NAME = "Jayden Smith"
IDENTIFIERS = {  # what is typed -> the forms it may take anywhere it leaked to
    "date of birth": (f"{NAME} DOB 01/02/2019", ("01/02/2019", "2019-02-01")),
    "NHS number": (f"{NAME} NHS 943 476 5919", ("943 476 5919", "9434765919")),
    "NI number": (f"{NAME} NI AB 12 34 56 C", ("AB 12 34 56 C", "AB123456C")),
    "postcode": (f"{NAME}, BS1 5TH", ("BS1 5TH",)),
}
FOUND = {"date of birth": "looks like a date of birth", "NHS number": "looks like an NHS number",
         "NI number": "looks like a National Insurance number", "postcode": "looks like a postcode"}
NEEDLES = [NAME, "Jayden", *(form for _, forms in IDENTIFIERS.values() for form in forms)]


@pytest.fixture
def bot(with_graph, db_url):
    """The bot with the Teams and Graph emulators (tests/test_graph_flow.py), and its database."""
    return (*with_graph, db_url)


def leaks(haystack: str) -> list[str]:
    return [n for n in NEEDLES if n.lower() in haystack.lower()]


def database_text(url: str) -> str:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as c:
            return "\n".join(repr(tuple(row)) for table in inspect(c).get_table_names()
                             for row in c.execute(text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


async def test_identifiers_typed_anywhere_are_refused_and_never_stored_sent_or_exported(bot, caplog, monkeypatch, capsys):
    caplog.set_level(logging.DEBUG)
    t, app, graph, url = bot
    app[CLOCK].now = at("2026-11-25T10:00")
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    refusals: list[str] = []

    # The chat itself: whatever is typed is not stored.
    assert await t.say(chair, IDENTIFIERS["date of birth"][0]) == 201

    # 1. The request form: a name, or a name with an identifier, is not a case reference.
    for typed in [NAME, *(v for v, _ in IDENTIFIERS.values())]:
        form = (await t.press(chair, "request_submit", {**FORM, "case_ref": typed}))["value"]
        assert "request_submit" in text_of(form) and "A case reference is the ID the case system gives" in text_of(form)
        inputs = {i.get("id"): i.get("value") for i in _inputs(form)}
        assert inputs["case_ref"] == typed and inputs["decided_date"] == FORM["decided_date"]  # everything kept
        assert inputs["child1_age"] in (7, "7")
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    directory = load_directory("bristol")
    contacts = {r: resolve(directory, r, False) for r in ("social_care", "police", "health", "education")}
    await until(lambda: all(t.emulator.conversation_of(c.aad_object_id) for c in contacts.values()))
    people = {r: Person(c.aad_object_id, f"29:{r}", c.name, t.emulator.conversation_of(c.aad_object_id)) for r, c in contacts.items()}
    await until(lambda: all(t.cards_to(p.conversation) for p in people.values()))
    invitation = {r: find_data(t.cards_to(p.conversation)[0], "invitation_id") for r, p in people.items()}
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "14:00"})

    # 2. Every free-text input of every card, with each identifier.
    attempts = [
        (people["police"], "invite_decline", "decline_reason", "Why your agency cannot attend", {}),
        (people["health"], "invite_nominate", "nominee_name", "Colleague's name", {"nominee_email": "c@nhs.example"}),
        (people["education"], "invite_written", "written_information", "Information in writing", {}),
        (chair, "outcome_submit", "others_attended", "Anyone else who attended", {"held": "yes", "decision": "joint"}),
        (chair, "outcome_submit", "minutes_to", "Minutes circulated to", {"held": "yes", "decision": "joint"}),
        (chair, "minutes_submit", "minutes_to", "Circulated to", {"minutes_date": "2026-11-26"}),
        (chair, "discussion_submit", "discussed_with", "Discussed with", {}),
        (chair, "discussion_submit", "safety_plan", "Safety planning and actions agreed", {}),
        (chair, "discussion_submit", "rationale", "Why a meeting could not be held", {}),
        (chair, "meeting_cancel", "cancel_reason", "Why it is cancelled", {}),
    ]
    for who, verb, field, label, extra in attempts:
        for kind, (typed, _) in IDENTIFIERS.items():
            ids = {"invitation_id": invitation[next(r for r, p in people.items() if p is who)]} if who is not chair \
                else {"meeting_id": meeting_id}
            answer = await t.press(who, verb, {**ids, **extra, field: typed})
            said = answer["value"]
            assert answer["type"] == "application/vnd.microsoft.activity.message", (verb, field)  # the card stays as typed
            assert said.startswith(f"{label}: this") and FOUND[kind] in said and "Nothing was saved or sent" in said
            assert "cannot recognise names" in said
            refusals.append(said)
    assert all(not leaks(r.replace(NAME, "")) for r in refusals)  # the refusal names the kind, never echoes it

    # 3. Clean answers go through; the chair cancels with a reason of their own.
    await t.press(people["police"], "invite_decline", {"invitation_id": invitation["police"], "decline_reason": "On leave"})
    await t.press(people["health"], "invite_accept", {"invitation_id": invitation["health"]})
    done = (await t.press(chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Threshold not met"}))["value"]
    assert "Cancelled" in text_of(done)

    # 4. Every export, through the command line.
    monkeypatch.setenv("DATABASE_URL", url)
    exports = []
    for fmt in ("json", "csv", "timeline-csv"):
        assert cli.main(["export", meeting_id, "--format", fmt]) == 0
        exports.append(capsys.readouterr().out)
    assert "BR-2026-0042" in exports[0]  # the case reference is the record's key

    # 5. Search everything.
    await until(lambda: any("cancelled" in text_of(c).lower() for c in t.cards_to(people["police"].conversation)))
    sent = [json.dumps(r.body, ensure_ascii=False) for r in t.emulator.requests if r.body]
    graph_calls = [json.dumps(r.body, ensure_ascii=False) for r in graph.requests if r.kind == "graph" and r.body]
    log = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    places = {"database": database_text(url), "log": log, "cards and messages": "\n".join(sent),
              "graph": "\n".join(graph_calls), "exports": "\n".join(exports)}
    assert {where: leaks(text_) for where, text_ in places.items()} == {where: [] for where in places}

    # The calendar (other organisations) gets the meeting code and the area, never the case reference,
    # and the child's details are said to come by secure email; the chair's reason never reaches it.
    (event,) = graph.events_of(ORGANISER)
    assert event.subject == f"Strategy meeting {meeting_code(meeting_id)} (Bristol)"
    assert "BR-2026-0042" not in places["graph"] and meeting_code(meeting_id) in event.body["content"]
    assert any(meeting_code(meeting_id) in text_of(c) for c in t.cards_to(chair.conversation))  # the chair knows it
    assert json.loads(exports[0])["meeting_code"] == meeting_code(meeting_id)
    assert "by secure email from Bristol children's social care" in event.body["content"]
    assert "Police" in event.body["content"] and "003_2d544eb75ad81283.txt §4.2" in event.body["content"]
    assert "Threshold not met" not in places["graph"]
    assert event.cancel_comment == "Cancelled by the chair (Sam Chair). To ask why, contact the chair directly."
    police_cards = [text_of(c) for c in t.cards_to(people["police"].conversation) if "cancelled" in text_of(c).lower()]
    assert police_cards and not any("Threshold not met" in c for c in police_cards)  # another organisation's tenant


def _inputs(card):
    """Every input element of a card, wherever it is nested."""
    if isinstance(card, dict):
        if str(card.get("type", "")).startswith("Input."):
            yield card
        for v in card.values():
            yield from _inputs(v)
    elif isinstance(card, list):
        for v in card:
            yield from _inputs(v)


async def test_a_cancel_reason_reaches_invitees_in_the_chairs_tenant_only(db_url):
    """The chair works in the council's tenant (that of Bristol's children's social care in the
    directory): its social worker reads the reason; the police, in their own tenant, do not."""
    from tests.emulators.teams import card_action

    council = resolve(load_directory("bristol"), "social_care", False).tenant_id
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        app = create_app(replace(Settings(), database_url=db_url, delivery_poll_seconds=0.2))
        async with TestClient(TestServer(app)) as client:
            t = Teams(client, emulator)
            chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", emulator.add_conversation("a:chair", "29:chair"))

            async def press(verb: str, data: dict) -> dict:
                r = await client.post("/api/messages", json=card_action(emulator.url, chair, verb, data,
                                                                         id=f"act-{verb}", tenant=council))
                assert r.status == 200
                return await r.json()

            meeting_id = find_data((await press("request_submit", FORM))["value"], "meeting_id")
            await press("plan_send", {"meeting_id": meeting_id})
            directory = load_directory("bristol")
            inside, outside = (resolve(directory, r, False) for r in ("social_care", "police"))
            chat = lambda c: emulator.conversation_of(c.aad_object_id)
            await until(lambda: chat(inside) and chat(outside) and t.cards_to(chat(inside)) and t.cards_to(chat(outside)))
            # Only invitations recorded as delivered are told of the cancellation: wait for the
            # record, not just the card (under load the record can lag the card, and this flaked).
            repo = app[SERVICE].repo
            await until(lambda: all(i.delivery_state == "delivered" for i in repo.list_invitations(meeting_id)))
            await press("meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Threshold not met after checks"})
            told = lambda c: [text_of(x) for x in t.cards_to(chat(c)) if "cancelled" in text_of(x).lower()]
            await until(lambda: told(inside) and told(outside))
            assert any("Threshold not met after checks" in x for x in told(inside))
            assert not any("Threshold not met after checks" in x for x in told(outside))
            assert any("To ask why, contact the chair directly" in x for x in told(outside))


async def test_a_reason_for_delay_carrying_a_date_of_birth_is_refused(bot):
    """The reason for a late meeting is free text like any other: screened before it is kept."""
    t, app, _, url = bot
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id = find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id")
    refused = await t.press(chair, "delay_submit", {"meeting_id": meeting_id,
                                                    "delay_reason": "Jayden Smith DOB 01/02/2019 was in hospital"})
    assert "date of birth" in json.dumps(refused) and "Nothing was saved" in json.dumps(refused)
    assert "01/02/2019" not in database_text(url)
