"""Fuzzing POST /api/messages with hypothesis, from outside: the bot served on a real port
(its own thread and event loop, as in production), requests sent as raw HTTP.

Two sources: activities built from the Bot Framework schema with one or two fields swapped
for any JSON value or removed (which reaches the service: real verbs, a real meeting's ids,
form values out of range, NUL and lone surrogates), and raw bytes (a valid activity cut,
spliced and corrupted, or noise, under assorted content types). For every request: no
5xx; a refused request (4xx) stored nothing. After each run: no traceback or error in the
log, and /healthz still 200.

Bounded and repeatable: a fixed number of examples, derandomized (the same examples every
run, so the test cannot flake), about 20 seconds in all.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.adapters.db.engine import normalize_url
from bot.app import create_app
from bot.settings import Settings
from tests.emulators.connector import install_as_directories_say, running_emulator
from tests.emulators.teams import Person, activity, card_action, find_data

SAM = Person("22222222-2222-4222-8222-222222222222", "29:sam", "Sam Chair", "a:sam")
FORM = {
    "area": "bristol", "case_ref": "BR-2026-0042", "child1_age": "7", "child1_education": "school",
    "concerns": "physical_abuse", "flags": "serious_harm", "referrer": "education",
    "decided_date": "2026-11-25", "decided_time": "10:00",
}
VERBS = ["request_new", "request_submit", "plan_confirm_time", "plan_send", "invite_accept", "invite_decline",
         "invite_nominate", "invite_written", "invite_reopen", "status_refresh", "outcome_open", "outcome_submit",
         "minutes_submit", "followup_done", "discussion_open", "discussion_submit", "followon_request",
         "meeting_cancel", "no_such_verb"]
INVOKES = ["adaptiveCard/action", "signin/tokenExchange", "signin/verifyState", "task/fetch", "task/submit",
           "composeExtension/query", "config/fetch", "fileConsent/invoke", "healthCheck"]
TYPES = ["message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "typing", "event",
         "endOfConversation"]


@dataclass
class Served:
    port: int
    emulator_url: str
    meeting_id: str
    engine: Any

    def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/api/messages", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()

    def stored_rows(self) -> int:
        """People and meetings stored: what a refused activity could have added (invitations,
        reminders and events also change in the background, as the setup's meeting is sent)."""
        with self.engine.connect() as c:
            return sum(c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in ("users", "meetings"))


@contextlib.contextmanager
def served_bot(url: str) -> Iterator[Served]:
    """The app and the connector emulator on one event loop in a thread, ports on 127.0.0.1."""
    started: list[Any] = []
    ready, stop = threading.Event(), None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with running_emulator() as emulator:
            install_as_directories_say(emulator)  # the app, where the directory says it is installed
            emulator.add_conversation(SAM.conversation, SAM.user_id)
            app = create_app(replace(Settings(), database_url=url, delivery_poll_seconds=0.2))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            started.extend([runner.addresses[0][1], emulator.url, asyncio.get_running_loop()])
            ready.set()
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as e:  # shown by the assertion below
            started.append(e)
            ready.set()

    thread = threading.Thread(target=run, name="fuzzed-bot", daemon=True)
    thread.start()
    assert ready.wait(60) and len(started) == 3, started
    port, emulator_url, loop = started
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    served = Served(port, emulator_url, "", engine)
    try:
        # One real meeting, so fuzzed presses can reach its invitations and outcome.
        status, body = served.post(json.dumps(card_action(emulator_url, SAM, "request_submit", FORM)).encode())
        assert status == 200, body
        served.meeting_id = find_data(json.loads(body), "meeting_id")
        status, _ = served.post(json.dumps(card_action(emulator_url, SAM, "plan_send",
                                                       {"meeting_id": served.meeting_id})).encode())
        assert status == 200
        yield served
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        engine.dispose()


# --- activities from the schema, lightly broken ---------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                      st.text(max_size=12))
json_any = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
AWKWARD = ["", " ", "new", "\x00", "a\x00b", "\ud800", "x\udfffy", "é", "1e309", "-1", "nan", "9999-12-31",
           "0001-01-01", "24:61", "9" * 400, "<script>", "'; DROP TABLE users;--"]
awkward_text = st.sampled_from(AWKWARD)
form_value = st.one_of(awkward_text, st.text(max_size=30), json_any)
# The request form right but for one or two awkward fields, so a press gets as far as
# planning with a value out of range.
request_form = st.builds(lambda changes: {**FORM, **dict(changes)},
                         st.lists(st.tuples(st.sampled_from(sorted(FORM)), awkward_text), min_size=1, max_size=2))
verbs = st.one_of(st.just("request_submit"), st.sampled_from(VERBS))


def card_data(meeting_id: str) -> st.SearchStrategy[dict]:
    ids = st.sampled_from([meeting_id, "", "no-such-meeting", meeting_id + "\x00"])
    keys = st.sampled_from(sorted(FORM) + ["meeting_date", "meeting_time", "held", "quorate", "decision",
                                           "attended", "minutes_date", "minutes_to", "reason", "invitation_id",
                                           "child2_included", "child2_age", "involved_services", "note"])
    return st.builds(lambda base, extra, mid: {**base, **extra, "meeting_id": mid},
                     st.one_of(st.just({}), request_form), st.dictionaries(keys, form_value, max_size=3), ids)


def valid_activities(service_url: str, meeting_id: str) -> st.SearchStrategy[dict]:
    people = st.sampled_from([SAM, Person("33333333-3333-4333-8333-333333333333", "29:other", "Other", "a:other")])
    message = st.builds(lambda who, t: activity(service_url, who, type="message", text=t), people,
                        st.one_of(awkward_text, st.text(max_size=40)))
    submit = st.builds(lambda who, verb, data: activity(service_url, who, type="message", value={"verb": verb, **data}),
                       people, verbs, card_data(meeting_id))
    press = st.builds(lambda who, verb, data: card_action(service_url, who, verb, data), people,
                      verbs, card_data(meeting_id))
    invoke = st.builds(lambda who, name, value: activity(service_url, who, type="invoke", name=name, value=value),
                       people, st.sampled_from(INVOKES), json_any)
    update = st.builds(lambda who, kind, members: activity(service_url, who, type=kind, membersAdded=members),
                       people, st.sampled_from(TYPES), st.lists(st.fixed_dictionaries({"id": st.text(max_size=8)}),
                                                                max_size=2))
    return st.one_of(press, press, submit, message, invoke, update)  # presses reach the most code


PATHS = [("type",), ("name",), ("text",), ("serviceUrl",), ("channelId",), ("id",), ("replyToId",), ("value",),
         ("from",), ("from", "id"), ("from", "aadObjectId"), ("from", "name"), ("recipient",), ("recipient", "id"),
         ("conversation",), ("conversation", "id"), ("conversation", "tenantId"), ("channelData",),
         ("channelData", "tenant"), ("channelData", "tenant", "id"), ("membersAdded",), ("value", "action"),
         ("value", "action", "data"), ("value", "action", "verb"), ("attachments",), ("entities",)]
DELETE = object()
bad_urls = st.sampled_from(["", "ftp://example.com/", "http://", "not a url", "https://exa mple.com/",
                            "http://[::1/", "https://example.com:0/", "javascript:alert(1)", "//no-scheme/"])


def mutate(base: dict, changes: list[tuple[tuple[str, ...], Any]]) -> dict:
    body = json.loads(json.dumps(base))
    for path, value in changes:
        node = body
        for key in path[:-1]:
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            if value is DELETE:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return body


def fuzzed_activities(service_url: str, meeting_id: str) -> st.SearchStrategy[dict]:
    change = st.tuples(st.sampled_from(PATHS), st.one_of(json_any, awkward_text, bad_urls, st.just(DELETE)))
    return st.builds(mutate, valid_activities(service_url, meeting_id), st.lists(change, max_size=2))


# --- raw bytes ---------------------------------------------------------------------------------------

CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
                 "application/json; charset=nonsense", "application/json;charset=", "text/plain", ""]


