"""Benchmark of the plan engine: how many plans per second one core makes.

    .venv/bin/python bench/plans.py            # report the figures (about 10 s)
    .venv/bin/python bench/plans.py --check    # also exit 1 if the target is missed

It loads every area profile under config/ (bot.config_loader.load_profiles), builds a fixed,
seeded mix of realistic requests spread evenly over the loaded areas, checks that each one
plans, then times two paths, one request after another on a single thread:

  (a) parse_request + make_plan + plan.to_dict()      the engine, from decoded JSON to a dict
  (b) (a) + json.dumps(out)                           the plan as compact JSON text
  (c) (a) + json.dumps(out, indent=2, ensure_ascii=False), exactly as `python -m bot plan`
      prints it; for information only: with indent the json module falls back to its
      pure-Python encoder, which costs about four times the C encoder

and prints plans/s, mean microseconds per plan and the p50/p99/max per-plan latency for each.
The target is TARGET_PLANS_PER_SECOND on one core for (a) and (b); --check gates on those two.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config_loader import ConfigError, load_profiles  # noqa: E402
from bot.core.plan import make_plan  # noqa: E402
from bot.core.request import RequestInvalid, parse_request  # noqa: E402
from bot.core.vocabulary import CONCERNS  # noqa: E402

TARGET_PLANS_PER_SECOND = 5_000
LONDON = ZoneInfo("Europe/London")

# --- the request mix ------------------------------------------------------------------------

# Decision instants in London wall time, by situation. Bank holidays: Good Friday and Easter
# Monday 2026 and 2027, Christmas 2026 (Boxing Day substitute Mon 28 Dec) and 2027 (Mon 27,
# Tue 28 Dec substitutes), New Year's Day 2027, the August bank holiday 2026.
BANK_HOLIDAYS = ["2026-04-03", "2026-04-06", "2026-08-31", "2026-12-25", "2026-12-28",
                 "2027-01-01", "2027-03-26", "2027-03-29", "2027-12-27", "2027-12-28"]
CLOCK_CHANGE_DAYS = ["2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31"]
ODD_OFFSETS = [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), timezone.utc]

FLAGS_BY_CONCERN = {
    "physical_abuse": ["serious_harm", "unexplained_injury", "recent_incident", "immediate_action", "emergency_protection"],
    "sexual_abuse": ["penetrative_sexual_abuse", "forensic_window", "recent_incident", "historical_abuse", "immediate_action"],
    "emotional_abuse": ["historical_abuse", "recent_incident"],
    "neglect": ["chronic_neglect", "serious_harm", "unexplained_injury"],
    "extra_familial_harm": ["organised_abuse", "immediate_action", "recent_incident", "serious_harm"],
    "domestic_abuse": ["recent_incident", "immediate_action", "serious_harm"],
    "fabricated_induced_illness": ["serious_harm", "unexplained_injury"],
}
ANY_CASE_FLAGS = ["new_referral", "allegation_against_professional", "emergency_protection"]
REFERRERS = ["police", "health", "education", "gp", "health_visitor", "school_nurse", "midwife",
             "social_care", "camhs", "housing", "domestic_abuse_service", "early_help",
             "paediatrician", "hospital_consultant", "youth_justice", "other_local_authority"]
SERVICES = ["gp", "camhs", "health_visitor", "school_nurse", "midwife", "adult_mental_health",
            "substance_misuse", "domestic_abuse_service", "housing", "youth_justice", "probation",
            "adult_social_care", "contextual_safeguarding", "early_help", "paediatrician",
            "hospital_consultant", "mental_health_inpatient", "other_local_authority"]
CONCERN_WEIGHTS = {"neglect": 5, "physical_abuse": 5, "emotional_abuse": 3, "domestic_abuse": 4,
                   "sexual_abuse": 3, "extra_familial_harm": 2, "fabricated_induced_illness": 1}
assert set(CONCERN_WEIGHTS) == set(CONCERNS)


def _decided_at(rng: random.Random) -> str:
    situation = rng.choices(
        ["office", "boundary", "evening", "weekend", "bank_holiday", "clock_change", "odd_offset"],
        weights=[35, 10, 15, 15, 10, 5, 10])[0]
    day = datetime(2026, 1, 5) + timedelta(days=rng.randrange(0, 700))
    if situation in ("office", "boundary", "evening"):
        while day.weekday() >= 5:
            day += timedelta(days=1)
    if situation == "office":
        wall = day.replace(hour=rng.randrange(9, 17), minute=rng.randrange(60), second=rng.randrange(60))
    elif situation == "boundary":
        h, m, s = rng.choice([(8, 59, 59), (9, 0, 0), (16, 59, 59), (17, 0, 0)])
        wall = day.replace(hour=h, minute=m, second=s)
    elif situation == "evening":
        wall = day.replace(hour=rng.choice([17, 18, 19, 20, 21, 22, 23, 0, 3, 6, 7, 8]), minute=rng.randrange(60))
    elif situation == "weekend":
        while day.weekday() < 4:
            day += timedelta(days=1)
        # Friday evening, Saturday or Sunday.
        day += timedelta(days=rng.choice([0, 1, 2]))
        wall = day.replace(hour=18 if day.weekday() == 4 else rng.randrange(24), minute=rng.randrange(60))
    elif situation == "bank_holiday":
        wall = datetime.fromisoformat(rng.choice(BANK_HOLIDAYS)).replace(hour=rng.randrange(24), minute=rng.randrange(60))
    elif situation == "clock_change":
        # Before, during and after the change (imaginary 01:xx in March is normalised by fold).
        wall = datetime.fromisoformat(rng.choice(CLOCK_CHANGE_DAYS)).replace(hour=rng.choice([0, 1, 2, 12, 22]), minute=30)
    else:
        instant = (day + timedelta(minutes=rng.randrange(24 * 60))).replace(tzinfo=LONDON)
        return instant.astimezone(rng.choice(ODD_OFFSETS)).isoformat()
    instant = wall.replace(tzinfo=LONDON)
    return datetime.fromtimestamp(instant.timestamp(), LONDON).isoformat()


def _child(rng: random.Random, i: int) -> dict:
    child: dict = {"ref": f"C{i}"}
    if rng.random() < 0.08:
        child.update(unborn=True, age=None)
        return child
    age = rng.randrange(0, 18)
    child["age"] = age
    if age < 3:
        education = rng.choice(["none", "none", "nursery"])
    elif age < 5:
        education = rng.choice(["nursery", "nursery", "none"])
    elif age < 16:
        education = rng.choices(["school", "home_educated", "missing"], weights=[90, 5, 5])[0]
    else:
        education = rng.choice(["college", "school", "none"])
    if education != "none" or rng.random() < 0.5:
        child["education"] = education
    r = rng.random()
    if r < 0.05:
        child["inpatient"] = "paediatric"
    elif r < 0.07 and age >= 11:
        child["inpatient"] = "mental_health_tier4"
    if rng.random() < 0.15:
        child["hospital_services"] = True
    return child


def make_request(rng: random.Random, area: str, index: int) -> dict:
    concerns = sorted(set(rng.choices(list(CONCERN_WEIGHTS), weights=list(CONCERN_WEIGHTS.values()), k=rng.choice([1, 1, 2, 3]))))
    flags: set[str] = set()
    for concern in concerns:
        flags.update(f for f in FLAGS_BY_CONCERN[concern] if rng.random() < 0.25)
    flags.update(f for f in ANY_CASE_FLAGS if rng.random() < 0.1)
    request: dict = {
        "area": area,
        "decided_at": _decided_at(rng),
        "children": [_child(rng, i) for i in range(rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])[0])],
        "concerns": concerns,
        "flags": sorted(flags),
        "involved_services": sorted(set(rng.sample(SERVICES, rng.choice([0, 0, 1, 2, 3, 4])))),
    }
    if rng.random() < 0.85:
        request["referrer"] = rng.choice(REFERRERS)
    if rng.random() < 0.6:
        decided = datetime.fromisoformat(request["decided_at"])
        request["meeting_at"] = (decided + timedelta(minutes=rng.randrange(30, 72 * 60))).astimezone(LONDON).isoformat()
    if rng.random() < 0.3:
        request["case_ref"] = f"CASE-{index:05d}"
    return json.loads(json.dumps(request))  # exactly what a decoded JSON request looks like


def make_requests(areas: list[str], count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [make_request(rng, areas[i % len(areas)], i) for i in range(count)]


# --- timing ---------------------------------------------------------------------------------

def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            cpu = min(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpu})
            return f"pinned to CPU {cpu}"
        except OSError:
            pass
    return "single thread (not pinned)"


def run(requests: list[dict], profiles: dict, known: frozenset[str], dump, seconds: float) -> dict:
    """Plan the requests over and over, one at a time, for about `seconds`."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    budget = int(seconds * 1e9)
    done = 0
    started = clock()
    while clock() - started < budget:
        for data in requests:
            t0 = clock()
            request = parse_request(data, known)
            out = make_plan(request, profiles[request.area]).to_dict()
            if dump is not None:
                dump(out)
            latencies.append(clock() - t0)
        done += len(requests)
    elapsed = (clock() - started) / 1e9
    latencies.sort()
    return {
        "plans": done,
        "seconds": elapsed,
        "plans_per_second": done / elapsed,
        "mean_us": elapsed / done * 1e6,
        "p50_us": latencies[len(latencies) // 2] / 1e3,
        "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e3,
        "max_us": latencies[-1] / 1e3,
    }


def cli_dumps(out: dict) -> str:
    return json.dumps(out, indent=2, ensure_ascii=False)


def describe_mix(requests: list[dict], profiles: dict) -> list[str]:
    areas: dict[str, int] = {}
    ooh = with_meeting = bank = 0
    for data in requests:
        areas[data["area"]] = areas.get(data["area"], 0) + 1
        plan = make_plan(parse_request(data, frozenset(profiles)), profiles[data["area"]])
        ooh += plan.out_of_hours
        with_meeting += plan.meeting_at is not None
        bank += profiles[data["area"]].area_calendar.is_bank_holiday(plan.decided_at.date())
    n = len(requests)
    return [
        f"requests: {n} ({', '.join(f'{a} {k}' for a, k in sorted(areas.items()))})",
        f"  decided out of hours: {ooh} ({ooh / n:.0%}), on a bank holiday: {bank}, with meeting_at: {with_meeting} ({with_meeting / n:.0%})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 if (a) or (b) is below {TARGET_PLANS_PER_SECOND} plans/s")
    parser.add_argument("--requests", type=int, default=400, help="distinct requests in the mix (default 400)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per path (default 3)")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--config", type=Path, default=None, help="folder of area profiles (default: config/)")
    args = parser.parse_args(argv)

    try:
        profiles = load_profiles(args.config)
    except ConfigError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 2
    known = frozenset(profiles)
    requests = make_requests(sorted(profiles), args.requests, args.seed)
    for i, data in enumerate(requests):  # every request must plan, before anything is timed
        try:
            make_plan(parse_request(data, known), profiles[data["area"]]).to_dict()
        except RequestInvalid as e:
            print(f"bench request {i} is invalid: {e}", file=sys.stderr)
            return 2

    pinned = _pin_to_one_core()
    print(f"plan engine benchmark: Python {platform.python_version()} on {platform.machine()}, {pinned}")
    print(f"areas: {', '.join(sorted(profiles))}")
    print("\n".join(describe_mix(requests, profiles)))
    run(requests, profiles, known, json.dumps, seconds=min(0.5, args.seconds / 4))  # warm-up
    gc.collect()

    results, gated = {}, []
    for label, dump, gate in (
        ("(a) parse_request + make_plan + to_dict", None, True),
        ("(b) (a) + json.dumps(out)", json.dumps, True),
        ("(c) (a) + json.dumps(out, indent=2, ensure_ascii=False), as the CLI prints [information]", cli_dumps, False),
    ):
        results[label] = r = run(requests, profiles, known, dump, args.seconds)
        if gate:
            gated.append(label)
            verdict = "ok" if r["plans_per_second"] >= TARGET_PLANS_PER_SECOND else "BELOW TARGET"
        else:
            verdict = "not gated"
        print(f"\n{label}")
        print(f"  {r['plans_per_second']:>10,.0f} plans/s   ({r['plans']:,} plans in {r['seconds']:.2f} s)   target >= {TARGET_PLANS_PER_SECOND:,}: {verdict}")
        print(f"  {r['mean_us']:>10.1f} us/plan mean   p50 {r['p50_us']:.1f} us   p99 {r['p99_us']:.1f} us   max {r['max_us']:.1f} us")

    missed = [label.split(" ")[0] for label in gated if results[label]["plans_per_second"] < TARGET_PLANS_PER_SECOND]
    print(f"\ntarget: >= {TARGET_PLANS_PER_SECOND:,} plans/s on one core: " + ("met" if not missed else f"MISSED by {', '.join(missed)}"))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
