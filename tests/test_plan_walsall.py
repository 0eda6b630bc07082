"""Walsall, Local Practice Guidance – Strategy Meetings (002_cf3891b0befb602d.txt).

Expected values are derived from the guidance and shared/spec/plan.md:
  Timeframe: within three working days, except serious risk of harm (same day as the
  referral), penetrative sexual abuse when required to ensure forensic evidence (same day),
  immediate action required by either agency (one working day), organised abuse or
  allegations against staff or volunteers (one working day).
  Who attends: social care, health and police always (else not a strategy meeting);
  education providers must be invited where children are in nursery or school (the DSL);
  contact must be made with SARC for child sexual abuse; another authority that has been
  involved is sent invitations; all key professionals involved with the child and family;
  GPs do not attend, but a GP who referred should be invited; in-patients: the consultant
  paediatrician / tier 4 senior clinician should be part of the meeting; unexplained injury:
  the CP paediatrician. Out of hours: the EDT arranges the meeting (sends the invites).
  Record "as soon as practicable"; when a quorate meeting cannot be held out of hours, a
  quorate meeting is arranged the next working day.
"""
from __future__ import annotations

import pytest

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

AREA = "walsall"
DOC = h.DOCS[AREA]
TT = h.TOP_TIPS
WHO = f"{DOC} §Who attends a Strategy Meeting?"

WED = "2026-11-25T10:00:00+00:00"
DEFAULT = "wal_default_3_working_days"
SERIOUS = "wal_serious_harm_same_day"
PENETRATIVE = "wal_penetrative_sexual_abuse_forensic_same_day"
IMMEDIATE = "wal_immediate_action_1_working_day"
ORGANISED = "wal_organised_or_staff_1_working_day"
EMERGENCY = "wal_emergency_protection_same_day"


def plan_for(decided: str = WED, **kw) -> dict:
    plan = h.run_plan(h.request(AREA, decided, **kw))
    h.assert_sources_of_area(plan)
    return plan


# --- timescales -------------------------------------------------------------------------

@pytest.mark.parametrize("flags, deadline, rule", [
    ([], "2026-11-30T17:00:00+00:00", DEFAULT),
    (["serious_harm"], "2026-11-25T23:59:59+00:00", SERIOUS),
    (["penetrative_sexual_abuse", "forensic_window"], "2026-11-25T23:59:59+00:00", PENETRATIVE),
    (["immediate_action"], "2026-11-26T17:00:00+00:00", IMMEDIATE),
    (["organised_abuse"], "2026-11-26T17:00:00+00:00", ORGANISED),
    (["allegation_against_professional"], "2026-11-26T17:00:00+00:00", ORGANISED),
])
def test_each_timescale_rule(flags, deadline, rule):
    plan = plan_for(flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_rule"]["id"] == rule
    h.assert_cites(plan["deadline_rule"]["source"], DOC, "Timeframe")
    assert plan["matched_rules"] == [{**plan["deadline_rule"], "deadline": deadline}]
    assert plan["deadline_out_of_hours"] is deadline.endswith("23:59:59+00:00")


@pytest.mark.parametrize("flags, concerns, children", [
    (["penetrative_sexual_abuse"], ["sexual_abuse"], 1),
    (["forensic_window"], ["sexual_abuse"], 1),
    ([], ["extra_familial_harm"], 3),   # Walsall has no extra-familial timescale (unlike regional)
    (["recent_incident", "chronic_neglect", "historical_abuse", "unexplained_injury", "new_referral"], [], 1),
    ([], ["sexual_abuse", "physical_abuse", "neglect"], 1),
])
def test_near_misses_fall_back_to_three_working_days(flags, concerns, children):
    plan = plan_for(flags=flags, concerns=concerns, children=children)
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert h.matched_ids(plan) == [DEFAULT]


def test_tie_at_one_working_day_goes_to_the_rule_listed_first():
    plan = plan_for(flags=["organised_abuse", "immediate_action"])
    assert plan["deadline_rule"]["id"] == IMMEDIATE
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        (IMMEDIATE, "2026-11-26T17:00:00+00:00"), (ORGANISED, "2026-11-26T17:00:00+00:00"),
    ]


