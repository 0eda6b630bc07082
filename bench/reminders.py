"""Benchmark: reminder lateness with several bot replicas on one PostgreSQL database.

    .venv/bin/python bench/reminders.py                    # 3 processes, ~300 reminders (about 35 s)
    .venv/bin/python bench/reminders.py --processes 3 --reminders 300 \\
        --database-url postgresql+psycopg://root@127.0.0.1:5432/test

Lateness is the time from a reminder's `due_at` to the Bot Connector (the local emulator,
tests/emulators/connector.py, in this process) receiving the card it answers 201 to.

1. A fresh schema is made in the PostgreSQL database (dropped at the end) and migrated.
2. Meetings are written with their planned reminders, as tests/reminder_load.py does (the
   planner's own keys, so the worker's re-check keeps them all), and every reminder's due
   time is moved to a random instant (seeded) in a window of --window seconds that opens
   --lead seconds after the start: a few hundred reminders falling due close together, not
   a backlog.
3. --processes replicas start at once (`python -m bot serve`, real processes) with the
   default settings: STRATBOT_REMINDER_POLL_SECONDS 30, STRATBOT_DELIVERY_LEASE_SECONDS 60.
   Each one's first poll finds nothing due yet and schedules APScheduler's one-off
   "next due" run; after each pass it schedules the next. That wake-up, the claim (FOR
   UPDATE SKIP LOCKED), the planner's re-check and the send are what is measured; the 30 s
   poll is only the safety net (a reminder left for it would show as ~30 s late).
4. When every reminder is sent (or after a timeout) the replicas are stopped and the
   figures printed: lateness p50/p90/p99/max to the connector and to the row marked sent,
   how the sends were shared, and a check that each reminder went exactly once.

The connector emulator enforces Teams' limits (429 above 7 requests/s per conversation or
50/s for the app over all tenants) unless --no-limits; each replica's client keeps within
50/s on its own, so three replicas together may exceed it and be told to wait (reported).
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot.adapters.db import migrate  # noqa: E402
from bot.adapters.db.engine import normalize_url  # noqa: E402
from tests.emulators.connector import install_as_directories_say, running_emulator  # noqa: E402
from tests.reminder_load import PG_URL, BotProcess, Tables, card_posts, pg_schema, seed  # noqa: E402

UNANSWERED_EVERY = 8  # one meeting in 8 has three silent agencies (8 reminders), the others 5


def meetings_for(reminders: int) -> int:
    n = total = 0
    while total < reminders:
        total += 8 if UNANSWERED_EVERY and n % UNANSWERED_EVERY == 0 else 5
        n += 1
    return n


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def line(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"   {name:<34} p50 {pct(ms, 50):7.0f} ms   p90 {pct(ms, 90):7.0f} ms   p99 {pct(ms, 99):7.0f} ms"
            f"   max {max(ms):7.0f} ms   min {min(ms):6.0f} ms   mean {statistics.fmean(ms):6.0f} ms")


async def run(args: argparse.Namespace, url: str, logs: Path) -> int:
    rng = random.Random(args.seed)
    migrate.upgrade(url)
    wall_minus_monotonic = time.time() - time.monotonic()
    async with running_emulator() as emu, aiohttp.ClientSession() as http:
        install_as_directories_say(emu)  # the app, where the directory says it is installed
        if not args.no_limits:
            emu.enforce_limits()
        started = datetime.now(timezone.utc)
        opens = started + timedelta(seconds=args.lead)
        load = await seed(url, emu, meetings=meetings_for(args.reminders), unanswered_every=UNANSWERED_EVERY,
                          now=started,
                          retime=lambda n, r: opens + timedelta(seconds=rng.uniform(0, args.window)))
        due = {**load.due, **load.later}
        seeded = datetime.now(timezone.utc)
        print(f"load: {len(due)} reminders of {len(load.meeting_ids)} meetings "
              f"({sum(e.key.startswith('chase:') for e in due.values())} to agencies, the rest to the chairs), "
              f"due at random in {args.window:g} s opening {args.lead:g} s after the start "
              f"(written in {(seeded - started).total_seconds():.1f} s)")
        defaults = {"STRATBOT_REMINDER_POLL_SECONDS": None, "STRATBOT_DELIVERY_LEASE_SECONDS": None,  # 30 s, 60 s
                    "STRATBOT_REPLICAS": str(args.processes)}  # each replica keeps to its share of 50/s
        bots = [BotProcess(url, logs, f"replica-{n}", defaults) for n in range(args.processes)]
        tables = Tables(url)
        try:
            t_launch = time.perf_counter()
            await asyncio.gather(*(b.ready(http, timeout=60) for b in bots))
            up = time.perf_counter() - t_launch
            margin = (opens - datetime.now(timezone.utc)).total_seconds()
            print(f"replicas: {args.processes} x `python -m bot serve`, all ready {up:.1f} s after launch, "
                  f"{margin:.1f} s before the first due time")
            if margin < 0:
                print("WARNING: reminders fell due before every replica was up: raise --lead")
            limit = args.lead + args.window + 60
            loop = asyncio.get_running_loop()
            end = loop.time() + limit
            while True:
                rows = await asyncio.to_thread(tables.reminders)
                if all(rows[i].state != "pending" for i in due):
                    break
                if loop.time() > end:
                    print(f"TIMEOUT: {sum(rows[i].state == 'pending' for i in due)} reminders still pending "
                          f"{limit:.0f} s after the start")
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything sent twice would show now
        finally:
            for b in bots:
                b.stop()
        rows = tables.reminders()
        events = tables.events()
        tables.close()

    by_card = load.by_card()
    delivered: dict[str, float] = {}
    copies: Counter[str] = Counter()
    for card, rec in card_posts(emu):
        e = by_card.get(card)
        if e is None or rec.status != 201:
            continue
        copies[e.reminder_id] += 1
        delivered.setdefault(e.reminder_id, rec.received_at + wall_minus_monotonic)
    to_connector = [delivered[i] - e.due_at.timestamp() for i, e in due.items() if i in delivered]
    to_marked = [(rows[i].sent_at - e.due_at).total_seconds() for i, e in due.items() if rows[i].sent_at]
    owners = {b.owner: b.name for b in bots}
    shares = Counter(owners.get(d["owner"], d["owner"]) for k, d, _ in events if k == "reminder.sent")
    statuses = Counter(rec.status for _, rec in card_posts(emu))

    print(f"\nreminder lateness (due_at -> ...), {len(to_connector)} reminders:")
    if to_connector:
        print(line("connector received the card (201)", to_connector))
        print(line("row marked sent (sent_at)", to_marked))
        late = sorted(to_connector)
        print(f"   later than 1 s: {sum(x > 1 for x in late)}; later than 5 s: {sum(x > 5 for x in late)}; "
              f"early (before due_at): {sum(x < 0 for x in late)}")
    print(f"sent by: {', '.join(f'{name} {shares[name]}' for name in sorted(owners.values()))}")
    print(f"connector answers to reminder cards: {', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))}; "
          f"limit violations: {emu.limit_violations}{' (limits not enforced)' if args.no_limits else ''}")
    missing = [i for i in due if i not in delivered]
    twice = {i: n for i, n in copies.items() if n > 1}
    states = Counter(rows[i].state for i in due)
    print(f"exactly once: {len(due) - len(missing) - len(twice)} of {len(due)}; missing {len(missing)}, "
          f"delivered twice {len(twice)}; rows {dict(states)}; "
          f"reminder.sent events {sum(k == 'reminder.sent' for k, _, _ in events)}")
    attempts = Counter(rows[i].attempts for i in due)
    print("claims per reminder (more than 1: a send failed, e.g. throttled past the client's retries, and was "
          "retried later): " + ", ".join(f"{n} x {a}" for a, n in sorted(attempts.items())))
    problems = [f"{b.name}: {p}" for b in bots for p in b.problems() if "authentication is OFF" not in p]
    print(f"replica logs: {len(problems)} warnings/errors" + "".join(f"\n   {p[:200]}" for p in problems[:8]))
    return 0 if not missing and not twice else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3, help="bot replicas (default 3)")
    parser.add_argument("--reminders", type=int, default=300, help="reminders falling due (default 300; "
                        "whole meetings are written, so a few more may be)")
    parser.add_argument("--database-url", default=PG_URL,
                        help=f"PostgreSQL URL; a fresh schema is made there and dropped after (default {PG_URL})")
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the reminders fall due (default 10)")
    parser.add_argument("--lead", type=float, default=12.0,
                        help="seconds from the start to the first due time: room to write the load and start "
                             "the replicas (default 12)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the due times")
    parser.add_argument("--no-limits", action="store_true", help="the emulator does not enforce Teams' rate limits")
    args = parser.parse_args(argv)
    if args.processes < 1 or args.reminders < 1 or args.window < 0 or args.lead <= 0:
        parser.error("--processes and --reminders must be positive, --window not negative, --lead positive")
    if normalize_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL (replicas share it)")

    from sqlalchemy.exc import OperationalError

    print(f"reminder benchmark: Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs (os.cpu_count()): replicas, PostgreSQL and this process share them")
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="stratbot-bench-") as logs, pg_schema(args.database_url, "bench_") as url:
            u = normalize_url(args.database_url)
            print(f"database: PostgreSQL at {u.host}:{u.port or 5432}/{u.database}, a fresh schema (dropped after)")
            status = asyncio.run(run(args, url, Path(logs)))
    except OperationalError as e:
        print(f"database error: {getattr(e, 'orig', None) or e}", file=sys.stderr)
        return 2
    print(f"run took {time.perf_counter() - t0:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