def raw_bodies(service_url: str) -> st.SearchStrategy[bytes]:
    valid = json.dumps(activity(service_url, SAM, type="message", text="new")).encode()

    def splice(cut: int, insert: bytes, drop: int) -> bytes:
        cut %= len(valid) + 1
        return valid[:cut] + insert + valid[cut + drop:]

    nesting = st.builds(lambda n, open_, close: open_ * n + close * n, st.integers(1, 5000),
                        st.sampled_from([b"[", b'{"a":', b'{"type":']), st.sampled_from([b"]", b"}", b""]))
    return st.one_of(st.binary(max_size=300), nesting,
                     st.builds(splice, st.integers(0, 10_000), st.binary(max_size=20), st.integers(0, 20)),
                     st.builds(lambda n: b'{"type": "message", "n": ' + b"7" * n + b"}", st.integers(1, 6000)))


# --- the properties ------------------------------------------------------------------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def compose(outer, inner):
    return lambda f: outer(inner(f))


def no_faults_logged(caplog) -> None:
    faults = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not faults, [f"{r.name}: {r.getMessage()}" for r in faults[:3]]


def assert_answered(bot: Served, status: int, body: bytes, rows_before: int) -> None:
    assert status < 500, (status, body[:200])
    if status >= 400:
        assert bot.stored_rows() == rows_before, "a refused request stored something"


