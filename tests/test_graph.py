"""The Microsoft Graph adapter against the local Entra + Graph emulator, over real TLS.

Why these tests: calendar invitations for a strategy meeting must be created once (not twice
after a timeout), moved, cancelled and read back reliably; throttling and outages must be
waited out as Graph asks and then reported, never hidden; credentials must fail loudly and
never leak. Everything goes through the real MSAL (secret and certificate credentials,
tenant discovery, its token cache) and the real aiohttp client against
tests/emulators/graph.py; retry waits go through an injected sleep so the tests take seconds.
"""
from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

from bot.adapters.graph import (
    Attendee,
    AttendeeResponse,
    GraphAuthError,
    GraphClient,
    GraphConfigError,
    GraphRefused,
    GraphRetryPolicy,
    GraphSettings,
    GraphToken,
    GraphUnavailable,
)
from bot.adapters.graph.client import _busy_blocks, from_graph_time, to_graph_time
from bot.adapters.graph.settings import DEFAULT_BASE_URL
from tests.emulators.graph import (
    DEFAULT_SECRET,
    READ,
    make_client_certificate,
    running_graph_emulator,
)

UTC = timezone.utc
CHAIR = "chair@example.gov.uk"
POLICE = "police@example.gov.uk"
HEALTH = "health@example.gov.uk"
START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
TENANT_GUID = "6f1c2a4e-8b1d-4c55-9a43-0d3f2b7e9a10"
CLIENT_GUID = "3d9a7c11-52e4-4f0b-b6a8-7c0e4f1d2b33"


