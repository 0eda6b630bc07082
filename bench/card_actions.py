"""Card-action throughput of the real bot against a bare botbuilder echo bot, in one run.

    .venv/bin/python bench/card_actions.py              # SQLite and PostgreSQL (about 45 s)
    .venv/bin/python bench/card_actions.py --check      # also exit 1 if a ratio misses the target
    .venv/bin/python bench/card_actions.py --databases sqlite

For each database: the real bot (bot.app.create_app, with the connector emulator of
tests/emulators/connector.py enforcing Teams' limits) and the echo bot (bench/echo_bot.py:
a stock CloudAdapter with the same msrest speed-up) are served side by side in this process.
The setup of bench/delivery.py gives --users agency contacts a delivered invitation each
(small real requests in every area). Then --users concurrent users, in a closed loop (each
sends its next press as soon as the last is answered), press their invitation's buttons:
Accept, then Decline with a reason, then Accept ..., every press a real change (recorded,
reminders re-planned, the chair's card updated), the alternation carrying on from turn to turn. The echo bot gets the same request bodies.
The load comes from a separate process, so the client's own work does not take the bots'
CPU. The two bots take turns, --rounds times (echo, real, echo, real, ...), so that whatever
else the machine is doing falls on both alike; a warm-up of one press per user each
comes first and is not counted.

Printed per database and bot: requests, requests/s (requests over the summed wall time of
its turns), p50 and p99 of the HTTP round trip, the slowest and fastest turn; then the
ratio real/echo of requests/s. Target: the real bot at >= TARGET_RATIO of the echo bot's
throughput on each database. Every answer is checked ("You accepted" / "You declined" from
the real bot, "You pressed" from the echo bot); an unexpected one fails the run.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import Engine, event  # noqa: E402
from sqlalchemy.dialects.postgresql._psycopg_common import _PGDialect_common_psycopg as PingingDialect  # noqa: E402

from bench.delivery import (  # noqa: E402
    LogTally, Planner, Teams, fresh_database, ms, pct, prepare_users, running_bot, serving,
)
from bench.echo_bot import create_echo_app  # noqa: E402
from bot.adapters.db.engine import READ_ONLY  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.emulators.connector import install_as_directories_say, running_emulator  # noqa: E402

TARGET_RATIO = 0.40
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
# One round of presses per user: each is a change of the stored answer.
PRESSES = (("invite_accept", {}, "You accepted"),
           ("invite_decline", {"decline_reason": "In court all day"}, "You declined"))
ECHO_ANSWER = "You pressed"


# --- the load, from its own process ---------------------------------------------------------

def drive(url: str, sequences: list[list[bytes]], expected: list[list[str]]) -> tuple[list[float], float, list[str]]:
    """Each sequence is one user posting its bodies one after another (a closed loop), all
    users at once. (round trips in seconds, wall seconds, unexpected answers)."""
    return asyncio.run(_drive(url, sequences, expected))


async def _drive(url: str, sequences: list[list[bytes]], expected: list[list[str]]) -> tuple[list[float], float, list[str]]:
    samples: list[float] = []
    wrong: list[str] = []
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def user(bodies: list[bytes], wants: list[str]) -> None:
            for body, want in zip(bodies, wants):
                t0 = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                samples.append(time.perf_counter() - t0)
                text = raw.decode(errors="replace")
                if resp.status != 200 or want not in text:
                    wrong.append(f"HTTP {resp.status}, expected {want!r}: {text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(user(b, w) for b, w in zip(sequences, expected)))
        return samples, time.perf_counter() - t0, wrong


class StatementCount:
    """Statements sent to the database in this process (any engine): each execute (an
    executemany counts once), COMMIT and ROLLBACK, and on PostgreSQL the BEGIN psycopg sends
    before a transaction's first statement and the pool's ping before use: on
    PostgreSQL each is a round trip to the server. `kinds`: how many of each statement, by
    its first words (for `--statements`)."""

    def __init__(self) -> None:
        self.total = 0
        self.kinds: collections.Counter[str] = collections.Counter()

    def count(self, kind: str) -> None:
        self.total += 1
        self.kinds[kind] += 1

    def listen(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._execute)
        event.listen(Engine, "begin", self._begin)
        event.listen(Engine, "commit", self._commit)
        event.listen(Engine, "rollback", self._rollback)
        self._dialect_ping = PingingDialect.do_ping
        counted = self.count

        def do_ping(dialect, dbapi_connection):  # the pool's ping before use (engine.py)
            counted("ping")
            return self._dialect_ping(dialect, dbapi_connection)
        PingingDialect.do_ping = do_ping

    def remove(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._execute)
        event.remove(Engine, "begin", self._begin)
        event.remove(Engine, "commit", self._commit)
        event.remove(Engine, "rollback", self._rollback)
        PingingDialect.do_ping = self._dialect_ping

    def _execute(self, _conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
        words = " ".join(statement.split()[:4])
        self.count(words[:60])

    def _begin(self, conn) -> None:
        if conn.dialect.name == "postgresql":  # sqlite: BEGIN IMMEDIATE is an execute (engine.py)
            self.count("BEGIN")

    def _commit(self, _conn) -> None:
        self.count("COMMIT")

    def _rollback(self, _conn) -> None:
        self.count("ROLLBACK")


class TransactionCount:
    """Database transactions begun in this process (any engine), reading and writing."""

    def __init__(self) -> None:
        self.reads = self.writes = 0

    def __call__(self, conn) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            self.reads += 1
        else:
            self.writes += 1


class ServerCpu:
    """CPU seconds the PostgreSQL server has used so far (its postmaster, its live processes,
    and the backends that have exited, which the postmaster has reaped), when the server runs on
    this machine and /proc shows it; None otherwise. The whole server's: other clients' work
    falls in it too."""

    def __init__(self, db_url: str) -> None:
        self.postmaster: int | None = None
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool
        engine = create_engine(db_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:  # its backend's parent, read while the backend lives
                fields = self._stat(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            if fields is not None:
                self.postmaster = int(fields[1])
                if self() is None:
                    self.postmaster = None
        except Exception:
            self.postmaster = None
        finally:
            engine.dispose()

    @staticmethod
    def _stat(pid: int) -> list[str] | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()  # from the state on: ppid is [1], utime [11]
        except OSError:
            return None

    def __call__(self) -> float | None:
        if self.postmaster is None:
            return None
        own = self._stat(self.postmaster)
        if own is None:
            return None
        ticks = sum(int(x) for x in own[11:15])  # utime, stime, and its reaped children's
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = self._stat(int(entry.name))
                if fields is not None and fields[1] == str(self.postmaster):
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Turns:
    """What one bot did over its turns on one database."""

    samples: list[float]
    walls: list[float]
    wrong: list[str]
    cpu: float = 0.0  # CPU seconds of this process (the bots, the emulator) over the turns
    reads: int = 0    # database transactions begun over the turns (the bot's workers' included)
    writes: int = 0
    statements: int = 0  # statements sent over the turns (StatementCount)
    kinds: collections.Counter = field(default_factory=collections.Counter)
    server_cpu: float | None = None  # the PostgreSQL server's CPU seconds over the turns (ServerCpu)

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def rate(self) -> float:
        return self.requests / sum(self.walls) if self.walls else 0.0


# --- one database ---------------------------------------------------------------------------

async def measure(args: argparse.Namespace, db_url: str, planner: Planner, pool: ProcessPoolExecutor) -> dict:
    settings = replace(Settings(), database_url=db_url, config_dir=args.config, delivery_poll_seconds=0.5,
                       worker_id="bench")
    loop = asyncio.get_running_loop()
    transactions = TransactionCount()
    event.listen(Engine, "begin", transactions)
    statements = StatementCount()
    statements.listen()
    server_cpu = ServerCpu(db_url) if db_url.startswith("postgresql") else (lambda: None)
    async with running_emulator() as emu:
        install_as_directories_say(emu)  # the app, where the directory says it is installed
        emu.enforce_limits()  # Teams' limits: the bot's client must keep within them
        async with running_bot(settings) as (bot_url, app), serving(create_echo_app()) as echo_url, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            t = Teams(http, bot_url, emu, app)
            users, setup = await prepare_users(t, planner, args.users, args.per_meeting)

            pressed = [0] * len(users)  # presses each user made on the real bot: the next one alternates

            def presses(count: int, echo: bool) -> tuple[list[list[bytes]], list[list[str]]]:
                bodies, wants = [], []
                for n, (person, invitation_id) in enumerate(users):
                    seq = [PRESSES[(pressed[n] + i) % len(PRESSES)] for i in range(count)]
                    if not echo:
                        pressed[n] += count
                    bodies.append([t.press_body(person, verb, {"invitation_id": invitation_id, **data})
                                   for verb, data, _ in seq])
                    wants.append([ECHO_ANSWER if echo else want for _, _, want in seq])
                return bodies, wants

            async def turn(echo: bool, count: int, into: Turns | None) -> None:
                url = f"{echo_url if echo else bot_url}/api/messages"
                bodies, wants = presses(count, echo)
                server = server_cpu()  # first: reading /proc is not the bots' CPU
                cpu, reads, writes = time.process_time(), transactions.reads, transactions.writes
                sent, kinds = statements.total, statements.kinds.copy()
                samples, wall, wrong = await loop.run_in_executor(pool, drive, url, bodies, wants)
                if into is not None:
                    into.samples += samples
                    into.walls.append(wall)
                    into.wrong += wrong
                    into.cpu += time.process_time() - cpu
                    into.reads += transactions.reads - reads
                    into.writes += transactions.writes - writes
                    into.statements += statements.total - sent
                    into.kinds.update(statements.kinds - kinds)
                    server_after = server_cpu()
                    if server is not None and server_after is not None:
                        into.server_cpu = (into.server_cpu or 0.0) + server_after - server
                elif wrong:
                    raise RuntimeError(f"warm-up: unexpected answer: {wrong[0]}")

            # Warm-up: one round of presses per user on each bot.
            await turn(True, len(PRESSES), None)
            await turn(False, len(PRESSES), None)
            await t.quiet(0.3)
            echo, real = Turns([], [], []), Turns([], [], [])
            per_turn = args.requests // (args.rounds * len(users))
            for _ in range(args.rounds):
                await turn(True, per_turn, echo)
                await turn(False, per_turn, real)
            await t.quiet(0.3)  # the chair-card updates settle
            event.remove(Engine, "begin", transactions)
            statements.remove()
            return {"echo": echo, "real": real, "setup": setup, "violations": emu.limit_violations,
                    "per_turn": per_turn}


def print_database(title: str, result: dict, users: int, rounds: int, show_statements: bool = False) -> float:
    setup = result["setup"]
    print(f"\n{title}")
    print(f"   setup: {setup['meetings']} meetings, {setup['invitations']} invitations delivered in "
          f"{setup['seconds']:.1f} s; {users} users, {rounds} turns each of {result['per_turn']} presses per user")
    print("   bot       requests    req/s      p50      p99   CPU/request   turns (req/s)")
    for name in ("echo", "real"):
        r: Turns = result[name]
        samples = sorted(r.samples)
        turn_rates = [len(r.samples) / len(r.walls) / w for w in r.walls]
        print(f"   {name:<8} {r.requests:>9} {r.rate:>8.0f} {ms(pct(samples, 0.5)):>8} {ms(pct(samples, 0.99)):>8}   "
              f"{r.cpu / r.requests * 1000:>8.1f} ms   {', '.join(f'{x:.0f}' for x in turn_rates)}")
    ratio = result["real"].rate / result["echo"].rate
    real = result["real"]
    print(f"   database transactions per press (real bot): {(real.reads + real.writes) / real.requests:.1f}, "
          f"{real.writes / real.requests:.1f} of them writing (background work included: the chair-card "
          f"refresh, the reminder and delivery workers)")
    print(f"   database statements per press (real bot): {real.statements / real.requests:.1f} (executes, "
          f"COMMIT/ROLLBACK, and on PostgreSQL BEGIN and the pool's pings: each a round trip there)")
    if show_statements:
        for kind, n in real.kinds.most_common():
            print(f"      {n / real.requests:5.2f}  {kind}")
    if real.server_cpu is not None:
        print(f"   PostgreSQL server CPU per press (real bot): {real.server_cpu / real.requests * 1000:.1f} ms "
              f"(echo bot's turns: {(result['echo'].server_cpu or 0.0) / result['echo'].requests * 1000:.1f} ms; "
              "the whole server's, from /proc: other clients' work counts too)")
    print(f"   CPU per request, echo/real: {result['echo'].cpu / result['echo'].requests / (result['real'].cpu / result['real'].requests):.1%}"
          " (this process's CPU time over the turns, whatever else the machine runs: the ratio the throughput "
          "ratio tends to on a CPU-bound machine)")
    per_turn = [(len(result['real'].samples) / rounds / rw) / (len(result['echo'].samples) / rounds / ew)
                for rw, ew in zip(result["real"].walls, result["echo"].walls)]
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(f"   real/echo: {ratio:.1%} (per pair of turns: {', '.join(f'{x:.0%}' for x in per_turn)}; "
          f"median {statistics.median(per_turn):.0%}); target >= {TARGET_RATIO:.0%}: {verdict}")
    print(f"   connector limit violations: {result['violations']}")
    wrong = result["real"].wrong + result["echo"].wrong
    if wrong:
        print(f"   UNEXPECTED ANSWERS: {len(wrong)}, e.g. {wrong[0]}")
    return ratio


@contextlib.contextmanager
def database(kind: str, scratch: Path) -> Iterator[tuple[str, str]]:
    scratch.mkdir(exist_ok=True)
    with fresh_database(None if kind == "sqlite" else PG_URL, scratch) as found:
        yield found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (TEST_DATABASE_URL or the local test database, "
                             "a fresh schema dropped after); default both")
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument("--requests", type=int, default=450,
                        help="counted presses per bot and database (default 450; rounded down to whole turns)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each bot takes, alternating (default 3)")
    parser.add_argument("--per-meeting", type=int, default=5, help="at most this many users answer in one meeting")
    parser.add_argument("--config", type=Path, default=ROOT / "config", help="folder of area profiles and directories")
    parser.add_argument("--statements", action="store_true",
                        help="list the real bot's statements per press by their first words")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if real/echo < {TARGET_RATIO * 100:.0f} per cent on a database")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite, postgres or both")
    if args.users < 1 or args.rounds < 1 or args.requests < args.users * args.rounds:
        parser.error("--requests must allow at least one press per user per turn")
    args.requests -= args.requests % (args.users * args.rounds)  # the same presses per user in every turn

    tallies = LogTally()
    logging.getLogger().addHandler(tallies)
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    planner = Planner(args.config)
    planner.answering_meetings(args.users, args.per_meeting)  # fail early if there are too few contacts
    from sqlalchemy.exc import OperationalError

    print(f"card-action benchmark: Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs (os.cpu_count()); load {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("bots: the real bot (bot.app.create_app) and the echo bot (bench/echo_bot.py) in this process;"
          " the load in another")
    started = time.perf_counter()
    ratios: dict[str, float] = {}
    wrong = 0
    # The load process is started before any event loop or database exists (spawn: a clean interpreter).
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            tempfile.TemporaryDirectory(prefix="stratbot-bench-") as scratch:
        pool.submit(int).result()
        for kind in kinds:
            try:
                with database(kind, Path(scratch) / kind) as (db_url, db_text):
                    result = asyncio.run(measure(args, db_url, planner, pool))
            except OperationalError as e:
                print(f"{kind}: database error: {getattr(e, 'orig', None) or e}", file=sys.stderr)
                return 2
            ratios[kind] = print_database(f"{db_text}:", result, args.users, args.rounds, args.statements)
            wrong += len(result["real"].wrong) + len(result["echo"].wrong)
    print(f"\nreal/echo: {', '.join(f'{k} {r:.1%}' for k, r in ratios.items())} (target >= {TARGET_RATIO:.0%})")
    print("\n".join(tallies.summary()))
    print(f"run time: {time.perf_counter() - started:.1f} s")
    failures = [f"{k}: real/echo {r:.1%} below {TARGET_RATIO:.0%}" for k, r in ratios.items() if r < TARGET_RATIO]
    if wrong:
        failures.append(f"{wrong} unexpected answers")
    if failures:
        print("FAIL: " + "; ".join(failures))
    return 1 if (args.check and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
