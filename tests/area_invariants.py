"""What every area profile must satisfy, whatever its protocol says: run over every profile
found under a config folder (tests/test_areas.py), so a new area is checked the moment its
file exists, and a new valid area keeps the suite green. Area-specific, hand-worked cases stay
in tests/test_plan_<area>.py.

Each check returns a list of problems (empty: the invariant holds), so a failing test says
which area, which request and what went wrong.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.core.plan import make_plan
from bot.core.profile import Profile
from bot.core.request import parse_request
from bot.core.routing import routed_plan
from bot.core.vocabulary import CONCERNS, FLAGS, ROLES
from bot.directory import Directory, directory_problems

REPO = Path(__file__).resolve().parent.parent
PROTOCOLS = REPO.parent / "shared" / "protocols"  # the published texts, beside the checkout
EDUCATION = ("none", "nursery", "school", "college", "home_educated", "missing")
INPATIENT = ("none", "paediatric", "mental_health_tier4")


def discovered_areas(config: Path) -> list[str]:
    return sorted(p.stem for p in config.glob("*.yaml") if p.is_file())


def citation_problems(profile: Profile, protocols: Path = PROTOCOLS) -> list[str]:
    """Every citation names a listed document, and every listed document is a file of the
    published protocols or declares where it is published (`link`)."""
    problems = []
    for path, source in profile.citations():
        doc = source.split(" §", 1)[0]
        if doc not in profile.documents:
            problems.append(f"{profile.id}: {path} cites {doc!r}, not listed under documents")
    for name, doc in profile.documents.items():
        if doc.link is None and protocols.is_dir() and not (protocols / name).is_file():
            problems.append(f"{profile.id}: documents.{name}: no such file in {protocols} and no link")
    return problems


def quorum_problems(profile: Profile, directory: Directory) -> list[str]:
    """Every quorum role (of every quorum variant) names known roles and can be filled from
    the directory both in office hours and out of hours."""
    known = set(ROLES) | {r.id for r in profile.roles}
    problems = [f"{profile.id}: quorum role {q.role!r} may be filled by unknown {sorted(set(q.filled_by) - known)}"
                for q in profile.quorum.all_roles() if not set(q.filled_by) <= known]
    return problems + directory_problems(directory, profile, f"directory/{profile.id}.yaml")


def generated_requests(profile: Profile, count: int, seed: str) -> list[dict]:
    """Requests spread over the whole vocabulary and over awkward times (nights, weekends,
    bank holidays, the clock changes), the same every run."""
    rng = random.Random(seed)
    roles = [*ROLES, *(r.id for r in profile.roles)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for _ in range(count):
        decided = start + timedelta(minutes=rng.randrange(0, 2 * 366 * 24 * 60, 7))
        request = {
            "area": profile.id,
            "decided_at": decided.isoformat(),
            "children": [
                {"ref": f"C{i}", "age": rng.choice([None, 0, 3, 9, 15, 17]), "unborn": rng.random() < 0.1,
                 "education": rng.choice(EDUCATION), "inpatient": rng.choice(INPATIENT),
                 "hospital_services": rng.random() < 0.2}
                for i in range(rng.randint(1, 3))
            ],
            "concerns": rng.sample(CONCERNS, rng.randint(0, 3)),
            "flags": rng.sample(FLAGS, rng.randint(0, 4)),
            "involved_services": rng.sample(roles, rng.randint(0, 4)),
        }
        if rng.random() < 0.8:
            request["referrer"] = rng.choice(roles)
        if rng.random() < 0.7:
            request["meeting_at"] = (decided + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))).isoformat()
        out.append(request)
    return out


def plan_problems(profile: Profile, count: int = 150) -> list[str]:
    """Plans for generated requests never crash, never give a deadline (or a target) before the
    decision, name each role once with a cited reason, and keep every follow-up after its start."""
    problems = []
    declared = {profile.id: {r.id for r in profile.roles}}
    for data in generated_requests(profile, count, seed=profile.id):
        where = f"{profile.id}: request {data}"
        try:
            request = parse_request(data, {profile.id}, declared)
            plan = make_plan(request, profile)
            stored = routed_plan(request, profile)
        except Exception as e:  # the invariant is that nothing raises
            problems.append(f"{where}: {type(e).__name__}: {e}")
            continue
        decided = request.decided_at
        if plan.meeting_deadline < decided:
            problems.append(f"{where}: deadline {plan.meeting_deadline} before the decision")
        if plan.meeting_target is not None and not decided <= plan.meeting_target <= plan.meeting_deadline:
            problems.append(f"{where}: target {plan.meeting_target} outside [decision, deadline]")
        if any(m.deadline < decided for m in plan.matched_rules):
            problems.append(f"{where}: a matched rule's deadline is before the decision")
        if plan.deadline_rule not in [m.rule for m in plan.matched_rules]:
            problems.append(f"{where}: the deadline rule is not among the matched rules")
        roles = [i.role for i in plan.invitees]
        if len(roles) != len(set(roles)) or not set(plan.quorum) <= set(roles):
            problems.append(f"{where}: invitees {roles} repeat a role or miss a quorum role {plan.quorum}")
        if any(not i.reasons for i in plan.invitees):
            problems.append(f"{where}: an invitee without a reason")
        for f in plan.follow_ups or ():
            start = plan.meeting_at if f.counted_from == "meeting" else decided
            if f.due is not None and f.due < start:
                problems.append(f"{where}: follow-up {f.kind} due {f.due} before {start}")
        if plan.format not in ("meeting", "meeting_or_calls") or stored["format"] != plan.format:
            problems.append(f"{where}: format {plan.format!r}")
    return problems
