"""Async Microsoft Graph (v1.0) client for the strategy meeting's calendar event.

Why this exists: a Teams card tells an agency it is invited; a calendar event with a Teams
join link is what actually puts the meeting in people's diaries. This client creates that
event in the chair's mailbox (or the configured organiser mailbox), moves it, cancels it,
adds a nominated colleague, reads back who accepted, and reads free/busy to propose times
(`bot/core/slots.py` does the proposing). Application permissions: Calendars.ReadWrite
(events) and Calendars.Read (getSchedule); `findMeetingTimes` is not used because it does
not accept application permissions.

Conventions (each is tested against tests/emulators/graph.py):

* Times go to Graph as UTC wall-clock (`{"dateTime": "2026-11-25T20:00:00", "timeZone":
  "UTC"}`) with `Prefer: outlook.timezone="UTC"`, so what comes back is UTC too; Outlook shows
  attendees the time in their own zone. Seconds precision. Callers pass aware datetimes.
* Creating an event sends a `transactionId`, Graph's idempotency key for event creation: a
  create retried after a lost answer (timeout, 5xx) returns the first event instead of
  making a second. Pass the same id when the *caller* retries (e.g. derive it from the
  meeting's id), too.
* Retries: 429 and 503/504 wait what `Retry-After` says (seconds, exactly); other 5xx, 408
  and connection errors back off exponentially with full jitter; at most
  `GraphRetryPolicy.max_attempts` attempts within `total_budget` seconds, after which
  `GraphUnavailable`. A 401 gets one new token (the old one dropped from MSAL's cache) and one
  more try. 403/404 and the other 4xx (400, 409...) are `GraphRefused` with Graph's code and
  message: retrying cannot fix them. An untrusted TLS certificate is not retried either. A
  token that cannot be had is not retried here: Entra refusing is `GraphAuthError`, Entra
  unreachable `GraphUnavailable` (MSAL has already retried the connection once).
* Nothing here logs tokens, secrets, email addresses, subjects or event ids: logs name the
  operation, the status and Graph's error code only.
* People: `find_user` looks an email address up in the tenant's directory (application
  permission User.Read.All): `GET /users?$filter=mail eq '...'`, then `GET /users/{address}`
  for an address that is someone's user principal name but not their mail. Nobody: None.
* Free/busy: `busy` and `oof` always block; `tentative` blocks by default (someone who
  tentatively accepted another meeting may well go to it; pass `tentative_is_busy=False` to
  count it as free when a deadline is tight); `workingElsewhere` and `free` do not block
  (working from elsewhere can still join a Teams meeting); an unknown status blocks.
  An address Graph cannot see (another organisation, no mailbox, an error entry, missing from
  the answer) is reported in `Availability.unknown`, never as free.
"""
from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from yarl import URL

from ..http import full_jitter, json_object, parse_retry_after, sanitise_code

from .errors import GraphAuthError, GraphRefused, GraphUnavailable
from .settings import GraphSettings
from .token import GraphToken, TokenSource

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]
Clock = Callable[[], float]
ResponseKind = Literal["accepted", "declined", "tentative", "none"]

#: Statuses retried (with Retry-After honoured when present) rather than refused.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Largest number of addresses sent in one getSchedule request (bigger lists are split).
SCHEDULES_PER_REQUEST = 20
PREFER_UTC = 'outlook.timezone="UTC"'

_GRAPH_RESPONSES: dict[str, ResponseKind] = {
    "accepted": "accepted",
    "organizer": "accepted",            # the organiser attends their own meeting
    "tentativelyaccepted": "tentative",
    "declined": "declined",
    "none": "none",
    "notresponded": "none",
}
#: getSchedule's availabilityView digits (used only when scheduleItems are absent).
_VIEW_STATUS = {"0": "free", "1": "tentative", "2": "busy", "3": "oof", "4": "workingElsewhere"}
_NOT_BUSY = frozenset({"free", "workingelsewhere"})
_NULL_TIME = "0001-01-01"


