"""Async client for the Bot Framework Connector REST API (v3), on plain aiohttp.

Why not botbuilder's ConnectorClient: the Python Bot Framework SDK is archived upstream, and
its client is synchronous msrest underneath with no rate limiting. Proactive delivery of
meeting cards to many agency contacts needs three things the SDK does not give us:

* staying inside Teams' limits *before* Teams has to say no (`RateLimiter`),
* honouring `Retry-After` and backing off with jitter when it does say no (`RetryPolicy`),
* telling a permanent failure (bot blocked, app not installed, user gone) from a transient
  one, so the chair can be told an agency cannot be reached (`DeliveryError.permanent`).

Nothing here imports botbuilder; activities are plain dicts in the connector's JSON shape.
One `RateLimiter` must be shared by every `ConnectorClient` of the same bot in a process,
since Teams counts requests per app, not per client object.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

import aiohttp
import msal
from yarl import URL

from .http import full_jitter, json_object, parse_retry_after, sanitise_code

log = logging.getLogger(__name__)

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

DeliveryKind = Literal["blocked", "not_found", "throttled", "server", "network", "bad_request", "unauthorized",
                       "not_installed", "no_teams_app", "outside_teams"]

#: Kinds for which trying again later will not help: a person or a configuration must act.
PERMANENT_KINDS: frozenset[str] = frozenset({"blocked", "not_found", "bad_request", "unauthorized",
                                             "not_installed", "no_teams_app", "outside_teams"})

_KIND_TEXT: dict[str, str] = {
    "blocked": "the bot is blocked or the app is not installed for this user",
    "not_found": "the conversation or user was not found",
    "throttled": "Teams kept answering 'too many requests'",
    "server": "the Teams service kept failing",
    "network": "the Teams service could not be reached",
    "bad_request": "Teams rejected the request",
    "unauthorized": "the bot's credentials were rejected",
    "not_installed": "the app is not installed for this user",
    "no_teams_app": "the app is not added for this user's organisation",
    "outside_teams": "the person is not in the organisation's Teams directory",
}


class DeliveryError(Exception):
    """A connector call that did not succeed, classified for the caller.

    `kind` is what the caller branches on; `status` is the last HTTP status (None when no
    response came back); `code` is the connector's own error code when it sent one (e.g.
    "ConversationBlockedByUser", "BotNotInConversationRoster"), which distinguishes "blocked"
    from "not installed" for the log. `retry_after` is the server's last requested wait, so
    a scheduler can come back later instead of retrying now.

    The message is built only from the operation, status, kind and a sanitised error code:
    never from response bodies (a 500 may carry an HTML stack trace) nor from tracebacks,
    because it may end up in front of the chair.
    """

    def __init__(self, kind: DeliveryKind, status: int | None, message: str, retry_after: float | None = None,
                 *, code: str | None = None, attempts: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.code = code
        self.attempts = attempts

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help: blocked, not found, bad request, unauthorized."""
        return self.kind in PERMANENT_KINDS

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"DeliveryError(kind={self.kind!r}, status={self.status!r}, code={self.code!r}, "
                f"retry_after={self.retry_after!r}, attempts={self.attempts!r})")


def _kind_for_status(status: int) -> DeliveryKind:
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "blocked"
    if status == 404:
        return "not_found"
    if status == 429:
        return "throttled"
    if status >= 500 or status in RETRYABLE_4XX:
        return "server"
    return "bad_request"


def _error(op: str, kind: DeliveryKind, status: int | None, *, code: str | None = None,
           retry_after: float | None = None, attempts: int | None = None, detail: str | None = None) -> DeliveryError:
    parts = [f"{op} failed: {_KIND_TEXT[kind]}"]
    if status is not None:
        parts.append(f"(HTTP {status}{', ' + code if code else ''})")
    if detail:
        parts.append(f"({detail})")
    if attempts and attempts > 1:
        parts.append(f"after {attempts} attempts")
    return DeliveryError(kind, status, " ".join(parts), retry_after, code=code, attempts=attempts)



# ---------------------------------------------------------------------------------------
# Retry policy
# ---------------------------------------------------------------------------------------

