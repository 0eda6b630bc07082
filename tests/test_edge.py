"""POST /api/messages against whatever arrives: every request gets a 2xx or a 4xx with a short
reason (a 503 only while the database is down, to a caller that is not a person in Teams),
never a traceback, and nothing is stored for what was refused. Over HTTP, with the connector
emulator as Teams' service. Authentication is off here (tests/test_auth.py has it on)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from bot.adapters.db.engine import normalize_url
from bot.adapters.teams.wire import MAX_BODY_BYTES
from bot.app import create_app
from bot.keys import SERVICE
from bot.outage import BUSY_TEXT
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.emulators.teams import Person, activity, card_action, find_data

SAM = Person("22222222-2222-4222-8222-222222222222", "29:sam", "Sam Chair", "a:sam")
FORM = {
    "area": "bristol", "case_ref": "BR-2026-0042", "child1_age": "7", "child1_education": "school",
    "concerns": "physical_abuse", "flags": "serious_harm", "referrer": "education",
    "decided_date": "2026-11-25", "decided_time": "10:00",
}


def stored_rows(url: str) -> int:
    """Rows in every table but alembic's: what a refused request must not have added."""
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.connect() as c:
            tables = [t for t in inspect(c).get_table_names() if t != "alembic_version"]
            return sum(c.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables)
    finally:
        engine.dispose()