def test_same_day_beats_one_working_day():
    plan = plan_for(flags=["allegation_against_professional", "serious_harm", "emergency_protection",
                           "penetrative_sexual_abuse", "forensic_window"], concerns=["sexual_abuse"])
    assert plan["deadline_rule"]["id"] == SERIOUS
    assert h.matched_ids(plan) == [SERIOUS, EMERGENCY, PENETRATIVE, IMMEDIATE, ORGANISED]


# --- calendar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("decided, flags, deadline, ooh", [
    ("2026-11-27T16:00:00+00:00", ["organised_abuse"], "2026-11-30T17:00:00+00:00", False),
    ("2026-11-28T12:00:00+00:00", [], "2026-12-02T17:00:00+00:00", True),
    ("2026-11-29T21:00:00+00:00", ["serious_harm"], "2026-11-29T23:59:59+00:00", True),
    ("2026-12-24T10:00:00+00:00", ["immediate_action"], "2026-12-29T17:00:00+00:00", False),
    ("2026-12-24T10:00:00+00:00", [], "2026-12-31T17:00:00+00:00", False),
    ("2026-12-25T09:30:00+00:00", ["allegation_against_professional"], "2026-12-29T17:00:00+00:00", True),
    ("2026-12-28T11:00:00+00:00", [], "2026-12-31T17:00:00+00:00", True),
    ("2027-03-25T10:00:00+00:00", ["organised_abuse"], "2027-03-30T17:00:00+01:00", False),
    ("2027-03-26T10:00:00+00:00", ["serious_harm"], "2027-03-26T23:59:59+00:00", True),
    ("2027-03-29T12:00:00+01:00", [], "2027-04-01T17:00:00+01:00", True),
    ("2026-03-29T10:00:00+01:00", ["serious_harm"], "2026-03-29T23:59:59+01:00", True),
    ("2026-03-27T11:00:00+00:00", ["emergency_protection"], "2026-03-27T23:59:59+00:00", False),
    ("2026-03-27T11:00:00+00:00", ["immediate_action"], "2026-03-30T17:00:00+01:00", False),
    ("2026-10-25T00:30:00+01:00", ["serious_harm"], "2026-10-25T23:59:59+00:00", True),
    ("2026-10-23T10:00:00+01:00", ["immediate_action"], "2026-10-26T17:00:00+00:00", False),
])
def test_calendar(decided, flags, deadline, ooh):
    plan = plan_for(decided, flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["out_of_hours"] is ooh
    assert h.level(plan, "edt") == ("must" if ooh else None)


@pytest.mark.parametrize("decided, ooh", [
    ("2026-11-25T16:59:59+00:00", False), ("2026-11-25T17:00:00+00:00", True),
    ("2026-11-25T09:00:00+00:00", False), ("2026-11-25T08:59:59+00:00", True),
])
def test_office_hours_boundary(decided, ooh):
    plan = plan_for(decided, flags=["immediate_action"])
    assert plan["out_of_hours"] is ooh
    assert plan["meeting_deadline"] == "2026-11-26T17:00:00+00:00"
    assert h.level(plan, "edt") == ("must" if ooh else None)
    # out of hours the EDT also contacts the on-call consultant paediatrician
    assert (h.invitee(plan, "paediatrician") is not None) is ooh


# --- invitees ---------------------------------------------------------------------------------

def test_quorum_social_care_health_police():
    plan = plan_for()
    assert set(plan["quorum"]) == h.QUORUM_ROLES and len(plan["quorum"]) == 3
    for role in h.QUORUM_ROLES:
        assert h.level(plan, role) == "quorum"
        assert h.reason_sources(plan, role) == [WHO]
    assert h.roles(plan) == h.QUORUM_ROLES


def test_new_referral_mash_health_practitioner_keeps_health_at_quorum():
    plan = plan_for(flags=["new_referral"])
    assert h.level(plan, "health") == "quorum"
    assert f"{DOC} §Health Attendance at Strategy Meetings" in h.reason_sources(plan, "health")


@pytest.mark.parametrize("education, invited", [
    ("nursery", True), ("school", True), ("college", True),
    ("none", False), ("home_educated", False), ("missing", False),
])
def test_education_must_be_invited_for_children_in_nursery_or_school(education, invited):
    plan = plan_for(children=[h.child("A"), h.child("B", education=education)])
    assert h.level(plan, "education") == ("must" if invited else None)
    if invited:
        assert h.reason_sources(plan, "education") == [WHO]


@pytest.mark.parametrize("concerns, flags", [(["sexual_abuse"], []), (["sexual_abuse"], ["penetrative_sexual_abuse"])])
def test_sarc_must_be_contacted_for_sexual_abuse(concerns, flags):
    plan = plan_for(concerns=concerns, flags=flags)
    assert h.level(plan, "sarc") == "must"
    assert all(s.startswith(f"{DOC} §") for s in h.reason_sources(plan, "sarc"))


@pytest.mark.parametrize("concerns", [["physical_abuse"], ["neglect", "emotional_abuse", "domestic_abuse"]])
def test_no_sarc_without_sexual_abuse(concerns):
    assert h.invitee(plan_for(concerns=concerns), "sarc") is None


def test_gp_who_referred_should_be_invited():
    plan = plan_for(referrer="gp")
    assert h.level(plan, "gp") == "should"
    assert f"{DOC} §General Practitioners (GP)" in h.reason_sources(plan, "gp")


@pytest.mark.parametrize("referrer", [None, "health_visitor"])
def test_gp_not_invited_unless_the_referrer(referrer):
    plan = plan_for(involved=["gp"], referrer=referrer)  # GPs do not attend initial strategy meetings
    assert h.invitee(plan, "gp") is None


def test_other_local_authority_involved_must_be_invited():
    plan = plan_for(involved=["other_local_authority"])
    assert h.level(plan, "other_local_authority") == "must"
    assert WHO in h.reason_sources(plan, "other_local_authority")
    assert h.invitee(plan_for(), "other_local_authority") is None


@pytest.mark.parametrize("role", ["camhs", "adult_mental_health", "housing", "domestic_abuse_service",
                                  "early_help", "health_visitor", "substance_misuse"])
def test_key_professionals_involved_should_be_invited(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert WHO in h.reason_sources(plan, role)
    assert h.invitee(plan_for(), role) is None


@pytest.mark.parametrize("role", ["youth_justice", "probation"])
def test_youth_justice_and_probation(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert any(s.startswith(f"{TT} §") for s in h.reason_sources(plan, role))


def test_referrer_from_004():
    plan = plan_for(referrer="housing")
    assert h.level(plan, "housing") == "should"
    assert any(s.startswith(f"{TT} §") for s in h.reason_sources(plan, "housing"))


def test_lado_from_004_for_allegations():
    plan = plan_for(flags=["allegation_against_professional"])
    assert h.level(plan, "lado") == "should"
    assert h.invitee(plan_for(flags=["organised_abuse"]), "lado") is None


def test_unexplained_injury_cp_paediatrician():
    plan = plan_for(flags=["unexplained_injury"], concerns=["physical_abuse"])
    assert h.level(plan, "paediatrician") == "should"
    assert f"{DOC} §Child Protection Paediatricians" in h.reason_sources(plan, "paediatrician")
    assert h.invitee(plan_for(concerns=["physical_abuse"]), "paediatrician") is None


def test_paediatric_in_patient_consultant_is_invited():
    plan = plan_for(children=[h.child(inpatient="paediatric")])
    assert h.invitee(plan, "hospital_consultant") is not None
    assert f"{DOC} §Inpatients in Hospital" in h.reason_sources(plan, "hospital_consultant")
    assert h.invitee(plan_for(children=[h.child(hospital_services=True)]), "hospital_consultant") is None


def test_tier4_in_patient_senior_clinician_is_invited():
    plan = plan_for(children=[h.child(inpatient="mental_health_tier4")])
    assert h.invitee(plan, "mental_health_inpatient") is not None
    assert f"{DOC} §Inpatients in Hospital" in h.reason_sources(plan, "mental_health_inpatient")
    assert h.invitee(plan, "hospital_consultant") is None


def test_paediatric_in_patient_consultant_is_required():
    # "The Strategy Meeting should be held at a time and place to ensure the Consultant
    # Paediatrician can attend": required for the time proposals, not optional.
    assert h.level(plan_for(children=[h.child(inpatient="paediatric")]), "hospital_consultant") == "must"


def test_tier4_senior_clinician_level_is_should():
    plan = plan_for(children=[h.child(inpatient="mental_health_tier4")])
    assert h.level(plan, "mental_health_inpatient") == "should"


def test_unborn_child_midwife():
    assert h.level(plan_for(children=[h.child(unborn=True)]), "midwife") == "should"
    assert h.invitee(plan_for(), "midwife") is None


def test_edt_must_be_invited_out_of_hours():
    plan = plan_for("2026-11-25T22:00:00+00:00")
    assert h.level(plan, "edt") == "must"
    assert h.reason_sources(plan, "edt") == [f"{DOC} §Out of Hours Strategy Meetings"]
    assert h.invitee(plan_for(), "edt") is None


def test_on_call_paediatrician_out_of_hours_is_should():
    assert h.level(plan_for("2026-11-25T22:00:00+00:00"), "paediatrician") == "should"


# --- follow-ups -------------------------------------------------------------------------------

def test_office_hours_meeting_record_as_soon_as_practicable_only():
    plan = plan_for(meeting_at="2026-11-25T14:00:00+00:00")
    assert h.follow_up_kinds(plan) == {"minutes_circulation"}
    f = h.follow_up(plan, "minutes_circulation")
    assert f["due"] is None
    h.assert_cites(f["rule"]["source"], DOC, "Recording the strategy discussion")


@pytest.mark.parametrize("meeting, due", [
    ("2026-11-25T19:00:00+00:00", "2026-11-26T17:00:00+00:00"),
    ("2026-11-25T17:00:00+00:00", "2026-11-26T17:00:00+00:00"),
    ("2026-11-27T18:00:00+00:00", "2026-11-30T17:00:00+00:00"),
    ("2026-11-28T10:00:00+00:00", "2026-11-30T17:00:00+00:00"),
    ("2026-12-24T18:00:00+00:00", "2026-12-29T17:00:00+00:00"),
    ("2026-12-25T11:00:00+00:00", "2026-12-29T17:00:00+00:00"),
    ("2027-03-25T18:00:00+00:00", "2027-03-30T17:00:00+01:00"),
    ("2026-10-24T23:00:00+01:00", "2026-10-26T17:00:00+00:00"),
])
def test_out_of_hours_meeting_quorate_meeting_next_working_day(meeting, due):
    plan = plan_for(meeting_at=meeting)
    assert h.follow_up_kinds(plan) == {"minutes_circulation", "quorate_meeting_due"}
    f = h.follow_up(plan, "quorate_meeting_due")
    assert f["due"] == due
    h.assert_cites(f["rule"]["source"], DOC, "Professional Discussions and Safety planning")


def test_no_quorate_meeting_follow_up_for_a_meeting_at_16_59_59():
    assert h.follow_up(plan_for(meeting_at="2026-11-25T16:59:59+00:00"), "quorate_meeting_due") is None


def test_quorate_meeting_after_a_small_hours_discussion_is_that_working_day():
    # 002 §Professional Discussions: a quorate meeting "the next working day". A discussion at
    # 02:00 on Wednesday (the EDT's Tuesday-night shift): the next working day is that Wednesday.
    plan = plan_for("2026-11-25T01:00:00+00:00", meeting_at="2026-11-25T02:00:00+00:00")
    assert h.follow_up(plan, "quorate_meeting_due")["due"] == "2026-11-25T17:00:00+00:00"


# --- second reading (issue 15) ------------------------------------------------------------------
# Worked by hand from 002 §Timeframe, §Professional Discussions, §SARC, §Inpatients in Hospital,
# §Health Attendance, §Health Practitioners should, §The Police should and §FAST.

FRI_EVENING_BEFORE_BANK_HOLIDAY = "2026-08-28T19:00:00+01:00"  # Monday 31 August 2026 is a bank holiday


def test_emergency_protection_is_a_serious_risk_of_harm_the_same_day():
    plan = plan_for(flags=["emergency_protection"])
    assert plan["meeting_deadline"] == "2026-11-25T23:59:59+00:00"
    assert h.matched_ids(plan) == [EMERGENCY, IMMEDIATE]
    h.assert_cites(plan["deadline_rule"]["source"], DOC, "Timeframe")


def test_an_emergency_on_a_friday_evening_before_a_bank_holiday_is_not_given_tuesday():
    plan = plan_for(FRI_EVENING_BEFORE_BANK_HOLIDAY, flags=["emergency_protection"])
    assert plan["meeting_deadline"] == "2026-08-28T23:59:59+01:00"
    assert h.level(plan, "edt") == "must"


@pytest.mark.parametrize("meeting, due", [
    ("2026-11-25T02:00:00+00:00", "2026-11-25T17:00:00+00:00"),   # small hours: that Wednesday
    ("2026-11-25T08:59:59+00:00", "2026-11-25T17:00:00+00:00"),
    ("2026-11-25T17:00:00+00:00", "2026-11-26T17:00:00+00:00"),   # the evening: Thursday
    ("2026-11-25T23:59:59+00:00", "2026-11-26T17:00:00+00:00"),
    ("2026-11-28T10:00:00+00:00", "2026-11-30T17:00:00+00:00"),   # Saturday: Monday
    ("2026-08-31T00:30:00+01:00", "2026-09-01T17:00:00+01:00"),   # bank holiday Monday: Tuesday
    ("2026-12-24T02:00:00+00:00", "2026-12-24T17:00:00+00:00"),   # Christmas Eve is a working day
    ("2026-12-25T02:00:00+00:00", "2026-12-29T17:00:00+00:00"),   # Christmas, Boxing Day (Mon 28)
    ("2026-03-29T03:00:00+01:00", "2026-03-30T17:00:00+01:00"),   # the spring clock change
])
def test_quorate_meeting_the_next_working_day_after_an_out_of_hours_discussion(meeting, due):
    plan = plan_for("2026-11-20T10:00:00+00:00", meeting_at=meeting)
    f = h.follow_up(plan, "quorate_meeting_due")
    assert f["due"] == due and f["applies_if"] == "not_quorate" and f["raises_meeting"] is True


def test_the_professional_discussions_follow_on_is_due_the_same_next_working_day():
    profile = _profile()
    follow_on = profile.out_of_hours.professional_discussion.follow_on
    due = profile.area_calendar.deadline(follow_on.timescale, h_dt("2026-11-25T02:00:00+00:00"))
    assert due.isoformat() == "2026-11-25T17:00:00+00:00"


def test_sarc_for_sexual_exploitation_as_well_as_sexual_abuse():
    plan = plan_for(concerns=["extra_familial_harm"])
    assert h.level(plan, "sarc") == "should"
    assert h.reason_sources(plan, "sarc") == [f"{DOC} §Child Sexual Assault Referral Centre (SARC)"]
    both = plan_for(concerns=["extra_familial_harm", "sexual_abuse"])
    assert h.level(both, "sarc") == "must" and len(h.reason_rules(both, "sarc")) == 2


def test_the_in_patient_consultant_paediatrician_is_required_with_the_text_as_reason():
    plan = plan_for(children=[h.child("A"), h.child("B", inpatient="paediatric")])
    inv = h.invitee(plan, "hospital_consultant")
    assert inv["level"] == "must"
    assert "time and place to ensure the Consultant Paediatrician can attend" in inv["reasons"][0]["summary"]


def h_dt(s: str):
    from datetime import datetime
    return datetime.fromisoformat(s)


def _profile():
    from bot.config_loader import load_profiles
    return load_profiles(h.CONFIG_DIR)[AREA]


@pytest.mark.parametrize("clinician, fills", [
    ("camhs", True), ("mental_health_inpatient", True), ("hospital_consultant", True), ("health_visitor", True),
    ("gp", False),  # GPs do not attend an initial strategy meeting across the Black Country
])
def test_the_most_relevant_health_practitioner_fills_health(clinician, fills):
    from bot.core.quoracy import Answered, quorum_status
    answers = [Answered("social_care", "S", "accepted"), Answered("police", "P", "accepted"),
               Answered(clinician, "C", "accepted")]
    assert quorum_status(_profile().quorum, answers).quorate is fills


def test_escalation_is_walsalls_fast_route():
    esc = _profile().escalation
    assert "FAST" in esc.summary and "safeguarding lead" not in esc.summary
    h.assert_cites(esc.source, DOC, "Finding a Solution Together (FAST)")


def test_health_and_police_bring_their_whole_lists():
    profile = _profile()
    health = " ".join(i for g in profile.preparation_for("health") for i in g.items)
    for words in ("medical assessments", "expert advice", "examinations", "maternity health"):
        assert words in health, words
    police = " ".join(i for g in profile.preparation_for("police") for i in g.items)
    assert "Lead the criminal investigation" in police