# ---------------------------------------------------------------------------------------
# Values at the boundary
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attendee:
    """An invitee: `required` False makes them optional in the invitation."""

    email: str
    name: str | None = None
    required: bool = True

    def to_graph(self) -> dict[str, Any]:
        address: dict[str, str] = {"address": self.email}
        if self.name:
            address["name"] = self.name
        return {"emailAddress": address, "type": "required" if self.required else "optional"}


@dataclass(frozen=True)
class CalendarEvent:
    """The event as Graph holds it. `join_url` is the Teams link (None if Teams could not
    make one, e.g. the organiser has no Teams licence); `web_link` opens it in Outlook on the
    web; `change_key` changes on every update."""

    id: str
    change_key: str | None
    join_url: str | None
    web_link: str | None
    start: datetime | None
    end: datetime | None
    ical_uid: str | None = None
    is_cancelled: bool = False
    attendees: tuple[Attendee, ...] = ()


@dataclass(frozen=True)
class AttendeeResponse:
    """An invitee's answer in the calendar, and when they gave it (None: not answered)."""

    response: ResponseKind
    at: datetime | None


@dataclass(frozen=True)
class Availability:
    """Free/busy for the addresses asked about, keyed by the address *as the caller gave it*.

    `busy`: busy blocks (UTC) for everyone whose calendar was read (empty list: free
    throughout). `unknown`: addresses whose calendars could not be read; `reasons` says why
    for each (Graph's responseCode, or "missing" when Graph's answer left them out).
    """

    busy: dict[str, list[tuple[datetime, datetime]]]
    unknown: frozenset[str] = frozenset()
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantUser:
    """Someone in the tenant's directory (Microsoft Entra ID), as Graph's user resource has them."""

    id: str                      # the Entra object id: what the bot messages them by in Teams
    name: str
    email: str                   # mail, else the user principal name
    phone: str | None = None     # mobilePhone, else the first of businessPhones
    job_title: str | None = None


USER_FIELDS = "id,displayName,mail,userPrincipalName,mobilePhone,businessPhones,jobTitle"


def _tenant_user(item: Any) -> TenantUser | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
        return None
    email = next((v for v in (item.get("mail"), item.get("userPrincipalName")) if isinstance(v, str) and v), "")
    phones = [p for p in (item.get("businessPhones") or []) if isinstance(p, str) and p.strip()]
    mobile = item.get("mobilePhone") if isinstance(item.get("mobilePhone"), str) and item["mobilePhone"].strip() else None
    name = item.get("displayName") if isinstance(item.get("displayName"), str) and item["displayName"].strip() else email
    job = item.get("jobTitle") if isinstance(item.get("jobTitle"), str) and item["jobTitle"].strip() else None
    return TenantUser(id=item["id"], name=name, email=email, phone=mobile or (phones[0] if phones else None), job_title=job)


@dataclass(frozen=True)
class GraphRetryPolicy:
    """How hard to try. Backoff is full jitter: uniform in [0, min(max_delay, base * 2**(n-1))].

    A Retry-After above `max_retry_after`, or a wait that would overrun `total_budget`
    seconds since the call began, ends the call with GraphUnavailable (its `retry_after`
    set) instead of holding the caller.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 16.0
    max_retry_after: float = 60.0
    total_budget: float = 90.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after, self.total_budget) < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return full_jitter(attempt, self.base_delay, self.max_delay, rng)


# ---------------------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------------------

_WINDOWS_ZONES = {  # the few Windows zone names Graph may still use despite the Prefer header
    "utc": "UTC", "coordinated universal time": "UTC", "tzone://microsoft/utc": "UTC",
    "gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
}


def to_graph_time(t: datetime) -> dict[str, str]:
    """An aware datetime as Graph's dateTimeTimeZone, in UTC."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("meeting times must carry a UTC offset")
    return {"dateTime": f"{t.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S}", "timeZone": "UTC"}


