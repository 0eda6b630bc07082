"""kill -9 in the middle of a fan-out of 40 invitations: how many cards go twice, against how
many sends were in flight when the process died, and whether the meeting is left "sending".

    .venv/bin/python bench/crash_fanout.py                 # 16 trials on SQLite (about 5 minutes)
    .venv/bin/python bench/crash_fanout.py --trials 4 --postgres

Each trial, on a fresh database (a SQLite file, or with --postgres a fresh schema of
TEST_DATABASE_URL, dropped after):

  1. A bot process (`python -m bot serve`, tests/reminder_load.BotProcess; delivery lease
     2 s, poll 0.2 s) against the Bot Connector emulator (tests/emulators/connector.py,
     enforcing Teams' limits, answering each request after --latency seconds as Teams takes
     a moment to).
  2. The chair submits a request through /api/messages (`request_submit`): a draft meeting.
     No directory lists 40 contacts for one meeting, so its 40 invitations (40 agency contacts
     in the plan's roles, each a first contact: a create-conversation, then the card) are
     written through the Repository, as tests/test_delivery_outage.py writes them, and the
     meeting set to "sending"; the worker claims them on its next poll.
  3. The process is SIGKILLed at a random moment of the fan-out: a delay drawn uniformly
     from the fan-out's length after its first request (a create-conversation) reached the
     emulator. The length is measured first, by a calibration run (trial 0) that is not
     killed: from its first request to its 40th card answered.
  4. What was in flight is read from outside, with the first process dead: the emulator's
     records (every request it received, and what it answered) and the invitation rows
     (which the dead process can no longer change). After 0.5 s (the emulator has answered
     everything it received, and has read whatever was still in the socket) the second
     process starts; everything received before that came from the first.
  5. A second process takes over (the dead one's leases expire after 2 s) and delivers the
     rest; the trial waits until every invitation is delivered and the meeting has left
     "sending" (at most 10 s more: a meeting still "sending" then is counted as left so),
     then a further lease period, so a late repeat would still be counted.

Counted per trial:

  * duplicates: invitation cards the emulator accepted (201) into the same chat more than
    once (a chat's cards beyond its first);
  * in flight at the kill: invitation cards the dead process had sent (the emulator
    received them, by the 0.5 s snapshot) whose invitation row is not marked delivered. Of
    these, `unanswered` were received but not yet answered at the instant of the kill,
    `late` reached the emulator only after it (they were in the socket), and `unrec` were
    answered 201 before the kill but not yet recorded. This is every send whose outcome the
    dead process did not record, observed from both ends: it is what the second process may
    send again. Create-conversation calls in flight are not counted (they carry no card);
  * whether every chat with a duplicate is one of those in flight (the bound, per card);
  * whether the two copies are the same invitation (the same invitation_id in their actions)
    in the same chat;
  * the meeting's state at the end ("sending" is a meeting left unsettled).

Exit status 1 if any trial had more duplicates than sends in flight, a duplicate outside
them or not the same invitation in the same chat, a meeting left "sending", a request over
Teams' limits, or did not finish in --timeout seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.adapters.db.repository import NewInvitation, Repository  # noqa: E402
from tests.emulators.connector import install_as_directories_say, ConnectorEmulator, RecordedRequest, running_emulator  # noqa: E402
from tests.emulators.teams import Person, card_action, find_data  # noqa: E402
from tests.reminder_load import PG_URL, BotProcess, pg_schema  # noqa: E402
from tests.test_bot_flow import CHAIR_AAD, FORM  # noqa: E402

INVITATIONS = 40
LEASE_SECONDS = 2.0
SNAPSHOT_SECONDS = 0.5   # after the kill: the emulator has answered and read all it will
SETTLE_SECONDS = 10.0    # all delivered -> the meeting no longer "sending" (50 polls of the worker)
CHAIR = Person(CHAIR_AAD, "29:chair", "Sam Chair", "a:chair")
BOT_ENV = {"STRATBOT_DELIVERY_POLL_SECONDS": "0.2", "STRATBOT_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS)}


@dataclass
class Trial:
    n: int                           # 0: the calibration run, not killed
    kill_after_ms: float | None      # the kill came this long after the fan-out's first request
    kill_at_card: int | None = None  # or (tests) as soon as the emulator received this many cards
    received_at_kill: int = 0        # invitation cards the emulator had received at the kill
    unanswered: int = 0              # of those in flight: received, not yet answered, at the kill
    late: int = 0                    # of those in flight: received only after the kill
    in_flight: int = 0               # sent by the dead process, not recorded delivered
    recorded_by_first: int = 0       # invitation rows the dead process had marked delivered
    record_lag_ms: float = 0.0       # the longest an answered, unrecorded card had been answered at the kill
    warnings: list[str] = field(default_factory=list)  # WARNING/ERROR lines of the processes' logs
    duplicates: int = 0              # cards beyond the first in one chat
    outside_bound: int = 0           # chats with a duplicate that was not in flight at the kill
    mixed_chats: int = 0             # chats whose cards carry different invitation ids
    split_invitations: int = 0       # invitations whose cards went to more than one chat
    final_state: str = ""            # the meeting's state at the end
    fan_out_seconds: float = 0.0     # first request of the fan-out -> last card received (+ latency)
    takeover_seconds: float = 0.0    # the kill -> every invitation delivered and the meeting sent
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # why the trial failed, if it did

    @property
    def answered_unrecorded(self) -> int:
        """Of those in flight: answered 201 before the kill, the row not yet marked."""
        return self.in_flight - self.unanswered - self.late

    @property
    def failed(self) -> bool:
        return bool(self.problems) or self.duplicates > self.in_flight or self.outside_bound > 0 \
            or self.mixed_chats > 0 or self.split_invitations > 0 or self.final_state == "sending"


def invitation_of(rec: RecordedRequest) -> str | None:
    """The invitation an accepted-or-not card POST carries (its actions' invitation_id)."""
    if rec.method != "POST" or rec.conversation_id is None or "/activities" not in rec.path:
        return None
    return find_data(rec.body, "invitation_id")


def fan_out_requests(emu: ConnectorEmulator) -> list[RecordedRequest]:
    """The fan-out's requests: creating an invitee's chat, or posting an invitation card (the
    chair's chat exists already, so every create is an invitee's)."""
    return [r for r in emu.requests if (r.method == "POST" and r.conversation_id is None) or invitation_of(r)]


def invitation_cards(emu: ConnectorEmulator, before: int | None = None) -> list[tuple[str, RecordedRequest]]:
    """(invitation id, request) of every invitation card POST, the first `before` requests only."""
    requests = emu.requests if before is None else emu.requests[:before]
    return [(inv, r) for r in requests if (inv := invitation_of(r)) is not None]


@contextlib.contextmanager
def fresh_database(postgres: bool, scratch: Path, n: int) -> Iterator[str]:
    if postgres:
        with pg_schema(PG_URL, prefix="crash_") as url:
            yield url
    else:
        yield f"sqlite:///{scratch / f'trial-{n}.sqlite3'}"


async def until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def create_meeting(http: aiohttp.ClientSession, bot: BotProcess, emu: ConnectorEmulator, repo: Repository) -> str:
    """A draft meeting through the service's own path, its 40 invitations through the
    repository (no directory lists 40 contacts for one meeting), set sending."""
    activity = card_action(emu.url, CHAIR, "request_submit", FORM, id="act-request_submit")
    async with http.post(f"{bot.url}/api/messages", json=activity) as r:
        if r.status != 200:
            raise RuntimeError(f"request_submit answered {r.status}: {(await r.text())[:300]}")
        meeting_id = find_data((await r.json())["value"], "meeting_id")
    meeting = await asyncio.to_thread(repo.get_meeting, meeting_id)
    roles = [i["role"] for i in meeting.plan["invitees"]]
    # In the council's tenant (its directory says the app is installed there), installed for them.
    from bot.directory import load_directory

    council = next(c.tenant_id for c in load_directory(meeting.area).contacts if c.role == "social_care")
    emu.install(*(f"{n:08d}-0000-4000-8000-000000000000" for n in range(INVITATIONS)))
    rows = [NewInvitation(role=roles[n % len(roles)], level="should", contact_id=f"c{n}",
                          contact_name=f"Contact {n}", contact_aad_id=f"{n:08d}-0000-4000-8000-000000000000",
                          tenant_id=council, service_url=emu.url) for n in range(INVITATIONS)]
    await asyncio.to_thread(repo.add_invitations, meeting_id, rows)
    await asyncio.to_thread(repo.update_meeting_fields, meeting_id, state="sending")
    return meeting_id


async def run_trial(trial: Trial, url: str, scratch: Path, http: aiohttp.ClientSession, *,
                    latency: float = 0.1, linger: float = LEASE_SECONDS + 0.5) -> None:
    """One trial (see the module docstring); killed trial.kill_after_ms after the fan-out's
    first request or, if trial.kill_at_card is set, as soon as the emulator has received that
    many invitation cards (the last of them certainly unanswered: the emulator holds each
    answer `latency` seconds and the poll is every 2 ms); with neither, the calibration: the
    same fan-out, not killed, to measure how long it lasts. `linger`: seconds to keep
    watching once every invitation is delivered and the meeting sent."""
    started = time.monotonic()
    processes: list[BotProcess] = []
    repo: Repository | None = None
    meeting_id = ""

    def state() -> tuple[int, str]:
        invitations = repo.list_invitations(meeting_id)
        return sum(i.delivery_state == "delivered" for i in invitations), repo.get_meeting(meeting_id).state

    try:
        async with running_emulator() as emu:
            install_as_directories_say(emu)  # the app, where the directory says it is installed
            emu.enforce_limits(per_tenant=True)  # Teams counts per app per tenant: the chair and the contacts are in two
            emu.delay = latency
            emu.add_conversation(CHAIR.conversation, CHAIR.user_id)
            first = BotProcess(url, scratch, f"trial-{trial.n}-first", BOT_ENV)
            processes.append(first)
            await first.ready(http)
            repo = Repository.from_url(url)
            meeting_id = await create_meeting(http, first, emu, repo)
            await until(lambda: fan_out_requests(emu), 30, "the fan-out to start", interval=0.002)
            fan_out_start = fan_out_requests(emu)[0].received_at

            if trial.kill_at_card is not None or trial.kill_after_ms is not None:
                if trial.kill_at_card is not None:
                    await until(lambda: len(invitation_cards(emu)) >= trial.kill_at_card, 30,
                                f"invitation card {trial.kill_at_card}", interval=0.002)
                else:  # a random moment of the fan-out
                    await asyncio.sleep(max(0.0, fan_out_start + trial.kill_after_ms / 1000 - time.monotonic()))
                first.proc.send_signal(signal.SIGKILL)
                killed_at, seen_at_kill = time.monotonic(), len(emu.requests)
                unanswered_at_kill = {inv for inv, r in invitation_cards(emu) if r.status == 0}
                first.proc.wait(10)
                trial.received_at_kill = len(invitation_cards(emu, seen_at_kill))

                # What the dead process left, from both ends.
                await asyncio.sleep(SNAPSHOT_SECONDS)
                sent_by_first = invitation_cards(emu)
                recorded = {i.id for i in await asyncio.to_thread(repo.list_invitations, meeting_id)
                            if i.delivery_state == "delivered"}
                trial.recorded_by_first = len(recorded)
                in_flight = {inv for inv, _ in sent_by_first} - recorded
                trial.in_flight = len(in_flight)
                trial.unanswered = len(in_flight & unanswered_at_kill)
                trial.late = len({inv for inv, r in sent_by_first if r.received_at > killed_at} & in_flight)
                trial.record_lag_ms = max((1000 * (killed_at - r.received_at - latency) for inv, r in sent_by_first
                                           if inv in in_flight and inv not in unanswered_at_kill
                                           and r.received_at <= killed_at), default=0.0)

                # The takeover.
                second_from = time.monotonic()
                second = BotProcess(url, scratch, f"trial-{trial.n}-second", BOT_ENV)
                processes.append(second)
                await second.ready(http)
            else:
                in_flight = set()
            await until(lambda: state()[0] == INVITATIONS, 60, "every invitation delivered", interval=0.2)
            # The worker settles a meeting right after its last batch; SETTLE_SECONDS later,
            # one still "sending" is one left so (counted, not a timeout).
            with contextlib.suppress(TimeoutError):
                await until(lambda: state()[1] != "sending", SETTLE_SECONDS, "the meeting to leave sending", interval=0.2)
            if processes[1:]:
                trial.takeover_seconds = time.monotonic() - killed_at
            await asyncio.sleep(linger)  # a repeat arriving late would still count
            processes[-1].stop()
            trial.final_state = (await asyncio.to_thread(state))[1]

            cards = invitation_cards(emu)
            if not processes[1:]:  # not killed: the fan-out's length
                trial.fan_out_seconds = max(r.received_at for _, r in cards) + latency - fan_out_start
            accepted = [(inv, r) for inv, r in cards if r.status == 201]
            per_chat = Counter(r.conversation_id for _, r in accepted)
            ids_per_chat: dict[str, set[str]] = {}
            for inv, r in accepted:
                ids_per_chat.setdefault(r.conversation_id, set()).add(inv)
            trial.duplicates = sum(c - 1 for c in per_chat.values())
            trial.mixed_chats = sum(len(ids) > 1 for ids in ids_per_chat.values())
            chats_per_invitation: dict[str, set[str]] = {}
            for inv, r in accepted:
                chats_per_invitation.setdefault(inv, set()).add(r.conversation_id)
            trial.split_invitations = sum(len(chats) > 1 for chats in chats_per_invitation.values())
            trial.outside_bound = sum(1 for chat, c in per_chat.items() if c > 1 and not ids_per_chat[chat] <= in_flight)
            if len(per_chat) != INVITATIONS:
                trial.problems.append(f"{len(per_chat)} chats received an invitation, not {INVITATIONS}")
            if emu.limit_violations:
                throttled = [f"{'second' if processes[1:] and r.received_at >= second_from else 'first'} "
                             f"{r.method} {'create' if r.conversation_id is None else r.conversation_id[:8]} "
                             f"at {r.received_at - fan_out_start:+.3f} s" for r in emu.requests if r.status == 429]
                trial.problems.append(f"{emu.limit_violations} requests over Teams' limits: {', '.join(throttled)}")
    except (TimeoutError, RuntimeError, AssertionError) as e:
        trial.problems.append(str(e).splitlines()[0][:300])
        if repo is not None and meeting_id and not trial.final_state:
            with contextlib.suppress(Exception):
                trial.final_state = (await asyncio.to_thread(state))[1]
    finally:
        for p in processes:
            p.stop()
            trial.warnings += [f"{p.name}: {line[:200]}" for line in p.problems() if "authentication is OFF" not in line]
        if repo is not None:
            repo.close()
        trial.seconds = time.monotonic() - started


def row(t: Trial) -> str:
    kill = "-" if t.kill_after_ms is None else f"{t.kill_after_ms:.0f}"
    fan_out = f"{t.fan_out_seconds:.2f}" if t.fan_out_seconds else "-"
    takeover = f"{t.takeover_seconds:.1f}" if t.takeover_seconds else "-"
    line = (f"{t.n:>5} {kill:>7} {t.received_at_kill:>4} {t.recorded_by_first:>4} {t.in_flight:>6} {t.unanswered:>6} "
            f"{t.late:>4} {t.answered_unrecorded:>5} {t.record_lag_ms:>4.0f} {t.duplicates:>4} {t.outside_bound:>7} {t.final_state:>8} {fan_out:>7} "
            f"{takeover:>8} {t.seconds:>5.1f} {len(t.warnings):>4}")
    return line + (f"  FAIL: {'; '.join(t.problems) or 'bound violated'}" if t.failed else "")


async def run(trials: int, *, postgres: bool = False, seed: int | None = None, latency: float = 0.1,
              timeout: float = 90, scratch: Path | None = None,
              report=print) -> list[Trial]:
    """A calibration run (not killed: how long the fan-out lasts), then the trials one after
    another, each killed at a moment drawn uniformly from that duration; report(line) prints
    each as it ends. Returns the trials (the calibration first, n = 0)."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report(f"{trials} trials on {'PostgreSQL (a fresh schema each)' if postgres else 'SQLite (a fresh file each)'}, "
           f"{INVITATIONS} invitations, lease {LEASE_SECONDS:g} s, connector latency {latency * 1000:.0f} ms, seed {seed}")
    report(f"{'trial':>5} {'kill ms':>7} {'recv':>4} {'rec':>4} {'flight':>6} {'unansw':>6} {'late':>4} {'unrec':>5} {'lag':>4} {'dup':>4} "
           f"{'outside':>7} {'state':>8} {'fan-out':>7} {'takeover':>8} {'s':>5} {'warn':>4}")
    done: list[Trial] = []
    with contextlib.ExitStack() as stack:
        scratch = scratch or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-fanout-")))
        async with aiohttp.ClientSession() as http:
            for n in range(trials + 1):
                kill_after = None if n == 0 else round(rng.uniform(0, done[0].fan_out_seconds * 1000), 1)
                trial = Trial(n, kill_after)
                with fresh_database(postgres, scratch, n) as url:
                    try:
                        await asyncio.wait_for(run_trial(trial, url, scratch, http, latency=latency), timeout)
                    except asyncio.TimeoutError:
                        trial.problems.append(f"did not finish in {timeout:.0f} s")
                done.append(trial)
                report(row(trial))
                if n == 0 and trial.failed:
                    report("the calibration run failed: no trials")
                    break
    summarise(done[1:], report)
    return done


def summarise(done: list[Trial], report=print) -> None:
    if not done:
        return
    report(f"totals: {sum(t.duplicates for t in done)} duplicate cards, {sum(t.in_flight for t in done)} sends in "
           f"flight at the kill ({sum(t.unanswered for t in done)} unanswered, {sum(t.late for t in done)} late, "
           f"{sum(t.answered_unrecorded for t in done)} answered but not recorded), "
           f"{sum(t.final_state == 'sending' for t in done)} meetings left sending, "
           f"{sum(t.mixed_chats for t in done)} chats holding two different invitations, "
           f"{sum(t.split_invitations for t in done)} invitations sent into two chats")
    report(f"bound: max duplicates in a trial {max(t.duplicates for t in done)}, max in flight "
           f"{max(t.in_flight for t in done)}; trials with duplicates > in flight: "
           f"{sum(t.duplicates > t.in_flight for t in done)}, with a duplicate not in flight: "
           f"{sum(t.outside_bound > 0 for t in done)}; trials failed: {sum(t.failed for t in done)}")
    report(f"longest an answered card waited unrecorded at a kill: {max(t.record_lag_ms for t in done):.0f} ms")
    # Digits masked, so the same message about different ids or times counts once.
    kinds = Counter(re.sub(r"\d+", "#", w.split(": ", 1)[1][:120]) for t in done for w in t.warnings)
    report(f"bot logs: {sum(kinds.values())} warning/error lines" + "".join(
        f"\n  {n} x {text}" for text, n in kinds.most_common(6)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--postgres", action="store_true", help=f"a fresh schema of {PG_URL} per trial, not SQLite")
    parser.add_argument("--seed", type=int, help="for the kill moments (default: random, printed)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator takes to answer (0.1)")
    parser.add_argument("--timeout", type=float, default=90, help="seconds a trial may take (90)")
    args = parser.parse_args(argv)
    done = asyncio.run(run(args.trials, postgres=args.postgres, seed=args.seed, latency=args.latency,
                           timeout=args.timeout))
    return 1 if any(t.failed for t in done) else 0


if __name__ == "__main__":
    sys.exit(main())
