"""Reminder load for tests/test_reminder_replicas.py and bench/reminders.py: meetings whose
reminders the planner really wants, stored the way the bot stores them, and bot replicas
run as real processes (`python -m bot serve`) on one database.

`seed()` writes meetings through the Repository and stores each meeting's reminders with
`ConversationService.sync_reminders` (the planner's own set, so the worker's re-check just
before sending keeps every one of them). Two kinds of meeting, both states the bot reaches:

* **unanswered** (every `unanswered_every`-th meeting): North Somerset, a critical incident
  needing emergency protection (meeting within 4 hours), decided 3 h 30 min ago; the
  three quorum agencies were invited 10 minutes after the decision and none has answered.
  Deadline in 30 minutes, so everything is due now: the deadline approaching and close
  (chair), each agency chased (to the agency's own chat) and the chair told each has not
  answered: 8 reminders.
* **nobody invited** (the others, the four areas in turn): a chronic-neglect request
  decided now, sent, with no contact to invite for social care, health or police: three
  "cannot make the meeting quorate" notices due at once, and two deadline reminders due
  days from now (which must *not* go).

Every chair and every invitee has a conversation of their own in the connector emulator;
a reminder is recognised in what the emulator received by (conversation, card title).
`retime` moves due times (the benchmark spreads them over a short window); only the key
matters to the worker's re-check, so a retimed reminder is still wanted.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from bot.adapters.db.engine import make_engine, normalize_url
from bot.adapters.db.models import Event, Reminder
from bot.adapters.db.repository import NewInvitation, NewReminder, Repository
from bot.config_loader import load_profiles
from bot.conversation import ConversationService
from bot.core.plan import make_plan
from bot.core.request import parse_request
from bot.directory import load_directory

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
TENANT = "11111111-1111-4111-8111-111111111111"
AREAS = ("bristol", "north-somerset", "regional", "walsall")
QUORUM = ("social_care", "health", "police")


# --- the database ---------------------------------------------------------------------------

@contextlib.contextmanager
def pg_schema(base_url: str = PG_URL, prefix: str = "t_") -> Iterator[str]:
    """A fresh PostgreSQL schema, as tests/conftest.py makes one: the URL (search_path set
    through `options`, so every connection of every process uses it), dropped after."""
    admin = create_engine(normalize_url(base_url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    schema = f"{prefix}{uuid.uuid4().hex[:16]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = normalize_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


class Tables:
    """Read-only look at the reminders and their audit events (one engine, closed by close())."""

    def __init__(self, url: str):
        self.engine = make_engine(url)

    def reminders(self) -> dict[str, Any]:
        """reminder id -> row (state, lease_owner, attempts, due_at, sent_at, ...)."""
        with self.engine.connect() as c:
            return {r.id: r for r in c.execute(select(
                Reminder.id, Reminder.meeting_id, Reminder.key, Reminder.state, Reminder.lease_owner,
                Reminder.lease_expires_at, Reminder.attempts, Reminder.due_at, Reminder.sent_at, Reminder.last_error))}

    def events(self) -> list[Any]:
        """Every reminder.* event, oldest first: (kind, detail, at)."""
        with self.engine.connect() as c:
            return list(c.execute(select(Event.kind, Event.detail, Event.at)
                                  .where(Event.kind.like("reminder.%")).order_by(Event.id)))

    def close(self) -> None:
        self.engine.dispose()


# --- the load -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    reminder_id: str
    meeting_id: str
    key: str
    conversation_id: str
    title: str
    due_at: datetime


@dataclass
class Load:
    now: datetime
    meeting_ids: list[str] = field(default_factory=list)
    due: dict[str, Expected] = field(default_factory=dict)     # reminder id -> due by `now`
    later: dict[str, Expected] = field(default_factory=dict)   # planned, due after `now`

    def by_card(self) -> dict[tuple[str, str], Expected]:
        return {(e.conversation_id, e.title): e for e in (*self.due.values(), *self.later.values())}


_PROFILES: dict[str, Any] = {}


def service_for(repo: Repository, messenger: Any = None, clock: Callable[[], datetime] | None = None) -> ConversationService:
    """A ConversationService over `repo` with the real profiles and directories."""
    if not _PROFILES:
        _PROFILES.update(load_profiles())
    directories = {a: load_directory(a) for a in _PROFILES}
    service = ConversationService(dict(_PROFILES), directories, repo, messenger)
    if clock is not None:
        service.clock = clock
    return service


def _request(area: str, case_ref: str, decided: datetime, *, urgent: bool) -> dict:
    child = {"ref": "C1", "age": 4 if urgent else 9, "education": "nursery" if urgent else "school"}
    return {"area": area, "case_ref": case_ref, "decided_at": decided.isoformat(), "children": [child],
            "concerns": ["physical_abuse"] if urgent else ["neglect"],
            "flags": ["emergency_protection"] if urgent else ["chronic_neglect"],
            "referrer": "police" if urgent else "education"}


async def seed(url: str, emulator: Any, *, meetings: int, unanswered_every: int = 8,
               now: datetime | None = None,
               retime: Callable[[int, NewReminder], datetime] | None = None) -> Load:
    """Write `meetings` meetings and their planned reminders (see the module docstring).
    `retime(n, reminder)` (n counts the stored reminders from 0) gives a new due time."""
    now = now or datetime.now(timezone.utc)
    clock = [now]
    repo = Repository.from_url(url, clock=lambda: clock[0])
    service = service_for(repo)
    load = Load(now)
    conversations: dict[str, dict[str | None, str]] = {}  # meeting -> {invitation id or None (chair): conversation}
    stored = 0
    try:
        for i in range(meetings):
            unanswered = unanswered_every > 0 and i % unanswered_every == 0
            area = "north-somerset" if unanswered else AREAS[i % len(AREAS)]
            decided = now - timedelta(hours=3, minutes=30) if unanswered else now
            profiles = service.profiles
            request = parse_request(_request(area, f"RL-{i + 1:04d}", decided, urgent=unanswered), set(profiles))
            plan = make_plan(request, profiles[area])
            chair_conversation = emulator.add_conversation(f"a:rl-chair-{i + 1}", f"29:rl-chair-{i + 1}")
            clock[0] = decided + timedelta(minutes=5) if unanswered else now
            meeting = await asyncio.to_thread(
                repo.create_meeting, area=area, case_ref=request.case_ref,
                requester_aad_id=f"rl-chair-{i + 1}", chair_aad_id=f"rl-chair-{i + 1}", chair_name=f"Chair {i + 1}",
                request=request.model_dump(mode="json", exclude_none=True), plan=plan.to_dict(),
                deadline=plan.meeting_deadline, meeting_at=plan.meeting_at, state="sent",
                chair_conversation_id=chair_conversation, chair_service_url=emulator.url, chair_tenant_id=TENANT)
            conversations[meeting.id] = {None: chair_conversation}
            if unanswered:
                assert plan.meeting_deadline - now > timedelta(minutes=20), plan.meeting_deadline
                clock[0] = decided + timedelta(minutes=10)
                rows = [NewInvitation(role=role, level="quorum", contact_id=f"rl-{i + 1}-{role}",
                                      contact_name=f"Duty {role} {i + 1}", contact_aad_id=str(uuid.uuid4()),
                                      contact_email=f"duty.{role}.{i + 1}@example.org", contact_phone="0117 496 0000",
                                      tenant_id=TENANT, service_url=emulator.url) for role in QUORUM]
                await asyncio.to_thread(repo.add_invitations, meeting.id, rows)
                claimed = await asyncio.to_thread(repo.claim_invitations, "seed", clock[0], 60, 10)
                for inv in claimed:
                    conversation = emulator.add_conversation(f"a:rl-{i + 1}-{inv.role}", inv.contact_aad_id)
                    await asyncio.to_thread(repo.mark_delivered, inv.id, "seed", conversation, "seeded")
                    conversations[meeting.id][inv.id] = conversation
            clock[0] = now
            await service.sync_reminders(meeting.id)
            if retime is not None:
                rows = await asyncio.to_thread(repo.list_reminders, meeting.id)
                wanted = []
                for r in rows:
                    w = NewReminder(r.key, r.kind, r.recipient, r.due_at, r.detail, r.invitation_id)
                    wanted.append(NewReminder(r.key, r.kind, r.recipient, retime(stored, w), r.detail, r.invitation_id))
                    stored += 1
                await asyncio.to_thread(repo.sync_reminders, meeting.id, wanted)
            for r in await asyncio.to_thread(repo.list_reminders, meeting.id):
                conversation = conversations[meeting.id][r.invitation_id if r.recipient == "invitee" else None]
                e = Expected(r.id, meeting.id, r.key, conversation, r.detail["title"], r.due_at)
                (load.due if r.due_at <= now else load.later)[r.id] = e
            load.meeting_ids.append(meeting.id)
    finally:
        repo.close()
    cards = [(e.conversation_id, e.title) for e in (*load.due.values(), *load.later.values())]
    assert len(set(cards)) == len(cards), "two reminders would show the same card in one chat"
    return load


# --- what the connector received ------------------------------------------------------------

def card_title(body: Any) -> str | None:
    """The title (first TextBlock) of the Adaptive Card an activity carries, if any."""
    if not isinstance(body, dict):
        return None
    for a in body.get("attachments") or ():
        content = a.get("content") if isinstance(a, dict) else None
        if isinstance(content, dict) and content.get("body"):
            return content["body"][0].get("text")
    return None


def card_posts(emulator: Any) -> list[tuple[tuple[str, str], Any]]:
    """((conversation, card title), request) of every card POSTed to a conversation."""
    out = []
    for rec in emulator.requests:
        if rec.method == "POST" and rec.conversation_id is not None:
            title = card_title(rec.body)
            if title is not None:
                out.append(((rec.conversation_id, title), rec))
    return out


# --- bot replicas ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    """`python -m bot serve` on a free port of 127.0.0.1, its log in `log_dir`. `env` adds
    to (a value of None: removes from) this process's environment."""

    def __init__(self, db_url: str, log_dir: Path, name: str, env: dict[str, str | None] | None = None):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.env = {**os.environ, "DATABASE_URL": db_url, "HOST": "127.0.0.1"}
        for var, value in {"MicrosoftAppId": None, "MicrosoftAppPassword": None, **(env or {})}.items():
            if value is None:
                self.env.pop(var, None)
            else:
                self.env[var] = value
        self._spawn()

    def _spawn(self) -> None:
        # The port is free when chosen, but another process (a parallel test run) may bind it
        # before the bot does: `ready` then starts the bot again on another one.
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT,
                                     env={**self.env, "PORT": str(self.port)},
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    @property
    def owner(self) -> str:
        """The owner it writes on leases and events (bot.settings: node name and pid)."""
        return f"{os.uname().nodename}:{self.proc.pid}"

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        port_taken = 0
        while loop.time() < end:
            if self.proc.poll() is not None:
                if "address already in use" in self.log.read_text(errors="replace").lower() and port_taken < 3:
                    port_taken += 1
                    self._spawn()
                    continue
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                async with http.get(f"{self.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def problems(self) -> list[str]:
        """WARNING/ERROR lines of its log (and tracebacks)."""
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if " WARNING " in line or " ERROR " in line or "Traceback" in line]