def _parse_wall(value: str) -> datetime:
    # Graph writes 7 fractional digits ("2026-11-25T20:00:00.0000000"); Python reads up to 6.
    value = value.strip().removesuffix("Z")
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?", value)
    if not match:
        raise ValueError(f"not a Graph date-time: {value!r}")
    base = datetime.fromisoformat(match.group(1))
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    return base.replace(microsecond=int(fraction))


def from_graph_time(value: Any) -> datetime | None:
    """Graph's dateTimeTimeZone ({"dateTime", "timeZone"}) as an aware UTC datetime."""
    if not isinstance(value, Mapping) or not isinstance(value.get("dateTime"), str):
        return None
    wall = _parse_wall(value["dateTime"])
    zone_name = str(value.get("timeZone") or "UTC")
    zone_key = _WINDOWS_ZONES.get(zone_name.lower(), zone_name)
    try:
        zone = timezone.utc if zone_key == "UTC" else ZoneInfo(zone_key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone in Graph's answer: {zone_name!r}") from None
    return wall.replace(tzinfo=zone).astimezone(timezone.utc)


def _parse_instant(value: Any) -> datetime | None:
    """An ISO instant like status.time ("2026-11-25T18:31:00.1234567Z"); the 0001 date is None."""
    if not isinstance(value, str) or not value or value.startswith(_NULL_TIME):
        return None
    text = value.strip()
    offset = timezone.utc
    match = re.search(r"([+-]\d{2}:\d{2})$", text)
    if match:
        sign = 1 if match.group(1)[0] == "+" else -1
        hours, minutes = int(match.group(1)[1:3]), int(match.group(1)[4:6])
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        text = text[: match.start()]
    return _parse_wall(text).replace(tzinfo=offset).astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="@")


def _one_line(value: Any, limit: int = 200) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:limit]