def issue_13_findings(service_url: str) -> list[dict]:
    """What the outside fuzzer of issue 13 found (hypothesis rarely draws these exact values,
    so they run first as explicit examples)."""
    base = activity(service_url, SAM, type="message", text="new")
    press = lambda **change: card_action(service_url, SAM, "request_submit", {**FORM, **change})  # noqa: E731
    return [
        press(child1_age="1e309"), press(decided_date="9999-12-31"), press(decided_date="9999-12-31",
                                                                           decided_time="23:59"),
        press(case_ref="BR\x00-1"), press(case_ref="\ud800"),
        {**base, "from": {**base["from"], "name": "Sam\x00"}}, {**base, "text": "new\udfff"},
        {k: v for k, v in base.items() if k != "conversation"}, {**base, "channelData": {"tenant": "contoso"}},
        activity(service_url, SAM, type="invoke", name="signin/tokenExchange", value={"id": "1"}),
        {**base, "serviceUrl": "http://[::1/"}, {**base, "serviceUrl": "https://example.com:99999/"},
    ]


def test_fuzzed_activities_are_answered_without_a_fault(db_url, caplog):
    caplog.set_level(logging.INFO)
    with served_bot(db_url) as bot:
        given_activities = given(fuzzed_activities(bot.emulator_url, bot.meeting_id))
        for finding in issue_13_findings(bot.emulator_url):
            given_activities = compose(given_activities, example(finding))

        @settings(FUZZ, max_examples=250 if db_url.startswith("sqlite") else 120)
        @given_activities
        def answered(body: dict) -> None:
            before = bot.stored_rows()
            status, answer = bot.post(json.dumps(body).encode())
            assert_answered(bot, status, answer, before)

        answered()
        assert bot.get("/healthz") == 200
    no_faults_logged(caplog)


def test_fuzzed_bytes_are_answered_without_a_fault(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with served_bot(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}") as bot:
        @settings(FUZZ, max_examples=250)
        @given(raw_bodies(bot.emulator_url), st.sampled_from(CONTENT_TYPES))
        def answered(body: bytes, content_type: str) -> None:
            before = bot.stored_rows()
            status, answer = bot.post(body, content_type)
            assert_answered(bot, status, answer, before)

        answered()
        assert bot.get("/healthz") == 200
    no_faults_logged(caplog)