class FakeTime:
    """Stands in for asyncio.sleep and the monotonic clock: records waits and lets time pass."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class StaticTokens:
    """A token source without MSAL, for tests about the HTTP loop only."""

    def __init__(self) -> None:
        self.refreshed: list[str] = []

    async def token(self) -> str:
        return "static-token"

    async def refresh(self, rejected: str) -> str:
        self.refreshed.append(rejected)
        return "static-token"


@pytest_asyncio.fixture
async def emu():
    async with running_graph_emulator() as emulator:
        for email in (CHAIR, POLICE, HEALTH):
            emulator.add_mailbox(email)
        yield emulator


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest_asyncio.fixture
async def graph(emu, fake_time):
    async with GraphClient(GraphSettings.from_env(emu.env()), sleep=fake_time.sleep, clock=fake_time.clock,
                           rng=random.Random(7)) as client:
        yield client


async def create(graph, transaction_id="tx-1", attendees=None, **kw):
    attendees = attendees if attendees is not None else [Attendee(POLICE, "DS Police"),
                                                         Attendee(HEALTH, required=False)]
    return await graph.create_meeting(CHAIR, "Strategy meeting ref C-1", kw.pop("start", START), kw.pop("end", END),
                                      attendees, "<p>Strategy meeting</p>", transaction_id, **kw)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

BASE_ENV = {"STRATBOT_GRAPH_TENANT_ID": TENANT_GUID, "STRATBOT_GRAPH_CLIENT_ID": CLIENT_GUID,
            "STRATBOT_GRAPH_CLIENT_SECRET": "s3cret-value"}


def test_no_graph_variables_means_no_graph():
    assert GraphSettings.from_env({}) is None
    assert GraphSettings.from_env({"MicrosoftAppId": "x", "STRATBOT_GRAPH_TENANT_ID": ""}) is None


def test_complete_secret_configuration_with_defaults():
    s = GraphSettings.from_env(BASE_ENV)
    assert s.credential_kind == "secret"
    assert s.authority == f"https://login.microsoftonline.com/{TENANT_GUID}"
    assert s.base_url == DEFAULT_BASE_URL and s.scope == "https://graph.microsoft.com/.default"
    assert s.organiser is None and s.ca_bundle is None
    assert "s3cret-value" not in repr(s)


def test_national_cloud_scope_follows_the_base_url():
    s = GraphSettings.from_env({**BASE_ENV, "STRATBOT_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0/",
                                "STRATBOT_GRAPH_AUTHORITY_HOST": "https://login.microsoftonline.us/"})
    assert s.scope == "https://graph.microsoft.us/.default" and s.base_url == "https://graph.microsoft.us/v1.0"
    assert s.authority == f"https://login.microsoftonline.us/{TENANT_GUID}"


def test_certificate_configuration(tmp_path):
    cert = make_client_certificate(tmp_path)
    s = GraphSettings.from_env({"STRATBOT_GRAPH_TENANT_ID": "contoso.onmicrosoft.com",
                                "STRATBOT_GRAPH_CLIENT_ID": CLIENT_GUID, "STRATBOT_GRAPH_CERT_PATH": cert.pem_path,
                                "STRATBOT_GRAPH_CERT_THUMBPRINT": ":".join(cert.thumbprint[i:i + 2].lower()
                                                                           for i in range(0, 40, 2)),
                                "STRATBOT_GRAPH_ORGANISER": "meetings@contoso.gov.uk"})
    assert s.credential_kind == "certificate" and s.cert_thumbprint == cert.thumbprint
    assert s.organiser == "meetings@contoso.gov.uk"


@pytest.mark.parametrize("env, names", [
    ({"STRATBOT_GRAPH_CLIENT_ID": CLIENT_GUID}, "STRATBOT_GRAPH_TENANT_ID is not set"),
    ({"STRATBOT_GRAPH_TENANT_ID": TENANT_GUID}, "STRATBOT_GRAPH_CLIENT_ID is not set"),
    ({"STRATBOT_GRAPH_TENANT_ID": TENANT_GUID, "STRATBOT_GRAPH_CLIENT_ID": CLIENT_GUID},
     "STRATBOT_GRAPH_CLIENT_SECRET is not set"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CLIENT_SECRET": "", "STRATBOT_GRAPH_CERT_PATH": "/etc/hostname"},
     "STRATBOT_GRAPH_CERT_THUMBPRINT is not set"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CLIENT_SECRET": "", "STRATBOT_GRAPH_CERT_THUMBPRINT": "AB" * 20},
     "STRATBOT_GRAPH_CERT_PATH is not set"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CERT_PATH": "/etc/hostname", "STRATBOT_GRAPH_CERT_THUMBPRINT": "AB" * 20},
     "not both"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CLIENT_SECRET": "", "STRATBOT_GRAPH_CERT_PATH": "/nonexistent.pem",
      "STRATBOT_GRAPH_CERT_THUMBPRINT": "AB" * 20}, "STRATBOT_GRAPH_CERT_PATH: no such file"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CLIENT_SECRET": "", "STRATBOT_GRAPH_CERT_PATH": "/etc/hostname",
      "STRATBOT_GRAPH_CERT_THUMBPRINT": "not-hex"}, "STRATBOT_GRAPH_CERT_THUMBPRINT must be"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CLIENT_ID": "my-app"}, "STRATBOT_GRAPH_CLIENT_ID must be"),
    ({**BASE_ENV, "STRATBOT_GRAPH_TENANT_ID": "common"}, "STRATBOT_GRAPH_TENANT_ID must name one tenant"),
    ({**BASE_ENV, "STRATBOT_GRAPH_TENANT_ID": "a/b"}, "STRATBOT_GRAPH_TENANT_ID must be"),
    ({**BASE_ENV, "STRATBOT_GRAPH_AUTHORITY_HOST": "http://login.example"}, "STRATBOT_GRAPH_AUTHORITY_HOST must be an https"),
    ({**BASE_ENV, "STRATBOT_GRAPH_AUTHORITY_HOST": "https://login.example/tenant"}, "scheme and host only"),
    ({**BASE_ENV, "STRATBOT_GRAPH_BASE_URL": "graph.microsoft.com"}, "STRATBOT_GRAPH_BASE_URL must be an https"),
    ({**BASE_ENV, "STRATBOT_GRAPH_ORGANISER": "just a name"}, "STRATBOT_GRAPH_ORGANISER must be"),
    ({**BASE_ENV, "STRATBOT_GRAPH_CA_BUNDLE": "/nonexistent-ca.pem"}, "STRATBOT_GRAPH_CA_BUNDLE: no such file"),
    ({"STRATBOT_GRAPH_BASE_URL": DEFAULT_BASE_URL}, "STRATBOT_GRAPH_TENANT_ID is not set"),
])
def test_half_a_configuration_is_a_one_line_error_naming_the_variable(env, names):
    with pytest.raises(GraphConfigError) as info:
        GraphSettings.from_env(env)
    assert isinstance(info.value, ValueError)
    assert names in str(info.value) and "\n" not in str(info.value)
    assert "s3cret-value" not in str(info.value)


def test_certificate_thumbprint_must_match_the_certificate_in_the_file(tmp_path):
    cert = make_client_certificate(tmp_path)
    settings = GraphSettings(TENANT_GUID, CLIENT_GUID, cert_path=cert.pem_path, cert_thumbprint="AB" * 20)
    with pytest.raises(GraphConfigError, match="does not match the certificate.*" + cert.thumbprint):
        GraphToken(settings)
    bad = tmp_path / "nokey.pem"
    bad.write_bytes(cert.certificate_pem)
    with pytest.raises(GraphConfigError, match="holds no PEM private key"):
        GraphToken(GraphSettings(TENANT_GUID, CLIENT_GUID, cert_path=str(bad), cert_thumbprint=cert.thumbprint))


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


async def test_secret_credential_token_is_cached_by_msal(emu, graph):
    await create(graph)
    await graph.attendee_responses(CHAIR, next(iter(emu.events)))
    await graph.get_schedule(CHAIR, [POLICE], START, END)
    assert emu.count("token") == 1            # MSAL's cache served the later calls
    assert emu.count("discovery") == 1        # tenant discovery once; no instance discovery
    token_request = next(r for r in emu.requests if r.kind == "token")
    assert token_request.body["grant_type"] == "client_credentials"
    assert token_request.body["scope"] == f"{emu.url}/.default"
    assert token_request.body["client_secret"] == "***"  # the emulator's record masks it


async def test_certificate_credential(emu, tmp_path, fake_time):
    cert = make_client_certificate(tmp_path)
    settings = GraphSettings.from_env(emu.env(certificate=cert))
    async with GraphClient(settings, sleep=fake_time.sleep) as graph:
        event = await create(graph)
    assert event.join_url
    token_request = next(r for r in emu.requests if r.kind == "token")
    assert token_request.body["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in token_request.body


async def test_certificate_key_without_the_certificate_in_the_file(emu, tmp_path):
    cert = make_client_certificate(tmp_path)
    emu.trust_certificate(cert.certificate_pem)
    env = emu.env(CERT_PATH=cert.key_only_path, CERT_THUMBPRINT=cert.thumbprint, CLIENT_SECRET="")
    async with GraphClient(GraphSettings.from_env(env)) as graph:
        assert (await create(graph)).id


async def test_a_certificate_entra_does_not_know_is_refused(emu, tmp_path):
    known, unknown = make_client_certificate(tmp_path, "known"), make_client_certificate(tmp_path, "unknown")
    emu.trust_certificate(known.certificate_pem)
    env = emu.env(CERT_PATH=unknown.pem_path, CERT_THUMBPRINT=unknown.thumbprint, CLIENT_SECRET="")
    async with GraphClient(GraphSettings.from_env(env)) as graph:
        with pytest.raises(GraphAuthError) as info:
            await create(graph)
    assert info.value.code == "invalid_client" and "AADSTS700027" in str(info.value)
    assert emu.count("graph") == 0


async def test_bad_secret_is_a_clear_auth_error_without_the_secret(emu, caplog):
    caplog.set_level(logging.DEBUG)
    settings = GraphSettings.from_env(emu.env(CLIENT_SECRET="wrong-secret-value"))
    async with GraphClient(settings) as graph:
        with pytest.raises(GraphAuthError) as info:
            await create(graph)
    message = str(info.value)
    assert message.startswith("getting a Microsoft Graph token failed: invalid_client: AADSTS7000215: Invalid client "
                              "secret provided.")
    assert info.value.code == "invalid_client" and info.value.description.startswith("AADSTS7000215")
    assert "\n" not in message and "Trace ID" not in message
    assert "wrong-secret-value" not in message and "wrong-secret-value" not in repr(info.value)
    assert "wrong-secret-value" not in caplog.text
    assert emu.count("graph") == 0


async def test_msal_trusts_the_configured_ca_even_when_requests_ca_bundle_is_set(emu, monkeypatch, tmp_path):
    # requests lets REQUESTS_CA_BUNDLE override a session's `verify`; the adapter passes it per request.
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(make_client_certificate(tmp_path).certificate_pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    async with GraphClient(GraphSettings.from_env(emu.env())) as graph:
        assert (await create(graph)).id
    async with GraphClient(GraphSettings.from_env(emu.env(CA_BUNDLE=str(other_ca)))) as graph:
        with pytest.raises(GraphUnavailable, match="Microsoft Entra could not be reached"):
            await create(graph)


async def test_unknown_tenant_is_an_auth_error(emu):
    settings = GraphSettings.from_env(emu.env(TENANT_ID="0b8f2d6e-0000-4000-8000-000000000000"))
    async with GraphClient(settings) as graph:
        with pytest.raises(GraphAuthError, match="has no OpenID configuration") as info:
            await create(graph)
    assert info.value.code == "invalid_authority"


async def test_unknown_client_id_is_an_auth_error(emu):
    settings = GraphSettings.from_env(emu.env(CLIENT_ID="0b8f2d6e-0000-4000-8000-000000000001"))
    async with GraphClient(settings) as graph:
        with pytest.raises(GraphAuthError, match="unauthorized_client: AADSTS700016"):
            await create(graph)


async def test_entra_unavailable_is_graph_unavailable(emu):
    emu.fail_tokens(1, 503)
    async with GraphClient(GraphSettings.from_env(emu.env())) as graph:
        with pytest.raises(GraphUnavailable, match="Microsoft Entra") as info:
            await create(graph)
    assert info.value.op == "token"


async def test_expired_token_is_refreshed_once_and_the_call_succeeds(emu, graph, fake_time):
    event = await create(graph)
    assert emu.count("token") == 1
    emu.advance(3601)  # Graph's clock passes the token's exp; MSAL still thinks it is good
    responses = await graph.attendee_responses(CHAIR, event.id)
    assert set(responses) == {POLICE, HEALTH}
    assert emu.count("token") == 2
    statuses = [r.status for r in emu.requests if r.kind == "graph"]
    assert statuses == [201, 401, 200]
    assert fake_time.waits == []  # a refresh is not a backoff
    first, second = emu.issued_tokens
    assert second["exp"] > first["exp"]


async def test_a_token_refused_twice_is_an_auth_error(emu, graph):
    emu.token_lifetime = 0  # every token is born expired
    with pytest.raises(GraphAuthError, match="refused a newly issued token") as info:
        await create(graph)
    assert info.value.status == 401 and info.value.code == "InvalidAuthenticationToken"
    assert [r.status for r in emu.requests if r.kind == "graph"] == [401, 401]


async def test_one_msal_application_shared_by_clients(emu):
    settings = GraphSettings.from_env(emu.env())
    token = GraphToken(settings)
    try:
        async with GraphClient(settings, token=token) as a, GraphClient(settings, token=token) as b:
            await asyncio.gather(create(a, "tx-a"), create(b, "tx-b"), a.get_schedule(CHAIR, [POLICE], START, END))
        assert emu.count("discovery") == 1 and emu.count("token") == 1  # single flight, one cache
    finally:
        token.close()


# ---------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------


async def test_create_meeting_with_teams_join_link(emu, graph):
    event = await create(graph, allow_new_time_proposals=True)
    assert event.join_url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert event.web_link and event.change_key and event.ical_uid
    assert (event.start, event.end) == (START, END)
    assert [(a.email, a.required) for a in event.attendees] == [(POLICE, True), (HEALTH, False)]
    sent = next(r for r in emu.requests if r.kind == "graph")
    assert sent.method == "POST" and sent.path == f"/v1.0/users/{CHAIR}/events"
    assert sent.prefer == 'outlook.timezone="UTC"'
    body = sent.body
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["start"] == {"dateTime": "2026-11-25T14:00:00", "timeZone": "UTC"}
    assert body["end"] == {"dateTime": "2026-11-25T15:00:00", "timeZone": "UTC"}
    assert body["attendees"] == [
        {"emailAddress": {"address": POLICE, "name": "DS Police"}, "type": "required"},
        {"emailAddress": {"address": HEALTH}, "type": "optional"},
    ]
    assert body["transactionId"] == "tx-1" and body["allowNewTimeProposals"] is True
    assert body["body"] == {"contentType": "HTML", "content": "<p>Strategy meeting</p>"}
    assert body["sensitivity"] == "private"
    stored = emu.events[event.id]
    assert stored.organiser.email == CHAIR and stored.join_url == event.join_url


async def test_times_in_another_offset_are_sent_as_utc(emu, graph):
    from zoneinfo import ZoneInfo
    uk = ZoneInfo("Europe/London")
    event = await create(graph, start=datetime(2026, 7, 1, 10, tzinfo=uk), end=datetime(2026, 7, 1, 11, tzinfo=uk))
    sent = next(r for r in emu.requests if r.kind == "graph").body
    assert sent["start"]["dateTime"] == "2026-07-01T09:00:00"  # BST is UTC+1
    assert event.start == datetime(2026, 7, 1, 9, tzinfo=UTC)


async def test_organiser_by_object_id(emu, graph):
    mailbox = emu.mailboxes[CHAIR]
    event = await graph.create_meeting(mailbox.object_id, "S", START, END, [], "", "tx-oid")
    assert emu.events[event.id].organiser is mailbox


async def test_create_retried_after_a_lost_answer_makes_one_event(emu, graph, fake_time):
    emu.lose_answers(1, status=504)  # the event is made, the answer is lost
    event = await create(graph, "tx-lost")
    posts = [r for r in emu.requests if r.kind == "graph" and r.method == "POST"]
    assert [r.status for r in posts] == [504, 201]
    assert {r.body["transactionId"] for r in posts} == {"tx-lost"}
    assert len(emu.events_of(CHAIR)) == 1 and event.id in emu.events
    assert len(fake_time.waits) == 1


async def test_create_again_with_the_same_transaction_id_returns_the_same_event(emu, graph):
    first = await create(graph, "tx-same")
    again = await create(graph, "tx-same")
    other = await create(graph, "tx-other")
    assert again.id == first.id and other.id != first.id
    assert len(emu.events_of(CHAIR)) == 2


async def test_organiser_without_teams_gets_an_event_without_a_join_link(emu, graph):
    emu.add_mailbox("noteams@example.gov.uk", teams=False)
    event = await graph.create_meeting("noteams@example.gov.uk", "S", START, END, [], "", "tx-nt")
    assert event.join_url is None and event.id


async def test_move_meeting(emu, graph):
    event = await create(graph)
    emu.respond(event.id, POLICE, "accepted")
    moved = await graph.move_meeting(CHAIR, event.id, START + timedelta(hours=2), END + timedelta(hours=2))
    assert (moved.start, moved.end) == (START + timedelta(hours=2), END + timedelta(hours=2))
    assert moved.change_key != event.change_key
    stored = emu.events[event.id]
    assert (stored.start, stored.end) == (START + timedelta(hours=2), END + timedelta(hours=2))
    patch = [r for r in emu.requests if r.method == "PATCH"][0]
    assert set(patch.body) == {"start", "end"}
    # Outlook asks the attendees again after a move (the emulator's reading of Graph).
    assert (await graph.attendee_responses(CHAIR, event.id))[POLICE].response == "none"


async def test_cancel_meeting(emu, graph):
    event = await create(graph)
    await graph.cancel_meeting(CHAIR, event.id, "Held by phone instead")
    stored = emu.events[event.id]
    assert stored.cancelled and stored.cancel_comment == "Held by phone instead"
    with pytest.raises(GraphRefused) as info:
        await graph.get_event(CHAIR, event.id)
    assert info.value.status == 404 and info.value.code == "ErrorItemNotFound"
    with pytest.raises(GraphRefused):  # cancelling again on purpose is a refusal
        await graph.cancel_meeting(CHAIR, event.id, "again")


async def test_cancel_retried_after_a_lost_answer_succeeds(emu, graph):
    event = await create(graph)
    emu.lose_answers(1)
    await graph.cancel_meeting(CHAIR, event.id, "No longer needed")  # 504, then 404: it was us
    assert emu.events[event.id].cancelled
    assert [r.status for r in emu.requests if r.path.endswith("/cancel")] == [504, 404]


async def test_attendee_responses_read_back(emu, graph):
    event = await create(graph, attendees=[Attendee("Police@Example.gov.uk"), Attendee(HEALTH),
                                           Attendee("edt@example.gov.uk")])
    answered = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=UTC)
    emu.respond(event.id, POLICE, "accepted", at=answered)
    emu.respond(event.id, HEALTH, "tentativelyAccepted")
    responses = await graph.attendee_responses(CHAIR, event.id)
    assert responses[POLICE] == AttendeeResponse("accepted", answered)
    assert responses[HEALTH].response == "tentative" and responses[HEALTH].at is not None
    assert responses["edt@example.gov.uk"] == AttendeeResponse("none", None)
    emu.respond(event.id, HEALTH, "declined")
    assert (await graph.attendee_responses(CHAIR, event.id))[HEALTH].response == "declined"
    get = [r for r in emu.requests if r.kind == "graph" and r.method == "GET"][0]
    assert get.path == f"/v1.0/users/{CHAIR}/events/{event.id.replace('=', '%3D')}?$select=attendees"


async def test_add_attendees_keeps_everyone_and_their_answers(emu, graph):
    event = await create(graph)
    emu.respond(event.id, POLICE, "accepted")
    updated = await graph.add_attendees(CHAIR, event.id, [Attendee("nominee@example.gov.uk", "Nominee"),
                                                          Attendee(POLICE.upper())])
    assert [a.email for a in updated.attendees] == [POLICE, HEALTH, "nominee@example.gov.uk"]
    assert [a.required for a in updated.attendees] == [True, False, True]
    responses = await graph.attendee_responses(CHAIR, event.id)
    assert responses[POLICE].response == "accepted" and responses["nominee@example.gov.uk"].response == "none"
    patches = [r for r in emu.requests if r.method == "PATCH"]
    assert len(patches) == 1
    again = await graph.add_attendees(CHAIR, event.id, [Attendee("nominee@example.gov.uk")])
    assert len([r for r in emu.requests if r.method == "PATCH"]) == 1 and len(again.attendees) == 3


async def test_set_attendees_replaces_the_list(emu, graph):
    event = await create(graph)
    updated = await graph.set_attendees(CHAIR, event.id, [Attendee(HEALTH)])
    assert [a.email for a in updated.attendees] == [HEALTH]
    assert [a.address for a in emu.events[event.id].attendees] == [HEALTH]


# ---------------------------------------------------------------------------------------
# Free/busy
# ---------------------------------------------------------------------------------------


async def test_get_schedule_statuses_and_unknown_addresses(emu, graph):
    day = datetime(2026, 11, 26, 9, tzinfo=UTC)
    emu.add_busy(POLICE, day, day + timedelta(hours=1), "busy")
    emu.add_busy(POLICE, day + timedelta(hours=3), day + timedelta(hours=4), "oof")
    emu.add_busy(HEALTH, day + timedelta(hours=1), day + timedelta(hours=2), "tentative")
    emu.add_busy(HEALTH, day + timedelta(hours=2), day + timedelta(hours=3), "workingElsewhere")
    emu.add_busy(HEALTH, day + timedelta(hours=5), day + timedelta(hours=6), "free")
    emu.add_mailbox("onprem@example.gov.uk", exchange=False)
    asked = ["Police@Example.gov.uk", HEALTH, CHAIR, "gp@nhs.example.net", "left@example.gov.uk",
             "onprem@example.gov.uk"]
    availability = await graph.get_schedule(CHAIR, asked, day, day + timedelta(hours=8))
    assert availability.busy == {
        "Police@Example.gov.uk": [(day, day + timedelta(hours=1)), (day + timedelta(hours=3), day + timedelta(hours=4))],
        HEALTH: [(day + timedelta(hours=1), day + timedelta(hours=2))],  # tentative blocks; elsewhere/free do not
        CHAIR: [],
    }
    assert availability.unknown == {"gp@nhs.example.net", "left@example.gov.uk", "onprem@example.gov.uk"}
    assert availability.reasons["gp@nhs.example.net"] == "ErrorProxyRequestNotAllowed"
    assert availability.reasons["left@example.gov.uk"] == "ErrorMailboxNotFound"
    sent = next(r for r in emu.requests if r.path.endswith("/getSchedule"))
    assert sent.path == f"/v1.0/users/{CHAIR}/calendar/getSchedule"
    assert sent.body["availabilityViewInterval"] == 15
    assert sent.body["startTime"] == {"dateTime": "2026-11-26T09:00:00", "timeZone": "UTC"}

    relaxed = await graph.get_schedule(CHAIR, [HEALTH], day, day + timedelta(hours=8), tentative_is_busy=False)
    assert relaxed.busy == {HEALTH: []}


async def test_get_schedule_sees_the_meetings_it_made(emu, graph):
    event = await create(graph)
    availability = await graph.get_schedule(CHAIR, [CHAIR, POLICE], START - timedelta(hours=1), END)
    assert availability.busy[CHAIR] == [(START, END)]     # the organiser's own meeting
    assert availability.busy[POLICE] == [(START, END)]    # an unanswered invitation is tentative
    emu.respond(event.id, POLICE, "declined")
    assert (await graph.get_schedule(CHAIR, [POLICE], START, END)).busy[POLICE] == []


async def test_get_schedule_splits_long_address_lists(emu, graph):
    emails = [f"person{i}@example.gov.uk" for i in range(45)]
    for e in emails:
        emu.add_mailbox(e)
    availability = await graph.get_schedule(CHAIR, emails + [emails[0].upper()], START, END)
    assert len(availability.busy) == 45 and not availability.unknown
    assert emu.count("graph", path_contains="getSchedule") == 3


def test_busy_from_the_availability_view_when_items_are_absent():
    start = datetime(2026, 11, 26, 9, tzinfo=UTC)
    item = {"scheduleId": "a@x", "availabilityView": "0221034"}
    q = timedelta(minutes=15)
    assert _busy_blocks(item, start, 15, {"busy", "oof", "tentative"}) == [(start + q, start + 4 * q),
                                                                           (start + 5 * q, start + 6 * q)]
    assert _busy_blocks(item, start, 15, {"busy", "oof"}) == [(start + q, start + 3 * q),
                                                              (start + 5 * q, start + 6 * q)]


# ---------------------------------------------------------------------------------------
# Throttling, outages, refusals
# ---------------------------------------------------------------------------------------


async def test_429_waits_exactly_what_retry_after_says(emu, graph, fake_time):
    emu.throttle(2, retry_after=3)
    event = await create(graph)
    assert event.id and fake_time.waits == [3.0, 3.0]
    assert [r.status for r in emu.requests if r.kind == "graph"] == [429, 429, 201]


async def test_503_and_504_with_retry_after_are_honoured(emu, graph, fake_time):
    emu.fail(1, 503, retry_after=2)
    emu.fail(1, 504, retry_after=5)
    await graph.get_schedule(CHAIR, [POLICE], START, END)
    assert fake_time.waits == [2.0, 5.0]


async def test_5xx_backs_off_with_jitter_and_gives_up_after_the_attempts(emu, fake_time):
    emu.fail(100, 500)
    policy = GraphRetryPolicy(max_attempts=4, base_delay=0.5, max_delay=16.0)
    async with GraphClient(GraphSettings.from_env(emu.env()), retry=policy, sleep=fake_time.sleep,
                           clock=fake_time.clock, rng=random.Random(3)) as graph:
        with pytest.raises(GraphUnavailable) as info:
            await create(graph)
    assert info.value.status == 500 and info.value.attempts == 4 and "after 4 attempts" in str(info.value)
    assert emu.count("graph") == 4 and len(fake_time.waits) == 3
    for n, wait in enumerate(fake_time.waits, start=1):
        assert 0 <= wait <= 0.5 * 2 ** (n - 1)  # full jitter under an exponential cap


async def test_retries_stop_at_the_time_budget(emu, fake_time):
    emu.throttle(10, retry_after=30)
    policy = GraphRetryPolicy(max_attempts=10, total_budget=50)
    async with GraphClient(GraphSettings.from_env(emu.env()), retry=policy, sleep=fake_time.sleep,
                           clock=fake_time.clock) as graph:
        with pytest.raises(GraphUnavailable, match="within its 50s budget") as info:
            await create(graph)
    assert fake_time.waits == [30.0] and info.value.retry_after == 30.0 and info.value.status == 429


async def test_a_retry_after_longer_than_allowed_is_returned_to_the_caller(emu, graph, fake_time):
    emu.throttle(1, retry_after=600)
    with pytest.raises(GraphUnavailable) as info:
        await create(graph)
    assert info.value.retry_after == 600.0 and fake_time.waits == []


async def test_connection_errors_back_off_then_unavailable(fake_time):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    settings = GraphSettings(TENANT_GUID, CLIENT_GUID, client_secret="x", base_url=f"https://127.0.0.1:{port}/v1.0")
    async with GraphClient(settings, token=StaticTokens(), retry=GraphRetryPolicy(max_attempts=3),
                           sleep=fake_time.sleep, clock=fake_time.clock) as graph:
        with pytest.raises(GraphUnavailable, match="could not be reached") as info:
            await graph.get_schedule(CHAIR, [POLICE], START, END)
    assert info.value.status is None and len(fake_time.waits) == 2


async def test_an_untrusted_certificate_is_not_retried(emu, fake_time):
    settings = GraphSettings(TENANT_GUID, CLIENT_GUID, client_secret="x", base_url=emu.graph_url)  # no CA bundle
    async with GraphClient(settings, token=StaticTokens(), sleep=fake_time.sleep) as graph:
        with pytest.raises(GraphUnavailable, match="TLS certificate of 127.0.0.1 is not trusted"):
            await graph.get_schedule(CHAIR, [POLICE], START, END)
    assert fake_time.waits == [] and emu.count("graph") == 0


async def test_403_is_refused_with_graphs_code(emu, graph, fake_time):
    emu.deny(CHAIR)
    with pytest.raises(GraphRefused) as info:
        await create(graph)
    assert info.value.status == 403 and info.value.code == "ErrorAccessDenied"
    assert "AccessPolicy" in info.value.graph_message and "ErrorAccessDenied" in str(info.value)
    assert emu.count("graph") == 1 and fake_time.waits == []  # never retried


async def test_missing_permission_is_refused(emu, graph):
    emu.roles = {READ}  # Calendars.Read only: free/busy works, creating does not
    await graph.get_schedule(CHAIR, [POLICE], START, END)
    with pytest.raises(GraphRefused, match="ErrorAccessDenied"):
        await create(graph)


@pytest.mark.parametrize("organiser, code", [
    ("nobody@example.gov.uk", "ErrorInvalidUser"),
    ("onprem@example.gov.uk", "MailboxNotEnabledForRESTAPI"),
])
async def test_404_for_a_mailbox_graph_cannot_use(emu, graph, organiser, code):
    emu.add_mailbox("onprem@example.gov.uk", exchange=False)
    with pytest.raises(GraphRefused) as info:
        await graph.create_meeting(organiser, "S", START, END, [], "", "tx")
    assert info.value.status == 404 and info.value.code == code and not info.value.after_retry


async def test_404_for_an_unknown_event(graph):
    with pytest.raises(GraphRefused) as info:
        await graph.move_meeting(CHAIR, "AAMk-no-such-event=", START, END)
    assert info.value.code == "ErrorItemNotFound"


async def test_400_is_refused_not_retried(emu, graph, fake_time):
    emu.fail(1, 400, code="ErrorInvalidRequest")
    with pytest.raises(GraphRefused) as info:
        await create(graph)
    assert info.value.status == 400 and fake_time.waits == []


async def test_nothing_secret_in_logs(emu, fake_time, caplog):
    caplog.set_level(logging.DEBUG)
    emu.throttle(1, retry_after=1)
    emu.fail(1, 503)
    async with GraphClient(GraphSettings.from_env(emu.env()), sleep=fake_time.sleep) as graph:
        event = await create(graph)
        emu.advance(4000)
        await graph.attendee_responses(CHAIR, event.id)
    assert DEFAULT_SECRET not in caplog.text
    assert "eyJ" not in caplog.text  # no JWT
    assert POLICE not in caplog.text and event.id not in caplog.text


# ---------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------


def test_graph_times():
    assert to_graph_time(datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1)))) == \
        {"dateTime": "2026-03-29T00:30:00", "timeZone": "UTC"}
    with pytest.raises(ValueError):
        to_graph_time(datetime(2026, 3, 29, 1, 30))
    assert from_graph_time({"dateTime": "2026-11-25T20:00:00.1234567", "timeZone": "UTC"}) == \
        datetime(2026, 11, 25, 20, 0, 0, 123456, tzinfo=UTC)
    assert from_graph_time({"dateTime": "2026-07-01T10:00:00.0000000", "timeZone": "Europe/London"}) == \
        datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert from_graph_time({"dateTime": "2026-07-01T10:00:00", "timeZone": "GMT Standard Time"}) == \
        datetime(2026, 7, 1, 9, tzinfo=UTC)
    with pytest.raises(ValueError):
        from_graph_time({"dateTime": "2026-07-01T10:00:00", "timeZone": "Mars/Olympus"})


async def test_argument_checks_happen_before_any_request(emu, graph):
    with pytest.raises(ValueError, match="UTC offset"):
        await graph.create_meeting(CHAIR, "S", datetime(2026, 11, 25, 14), END, [], "", "tx")
    with pytest.raises(ValueError, match="end must be after start"):
        await graph.move_meeting(CHAIR, "e", END, START)
    with pytest.raises(ValueError, match="transaction_id"):
        await graph.create_meeting(CHAIR, "S", START, END, [], "", "")
    with pytest.raises(ValueError, match="interval_minutes"):
        await graph.get_schedule(CHAIR, [POLICE], START, END, interval_minutes=1)
    assert emu.count() == 0


async def test_a_client_must_be_started(emu):
    graph = GraphClient(GraphSettings.from_env(emu.env()))
    with pytest.raises(RuntimeError, match="start"):
        await graph.get_event(CHAIR, "x")
    await graph.close()


# ---------------------------------------------------------------------------------------
# People: find_user
# ---------------------------------------------------------------------------------------

async def test_find_user_by_mail_then_by_user_principal_name(emu, graph):
    emu.add_mailbox("Sean.O'Brien@example.gov.uk", name="DS Sean O'Brien", object_id="obj-sean", phone="07700 900123",
                    job_title="Detective Sergeant")
    emu.add_mailbox("lee.mail@example.gov.uk", name="Lee Sample", object_id="obj-lee", upn="lee.upn@example.gov.uk")
    sean = await graph.find_user("sean.o'brien@EXAMPLE.gov.uk")  # a quote in the address; any case
    assert (sean.id, sean.name, sean.email, sean.phone, sean.job_title) == (
        "obj-sean", "DS Sean O'Brien", "Sean.O'Brien@example.gov.uk", "07700 900123", "Detective Sergeant")
    assert emu.requests[-1].path.startswith("/v1.0/users?$filter=mail%20eq%20%27sean.o%27%27brien%40EXAMPLE.gov.uk%27")
    lee = await graph.find_user("lee.upn@example.gov.uk")  # not their mail: found as the sign-in name
    assert (lee.id, lee.email) == ("obj-lee", "lee.mail@example.gov.uk")
    assert [r.status for r in emu.requests[-2:]] == [200, 200]
    assert await graph.find_user("nobody@example.gov.uk") is None  # filter empty, then 404


async def test_find_user_without_the_permission_is_refused_not_none():
    async with running_graph_emulator(roles=(READ,)) as emu:
        async with GraphClient(GraphSettings.from_env(emu.env())) as client:
            with pytest.raises(GraphRefused) as info:
                await client.find_user("anyone@example.gov.uk")
    assert info.value.status == 403 and info.value.code == "Authorization_RequestDenied"
