"""The Bot Connector client against the local connector emulator, over real HTTP on loopback.

What must hold for proactive delivery to many agency contacts: requests have the connector's
shape and quoted ids; 429/5xx are retried the way Teams asks; permanent failures are
classified and *not* retried (the chair is told instead); a 401 gets one fresh token; and
bursts stay inside 7/s per conversation and 50/s per app as measured where they arrive.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import socket
from datetime import datetime, timedelta, timezone

import aiohttp
import msal
import pytest
import pytest_asyncio

from bot.adapters.connector import (
    BOT_FRAMEWORK_SCOPE,
    TEAMS_THREAD_LIMITS,
    ConnectorClient,
    DeliveryError,
    Limit,
    MsalBotToken,
    NoAuth,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
)
from tests.emulators.connector import ConnectorEmulator, max_in_window, running_emulator

BOT = "28:strategy-bot"
TENANT = "tenant-1"
CARD = {
    "type": "message",
    "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Strategy meeting"}]},
    }],
}


@pytest_asyncio.fixture
async def emulator():
    async with running_emulator() as emu:
        # The people these tests message have the app installed (Teams refuses the others).
        emu.install("29:alice", "29:blocked-user", "29:left-the-org")
        yield emu


@pytest_asyncio.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


class RecordingSleep:
    """Stands in for asyncio.sleep in the client's retry waits: records, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


class SwappableTokens:
    """Hands out `first` until invalidated, then `then`; records invalidations."""

    def __init__(self, first: str, then: str) -> None:
        self.current, self.then = first, then
        self.invalidated: list[str | None] = []

    async def token(self) -> str | None:
        return self.current

    def invalidate(self, token: str | None = None) -> None:
        self.invalidated.append(token)
        self.current = self.then


def client(session, *, tokens=None, retry=None, limiter=None, sleep=None, **kwargs) -> ConnectorClient:
    extra = {"sleep": sleep} if sleep is not None else {}
    return ConnectorClient(session, tokens or NoAuth(), bot_id=BOT, limiter=limiter or RateLimiter(),
                           retry=retry or RetryPolicy(), tenant_id=TENANT, **extra, **kwargs)


# --- shape of the calls ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_create_send_update_round_trip(emulator: ConnectorEmulator, session):
    c = client(session)
    conversation = await c.create_conversation(emulator.url, TENANT, "29:alice")
    assert conversation.startswith("a:1")

    create = emulator.requests[0]
    assert (create.method, create.path, create.status) == ("POST", "/v3/conversations", 201)
    assert create.body == {"bot": {"id": BOT}, "members": [{"id": "29:alice"}],
                           "channelData": {"tenant": {"id": TENANT}}, "isGroup": False, "tenantId": TENANT}
    assert create.authorization is None  # NoAuth: no header at all

    activity_id = await c.send_activity(emulator.url, conversation, CARD)
    assert activity_id and emulator.activities[conversation][activity_id] == CARD

    updated = {**CARD, "attachments": [{**CARD["attachments"][0], "content": {"type": "AdaptiveCard", "body": []}}]}
    await c.update_activity(emulator.url, conversation, activity_id, updated)
    assert emulator.activities[conversation][activity_id] == {**updated, "id": activity_id}

    send, update = emulator.requests[1], emulator.requests[2]
    quoted = conversation.replace(":", "%3A")
    assert send.path == f"/v3/conversations/{quoted}/activities" and send.conversation_id == conversation
    assert (update.method, update.path) == ("PUT", f"/v3/conversations/{quoted}/activities/{activity_id}")
    assert [r.status for r in emulator.requests] == [201, 201, 200]

    # Teams answers a second create for the same user with the same 1:1 chat.
    assert await c.create_conversation(emulator.url, TENANT, "29:alice") == conversation


@pytest.mark.asyncio
async def test_channel_thread_ids_are_quoted_whole(emulator: ConnectorEmulator, session):
    thread = emulator.add_conversation("19:abc@thread.tacv2;messageid=1700000000000")
    await client(session).send_activity(emulator.url, thread, CARD)
    sent = emulator.requests[0]
    assert sent.path == "/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000000/activities"
    assert sent.conversation_id == thread and sent.status == 201


# --- retries -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_429_retry_after_is_honoured(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1throttled")
    emulator.throttle(conversation, times=1, retry_after=1)
    assert await client(session).send_activity(emulator.url, conversation, CARD)
    first, second = emulator.requests
    assert (first.status, second.status) == (429, 201)
    assert second.received_at - first.received_at >= 1.0


