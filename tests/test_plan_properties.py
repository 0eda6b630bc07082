"""Properties of every area's plan, for arbitrary requests (hypothesis), issue 15:

* adding an urgency flag (emergency_protection, immediate_action, serious_harm,
  forensic_window) never makes the meeting deadline later; a chronic or historical flag may,
  as the texts intend;
* every `must` and `quorum` invitee cites its own area's document (the shared 004 checklist
  only ever suggests, at `should`);
* a deadline is never before the decision, and a follow-up without a date says why: the
  protocol's "as soon as practicable", or a date the chair sets.

The engine is called through its public core interface (parse_request + make_plan) with the
profiles under config/, so every rule of every area is exercised.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from bot.config_loader import load_profiles
from bot.core.plan import make_plan
from bot.core.request import parse_request
from bot.core.vocabulary import CONCERNS, FLAGS, ROLES

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

PROFILES = load_profiles(h.CONFIG_DIR)
AREAS = sorted(PROFILES)
URGENCY = ("emergency_protection", "immediate_action", "serious_harm", "forensic_window")
OFFSETS = [timezone.utc, timezone(timedelta(hours=1)), timezone(timedelta(hours=-8)),
           timezone(timedelta(hours=5, minutes=30))]

# 2026-2027 covers both clock changes each year, Christmas and Easter bank holidays.
instants = st.builds(
    lambda minutes, tz: (datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes)).astimezone(tz),
    st.integers(0, 2 * 365 * 24 * 60), st.sampled_from(OFFSETS))
children = st.lists(st.fixed_dictionaries({
    "ref": st.just("C"),
    "age": st.one_of(st.none(), st.integers(0, 17)),
    "unborn": st.booleans(),
    "education": st.sampled_from(["none", "nursery", "school", "college", "home_educated", "missing"]),
    "inpatient": st.sampled_from(["none", "paediatric", "mental_health_tier4"]),
    "hospital_services": st.booleans(),
}), min_size=1, max_size=4)
requests = st.fixed_dictionaries({
    "area": st.sampled_from(AREAS),
    "decided_at": instants,
    "children": children,
    "concerns": st.lists(st.sampled_from(CONCERNS), unique=True, max_size=4),
    "flags": st.lists(st.sampled_from(FLAGS), unique=True, max_size=5),
    "referrer": st.one_of(st.none(), st.sampled_from(ROLES)),
    "involved_services": st.lists(st.sampled_from(ROLES), unique=True, max_size=5),
    "meeting_after": st.one_of(st.none(), st.integers(0, 7 * 24 * 60)),
})


def plan_of(raw: dict, flags: list[str] | None = None) -> dict:
    data = {k: v for k, v in raw.items() if k != "meeting_after" and v is not None}
    data["decided_at"] = raw["decided_at"].isoformat()
    data["children"] = [{**c, "ref": f"C{i}"} for i, c in enumerate(raw["children"])]
    if flags is not None:
        data["flags"] = flags
    if raw["meeting_after"] is not None:
        data["meeting_at"] = (raw["decided_at"] + timedelta(minutes=raw["meeting_after"])).isoformat()
    request = parse_request(data, set(PROFILES))
    return make_plan(request, PROFILES[request.area]).to_dict()


def deadline(plan: dict) -> datetime:
    return datetime.fromisoformat(plan["meeting_deadline"])


@settings(max_examples=400, deadline=None)
@given(requests, st.sampled_from(URGENCY))
def test_an_urgency_flag_never_makes_the_deadline_later(raw, flag):
    before = plan_of(raw)
    after = plan_of(raw, sorted({*raw["flags"], flag}))
    assert deadline(after) <= deadline(before), (flag, before["deadline_rule"]["id"], after["deadline_rule"]["id"])


@settings(max_examples=400, deadline=None)
@given(requests)
def test_every_must_and_quorum_invitee_cites_its_own_areas_document(raw):
    plan = plan_of(raw)
    own = f"{h.DOCS[plan['area']]} §"
    for invitee in plan["invitees"]:
        if invitee["level"] in ("must", "quorum"):
            assert any(r["source"].startswith(own) for r in invitee["reasons"]), invitee


@settings(max_examples=300, deadline=None)
@given(requests)
def test_deadlines_never_precede_the_decision_and_undated_follow_ups_say_why(raw):
    plan = plan_of(raw)
    assert deadline(plan) >= raw["decided_at"]
    assert all(datetime.fromisoformat(m["deadline"]) >= raw["decided_at"] for m in plan["matched_rules"])
    for f in plan.get("follow_ups", []):
        if f["due"] is None:
            assert f.get("due_set_by") == "chair" or f["timescale"] == "as soon as practicable", f
        else:
            assert "due_set_by" not in f, f


FRIDAY_EVENING = "2026-08-28T19:00:00+01:00"  # Monday 31 August 2026 is a bank holiday
THAT_EVENING, SATURDAY_19H, TUESDAY, THURSDAY = ("2026-08-28T23:59:59+01:00", "2026-08-29T19:00:00+01:00",
                                                 "2026-09-01T17:00:00+01:00", "2026-09-03T17:00:00+01:00")


@pytest.mark.parametrize("area, flags, expected", [
    # 000: emergency protection (and police protection powers) 4 hours; nothing else is sooner than 24 h
    ("north-somerset", ["emergency_protection"], "2026-08-28T23:00:00+01:00"),
    ("north-somerset", ["immediate_action"], "2026-08-28T23:00:00+01:00"),
    ("north-somerset", ["serious_harm"], SATURDAY_19H),
    ("north-somerset", ["forensic_window"], SATURDAY_19H),
    # 001 and 002: serious risk of harm (emergency protection is one) the same day; immediate action
    # within one working day; penetrative abuse the same day if needed for forensic evidence
    *((area, flags, expected) for area in ("regional", "walsall") for flags, expected in [
        (["emergency_protection"], THAT_EVENING), (["serious_harm"], THAT_EVENING),
        (["immediate_action"], TUESDAY), (["penetrative_sexual_abuse", "forensic_window"], THAT_EVENING),
        (["forensic_window"], THURSDAY),  # a forensic window without penetrative abuse: the default
    ]),
    # 003: the same working day, out of hours the end of that day
    *(("bristol", [flag], THAT_EVENING) for flag in URGENCY),
])
def test_urgency_on_a_friday_evening_before_a_bank_holiday(area, flags, expected):
    raw = {"area": area, "decided_at": datetime.fromisoformat(FRIDAY_EVENING), "children": [{}],
           "concerns": ["physical_abuse", "sexual_abuse"], "flags": flags, "referrer": None,
           "involved_services": [], "meeting_after": None}
    assert plan_of(raw)["meeting_deadline"] == expected
