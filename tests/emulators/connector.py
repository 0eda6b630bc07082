"""A local Bot Framework Connector (v3) emulator, for tests and benchmarks on 127.0.0.1.

It answers the three calls the bot makes for proactive delivery:

    POST /v3/conversations                                  -> {"id": conversation id}
    POST /v3/conversations/{conversationId}/activities      -> {"id": activity id}
    PUT  /v3/conversations/{conversationId}/activities/{id} -> {"id": activity id}

refuses, as Teams does, to open or write to a 1:1 chat with someone the bot's app is not
installed for (403 BotNotInConversationRoster, "The bot is not part of the conversation
roster."; Microsoft's "Proactive messages": the app must be installed for the user first):
`install(user)` installs it, as an administrator's app policy, the user adding the app, or
Microsoft Graph's installedApps (tests/emulators/graph.py, sharing this state) would; a user
who has talked to the bot (`add_conversation`) has it. It records every request it receives
(`.requests`), and can be scripted to fail the way Teams
does (403 blocked, 404, 5xx, 429 with Retry-After, 401) per user, per conversation or for
everything. It can also *enforce* Teams' rate limits itself (`enforce_limits`): then it
answers 429 to the request that would make more than 7 in one second for a conversation, or
more than 50 in one second for the app, and counts those in `.limit_violations`; a client
that keeps within the limits leaves that at 0.

Conversation ids it makes look like Teams' (`a:1...`), so the client's path quoting is
exercised. Times are `time.monotonic()`, the same clock the client's limiter uses.

In a test:

    async with running_emulator() as emu:
        emu.install("29:user", "29:other")  # the app is installed for them (else 403)
        emu.block("29:user")            # 403 for that user, for ever
        emu.fail("a:1abc", 503, times=2)
        ... ConnectorClient(...).send_activity(emu.url, ...)
        assert emu.requests[-1].status == 201

Standalone (for benchmarks in another process): `python -m tests.emulators.connector
--port 0 --enforce-limits` prints its URL; GET /_emulator/requests returns the records.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

ANY = "*"
# What Teams answers a bot that is not installed for the user it writes to.
NOT_IN_ROSTER = "BotNotInConversationRoster"
NOT_IN_ROSTER_TEXT = "The bot is not part of the conversation roster."


@dataclass
class RecordedRequest:
    """One request as the emulator received it (and what it answered)."""

    method: str
    path: str                    # raw, still percent-encoded, as it came over the wire
    conversation_id: str | None  # decoded; None for POST /v3/conversations
    activity_id: str | None      # decoded; only for PUT
    user_id: str | None          # the member for a create, the conversation's user otherwise
    body: Any                    # parsed JSON, or the raw text if it was not JSON
    received_at: float           # time.monotonic() when the handler started
    authorization: str | None
    status: int = 0              # filled in once answered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Rule:
    target: str                  # user id, conversation id, or ANY
    status: int
    remaining: int | None        # None: for ever
    retry_after: str | None = None
    code: str = ""
    operations: frozenset[str] = frozenset({"create", "send", "update"})

    def applies(self, op: str, keys: tuple[str | None, ...]) -> bool:
        if self.remaining == 0 or op not in self.operations:
            return False
        return self.target == ANY or self.target in keys


_DEFAULT_CODES = {
    401: "Unauthorized",
    403: "ConversationBlockedByUser",
    404: "ConversationNotFound",
    412: "PreconditionFailed",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class _Enforcement:
    per_conversation: int
    per_app: int
    window: float
    retry_after: int
    per_tenant: bool = False
    conversation_times: dict[str, deque[float]] = field(default_factory=dict)
    app_times: dict[str | None, deque[float]] = field(default_factory=dict)


class ConnectorEmulator:
    """The emulator's state and scripting. `app` is the aiohttp application serving it."""

    def __init__(self, *, require_token: str | None = None) -> None:
        self.url = ""  # set once started: the service URL to give the client
        self.requests: list[RecordedRequest] = []
        self.conversations: dict[str, str] = {}            # conversation id -> user id
        self.tenants: dict[str, str | None] = {}           # conversation id -> tenant its create named
        self.activities: dict[str, dict[str, Any]] = {}    # conversation id -> {activity id: activity}
        self.limit_violations = 0
        self._rules: list[_Rule] = []
        self._by_user: dict[str, str] = {}
        self.installed: set[str] = set()  # user ids (Teams or Entra) the bot's app is installed for
        self._aliases: dict[str, str] = {}  # a Teams user id -> their Entra object id
        self._ids = itertools.count(1)
        self._required_token = require_token
        self._enforcement: _Enforcement | None = None
        self.delay = 0.0  # seconds each answer is held back (to simulate a slow service)
        self._holds: list[tuple[str, frozenset[str]]] = []
        self._released = asyncio.Event()
        self.held: list[RecordedRequest] = []  # requests waiting for release()
        self.app = web.Application()
        self.app.router.add_post("/v3/conversations", self._create)
        self.app.router.add_post("/v3/conversations/{conversation_id}/activities", self._send)
        self.app.router.add_put("/v3/conversations/{conversation_id}/activities/{activity_id}", self._update)
        # ReplyToActivity: botbuilder answers a user's message in its own conversation this way.
        self.app.router.add_post("/v3/conversations/{conversation_id}/activities/{activity_id}", self._send)
        self.app.router.add_get("/_emulator/requests", self._dump)

    # -- scripting ------------------------------------------------------------------------

    def install(self, *user_ids: str) -> None:
        """The bot's app is installed for these users (personal scope): the bot may message them."""
        self.installed.update(user_ids)

    def uninstall(self, user_id: str) -> None:
        """They removed the app: their chat refuses the bot from now on (403)."""
        self.installed.discard(user_id)
        self.installed.discard(self._aliases.get(user_id, ""))

    def alias(self, teams_user_id: str, aad_object_id: str) -> None:
        """`teams_user_id` (29:...) and `aad_object_id` are the same person."""
        self._aliases[teams_user_id] = aad_object_id

    def is_installed(self, user_id: str | None) -> bool:
        return bool(user_id) and (user_id in self.installed or self._aliases.get(user_id or "") in self.installed)

    def chat_of(self, user_id: str) -> str:
        """The 1:1 chat with an installed user, as Graph's installedApps/{id}/chat answers it
        (made if new: installing the app creates the chat)."""
        if not self.is_installed(user_id):
            raise KeyError(f"the app is not installed for {user_id}")
        return self._by_user.get(user_id) or self.add_conversation(
            f"19:{user_id}_{secrets.token_hex(8)}@unq.gbl.spaces", user_id)

    def add_conversation(self, conversation_id: str, user_id: str | None = None) -> str:
        """Make a conversation exist without a create call (e.g. a Teams channel thread id);
        its user has the app (they are in a chat with the bot)."""
        user = user_id or f"user-of-{conversation_id}"
        self.installed.add(user)
        self.conversations[conversation_id] = user
        self._by_user.setdefault(user, conversation_id)
        self.activities.setdefault(conversation_id, {})
        return conversation_id

    def block(self, target: str, *, code: str = "ConversationBlockedByUser") -> None:
        """403 for ever for a user or conversation (bot blocked / app not installed)."""
        self._rules.append(_Rule(target, 403, None, code=code))

    def not_found(self, target: str, *, code: str = "ConversationNotFound") -> None:
        """404 for ever for a user or conversation."""
        self._rules.append(_Rule(target, 404, None, code=code))

    def fail(self, target: str, status: int, times: int | None = 1, *, retry_after: str | int | None = None,
             code: str | None = None, operations: tuple[str, ...] = ("create", "send", "update")) -> None:
        """Answer `status` the next `times` matching requests (None: for ever), then behave."""
        self._rules.append(_Rule(target, status, times, None if retry_after is None else str(retry_after),
                                 code or _DEFAULT_CODES.get(status, "Error"), frozenset(operations)))

    def throttle(self, target: str, times: int = 1, retry_after: str | int | None = 1) -> None:
        """429 with `Retry-After: retry_after` (seconds or an HTTP date; None: no header)."""
        self.fail(target, 429, times, retry_after=retry_after)

    def require_token(self, token: str | None) -> None:
        """Answer 401 unless `Authorization: Bearer <token>` (None: accept anything)."""
        self._required_token = token

    def enforce_limits(self, per_conversation: int = 7, per_app: int = 50, window: float = 1.0,
                       retry_after: int = 1, *, per_tenant: bool = False) -> None:
        """Refuse (429) what Teams would refuse: > per_conversation or > per_app per window.

        `per_app` counts all tenants together unless `per_tenant` (Teams' own rule: per app
        *per tenant*; a conversation's tenant is the one its create named, None for those
        added with `add_conversation`). Every received request counts, refused or not, as a
        strict service would count it.
        """
        self._enforcement = _Enforcement(per_conversation, per_app, window, retry_after, per_tenant)

    def hold(self, target: str, operations: tuple[str, ...] = ("send",)) -> None:
        """Keep matching requests waiting, unanswered and undelivered, until `release()`: a
        send in flight when the bot's process dies. A request whose client has gone by the
        time it is released is recorded with status 499 and delivers nothing."""
        self._holds.append((target, frozenset(operations)))

    def release(self) -> None:
        self._holds.clear()
        self._released.set()

    async def _hold(self, request: web.Request, rec: RecordedRequest, op: str) -> bool:
        """True if the request was held and its client went away meanwhile."""
        if not any(op in ops and (target == ANY or target in (rec.user_id, rec.conversation_id))
                   for target, ops in self._holds):
            return False
        self.held.append(rec)
        await self._released.wait()
        await asyncio.sleep(0.1)  # let the event loop notice a connection closed meanwhile
        self.held.remove(rec)
        transport = request.transport
        if transport is None or transport.is_closing():
            rec.status = 499
            return True
        return False

    def clear_rules(self) -> None:
        self._rules.clear()

    # -- queries --------------------------------------------------------------------------

    def conversation_of(self, user_id: str) -> str | None:
        """The 1:1 chat the bot has with `user_id` (as Teams would answer a create), if any."""
        return self._by_user.get(user_id)

    def requests_for(self, conversation_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.conversation_id == conversation_id]

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    # -- handlers -------------------------------------------------------------------------

    async def _record(self, request: web.Request, conversation_id: str | None,
                      activity_id: str | None) -> RecordedRequest:
        received = time.monotonic()
        text = await request.text()
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        user = self.conversations.get(conversation_id) if conversation_id is not None else None
        if conversation_id is None and isinstance(body, dict):
            members = body.get("members")
            if isinstance(members, list) and members and isinstance(members[0], dict):
                user = members[0].get("id")
        rec = RecordedRequest(request.method, request.raw_path, conversation_id, activity_id, user, body,
                              received, request.headers.get("Authorization"))
        self.requests.append(rec)
        return rec

    def _scripted(self, rec: RecordedRequest, op: str) -> web.Response | None:
        """The scripted or enforced failure for this request, if any (checked in order)."""
        if self._required_token is not None and rec.authorization != f"Bearer {self._required_token}":
            return _error(401, "Unauthorized")
        keys = (rec.user_id, rec.conversation_id)
        for rule in self._rules:
            if rule.applies(op, keys):
                if rule.remaining is not None:
                    rule.remaining -= 1
                headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else None
                return _error(rule.status, rule.code, headers)
        return self._enforce(rec, op)

    def _enforce(self, rec: RecordedRequest, op: str) -> web.Response | None:
        e = self._enforcement
        if e is None:
            return None
        now = rec.received_at
        key = rec.conversation_id if op != "create" else f"create:{rec.user_id}"
        thread = e.conversation_times.setdefault(str(key), deque())
        tenant = None
        if e.per_tenant:
            tenant = rec.body.get("tenantId") if op == "create" and isinstance(rec.body, dict) \
                else self.tenants.get(rec.conversation_id or "")
        app = e.app_times.setdefault(tenant, deque())
        for times in (thread, app):
            while times and times[0] <= now - e.window:
                times.popleft()
            times.append(now)
        if len(thread) > e.per_conversation or len(app) > e.per_app:
            self.limit_violations += 1
            return _error(429, "Throttled", {"Retry-After": str(e.retry_after)})
        return None

    async def _answer(self, rec: RecordedRequest, response: web.Response) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        rec.status = response.status
        return response

    async def _create(self, request: web.Request) -> web.Response:
        rec = await self._record(request, None, None)
        failure = self._scripted(rec, "create")
        if failure is not None:
            return await self._answer(rec, failure)
        if await self._hold(request, rec, "create"):
            return _error(499, "ClientClosedRequest")
        body = rec.body
        problem = _check_create(body)
        if problem:
            return await self._answer(rec, _error(400, "BadSyntax", message=problem))
        user = body["members"][0]["id"]
        if not self.is_installed(user):  # Teams' rule: no chat with someone the app is not installed for
            return await self._answer(rec, _error(403, NOT_IN_ROSTER, message=NOT_IN_ROSTER_TEXT))
        # Teams answers a create for an existing 1:1 chat with that chat's id.
        conversation_id = self._by_user.get(user) or self.add_conversation(f"a:1{secrets.token_urlsafe(12)}", user)
        self.tenants.setdefault(conversation_id, body.get("tenantId"))
        return await self._answer(rec, web.json_response({"id": conversation_id}, status=201))

    async def _send(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        rec = await self._record(request, conversation_id, None)
        failure = self._scripted(rec, "send")
        if failure is not None:
            return await self._answer(rec, failure)
        if await self._hold(request, rec, "send"):
            return _error(499, "ClientClosedRequest")
        if conversation_id not in self.conversations:
            return await self._answer(rec, _error(404, "ConversationNotFound"))
        if not self.is_installed(self.conversations[conversation_id]):  # removed the app since
            return await self._answer(rec, _error(403, NOT_IN_ROSTER, message=NOT_IN_ROSTER_TEXT))
        if not isinstance(rec.body, dict) or not rec.body.get("type"):
            return await self._answer(rec, _error(400, "BadSyntax", message="activity needs a type"))
        activity_id = str(next(self._ids))
        self.activities[conversation_id][activity_id] = rec.body
        return await self._answer(rec, web.json_response({"id": activity_id}, status=201))

    async def _update(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        activity_id = request.match_info["activity_id"]
        rec = await self._record(request, conversation_id, activity_id)
        failure = self._scripted(rec, "update")
        if failure is not None:
            return await self._answer(rec, failure)
        stored = self.activities.get(conversation_id)
        if stored is None or activity_id not in stored:
            return await self._answer(rec, _error(404, "ActivityNotFound"))
        if not isinstance(rec.body, dict):
            return await self._answer(rec, _error(400, "BadSyntax", message="activity must be an object"))
        stored[activity_id] = rec.body
        return await self._answer(rec, web.json_response({"id": activity_id}, status=200))

    async def _dump(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.to_dict() for r in self.requests],
                                  "limit_violations": self.limit_violations})