@pytest.mark.asyncio
async def test_429_without_retry_after_backs_off_exponentially(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1nohint")
    emulator.throttle(conversation, times=2, retry_after=None)
    sleep = RecordingSleep()
    await client(session, sleep=sleep, retry=RetryPolicy(base_delay=0.5)).send_activity(emulator.url, conversation, CARD)
    assert emulator.statuses() == [429, 429, 201]
    assert len(sleep.waits) == 2 and 0 <= sleep.waits[0] <= 0.5 and 0 <= sleep.waits[1] <= 1.0


@pytest.mark.asyncio
async def test_429_after_all_attempts_is_throttled_with_retry_after(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1always")
    emulator.throttle(conversation, times=None, retry_after=0)
    sleep = RecordingSleep()
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=sleep, retry=RetryPolicy(max_attempts=3)).send_activity(emulator.url, conversation, CARD)
    err = caught.value
    assert (err.kind, err.status, err.retry_after, err.attempts) == ("throttled", 429, 0.0, 3)
    assert not err.permanent
    assert len(emulator.requests) == 3


@pytest.mark.asyncio
async def test_429_asking_for_too_long_is_handed_back_not_waited(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1later")
    emulator.throttle(conversation, times=1, retry_after=3600)
    sleep = RecordingSleep()
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=sleep).send_activity(emulator.url, conversation, CARD)
    assert (caught.value.kind, caught.value.retry_after) == ("throttled", 3600.0)
    assert sleep.waits == [] and len(emulator.requests) == 1


@pytest.mark.asyncio
async def test_503_is_retried_with_jittered_backoff_then_succeeds(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1flaky")
    emulator.fail(conversation, 503, times=2)
    sleep = RecordingSleep()
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    assert await client(session, sleep=sleep, retry=policy).send_activity(emulator.url, conversation, CARD)
    assert emulator.statuses() == [503, 503, 201]
    assert 0 <= sleep.waits[0] <= 0.5 and 0 <= sleep.waits[1] <= 1.0


@pytest.mark.asyncio
async def test_5xx_after_all_attempts_is_server(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1down")
    emulator.fail(conversation, 500, times=None)
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=RecordingSleep(), retry=RetryPolicy(max_attempts=4)).send_activity(
            emulator.url, conversation, CARD)
    assert (caught.value.kind, caught.value.status, caught.value.attempts) == ("server", 500, 4)
    assert not caught.value.permanent and len(emulator.requests) == 4


@pytest.mark.asyncio
async def test_412_is_transient_as_teams_documents(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1precondition")
    emulator.fail(conversation, 412, times=1)
    assert await client(session, sleep=RecordingSleep()).send_activity(emulator.url, conversation, CARD)
    assert emulator.statuses() == [412, 201]


# --- permanent failures ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_403_is_blocked_and_not_retried(emulator: ConnectorEmulator, session):
    emulator.block("29:blocked-user")
    sleep = RecordingSleep()
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=sleep).create_conversation(emulator.url, TENANT, "29:blocked-user")
    err = caught.value
    assert (err.kind, err.status, err.code) == ("blocked", 403, "ConversationBlockedByUser")
    assert err.permanent and len(emulator.requests) == 1 and sleep.waits == []
    assert "Traceback" not in str(err) and "emulated" not in str(err)  # no bodies, no traces

    # The same user's existing chat: sends are refused the same way.
    conversation = emulator.add_conversation("a:1blocked", "29:blocked-user")
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=sleep).send_activity(emulator.url, conversation, CARD)
    assert caught.value.kind == "blocked" and len(emulator.requests) == 2


@pytest.mark.asyncio
async def test_app_not_installed_is_blocked_too(emulator: ConnectorEmulator, session):
    # Teams' own rule, not a scripted failure: no chat with someone the app is not installed for.
    with pytest.raises(DeliveryError) as caught:
        await client(session).create_conversation(emulator.url, TENANT, "29:no-app")
    assert (caught.value.kind, caught.value.code, caught.value.status) == ("blocked", "BotNotInConversationRoster", 403)
    assert not caught.value.attempts or caught.value.attempts == 1  # refused, not retried
    emulator.install("29:no-app")
    assert await client(session).create_conversation(emulator.url, TENANT, "29:no-app")


@pytest.mark.asyncio
async def test_a_chat_whose_user_removed_the_app_refuses_sends(emulator: ConnectorEmulator, session):
    c = client(session)
    conversation = await c.create_conversation(emulator.url, TENANT, "29:alice")
    emulator.uninstall("29:alice")
    with pytest.raises(DeliveryError) as caught:
        await c.send_activity(emulator.url, conversation, {"type": "message", "text": "hello"}, tenant_id=TENANT)
    assert (caught.value.status, caught.value.code) == (403, "BotNotInConversationRoster")


@pytest.mark.asyncio
async def test_404_is_not_found_and_not_retried(emulator: ConnectorEmulator, session):
    with pytest.raises(DeliveryError) as caught:
        await client(session).send_activity(emulator.url, "a:1gone", CARD)
    assert (caught.value.kind, caught.value.status) == ("not_found", 404)
    assert caught.value.permanent and len(emulator.requests) == 1

    emulator.not_found("29:left-the-org")
    with pytest.raises(DeliveryError) as caught:
        await client(session).create_conversation(emulator.url, TENANT, "29:left-the-org")
    assert caught.value.kind == "not_found" and len(emulator.requests) == 2


@pytest.mark.asyncio
async def test_other_4xx_is_bad_request_and_not_retried(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1typo")
    with pytest.raises(DeliveryError) as caught:
        await client(session).send_activity(emulator.url, conversation, {"text": "no type"})
    assert (caught.value.kind, caught.value.status, caught.value.code) == ("bad_request", 400, "BadSyntax")
    assert caught.value.permanent and len(emulator.requests) == 1


# --- auth --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_401_invalidates_the_token_and_retries_once(emulator: ConnectorEmulator, session):
    emulator.require_token("fresh")
    conversation = emulator.add_conversation("a:1auth")
    tokens = SwappableTokens("stale", "fresh")
    assert await client(session, tokens=tokens).send_activity(emulator.url, conversation, CARD)
    assert tokens.invalidated == ["stale"]
    assert [(r.authorization, r.status) for r in emulator.requests] == [("Bearer stale", 401), ("Bearer fresh", 201)]


@pytest.mark.asyncio
async def test_401_twice_is_unauthorized(emulator: ConnectorEmulator, session):
    emulator.require_token("never-issued")
    conversation = emulator.add_conversation("a:1auth2")
    tokens = SwappableTokens("stale", "also-wrong")
    with pytest.raises(DeliveryError) as caught:
        await client(session, tokens=tokens).send_activity(emulator.url, conversation, CARD)
    assert (caught.value.kind, caught.value.status) == ("unauthorized", 401) and caught.value.permanent
    assert len(emulator.requests) == 2 and tokens.invalidated == ["stale"]


@pytest.mark.asyncio
async def test_401_without_a_token_is_not_retried(emulator: ConnectorEmulator, session):
    emulator.require_token("needed")
    conversation = emulator.add_conversation("a:1anon")
    with pytest.raises(DeliveryError) as caught:
        await client(session).send_activity(emulator.url, conversation, CARD)
    assert caught.value.kind == "unauthorized" and len(emulator.requests) == 1


# --- network -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connection_refused_is_network_after_retries(session):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = RecordingSleep()
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=sleep, retry=RetryPolicy(max_attempts=3)).send_activity(
            f"http://127.0.0.1:{port}/", "a:1x", CARD)
    assert (caught.value.kind, caught.value.status, caught.value.attempts) == ("network", None, 3)
    assert len(sleep.waits) == 2 and not caught.value.permanent
    assert "Traceback" not in str(caught.value)


@pytest.mark.asyncio
async def test_timeout_is_retried_as_network(emulator: ConnectorEmulator, session):
    conversation = emulator.add_conversation("a:1slow")
    emulator.delay = 0.5
    with pytest.raises(DeliveryError) as caught:
        await client(session, sleep=RecordingSleep(), retry=RetryPolicy(max_attempts=2),
                     request_timeout=0.1).send_activity(emulator.url, conversation, CARD)
    assert caught.value.kind == "network" and len(emulator.requests) == 2


# --- rate limits, on a virtual clock (bench/delivery.py measures them where requests arrive) ---


class VirtualTime:
    """A clock and a sleep for the limiter that run as fast as the code allows: whenever
    every task is waiting, time jumps to the earliest wake-up. Deterministic, so what the
    limiter admits is tested exactly, however busy the machine."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), wake))
        await wake

    async def run(self, *coroutines):
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(50):  # let everything that can run, run
                await asyncio.sleep(0)
            if self._sleepers:
                when, _, wake = heapq.heappop(self._sleepers)
                self.now = max(self.now, when)
                wake.set_result(None)
        return [t.result() for t in tasks]


def admitted(limiter: RateLimiter, virtual: VirtualTime, conversations: list[str], per_conversation: int):
    """Every send of `per_conversation` to each conversation, all at once: (conversation, admitted at)."""
    out: list[tuple[str, float]] = []

    async def send(conversation: str) -> None:
        await limiter.acquire(f"{TENANT}\x00{BOT}", conversation)
        out.append((conversation, virtual.now))

    asyncio.run(virtual.run(*(send(c) for c in conversations for _ in range(per_conversation))))
    return out


def test_a_burst_to_one_conversation_is_admitted_at_7_per_second_and_no_slower():
    virtual = VirtualTime()
    limiter = RateLimiter(margin=0.1, clock=virtual.clock, sleep=virtual.sleep)
    times = [t for _, t in admitted(limiter, virtual, ["a:1burst"], 40)]
    assert len(times) == 40 and max_in_window(times, 1.1) <= 7  # the margin widens every window
    assert times[:7] == [0.0] * 7  # the burst Teams allows is allowed
    assert times[-1] == pytest.approx(5 * 1.1)  # 40 at 7 per 1.1 s: the sixth window, not later


def test_sends_across_many_conversations_are_admitted_at_50_per_second_for_the_app():
    virtual = VirtualTime()
    limiter = RateLimiter(margin=0.1, clock=virtual.clock, sleep=virtual.sleep)
    sends = admitted(limiter, virtual, [f"a:1c{i}" for i in range(40)], 3)
    times = [t for _, t in sends]
    assert len(times) == 120 and max_in_window(times, 1.1) <= 50
    for conversation in {c for c, _ in sends}:
        assert max_in_window([t for c, t in sends if c == conversation], 1.1) <= 7
    assert max(times) == pytest.approx(2 * 1.1)  # 120 at 50 per 1.1 s: the third window


def test_a_request_counts_from_its_answer_so_one_held_up_on_the_way_cannot_arrive_bunched():
    """Teams counts a request when it arrives. One admitted at 0 s but answered only at
    0.5 s (a busy event loop or network held it) may have arrived as late as 0.5 s: the
    request that would make a third in its window waits until 1.5 s, not 1.0 s."""
    virtual = VirtualTime()
    limiter = RateLimiter(per_app=(Limit(2, 1.0),), margin=0.0, clock=virtual.clock, sleep=virtual.sleep)
    admitted_at: list[float] = []

    async def scenario() -> None:
        slow = await limiter.acquire("app", "a:1slow")
        limiter.done(await limiter.acquire("app", "a:1quick"))  # answered at once
        admitted_at.extend([0.0, 0.0])
        await virtual.sleep(0.5)
        limiter.done(slow)  # the slow one's answer
        for conversation in ("a:1third", "a:1fourth"):
            limiter.done(await limiter.acquire("app", conversation))
            admitted_at.append(virtual.now)

    asyncio.run(virtual.run(scenario()))
    assert admitted_at == [0.0, 0.0, 1.0, 1.5]


@pytest.mark.asyncio
async def test_every_request_the_client_makes_waits_for_the_limiter_first(emulator: ConnectorEmulator, session):
    class CountingLimiter(RateLimiter):
        admitted = 0

        async def acquire(self, app_key: str, conversation_key: str | None = None) -> None:
            await super().acquire(app_key, conversation_key)
            self.admitted += 1
            assert len(emulator.requests) == self.admitted - 1  # nothing went out before admission

    limiter = CountingLimiter()
    c = client(session, limiter=limiter)
    emulator.throttle("29:alice", times=1, retry_after=0)
    conversation = await c.create_conversation(emulator.url, TENANT, "29:alice")  # a 429, then a retry
    activity_id = await c.send_activity(emulator.url, conversation, CARD)
    await c.update_activity(emulator.url, conversation, activity_id, CARD)
    assert limiter.admitted == len(emulator.requests) == 4


def test_limiter_keeps_every_window_including_teams_longer_ones():
    """Deterministic: a fake clock, one sender, Teams' full per-thread table."""
    now = [0.0]
    sent: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(per_conversation=TEAMS_THREAD_LIMITS, margin=0.0, clock=lambda: now[0], sleep=fake_sleep)

    async def run() -> None:
        for _ in range(70):
            await limiter.acquire("app", "conv")
            sent.append(now[0])

    asyncio.run(run())
    assert max_in_window(sent, 1.0) <= 7 and max_in_window(sent, 2.0) <= 8 and max_in_window(sent, 30.0) <= 60
    assert sent[:7] == [0.0] * 7  # the burst Teams allows is still allowed


def test_max_in_window_counts_half_open_windows():
    assert max_in_window([0.0, 0.5, 0.999, 1.0, 1.5], 1.0) == 3
    assert max_in_window([], 1.0) == 0


# --- retry-after parsing and error classification ------------------------------------------


def test_parse_retry_after_seconds_and_dates():
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:07 GMT", now) == 7.0
    assert parse_retry_after((now - timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 0.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) == 0.0


def test_retry_policy_backoff_is_full_jitter_and_capped():
    import random
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        cap = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert all(0 <= w <= cap for w in waits) and max(waits) > cap * 0.8


# --- MSAL, for real, against a fake identity provider ---------------------------------------


class FakeEntra:
    """A requests-like http_client for MSAL: OpenID discovery and the client-credentials grant."""

    def __init__(self, error: str | None = None) -> None:
        self.token_posts: list[dict] = []
        self.discoveries: list[str] = []
        self.error = error

    class _Response:
        def __init__(self, status: int, body: dict) -> None:
            self.status_code, self.text, self.headers = status, json.dumps(body), {}

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise RuntimeError(self.status_code)

    def get(self, url, **kwargs):
        self.discoveries.append(url)
        if "/discovery/instance" in url:  # MSAL looks up authority aliases on some paths
            return self._Response(200, {"tenant_discovery_endpoint": "", "metadata": []})
        base = url.split("/v2.0/")[0]
        return self._Response(200, {"authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                    "token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0"})

    def post(self, url, data=None, **kwargs):
        self.token_posts.append({"url": url, **(data or {})})
        if self.error:
            return self._Response(400, {"error": self.error, "error_description": "AADSTS7000215: secret 1234 at x.py"})
        return self._Response(200, {"access_token": f"tok{len(self.token_posts)}", "expires_in": 3600,
                                    "token_type": "Bearer"})

    def close(self) -> None:
        pass


@pytest.mark.asyncio
async def test_msal_token_uses_one_app_and_its_cache_and_refreshes_after_invalidate(monkeypatch):
    built: list[tuple] = []
    real = msal.ConfidentialClientApplication

    def counting(*args, **kwargs):
        built.append((args, kwargs.get("authority")))
        return real(*args, **kwargs)

    monkeypatch.setattr(msal, "ConfidentialClientApplication", counting)
    entra = FakeEntra()
    provider = MsalBotToken("app-id", "s3cret", "botframework.com", http_client=entra)
    assert "s3cret" not in repr(provider)

    tokens = await asyncio.gather(*(provider.token() for _ in range(20)))
    assert set(tokens) == {"tok1"} and len(entra.token_posts) == 1  # single flight
    assert await provider.token() == "tok1" and len(entra.token_posts) == 1
    post = entra.token_posts[0]
    assert post["url"] == "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    assert (post["scope"], post["grant_type"], post["client_id"]) == (BOT_FRAMEWORK_SCOPE, "client_credentials", "app-id")

    provider.invalidate("tok1")
    assert await provider.token() == "tok2"  # not tok1 again from MSAL's cache
    provider.invalidate("tok1")              # a late 401 for the old token changes nothing
    assert await provider.token() == "tok2" and len(entra.token_posts) == 2
    assert len(built) == 1 and built[0][1] == "https://login.microsoftonline.com/botframework.com"


@pytest.mark.asyncio
async def test_msal_refusal_is_unauthorized_without_details(monkeypatch):
    provider = MsalBotToken("app-id", "wrong", "tenant-x", http_client=FakeEntra(error="invalid_client"))
    with pytest.raises(DeliveryError) as caught:
        await provider.token()
    assert (caught.value.kind, caught.value.code) == ("unauthorized", "invalid_client")
    assert "AADSTS" not in str(caught.value) and "1234" not in str(caught.value)


@pytest.mark.asyncio
async def test_client_with_msal_sends_bearer_and_recovers_from_401(emulator: ConnectorEmulator, session):
    entra = FakeEntra()
    provider = MsalBotToken("app-id", "s3cret", TENANT, http_client=entra)
    emulator.require_token("tok2")  # the first token has been revoked
    conversation = emulator.add_conversation("a:1msal")
    assert await client(session, tokens=provider).send_activity(emulator.url, conversation, CARD)
    assert [r.authorization for r in emulator.requests] == ["Bearer tok1", "Bearer tok2"]