class Edge:
    def __init__(self, client: TestClient, app, emulator, url: str):
        self.client, self.app, self.emulator, self.url = client, app, emulator, url

    async def post(self, body, *, headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post("/api/messages", data=data,
                                      headers={"Content-Type": "application/json", **(headers or {})})

    def activity(self, **fields) -> dict:
        emulator_conversation = self.emulator.add_conversation(SAM.conversation, SAM.user_id)
        assert emulator_conversation == SAM.conversation
        return activity(self.emulator.url, SAM, **fields)

    def press(self, verb: str, data: dict, **fields) -> dict:
        self.emulator.add_conversation(SAM.conversation, SAM.user_id)
        return card_action(self.emulator.url, SAM, verb, data, **fields)


@contextlib.asynccontextmanager
async def running_edge(url: str):
    async with running_emulator() as emulator:
        install_as_directories_say(emulator)  # the app, where the directory says it is installed
        app = create_app(replace(Settings(), database_url=url, delivery_poll_seconds=0.2))
        async with TestClient(TestServer(app)) as client:
            yield Edge(client, app, emulator, url)


@pytest.fixture
async def edge(db_url):
    async with running_edge(db_url) as e:
        yield e


@pytest.fixture
async def sqlite_edge(tmp_path):
    async with running_edge(f"sqlite:///{tmp_path / 'edge.sqlite3'}") as e:
        yield e


async def until(predicate, timeout: float = 15.0) -> None:
    """Wait for background work (the delivery worker) to show; the timeout only bounds a failure."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out waiting"
        await asyncio.sleep(0.02)


async def refused(edge: Edge, response, status: int, reason: str) -> None:
    assert response.status == status, (response.status, await response.text())
    assert reason in (await response.json())["error"]
    assert edge.emulator.requests == [] and stored_rows(edge.url) == 0


# --- the body: size, encoding, JSON -----------------------------------------------------------


async def test_a_body_over_the_cap_is_413_whether_announced_or_not(sqlite_edge):
    e = sqlite_edge
    big = e.activity(type="message", text="x" * MAX_BODY_BYTES)
    await refused(e, await e.post(big), 413, "larger than 512 KiB")

    async def chunks():  # no Content-Length: the cap applies as the bytes arrive
        yield json.dumps(big).encode()

    r = await e.client.post("/api/messages", data=chunks(), headers={"Content-Type": "application/json"})
    await refused(e, r, 413, "larger than 512 KiB")
    # Just under the cap is fine: Teams' own limit (about 100 KB) is far below it.
    r = await e.post(e.activity(type="message", text="new " + "x" * 300_000))
    assert r.status == 201


@pytest.mark.parametrize("raw, status, reason", [
    (b"\xff\xfe{}", 400, "not valid UTF-8"),
    (b'{"type": "message",', 400, "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    (b'{"a":' * 70 + b"1" + b"}" * 70, 400, "nested too deeply"),
    (b'{"type": "message", "n": ' + b"9" * 5000 + b"}", 400, "number in the body is too long"),
    (b'{"type": "message", "n": 1e309}', 400, "out of range"),
    (b'{"type": "message", "n": NaN}', 400, "not a JSON value"),
    (b'"a string"', 400, "expected a JSON object"),
    (b"{}", 400, "needs a 'type'"),
])
async def test_a_malformed_body_is_400_with_a_short_reason(sqlite_edge, raw, status, reason):
    await refused(sqlite_edge, await sqlite_edge.post(raw), status, reason)


async def test_only_utf8_json_is_accepted(sqlite_edge):
    e = sqlite_edge
    body = json.dumps(e.activity(type="message", text="new")).encode()
    await refused(e, await e.client.post("/api/messages", data=body, headers={"Content-Type": "text/plain"}),
                  415, "application/json")
    await refused(e, await e.client.post("/api/messages", data=body, headers={
        "Content-Type": "application/json; charset=x-unknown-charset"}), 415, "UTF-8")
    r = await e.client.post("/api/messages", data=body, headers={"Content-Type": "application/json; charset=UTF-8"})
    assert r.status == 201


# --- the activity's shape ------------------------------------------------------------------------


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize("change, reason", [
    (lambda a: _without(a, "conversation"), "conversation: missing"),
    (lambda a: {**a, "conversation": "a:sam"}, "conversation: expected an object"),
    (lambda a: {**a, "conversation": {"id": 7}}, "conversation.id: expected a non-empty string"),
    (lambda a: _without(a, "from"), "from: missing"),
    (lambda a: {**a, "from": {"id": "29:sam", "aadObjectId": ["x"]}}, "from.aadObjectId: expected a string"),
    (lambda a: {**a, "channelData": {"tenant": "contoso"}}, "channelData.tenant: expected an object"),
    (lambda a: {**a, "channelData": []}, "channelData: expected an object"),
    (lambda a: {**a, "text": {"not": "text"}}, "text: expected a string"),
    (lambda a: {**a, "membersAdded": [{"name": "no id"}]}, "membersAdded[0].id: expected a string"),
    (lambda a: _without(a, "serviceUrl"), "serviceUrl: missing"),
    (lambda a: {**a, "serviceUrl": "ftp://example.com/"}, "serviceUrl: not a usable URL"),
    (lambda a: {**a, "serviceUrl": "http://[::1/"}, "serviceUrl: not a usable URL"),
    (lambda a: {**a, "serviceUrl": "https://example.com:99999/"}, "serviceUrl: not a usable URL"),
    (lambda a: {**a, "type": "invoke", "name": None}, "name: an invoke needs a name"),
])
async def test_an_activity_missing_or_mistyping_a_field_is_400_naming_it(sqlite_edge, change, reason):
    e = sqlite_edge
    await refused(e, await e.post(change(e.activity(type="message", text="new"))), 400, reason)


async def test_fields_the_bot_does_not_read_may_be_anything(sqlite_edge):
    # Teams adds fields over time; the bot reads a few and ignores the rest.
    e = sqlite_edge
    r = await e.post(e.activity(type="message", text="new", timestamp="not a time", entities=[{"type": "x"}],
                                suggestedActions=7, channelData={"tenant": {"id": "t"}, "extra": [1, 2]}))
    assert r.status == 201


@pytest.mark.parametrize("kind", ["typing", "messageReaction", "installationUpdate", "event", "endOfConversation",
                                  "a-type-nobody-sends"])
async def test_activities_the_bot_has_no_use_for_are_200_and_change_nothing(sqlite_edge, kind):
    e = sqlite_edge
    r = await e.post(e.activity(type=kind))
    assert r.status == 200 and stored_rows(e.url) == 0 and e.emulator.requests == []


# --- invokes the bot does not implement ------------------------------------------------------------


@pytest.mark.parametrize("name, value, status, body", [
    ("signin/tokenExchange", {"id": "x1", "connectionName": "sso", "token": "t"}, 412,
     {"id": "x1", "connectionName": "sso", "failureDetail": "This bot does not use single sign-on."}),
    ("task/fetch", {}, 200, {"task": {"type": "message", "value": "This action is not available in this app."}}),
    ("composeExtension/query", {}, 200,
     {"composeExtension": {"type": "message", "text": "This action is not available in this app."}}),
    ("signin/verifyState", {"state": "1"}, 200, None),
    ("config/fetch", None, 200, None),
    ("a/name/nobody/sends", "x", 200, None),
])
async def test_an_invoke_the_bot_does_not_implement_gets_the_answer_teams_expects(sqlite_edge, caplog, name, value,
                                                                                  status, body):
    e = sqlite_edge
    caplog.set_level(logging.INFO)
    for _ in range(3):
        r = await e.post(e.activity(type="invoke", name=name, value=value))
        assert r.status == status
        assert (await r.json() if body is not None else await r.read()) == (body if body is not None else b"")
    logged = [r for r in caplog.records if "is not implemented" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.INFO  # once, however often it comes
    assert stored_rows(e.url) == 0 and e.emulator.requests == []


# --- strings the database cannot hold, numbers and dates out of range ----------------------------------


async def test_nul_bytes_and_lone_surrogates_are_cleaned_at_the_edge(edge):
    e = edge
    body = e.activity(type="message", text="new\x00")
    body["from"]["name"] = "Sam\x00 \ud800Chair"
    raw = json.dumps(body).encode()  # json escapes both: "\\u0000", "\\ud800"
    r = await e.post(raw)
    assert r.status == 201, await r.text()
    user = e.app[SERVICE].repo.get_user(SAM.aad)
    assert user.name == "Sam \ufffdChair"
    assert "request_submit" in json.dumps(e.emulator.requests[-1].body)  # "new" was understood


@pytest.mark.parametrize("field, value, message", [
    ("child1_age", "1e309", "Enter the age as a number of years"),
    ("child1_age", "nan", "Enter the age as a number of years"),
    ("child1_age", "-inf", "Enter the age as a number of years"),
    ("decided_date", "9999-12-31", "the year 9999 is out of range; expected 2000 to 2099"),
    ("decided_date", "0001-01-01", "the year 1 is out of range"),
])
async def test_a_number_or_date_out_of_range_in_the_form_is_shown_on_the_field(sqlite_edge, field, value, message):
    e = sqlite_edge
    r = await e.post(e.press("request_submit", {**FORM, field: value}))
    assert r.status == 200, await r.text()
    card = json.dumps((await r.json())["value"])
    assert "request_submit" in card and message in card  # the form again, the field's message on it
    assert "plan_send" not in card


# --- the database stops answering -----------------------------------------------------------------------


class TcpProxy:
    """A TCP forwarder to PostgreSQL that the test can cut and restore: an outage as the bot
    sees one (connections refused, connections dropped), without touching the server."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.links: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.links += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for s in self.links:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.links.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.postgres
async def test_with_the_database_down_a_press_is_told_to_try_again_and_nothing_is_lost(db_url, caplog):
    if not db_url.startswith("postgresql"):
        pytest.skip("the outage is cut between the bot and PostgreSQL")
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with running_edge(proxied) as e:
            assert (await e.client.get("/healthz")).status == 200
            proxy.cut()
            r = await e.post(e.press("request_submit", FORM))
            assert r.status == 200 and (await r.json())["value"] == BUSY_TEXT  # Teams shows it to the person
            r = await e.post(e.activity(type="message", text="new"))
            assert r.status == 201 and e.emulator.requests[-1].body["text"] == BUSY_TEXT
            r = await e.post({**e.activity(type="message", text="new"), "channelId": "directline"})
            assert r.status == 503 and (await r.json())["error"] == BUSY_TEXT and r.headers["Retry-After"] == "60"
            health = await e.client.get("/healthz")
            assert health.status == 503 and (await health.json())["status"] == "degraded"
            proxy.restore()
            r = await e.post(e.press("request_submit", FORM))
            assert r.status == 200 and "plan_send" in json.dumps(await r.json())
            assert (await e.client.get("/healthz")).status == 200
    finally:
        proxy.close()
    assert not [r for r in caplog.records if r.exc_info], "an outage is one line in the log, not a traceback"
    # The presses made while it was down did nothing: one meeting stored, the one after.
    engine = create_engine(normalize_url(db_url), poolclass=NullPool)
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM meetings")).scalar_one() == 1
    engine.dispose()


# --- replies go through the rate limiter, and a refused reply never fails the press -----------------------


async def test_a_429_on_the_note_after_send_never_fails_the_press(sqlite_edge):
    e = sqlite_edge
    plan = await (await e.post(e.press("request_submit", FORM))).json()
    meeting_id = find_data(plan, "meeting_id")
    e.emulator.throttle(SAM.conversation, times=None, retry_after=1)  # Teams refuses every message to Sam
    r = await e.post(e.press("plan_send", {"meeting_id": meeting_id}))
    assert r.status == 200, await r.text()
    answer = await r.json()
    assert answer["type"] == "application/vnd.microsoft.card.adaptive" and "Quorum" in json.dumps(answer["value"])
    notes = [q for q in e.emulator.requests if q.conversation_id == SAM.conversation and isinstance(q.body, dict)
             and "Microsoft Graph" in str(q.body.get("text"))]
    assert notes and all(q.status == 429 for q in notes)  # the note was tried, refused, and dropped
    # The invitations were written before anything was sent, and go out to the agencies.
    await until(lambda: len([q for q in e.emulator.requests if q.method == "POST" and q.conversation_id is None]) >= 3)


async def test_a_contact_invited_to_two_meetings_is_reached_in_the_same_chat(sqlite_edge):
    e = sqlite_edge
    repo = e.app[SERVICE].repo
    meetings = []
    for _ in range(2):
        meeting_id = find_data(await (await e.post(e.press("request_submit", FORM))).json(), "meeting_id")
        assert (await e.post(e.press("plan_send", {"meeting_id": meeting_id}))).status == 200
        meetings.append(meeting_id)
    await until(lambda: all(i.delivery_state == "delivered" for m in meetings for i in repo.list_invitations(m)))
    creates = [q for q in e.emulator.requests if q.method == "POST" and q.conversation_id is None]
    people = {q.body["members"][0]["id"] for q in creates}
    assert len(people) >= 3 and len(creates) == len(people)  # one chat opened per person, not per invitation
    chats = {m: {i.contact_aad_id: i.conversation_id for i in repo.list_invitations(m)} for m in meetings}
    assert chats[meetings[0]] == chats[meetings[1]]