def _check_create(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    members = body.get("members")
    if not isinstance(members, list) or len(members) != 1 or not isinstance(members[0], dict) \
            or not members[0].get("id"):
        return "members must hold exactly one member with an id"
    if not isinstance(body.get("bot"), dict) or not body["bot"].get("id"):
        return "bot.id is required"
    if body.get("isGroup") is not False:
        return "isGroup must be false for a 1:1 chat"
    channel_data = body.get("channelData")
    tenant_obj = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    tenant = tenant_obj.get("id") if isinstance(tenant_obj, dict) else None
    if not tenant or body.get("tenantId") != tenant:
        return "channelData.tenant.id and tenantId are required and must agree"
    return None


def _error(status: int, code: str, headers: dict[str, str] | None = None, *, message: str | None = None) -> web.Response:
    """Bot Framework's ErrorResponse shape."""
    return web.json_response({"error": {"code": code, "message": message or f"emulated {status}"}},
                             status=status, headers=headers)


@contextlib.asynccontextmanager
async def running_emulator(host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> AsyncIterator[ConnectorEmulator]:
    """Start an emulator on `host`, an ephemeral port by default; stop it on exit."""
    emu = ConnectorEmulator(**kwargs)
    runner = web.AppRunner(emu.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound_host, bound_port = runner.addresses[0][:2]
        emu.url = f"http://{bound_host}:{bound_port}/"  # trailing '/' like Teams' service URLs
        yield emu
    finally:
        await runner.cleanup()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps that fall in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--enforce-limits", action="store_true", help="429 above 7/s per conversation, 50/s per app")
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with running_emulator(args.host, args.port) as emu:
            if args.enforce_limits:
                emu.enforce_limits()
            print(emu.url, flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()


def install_as_directories_say(emu: ConnectorEmulator, config_dir: Any = None) -> int:
    """Install the app for every directory contact whose organisation the directory says has
    installed it (`organisations: ... teams_app: installed`), as that organisation's Teams
    administrator would have: the state the sample configuration describes. Returns how many."""
    from bot.config_loader import load_profiles
    from bot.directory import load_directories

    directories = load_directories(load_profiles(config_dir), config_dir)
    people = {c.aad_object_id for d in directories.values() for c in d.contacts if d.has_app(c.tenant_id)}
    emu.install(*people)
    return len(people)