class GraphClient:
    """Calendar operations on Microsoft Graph; see the module docstring.

    Lifecycle: `await start()` (or `async with GraphClient(...)`) creates the aiohttp
    session; `await close()` closes it, and the token provider too when the client built it.
    Share one `GraphToken` between clients of the same process by passing `token=`.
    `sleep`, `clock` and `rng` are for tests (retry waits are recorded, not waited).
    """

    def __init__(self, settings: GraphSettings, *, token: TokenSource | None = None,
                 retry: GraphRetryPolicy | None = None, request_timeout: float = 30.0,
                 sleep: Sleep = asyncio.sleep, clock: Clock = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.retry = retry or GraphRetryPolicy()
        self._own_token = token is None
        self._tokens: TokenSource = token if token is not None else GraphToken(settings, timeout=request_timeout)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._base = settings.base_url.rstrip("/")

    async def start(self) -> None:
        if self._session is not None:
            return
        ssl_context = ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle \
            else ssl.create_default_context()
        # trust_env: HTTPS_PROXY / NO_PROXY apply as they do for MSAL's requests session.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context),
                                              timeout=self._timeout, trust_env=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._own_token and isinstance(self._tokens, GraphToken):
            self._tokens.close()

    async def __aenter__(self) -> GraphClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- events -----------------------------------------------------------------------

    async def create_meeting(self, organiser: str, subject: str, start: datetime, end: datetime,
                             attendees: Sequence[Attendee], body_html: str, transaction_id: str, *,
                             allow_new_time_proposals: bool = False, private: bool = True) -> CalendarEvent:
        """Create the Teams meeting in `organiser`'s calendar and invite `attendees`.

        `transaction_id` makes the create idempotent (same id: same event). `private` marks the
        event private, so people with delegate access to the organiser's calendar see only
        "busy", not the case reference in the subject.
        """
        _check_times(start, end)
        if not transaction_id or len(transaction_id) > 255:
            raise ValueError("transaction_id must be 1 to 255 characters")
        body = {
            "subject": subject,
            "body": {"contentType": "HTML", "content": body_html},
            "start": to_graph_time(start),
            "end": to_graph_time(end),
            "attendees": [a.to_graph() for a in _unique(attendees)],
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            "allowNewTimeProposals": allow_new_time_proposals,
            "responseRequested": True,
            "sensitivity": "private" if private else "normal",
            "transactionId": transaction_id,
        }
        data = await self._call("create_meeting", "POST", f"/users/{_segment(organiser, 'organiser')}/events", body)
        event = _event(data, "create_meeting")
        if event.join_url is None:
            log.warning("graph create_meeting: the event has no Teams join link (organiser without Teams?)")
        return event

    async def send_mail(self, sender: str, to: Attendee, subject: str, body_html: str) -> None:
        """Send one email from `sender`'s mailbox (Mail.Send; an Exchange application access
        policy can restrict the app to the organiser's mailbox). Not idempotent: Graph has no
        transaction id for mail, so a retry after a lost answer may send it twice, which for a
        personal answer link is harmless (each copy's link answers once)."""
        body = {"message": {"subject": subject, "body": {"contentType": "HTML", "content": body_html},
                            "toRecipients": [{"emailAddress": {"address": _nonempty(to.email, "to"),
                                                               **({"name": to.name} if to.name else {})}}]},
                "saveToSentItems": True}
        await self._call("send_mail", "POST", f"/users/{_segment(sender, 'sender')}/sendMail", body)

    async def get_event(self, organiser: str, event_id: str) -> CalendarEvent:
        data = await self._call("get_event", "GET", self._event_path(organiser, event_id))
        return _event(data, "get_event")

    async def move_meeting(self, organiser: str, event_id: str, start: datetime, end: datetime,
                           body_html: str | None = None) -> CalendarEvent:
        """Move the meeting (and replace its text, which states the time). Outlook then asks
        the attendees to answer again."""
        _check_times(start, end)
        patch: dict[str, Any] = {"start": to_graph_time(start), "end": to_graph_time(end)}
        if body_html is not None:
            patch["body"] = {"contentType": "HTML", "content": body_html}
        data = await self._call("move_meeting", "PATCH", self._event_path(organiser, event_id), patch)
        return _event(data, "move_meeting")

    async def cancel_meeting(self, organiser: str, event_id: str, comment: str) -> None:
        """Cancel the meeting and send `comment` to the attendees with the cancellation.

        Idempotent across a lost answer: if an earlier attempt of this call may have gone
        through and Graph then says the event is gone or already cancelled, that is success.
        """
        path = self._event_path(organiser, event_id) + "/cancel"
        try:
            await self._call("cancel_meeting", "POST", path, {"Comment": comment})
        except GraphRefused as exc:
            if not exc.after_retry or exc.status not in (400, 404):
                raise
            try:
                event = await self.get_event(organiser, event_id)
            except GraphRefused as gone:
                if gone.status == 404:
                    return
                raise exc from None
            if not event.is_cancelled:
                raise

    async def set_attendees(self, organiser: str, event_id: str, attendees: Sequence[Attendee]) -> CalendarEvent:
        """Make the invitation list exactly `attendees` (Graph replaces the whole list)."""
        data = await self._call("set_attendees", "PATCH", self._event_path(organiser, event_id),
                                {"attendees": [a.to_graph() for a in _unique(attendees)]})
        return _event(data, "set_attendees")

    async def add_attendees(self, organiser: str, event_id: str, attendees: Sequence[Attendee]) -> CalendarEvent:
        """Add people (e.g. a nominated colleague) and keep everyone already invited.

        Graph's PATCH replaces the attendee list, so this reads it first; existing attendees'
        answers are kept by Graph. Two concurrent calls for the same event can lose one
        addition: the caller serialises changes per meeting (it does so for its own state).
        """
        current = await self._call("add_attendees", "GET",
                                   self._event_path(organiser, event_id) + "?$select=attendees")
        existing = _attendees(current.get("attendees"))
        known = {a.email.lower() for a in existing}
        new = [a for a in _unique(attendees) if a.email.lower() not in known]
        if not new:
            return await self.get_event(organiser, event_id)
        return await self.set_attendees(organiser, event_id, [*existing, *new])

    async def attendee_responses(self, organiser: str, event_id: str) -> dict[str, AttendeeResponse]:
        """Each attendee's answer, keyed by lower-case email address."""
        data = await self._call("attendee_responses", "GET",
                                self._event_path(organiser, event_id) + "?$select=attendees")
        out: dict[str, AttendeeResponse] = {}
        for item in data.get("attendees") or []:
            if not isinstance(item, Mapping):
                continue
            address = (item.get("emailAddress") or {}).get("address")
            if not isinstance(address, str) or not address:
                continue
            status = item.get("status") if isinstance(item.get("status"), Mapping) else {}
            kind = _GRAPH_RESPONSES.get(str(status.get("response") or "none").lower(), "none")
            at = None if kind == "none" else _parse_instant(status.get("time"))
            out[address.lower()] = AttendeeResponse(kind, at)
        return out

    # -- people -----------------------------------------------------------------------

    async def find_user(self, email: str) -> TenantUser | None:
        """The tenant's user with this email address, or None. The filter matches `mail`
        (OData string literal: a quote is doubled); an address that is only someone's user
        principal name is found by `GET /users/{address}` (404 Request_ResourceNotFound: nobody)."""
        address = _nonempty(email, "email").strip()
        literal = address.replace("'", "''")
        query = "?$filter=" + quote(f"mail eq '{literal}'", safe="") + f"&$select={USER_FIELDS}"
        data = await self._call("find_user", "GET", "/users" + query)
        for item in data.get("value") or []:
            user = _tenant_user(item)
            if user is not None:
                return user
        try:
            data = await self._call("find_user", "GET", f"/users/{_segment(address, 'email')}?$select={USER_FIELDS}")
        except GraphRefused as e:
            if e.status == 404:
                return None
            raise
        return _tenant_user(data)

    # -- free/busy --------------------------------------------------------------------

    async def get_schedule(self, organiser: str, emails: Iterable[str], start: datetime, end: datetime,
                           interval_minutes: int = 15, *, tentative_is_busy: bool = True) -> Availability:
        """Busy times of `emails` between `start` and `end`, read with `organiser`'s rights
        (POST /users/{organiser}/calendar/getSchedule). See the module docstring for which
        statuses count as busy and what "unknown" means."""
        _check_times(start, end)
        if not 5 <= interval_minutes <= 1440:
            raise ValueError("interval_minutes must be between 5 and 1440")
        wanted: dict[str, str] = {}
        for email in emails:
            if isinstance(email, str) and email.strip():
                wanted.setdefault(email.strip().lower(), email)
        busy: dict[str, list[tuple[datetime, datetime]]] = {}
        reasons: dict[str, str] = {}
        keys = list(wanted)
        path = f"/users/{_segment(organiser, 'organiser')}/calendar/getSchedule"
        blocking = {"busy", "oof", "tentative"} if tentative_is_busy else {"busy", "oof"}
        for i in range(0, len(keys), SCHEDULES_PER_REQUEST):
            chunk = keys[i:i + SCHEDULES_PER_REQUEST]
            body = {"schedules": [wanted[k] for k in chunk], "startTime": to_graph_time(start),
                    "endTime": to_graph_time(end), "availabilityViewInterval": interval_minutes}
            data = await self._call("get_schedule", "POST", path, body)
            answered: dict[str, Mapping[str, Any]] = {}
            for item in data.get("value") or []:
                if isinstance(item, Mapping) and isinstance(item.get("scheduleId"), str):
                    answered[item["scheduleId"].lower()] = item
            for key in chunk:
                email = wanted[key]
                item = answered.get(key)
                if item is None:
                    reasons[email] = "missing"
                    continue
                error = item.get("error")
                if error:
                    code = sanitise_code(error.get("responseCode"), 80) if isinstance(error, Mapping) else None
                    reasons[email] = code or "error"
                    continue
                try:
                    busy[email] = _busy_blocks(item, start, interval_minutes, blocking)
                except ValueError:
                    reasons[email] = "unreadable"
        return Availability(busy=busy, unknown=frozenset(reasons), reasons=reasons)

    # -- the Teams app, installed for a person (so the bot may message them) ------------
    # Application permissions: TeamsAppInstallation.ReadWriteSelfForUser.All (install, list, chat)
    # and AppCatalog.Read.All (find the app's catalog id from the manifest's id). Graph installs
    # only in its own tenant: someone in another organisation is refused (403/404).

    async def find_teams_app(self, external_id: str) -> str | None:
        """The app's id in the organisation's catalog, from its manifest id (None: not published)."""
        data = await self._call("find_teams_app", "GET", "/appCatalogs/teamsApps?$filter="
                                + _filter("externalId", external_id))
        first = next((a for a in data.get("value") or [] if isinstance(a, Mapping) and a.get("id")), None)
        return str(first["id"]) if first else None

    async def install_app_for_user(self, user: str, teams_app_id: str) -> bool:
        """Install the app in `user`'s personal scope. True if installed now, False if it was
        already (Graph's 409 Conflict): either way the bot may now message them."""
        body = {"teamsApp@odata.bind": f"{self._base}/appCatalogs/teamsApps/{_nonempty(teams_app_id, 'teams_app_id')}"}
        try:
            await self._call("install_app", "POST", f"/users/{_segment(user, 'user')}/teamwork/installedApps", body)
        except GraphRefused as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def app_installation(self, user: str, external_id: str) -> str | None:
        """The id of the app's installation for `user` (None: not installed)."""
        data = await self._call("app_installation", "GET", f"/users/{_segment(user, 'user')}/teamwork/installedApps"
                                "?$expand=teamsApp&$filter=" + _filter("teamsApp/externalId", external_id))
        first = next((a for a in data.get("value") or [] if isinstance(a, Mapping) and a.get("id")), None)
        return str(first["id"]) if first else None

    async def installation_chat(self, user: str, installation_id: str) -> str:
        """The 1:1 chat between the app's bot and `user`: the conversation to send cards to."""
        path = (f"/users/{_segment(user, 'user')}/teamwork/installedApps/"
                f"{quote(_nonempty(installation_id, 'installation_id'), safe='')}/chat")
        data = await self._call("installation_chat", "GET", path)
        chat_id = data.get("id")
        if not isinstance(chat_id, str) or not chat_id:
            raise GraphUnavailable("installation_chat failed: Microsoft Graph's answer had no chat id",
                                   op="installation_chat")
        return chat_id

    # -- the HTTP loop ----------------------------------------------------------------

    def _event_path(self, organiser: str, event_id: str) -> str:
        return f"/users/{_segment(organiser, 'organiser')}/events/{quote(_nonempty(event_id, 'event_id'), safe='')}"

    async def _call(self, op: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("GraphClient.start() was not called")
        policy = self.retry
        started = self._clock()
        attempt = 0
        refreshed = False
        ambiguous = False   # an earlier attempt may have reached Graph and taken effect
        url = URL(self._base + path, encoded=True)
        request_id = str(uuid.uuid4())
        while True:
            attempt += 1
            token = await self._tokens.token()
            headers = {"Authorization": f"Bearer {token}", "Prefer": PREFER_UTC, "client-request-id": request_id,
                       "return-client-request-id": "true"}
            retry_after: float | None = None
            try:
                async with self._session.request(method, url, json=body, headers=headers) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        return await json_object(resp)
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    code, message = await _graph_error(resp)
            except aiohttp.ClientConnectorCertificateError:
                # Retrying cannot make an untrusted certificate trusted: a configuration problem.
                raise GraphUnavailable(f"{op} failed: the TLS certificate of {url.host} is not trusted "
                                       f"(STRATBOT_GRAPH_CA_BUNDLE, or the system's CAs)", op=op,
                                       attempts=attempt) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # A refused connection never reached Graph; anything later may have.
                ambiguous = ambiguous or not isinstance(exc, aiohttp.ClientConnectorError)
                why = type(exc).__name__
                delay = policy.backoff(attempt, self._rng)
                self._give_up_unless_time(op, why, attempt, delay, started, None, None, None)
                await self._wait(op, why, attempt, delay)
                continue

            if status == 401:
                if not refreshed:
                    refreshed = True
                    attempt -= 1  # a token refresh is not a failed attempt
                    await self._tokens.refresh(token)
                    continue
                raise GraphAuthError(f"{op} failed: Microsoft Graph refused a newly issued token "
                                     f"(HTTP 401{', ' + code if code else ''}); check the app's permissions "
                                     f"and that it is consented in the tenant", op=op, status=401, code=code)

            if status not in RETRYABLE_STATUSES:
                text = f"{op} refused by Microsoft Graph (HTTP {status}{' ' + code if code else ''}"
                text += f": {message})" if message else ")"
                raise GraphRefused(text, op=op, status=status, code=code, graph_message=message,
                                   after_retry=ambiguous)

            if status >= 500 and status != 503:
                ambiguous = True  # 500/502/504: the operation may have happened behind the error
            if retry_after is not None and status in (429, 503, 504):
                if retry_after > policy.max_retry_after:
                    raise GraphUnavailable(f"{op} failed: Microsoft Graph asked to wait {retry_after:g}s "
                                           f"(HTTP {status}), longer than {policy.max_retry_after:g}s",
                                           op=op, status=status, code=code, retry_after=retry_after,
                                           attempts=attempt)
                delay = retry_after
            else:
                delay = policy.backoff(attempt, self._rng)
            self._give_up_unless_time(op, f"HTTP {status}", attempt, delay, started, status, code, retry_after)
            await self._wait(op, f"HTTP {status}{' ' + code if code else ''}", attempt, delay)

    def _give_up_unless_time(self, op: str, why: str, attempt: int, delay: float, started: float,
                             status: int | None, code: str | None, retry_after: float | None) -> None:
        policy = self.retry
        if attempt >= policy.max_attempts:
            reason = f"after {attempt} attempt{'s' if attempt != 1 else ''}"
        elif self._clock() - started + delay > policy.total_budget:
            reason = f"within its {policy.total_budget:g}s budget"
        else:
            return
        what = "could not be reached" if status is None else (
            "kept throttling" if status == 429 else "kept failing")
        raise GraphUnavailable(f"{op} failed: Microsoft Graph {what} ({why}) {reason}", op=op, status=status,
                               code=code, retry_after=retry_after, attempts=attempt)

    async def _wait(self, op: str, why: str, attempt: int, delay: float) -> None:
        log.info("graph %s: %s; retry %d/%d in %.2fs", op, why, attempt + 1, self.retry.max_attempts, delay)
        await self._sleep(delay)


# ---------------------------------------------------------------------------------------
# Reading Graph's answers
# ---------------------------------------------------------------------------------------


def _nonempty(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _filter(field: str, value: str) -> str:
    """An OData `field eq 'value'` filter, percent-encoded for the query string."""
    literal = _nonempty(value, field).replace("'", "''")
    return quote(f"{field} eq '{literal}'", safe="/'")


def _check_times(start: datetime, end: datetime) -> None:
    for name, t in (("start", start), ("end", end)):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"{name} must carry a UTC offset")
    if end <= start:
        raise ValueError("end must be after start")


def _unique(attendees: Iterable[Attendee]) -> list[Attendee]:
    seen: set[str] = set()
    out: list[Attendee] = []
    for a in attendees:
        if not a.email or "@" not in a.email:
            raise ValueError("an attendee needs an email address")
        if a.email.lower() not in seen:
            seen.add(a.email.lower())
            out.append(a)
    return out


def _attendees(items: Any) -> tuple[Attendee, ...]:
    out = []
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        address = item.get("emailAddress") if isinstance(item.get("emailAddress"), Mapping) else {}
        email = address.get("address")
        if isinstance(email, str) and email:
            out.append(Attendee(email, address.get("name") or None, item.get("type") != "optional"))
    return tuple(out)


def _event(data: Mapping[str, Any], op: str) -> CalendarEvent:
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise GraphUnavailable(f"{op} failed: Microsoft Graph's answer had no event id", op=op)
    online = data.get("onlineMeeting") if isinstance(data.get("onlineMeeting"), Mapping) else {}
    try:
        start, end = from_graph_time(data.get("start")), from_graph_time(data.get("end"))
    except ValueError as exc:
        raise GraphUnavailable(f"{op} failed: {exc}", op=op) from None
    return CalendarEvent(
        id=event_id,
        change_key=data.get("changeKey") or None,
        join_url=online.get("joinUrl") or data.get("onlineMeetingUrl") or None,
        web_link=data.get("webLink") or None,
        start=start,
        end=end,
        ical_uid=data.get("iCalUId") or None,
        is_cancelled=bool(data.get("isCancelled")),
        attendees=_attendees(data.get("attendees")),
    )


def _busy_blocks(item: Mapping[str, Any], start: datetime, interval_minutes: int,
                 blocking: set[str]) -> list[tuple[datetime, datetime]]:
    blocks: list[tuple[datetime, datetime]] = []
    items = item.get("scheduleItems")
    if isinstance(items, list):
        for entry in items:
            if not isinstance(entry, Mapping):
                continue
            status = str(entry.get("status") or "busy")
            if status.lower() in _NOT_BUSY or (status.lower() == "tentative" and "tentative" not in blocking):
                continue
            b_start, b_end = from_graph_time(entry.get("start")), from_graph_time(entry.get("end"))
            if b_start is None or b_end is None:
                raise ValueError("a schedule item without times")
            blocks.append((b_start, b_end))
        return sorted(blocks)
    view = item.get("availabilityView")
    if not isinstance(view, str):
        raise ValueError("neither scheduleItems nor availabilityView")
    step = timedelta(minutes=interval_minutes)
    origin = start.astimezone(timezone.utc)
    for i, digit in enumerate(view):
        status = _VIEW_STATUS.get(digit, "busy")
        if status.lower() in _NOT_BUSY or (status == "tentative" and "tentative" not in blocking):
            continue
        b_start = origin + i * step
        if blocks and blocks[-1][1] == b_start:
            blocks[-1] = (blocks[-1][0], b_start + step)
        else:
            blocks.append((b_start, b_start + step))
    return blocks


async def _graph_error(resp: aiohttp.ClientResponse) -> tuple[str | None, str | None]:
    """Graph's `{"error": {"code", "message"}}`, sanitised to an identifier and one line."""
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError, UnicodeDecodeError):
        return None, None
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        err = data["error"]
        return sanitise_code(err.get("code"), 80), _one_line(err.get("message"))
    return None, None


__all__ = [
    "Attendee", "AttendeeResponse", "Availability", "CalendarEvent", "GraphClient", "GraphRetryPolicy",
    "RETRYABLE_STATUSES", "ResponseKind", "TenantUser", "from_graph_time", "to_graph_time",
]