#: Teams' rate-limit guidance says 412 must be retried like 429/502/504; it is transient.
RETRYABLE_4XX: frozenset[int] = frozenset({412})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up.

    `max_attempts` counts HTTP attempts (the one-off retry after a 401 does not count).
    Backoff is "full jitter": a uniform wait in [0, min(max_delay, base_delay * 2**(n-1))],
    which spreads many clients' retries out instead of synchronising them.
    A 429's `Retry-After` is honoured as a minimum wait; if it asks for more than
    `max_retry_after` seconds we stop and raise "throttled" with `retry_after` set, so the
    delivery queue can reschedule rather than hold a coroutine (and a DB row) for minutes.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter wait after failed attempt number `attempt` (1-based)."""
        return full_jitter(attempt, self.base_delay, self.max_delay, rng)


# ---------------------------------------------------------------------------------------
# Rate limiting
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """At most `count` requests in any window of `per` seconds."""

    count: int
    per: float = 1.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.per <= 0:
            raise ValueError("a limit needs count >= 1 and per > 0")


#: Teams' global limit: per app per tenant.
TEAMS_APP_LIMITS: tuple[Limit, ...] = (Limit(50, 1.0),)
#: Teams' documented per-bot-per-thread limits ("send to conversation" and "create
#: conversation"); stricter than 7/s alone (8 per 2 s, 60 per 30 s). Use it as
#: `RateLimiter(per_conversation=TEAMS_THREAD_LIMITS)` for chatty conversations.
TEAMS_THREAD_LIMITS: tuple[Limit, ...] = (Limit(7, 1.0), Limit(8, 2.0), Limit(60, 30.0), Limit(1800, 3600.0))


class Admission:
    """One admitted request, as its scopes count it: `at` is first the moment it was let go,
    then (`RateLimiter.done`) the moment its answer came back, the latest it can have
    reached Teams."""

    __slots__ = ("at", "in_flight")

    def __init__(self, at: float) -> None:
        self.at = at
        self.in_flight = True


class _Scope:
    """One rate-limited scope (an app in a tenant, or one conversation).

    Keeps the admissions whose time may still count in one of its windows, and those still
    in flight: a request in flight is counted from when it was let go until its answer
    restamps it.
    """

    __slots__ = ("checks", "admissions", "lock", "held_until", "horizon")

    def __init__(self, limits: tuple[Limit, ...], margin: float) -> None:
        self.checks = [(lim.count, lim.per + margin) for lim in limits]
        self.admissions: list[Admission] = []
        self.lock = asyncio.Lock()
        self.held_until = float("-inf")
        self.horizon = max(span for _, span in self.checks)

    def delay(self, now: float) -> float:
        # Answered requests are restamped out of admission order, so the request `count`
        # back is the count-th latest stamp, not the count-th latest admission.
        self.admissions = [a for a in self.admissions if a.in_flight or a.at + self.horizon > now]
        wait = self.held_until - now
        n = len(self.admissions)
        for count, span in self.checks:
            if n >= count:
                wait = max(wait, heapq.nlargest(count, (a.at for a in self.admissions))[-1] + span - now)
        return wait

    def idle(self, now: float) -> bool:
        return (not self.lock.locked() and self.held_until <= now
                and all(not a.in_flight and a.at + self.horizon <= now for a in self.admissions))


class RateLimiter:
    """Keeps a bot inside Teams' limits, per app+tenant and per conversation.

    A call waits until *both* its app scope and its conversation scope admit it, and is then
    counted in both at the same instant (the instant it is let go to send).

    Why windows and not a classic token bucket: a bucket holding 7 tokens that refills at
    7/s lets up to 13 requests through within one second (7 at once, 6 more as tokens drip
    back), and that is exactly the overshoot Teams answers with 429. Counting admissions in a
    sliding window ("no more than 7 in any 1 s") still allows a burst of 7 (the bucket's
    burst) but never more than 7 per second. The limit is measured where requests *arrive*, so
    a request is counted from when its answer came back (`done`), the latest it can have
    arrived: requests admitted a window apart but held up on the way (a busy event loop, the
    network) cannot arrive bunched. `margin` widens every window a little more, for the
    difference between Teams' clock and ours.

    Concurrency: each scope has an asyncio.Lock (FIFO), so waiters are served in order and
    admission + recording happen without an `await` in between. Locks are always taken
    conversation first, then app, so they cannot deadlock. Belongs to one event loop.
    """

    def __init__(self, *, per_app: Iterable[Limit] = TEAMS_APP_LIMITS,
                 per_conversation: Iterable[Limit] = (Limit(7, 1.0),),
                 margin: float = 0.02, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 sweep_above: int = 4096) -> None:
        self.per_app = tuple(per_app)
        self.per_conversation = tuple(per_conversation)
        if not self.per_app or not self.per_conversation:
            raise ValueError("give at least one limit per scope")
        if margin < 0:
            raise ValueError("margin must not be negative")
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._apps: dict[str, _Scope] = {}
        self._threads: dict[str, _Scope] = {}
        self._sweep_above = sweep_above

    @classmethod
    def per_second(cls, app_rate: int = 50, conversation_rate: int = 7, **kwargs: Any) -> "RateLimiter":
        """Convenience: `app_rate` per second per app+tenant, `conversation_rate` per conversation."""
        return cls(per_app=(Limit(app_rate, 1.0),), per_conversation=(Limit(conversation_rate, 1.0),), **kwargs)

    def _app(self, key: str) -> _Scope:
        scope = self._apps.get(key)
        if scope is None:
            scope = self._apps[key] = _Scope(self.per_app, self.margin)
        return scope

    def _thread(self, key: str) -> _Scope:
        scope = self._threads.get(key)
        if scope is None:
            if len(self._threads) >= self._sweep_above:
                self._sweep()
            scope = self._threads[key] = _Scope(self.per_conversation, self.margin)
        return scope

    def _sweep(self) -> None:
        # Only conversation scopes are swept (there are many of them; apps are few), and only
        # idle ones: nobody holds or waits on their lock and their windows have emptied, so a
        # fresh scope for the same key later is indistinguishable from the old one.
        now = self._clock()
        for key in [k for k, s in self._threads.items() if s.idle(now)]:
            del self._threads[key]

    async def _wait(self, scope: _Scope) -> None:
        while (wait := scope.delay(self._clock())) > 0:
            await self._sleep(wait)

    async def acquire(self, app_key: str, conversation_key: str | None = None) -> Admission:
        """Wait until one more request may go to `conversation_key` for app `app_key`.

        Returns the admission: pass it to `done` when the answer (or the failure) comes back,
        so that the windows count the request from the latest moment it can have reached
        Teams. Without `done` it counts from now."""
        app = self._app(app_key)
        if conversation_key is None:
            async with app.lock:
                await self._wait(app)
                admission = Admission(self._clock())
                app.admissions.append(admission)
            return admission
        thread = self._thread(conversation_key)
        async with thread.lock:
            while True:
                await self._wait(thread)
                async with app.lock:
                    await self._wait(app)
                    now = self._clock()
                    # A hold may have been put on the conversation while we queued for the app.
                    if thread.delay(now) <= 0:
                        admission = Admission(now)
                        thread.admissions.append(admission)
                        app.admissions.append(admission)
                        return admission

    def done(self, admission: Admission | None) -> None:
        """The request admitted as `admission` has its answer (or failed): count it from now.

        Teams counts a request when it arrives. A busy event loop (or network) can hold a
        request admitted early and let it arrive bunched with ones admitted a window later;
        counted from its answer, it is counted from no earlier than it arrived, whatever
        the delay. A request in flight stays counted from its admission."""
        if admission is not None and admission.in_flight:
            admission.at = max(admission.at, self._clock())
            admission.in_flight = False

    def hold(self, app_key: str, conversation_key: str | None = None, seconds: float = 0.0) -> None:
        """Admit nothing to this conversation (or, without one, this app) for `seconds`.

        Used after a 429: every request queued for the same scope then waits out the
        server's Retry-After, not just the one that was refused.
        """
        scope = self._thread(conversation_key) if conversation_key is not None else self._app(app_key)
        scope.held_until = max(scope.held_until, self._clock() + max(0.0, seconds))


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    """Where the connector client gets its bearer token.

    `token()` returns None when requests go unauthenticated (emulator, local runs).
    `invalidate(token)` is called after the connector answered 401 with `token`; the next
    `token()` must not return it again.
    """

    async def token(self) -> str | None: ...

    def invalidate(self, token: str | None = None) -> None: ...


class NoAuth:
    """No Authorization header: for local runs and the Bot Framework Emulator (no app id)."""

    async def token(self) -> str | None:
        return None

    def invalidate(self, token: str | None = None) -> None:
        return None


class MsalBotToken:
    """App-only token for the Bot Connector, from Microsoft Entra via MSAL.

    One `msal.ConfidentialClientApplication` for the lifetime of this object, so MSAL's
    in-memory token cache is actually reused (a new app per call would fetch a token per
    message). MSAL is synchronous (it uses `requests`), so it runs in a worker thread.
    The token is also remembered here until 5 minutes before it expires, which saves a
    thread hop per message; MSAL itself refreshes at the same point.

    `tenant_id`: the bot's own tenant for a SingleTenant app registration, or
    "botframework.com" for a MultiTenant one. `http_client` is passed to MSAL (a
    requests.Session-like object), e.g. for a proxy or for tests.
    """

    REFRESH_MARGIN = 300.0

    def __init__(self, app_id: str, password: str, tenant_id: str,
                 authority_host: str = "https://login.microsoftonline.com", *,
                 http_client: Any = None, clock: Clock = time.monotonic) -> None:
        if not app_id or not password or not tenant_id:
            raise ValueError("MsalBotToken needs an app id, a password and a tenant id")
        self.app_id = app_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._password = password
        self._http_client = http_client
        self._clock = clock
        self._app: msal.ConfidentialClientApplication | None = None
        self._token: str | None = None
        self._expires_at = float("-inf")
        self._rejected: set[str] = set()
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"MsalBotToken(app_id={self.app_id!r}, authority={self.authority!r})"

    def _application(self) -> msal.ConfidentialClientApplication:
        # Built lazily, in the worker thread: the constructor already talks to the authority
        # (OpenID discovery), which must not block the event loop or run at import time.
        if self._app is None:
            kwargs: dict[str, Any] = {"client_credential": self._password, "authority": self.authority}
            if self._http_client is not None:
                kwargs["http_client"] = self._http_client
            self._app = msal.ConfidentialClientApplication(self.app_id, **kwargs)
        return self._app

    def _acquire(self, rejected: frozenset[str]) -> dict[str, Any]:
        app = self._application()
        if rejected:
            # Drop only the tokens the connector refused, so MSAL cannot hand them back from
            # its cache (acquire_token_for_client refuses force_refresh).
            cache = app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") in rejected:
                    cache.remove_at(entry)
        return app.acquire_token_for_client(scopes=[BOT_FRAMEWORK_SCOPE])

    async def token(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # single flight: one MSAL call however many senders wait
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            rejected = frozenset(self._rejected)
            try:
                result = await asyncio.to_thread(self._acquire, rejected)
            except Exception as exc:  # requests' connection errors, DNS, TLS...
                raise DeliveryError("network", None, f"getting a bot token failed: Microsoft Entra could not be "
                                    f"reached ({type(exc).__name__})") from exc
            self._rejected -= rejected
            access = result.get("access_token") if isinstance(result, Mapping) else None
            if not access:
                code = sanitise_code(result.get("error") if isinstance(result, Mapping) else None)
                raise DeliveryError("unauthorized", None, f"getting a bot token failed: Microsoft Entra refused "
                                    f"({code or 'no access token'})", code=code)
            try:
                lifetime = float(result.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600.0
            self._token = access
            self._expires_at = self._clock() + max(0.0, lifetime - self.REFRESH_MARGIN)
            return access

    def invalidate(self, token: str | None = None) -> None:
        # Several requests can fail with the same stale token; only the first should cause
        # a refetch, so a token other than the current one is ignored.
        if token is not None and token != self._token:
            self._rejected.add(token)
            return
        if self._token is not None:
            self._rejected.add(self._token)
        self._token = None
        self._expires_at = float("-inf")


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------


def _quote(segment: str) -> str:
    """Percent-encode one path segment completely, as botframework-connector does.

    Teams ids contain ':', '@', ';' and '=' (`a:1xyz`, `19:abc@thread.tacv2;messageid=1`);
    left bare, ';' starts path parameters for some servers and a '/' would split the path.
    """
    return quote(segment, safe="")


def _tenant_of(activity: Mapping[str, Any]) -> str | None:
    conversation = activity.get("conversation")
    if isinstance(conversation, Mapping) and conversation.get("tenantId"):
        return str(conversation["tenantId"])
    channel_data = activity.get("channelData")
    if isinstance(channel_data, Mapping):
        tenant = channel_data.get("tenant")
        if isinstance(tenant, Mapping) and tenant.get("id"):
            return str(tenant["id"])
    return None


class ConnectorClient:
    """Create 1:1 conversations, send and update activities, within Teams' limits.

    `session` is owned by the caller (one per process, closed at shutdown).
    `tenant_id` (optional) is the default tenant for rate-limiting sends whose tenant is not
    given and not in the activity; without any, all such sends share one app-wide scope,
    which is stricter than Teams and therefore safe.
    `sleep` and `rng` are for tests: `sleep` is used for retry waits only (the limiter has
    its own clock and sleep, so pacing stays real while retry waits are recorded).
    """

    def __init__(self, session: aiohttp.ClientSession, token_provider: TokenProvider, *, bot_id: str,
                 limiter: RateLimiter | None = None, retry: RetryPolicy | None = None,
                 tenant_id: str | None = None, request_timeout: float = 30.0,
                 sleep: Sleep = asyncio.sleep, rng: random.Random | None = None) -> None:
        self._session = session
        self._tokens = token_provider
        self.bot_id = bot_id
        self.limiter = limiter if limiter is not None else RateLimiter()
        self.retry = retry if retry is not None else RetryPolicy()
        self.tenant_id = tenant_id
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- public API -----------------------------------------------------------------------

    async def create_conversation(self, service_url: str, tenant_id: str, user_id: str) -> str:
        """Open (or reopen: Teams answers with the existing one) the 1:1 chat with `user_id`.

        Returns the conversation id to send to.
        """
        body = {
            "bot": {"id": self.bot_id},
            "members": [{"id": user_id}],
            "channelData": {"tenant": {"id": tenant_id}},
            "isGroup": False,
            "tenantId": tenant_id,
        }
        url = f"{_base(service_url)}/v3/conversations"
        result = await self._call("create_conversation", "POST", url, body,
                                  app_key=self._app_key(tenant_id), thread_key=f"create\x00{tenant_id}\x00{user_id}")
        conversation_id = result.get("id")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise _error("create_conversation", "server", 200, detail="the answer had no conversation id")
        return conversation_id

    async def send_activity(self, service_url: str, conversation_id: str, activity: Mapping[str, Any], *,
                            tenant_id: str | None = None) -> str:
        """Post `activity` to the conversation; returns the new activity's id ("" if Teams gave none).

        Note that a send whose answer was lost (timeout, dropped connection, 5xx after the
        fact) is retried, and the connector has no idempotency key: in that rare case the
        recipient can see the card twice. The card's later update targets the id we got.
        """
        url = f"{_base(service_url)}/v3/conversations/{_quote(conversation_id)}/activities"
        tenant = tenant_id or _tenant_of(activity)
        result = await self._call("send_activity", "POST", url, dict(activity),
                                  app_key=self._app_key(tenant), thread_key=conversation_id)
        activity_id = result.get("id")
        return activity_id if isinstance(activity_id, str) else ""

    async def update_activity(self, service_url: str, conversation_id: str, activity_id: str,
                              activity: Mapping[str, Any], *, tenant_id: str | None = None) -> None:
        """Replace a sent activity (e.g. the card after a reply). Sets `id` if the body lacks it."""
        url = (f"{_base(service_url)}/v3/conversations/{_quote(conversation_id)}"
               f"/activities/{_quote(activity_id)}")
        body = dict(activity)
        body.setdefault("id", activity_id)
        tenant = tenant_id or _tenant_of(activity)
        await self._call("update_activity", "PUT", url, body,
                         app_key=self._app_key(tenant), thread_key=conversation_id)

    # -- internals ------------------------------------------------------------------------

    def _app_key(self, tenant_id: str | None) -> str:
        return f"{tenant_id or self.tenant_id or '*'}\x00{self.bot_id}"

    async def _call(self, op: str, method: str, url: str, body: dict[str, Any], *,
                    app_key: str, thread_key: str | None) -> dict[str, Any]:
        policy = self.retry
        attempt = 0
        auth_retried = False
        while True:
            attempt += 1
            # Token first, then the limiter: a slow token fetch after admission would release
            # many admitted requests at once and bunch them up at Teams.
            try:
                token = await self._tokens.token()
            except DeliveryError as exc:
                if exc.kind == "network" and attempt < policy.max_attempts:
                    await self._wait(op, "token fetch failed", attempt, policy.backoff(attempt, self._rng))
                    continue
                raise
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            admission = await self.limiter.acquire(app_key, thread_key)
            try:
                async with self._session.request(method, URL(url, encoded=True), json=body, headers=headers,
                                                 timeout=self._timeout) as resp:
                    self.limiter.done(admission)  # answered: Teams has counted it by now
                    status = resp.status
                    if 200 <= status < 300:
                        return await json_object(resp)
                    retry_after_header = resp.headers.get("Retry-After")
                    code = await _error_code(resp)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.limiter.done(admission)
                if attempt >= policy.max_attempts:
                    raise _error(op, "network", None, attempts=attempt, detail=type(exc).__name__) from exc
                await self._wait(op, type(exc).__name__, attempt, policy.backoff(attempt, self._rng))
                continue
            finally:
                self.limiter.done(admission)  # cancelled, or failed unexpectedly: no longer in flight

            if status == 401:
                if token and not auth_retried:
                    # The token may have been revoked or rotated: one retry with a fresh one.
                    self._tokens.invalidate(token)
                    auth_retried = True
                    attempt -= 1
                    continue
                raise _error(op, "unauthorized", status, code=code, attempts=attempt)

            if status == 429:
                asked = parse_retry_after(retry_after_header)
                if attempt >= policy.max_attempts or (asked is not None and asked > policy.max_retry_after):
                    raise _error(op, "throttled", status, code=code, retry_after=asked, attempts=attempt)
                if asked is None:
                    delay = policy.backoff(attempt, self._rng)
                else:
                    # Retry-After is a minimum; a little jitter stops everyone refused in the
                    # same instant from coming back in the same instant.
                    delay = asked + self._rng.uniform(0.0, min(1.0, 0.1 * asked))
                    self.limiter.hold(app_key, thread_key, asked)
                await self._wait(op, "HTTP 429", attempt, delay)
                continue

            if status >= 500 or status in RETRYABLE_4XX:
                if attempt >= policy.max_attempts:
                    raise _error(op, "server", status, code=code, attempts=attempt,
                                 retry_after=parse_retry_after(retry_after_header))
                await self._wait(op, f"HTTP {status}", attempt, policy.backoff(attempt, self._rng))
                continue

            raise _error(op, _kind_for_status(status), status, code=code, attempts=attempt)

    async def _wait(self, op: str, why: str, attempt: int, delay: float) -> None:
        # Ids and bodies are deliberately not logged: they identify children's cases' contacts.
        log.info("connector %s: %s; retry %d/%d in %.2fs", op, why, attempt + 1, self.retry.max_attempts, delay)
        await self._sleep(delay)


def _base(service_url: str) -> str:
    # Teams' service URLs end in '/', e.g. https://smba.trafficmanager.net/emea/
    return service_url.rstrip("/")


async def _error_code(resp: aiohttp.ClientResponse) -> str | None:
    """The connector's ErrorResponse code (`{"error": {"code": ...}}`), if there is one."""
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError, UnicodeDecodeError):
        return None
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            return sanitise_code(err.get("code"))
    return None


__all__ = [
    "Admission", "BOT_FRAMEWORK_SCOPE", "ConnectorClient", "DeliveryError", "DeliveryKind", "Limit", "MsalBotToken", "NoAuth",
    "PERMANENT_KINDS", "RateLimiter", "RetryPolicy", "TEAMS_APP_LIMITS", "TEAMS_THREAD_LIMITS", "TokenProvider",
    "parse_retry_after",
]
