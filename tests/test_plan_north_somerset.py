"""North Somerset (000_4a46cd0701b955a5.txt, Multi-Agency Strategy Meetings Protocol, April 2025).

Expected values are derived from the protocol text and shared/spec/plan.md:
  Timescales: 24 hours default; critical incident / emergency protection 4 hours; recent
  incident 1 working day; chronic neglect and/or historical abuse 3 working days.
  Quoracy: social worker, health practitioner, police. Others "should be invited": referring
  agency, school or nursery, child's and adults' health services (incl. mental health and
  substance misuse), SARC for possible sexual abuse, domestic abuse services, housing.
  LADO "must be invited" for an allegation against a professional. EDT out of hours.
  Record within 3 working days; dissent within 24 hours; ICPC in 15 working days with a
  mid-way review whose date the meeting sets; a review strategy meeting after an out-of-hours
  one, timed by the responsible social care team (no date in the text: the chair sets it).
  Second reading (issue 15): police protection powers / immediate action are a critical
  incident (4 hours); any health service a child receives includes an in-patient's consultant,
  ward nurse or tier 4 clinician; Sirona's SPA may send CAMHS or the child's clinicians.
"""
from __future__ import annotations

import pytest

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

AREA = "north-somerset"
DOC = h.DOCS[AREA]
TT = h.TOP_TIPS
SEC_TIME = "Timescales for Strategy Meeting"

WED = "2026-11-25T10:00:00+00:00"  # an ordinary winter working day
DEFAULT = "ns_default_24_hours"
EMERGENCY = "ns_emergency_protection_4_hours"
RECENT = "ns_recent_incident_1_working_day"
CHRONIC = "ns_chronic_neglect_historical_3_working_days"


def plan_for(decided: str = WED, **kw) -> dict:
    plan = h.run_plan(h.request(AREA, decided, **kw))
    h.assert_sources_of_area(plan)
    return plan


# --- timescales -------------------------------------------------------------------------

@pytest.mark.parametrize("flags, deadline, rule", [
    ([], "2026-11-26T10:00:00+00:00", DEFAULT),
    (["emergency_protection"], "2026-11-25T14:00:00+00:00", EMERGENCY),
    (["recent_incident"], "2026-11-26T17:00:00+00:00", RECENT),
    (["chronic_neglect"], "2026-11-30T17:00:00+00:00", CHRONIC),
    (["historical_abuse"], "2026-11-30T17:00:00+00:00", CHRONIC),
    (["chronic_neglect", "historical_abuse"], "2026-11-30T17:00:00+00:00", CHRONIC),
])
def test_each_timescale_rule(flags, deadline, rule):
    plan = plan_for(flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_rule"]["id"] == rule
    h.assert_cites(plan["deadline_rule"]["source"], DOC, SEC_TIME)
    assert plan["matched_rules"] == [{**plan["deadline_rule"], "deadline": deadline}]
    assert plan["out_of_hours"] is False
    assert plan["deadline_out_of_hours"] is False


@pytest.mark.parametrize("flags, concerns", [
    (["serious_harm"], []),          # no serious-harm timescale in North Somerset
    (["new_referral"], []),
    (["unexplained_injury"], ["physical_abuse"]),
    (["penetrative_sexual_abuse", "forensic_window"], ["sexual_abuse"]),
    (["organised_abuse", "allegation_against_professional"], []),
    ([], ["neglect"]),               # neglect without the chronic flag
    ([], ["sexual_abuse", "physical_abuse", "emotional_abuse", "extra_familial_harm"]),
])
def test_near_misses_fall_back_to_the_24_hour_default(flags, concerns):
    plan = plan_for(flags=flags, concerns=concerns)
    assert plan["meeting_deadline"] == "2026-11-26T10:00:00+00:00"
    assert plan["deadline_rule"]["id"] == DEFAULT
    assert h.matched_ids(plan) == [DEFAULT]


def test_chronic_neglect_3_working_days_beats_the_shorter_default():
    # The spec's own example: a specific rule applies even when longer than the 24 h default.
    plan = plan_for(flags=["chronic_neglect"], concerns=["neglect"])
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert plan["deadline_rule"]["id"] == CHRONIC
    assert DEFAULT not in h.matched_ids(plan)


def test_recent_incident_on_friday_afternoon_is_1_working_day_not_24_hours():
    plan = plan_for("2026-11-27T16:00:00+00:00", flags=["recent_incident"])
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert h.matched_ids(plan) == [RECENT]


def test_several_rules_earliest_wins_and_all_are_listed_in_deadline_order():
    plan = plan_for(flags=["chronic_neglect", "recent_incident", "historical_abuse", "emergency_protection"])
    assert plan["deadline_rule"]["id"] == EMERGENCY
    assert plan["meeting_deadline"] == "2026-11-25T14:00:00+00:00"
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        (EMERGENCY, "2026-11-25T14:00:00+00:00"),
        (RECENT, "2026-11-26T17:00:00+00:00"),
        (CHRONIC, "2026-11-30T17:00:00+00:00"),
    ]


def test_recent_incident_beats_chronic_neglect():
    plan = plan_for(flags=["historical_abuse", "recent_incident"])
    assert plan["deadline_rule"]["id"] == RECENT
    assert h.matched_ids(plan) == [RECENT, CHRONIC]


# --- weekends, bank holidays, clock changes ----------------------------------------------

@pytest.mark.parametrize("decided, flags, deadline, ooh, deadline_ooh", [
    # weekend
    ("2026-11-27T15:00:00+00:00", [], "2026-11-28T15:00:00+00:00", False, True),
    ("2026-11-27T15:00:00+00:00", ["recent_incident"], "2026-11-30T17:00:00+00:00", False, False),
    ("2026-11-27T15:00:00+00:00", ["chronic_neglect"], "2026-12-02T17:00:00+00:00", False, False),
    ("2026-11-28T11:00:00+00:00", ["recent_incident"], "2026-11-30T17:00:00+00:00", True, False),
    ("2026-11-28T11:00:00+00:00", ["emergency_protection"], "2026-11-28T15:00:00+00:00", True, True),
    ("2026-11-29T23:00:00+00:00", ["chronic_neglect"], "2026-12-02T17:00:00+00:00", True, False),
    # Christmas 2026: Fri 25 Dec, Boxing Day Sat 26 substituted by Mon 28 Dec
    ("2026-12-24T10:00:00+00:00", ["recent_incident"], "2026-12-29T17:00:00+00:00", False, False),
    ("2026-12-24T10:00:00+00:00", ["chronic_neglect"], "2026-12-31T17:00:00+00:00", False, False),
    ("2026-12-23T10:00:00+00:00", ["historical_abuse"], "2026-12-30T17:00:00+00:00", False, False),
    ("2026-12-24T10:00:00+00:00", [], "2026-12-25T10:00:00+00:00", False, True),
    ("2026-12-24T16:59:59+00:00", [], "2026-12-25T16:59:59+00:00", False, True),
    ("2026-12-25T10:00:00+00:00", ["recent_incident"], "2026-12-29T17:00:00+00:00", True, False),
    ("2026-12-28T10:00:00+00:00", ["recent_incident"], "2026-12-29T17:00:00+00:00", True, False),
    ("2026-12-28T10:00:00+00:00", [], "2026-12-29T10:00:00+00:00", True, False),
    # Easter 2027: Good Friday 26 March, Easter Monday 29 March (BST from Sun 28 March 2027)
    ("2027-03-25T10:00:00+00:00", ["recent_incident"], "2027-03-30T17:00:00+01:00", False, False),
    ("2027-03-25T10:00:00+00:00", [], "2027-03-26T10:00:00+00:00", False, True),
    ("2027-03-26T10:00:00+00:00", ["emergency_protection"], "2027-03-26T14:00:00+00:00", True, True),
    ("2027-03-29T10:00:00+01:00", ["chronic_neglect"], "2027-04-01T17:00:00+01:00", True, False),
])
def test_calendar(decided, flags, deadline, ooh, deadline_ooh):
    plan = plan_for(decided, flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["out_of_hours"] is ooh
    assert plan["deadline_out_of_hours"] is deadline_ooh
    assert h.level(plan, "edt") == ("must" if ooh else None)


@pytest.mark.parametrize("decided, flags, deadline", [
    # spring forward, Sun 29 March 2026 01:00 UTC: H real hours, printed at +01:00
    ("2026-03-28T12:00:00+00:00", [], "2026-03-29T13:00:00+01:00"),
    ("2026-03-29T00:30:00+00:00", ["emergency_protection"], "2026-03-29T05:30:00+01:00"),
    ("2026-03-28T22:30:00+00:00", ["emergency_protection"], "2026-03-29T03:30:00+01:00"),
    ("2026-03-27T10:00:00+00:00", ["recent_incident"], "2026-03-30T17:00:00+01:00"),
    # fall back, Sun 25 October 2026 01:00 UTC: printed at +00:00
    ("2026-10-24T12:00:00+01:00", [], "2026-10-25T11:00:00+00:00"),
    ("2026-10-25T00:30:00+01:00", ["emergency_protection"], "2026-10-25T03:30:00+00:00"),
    ("2026-10-24T21:30:00+01:00", ["emergency_protection"], "2026-10-25T01:30:00+01:00"),
    ("2026-10-24T22:30:00+01:00", ["emergency_protection"], "2026-10-25T01:30:00+00:00"),
    ("2026-10-23T10:00:00+01:00", ["chronic_neglect"], "2026-10-28T17:00:00+00:00"),
])
def test_clock_changes(decided, flags, deadline):
    plan = plan_for(decided, flags=flags)
    assert plan["meeting_deadline"] == deadline


@pytest.mark.parametrize("decided, ooh, deadline, deadline_ooh", [
    ("2026-11-25T16:59:59+00:00", False, "2026-11-26T16:59:59+00:00", False),
    ("2026-11-25T17:00:00+00:00", True, "2026-11-26T17:00:00+00:00", False),   # close itself is in (09:00, 17:00]
    ("2026-11-25T17:00:01+00:00", True, "2026-11-26T17:00:01+00:00", True),
    ("2026-11-25T09:00:00+00:00", False, "2026-11-26T09:00:00+00:00", True),   # opening is not in (09:00, 17:00]
    ("2026-11-25T08:59:59+00:00", True, "2026-11-26T08:59:59+00:00", True),
])
def test_office_hours_boundaries_default(decided, ooh, deadline, deadline_ooh):
    plan = plan_for(decided)
    assert plan["out_of_hours"] is ooh
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_out_of_hours"] is deadline_ooh
    assert h.level(plan, "edt") == ("must" if ooh else None)


@pytest.mark.parametrize("decided, deadline, deadline_ooh", [
    ("2026-11-25T13:00:00+00:00", "2026-11-25T17:00:00+00:00", False),
    ("2026-11-25T13:00:01+00:00", "2026-11-25T17:00:01+00:00", True),
    ("2026-11-25T05:00:00+00:00", "2026-11-25T09:00:00+00:00", True),
    ("2026-11-25T05:00:01+00:00", "2026-11-25T09:00:01+00:00", False),
])
def test_four_hour_deadline_against_office_hours(decided, deadline, deadline_ooh):
    plan = plan_for(decided, flags=["emergency_protection"])
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_out_of_hours"] is deadline_ooh


def test_working_day_deadlines_do_not_move_at_office_close():
    before = plan_for("2026-11-25T16:59:59+00:00", flags=["recent_incident"])
    after = plan_for("2026-11-25T17:00:00+00:00", flags=["recent_incident"])
    assert before["meeting_deadline"] == after["meeting_deadline"] == "2026-11-26T17:00:00+00:00"
    assert (before["out_of_hours"], after["out_of_hours"]) == (False, True)


# --- invitees -------------------------------------------------------------------------------

def test_quorum_social_care_health_police():
    plan = plan_for()
    assert set(plan["quorum"]) == h.QUORUM_ROLES and len(plan["quorum"]) == 3
    for role in h.QUORUM_ROLES:
        assert h.level(plan, role) == "quorum"
        assert h.reason_sources(plan, role) == [f"{DOC} §Quoracy"]
    # nothing else on a bare request in office hours
    assert h.roles(plan) == h.QUORUM_ROLES


def test_referring_agency_should_be_invited():
    plan = plan_for(referrer="housing")
    assert h.level(plan, "housing") == "should"
    assert f"{DOC} §Quoracy" in h.reason_sources(plan, "housing")
    assert any(s.startswith(TT) for s in h.reason_sources(plan, "housing"))  # 004: the referrer
    assert h.invitee(plan_for(), "housing") is None


def test_referrer_already_in_quorum_stays_quorum_with_every_reason():
    plan = plan_for(referrer="police")
    assert h.level(plan, "police") == "quorum"
    assert len(h.reason_rules(plan, "police")) >= 2


@pytest.mark.parametrize("education, invited", [
    ("school", True), ("nursery", True),
    ("none", False), ("home_educated", False), ("missing", False),
])
def test_school_or_nursery_should_be_invited(education, invited):
    plan = plan_for(children=[h.child(education=education)])
    assert h.level(plan, "education") == ("should" if invited else None)
    if invited:
        assert h.reason_sources(plan, "education") == [f"{DOC} §Quoracy"]


def test_education_when_any_of_several_children_is_in_school():
    plan = plan_for(children=[h.child("A"), h.child("B", education="school")])
    assert h.level(plan, "education") == "should"


@pytest.mark.parametrize("role", ["camhs", "health_visitor", "school_nurse", "gp", "paediatrician", "midwife"])
def test_child_health_services_received_should_be_invited(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert f"{DOC} §Quoracy" in h.reason_sources(plan, role)
    assert h.invitee(plan_for(), role) is None  # not involved: not invited


def test_unborn_child_midwife_should_be_invited():
    plan = plan_for(children=[h.child(unborn=True)])
    assert h.level(plan, "midwife") == "should"
    assert h.invitee(plan_for(children=[h.child(unborn=False)]), "midwife") is None


@pytest.mark.parametrize("role", ["adult_mental_health", "substance_misuse"])
def test_adults_health_services_should_be_invited(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert h.reason_sources(plan, role) == [f"{DOC} §Quoracy"]


@pytest.mark.parametrize("concerns, flags", [
    (["sexual_abuse"], []),
    (["sexual_abuse"], ["penetrative_sexual_abuse"]),
])
def test_sarc_should_be_invited_for_possible_sexual_abuse(concerns, flags):
    plan = plan_for(concerns=concerns, flags=flags)
    assert h.level(plan, "sarc") == "should"  # "should be invited": not must, unlike Walsall
    assert h.reason_sources(plan, "sarc") == [f"{DOC} §Quoracy"]


@pytest.mark.parametrize("concerns", [["physical_abuse"], ["emotional_abuse", "neglect"], ["extra_familial_harm"]])
def test_no_sarc_without_sexual_abuse(concerns):
    assert h.invitee(plan_for(concerns=concerns), "sarc") is None


def test_domestic_abuse_service_received_should_be_invited():
    plan = plan_for(involved=["domestic_abuse_service"], concerns=["domestic_abuse"])
    assert h.level(plan, "domestic_abuse_service") == "should"
    assert h.reason_sources(plan, "domestic_abuse_service") == [f"{DOC} §Quoracy"]
    # a domestic abuse concern alone does not invent a service the family is not receiving
    assert h.invitee(plan_for(concerns=["domestic_abuse"]), "domestic_abuse_service") is None


def test_housing_provider_should_be_invited():
    plan = plan_for(involved=["housing"])
    assert h.level(plan, "housing") == "should"
    assert h.reason_sources(plan, "housing") == [f"{DOC} §Quoracy"]


def test_lado_must_be_invited_for_an_allegation_against_a_professional():
    plan = plan_for(flags=["allegation_against_professional"])
    assert h.level(plan, "lado") == "must"
    sources = h.reason_sources(plan, "lado")
    assert f"{DOC} §Allegations About People in Positions of Trust" in sources
    assert any(s.startswith(f"{TT} §") for s in sources)  # 004 "is a LADO referral required?"
    assert h.invitee(plan_for(flags=["organised_abuse"]), "lado") is None


@pytest.mark.parametrize("role", ["youth_justice", "probation"])
def test_youth_justice_and_probation_from_004(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert all(s.startswith(f"{TT} §") for s in h.reason_sources(plan, role))


def test_edt_must_be_invited_out_of_hours_only():
    plan = plan_for("2026-11-25T20:00:00+00:00")
    assert h.level(plan, "edt") == "must"
    assert h.reason_sources(plan, "edt") == [f"{DOC} §Quoracy"]
    assert h.invitee(plan_for(), "edt") is None


@pytest.mark.parametrize("role", ["early_help", "adult_social_care", "other_local_authority"])
def test_other_agencies_working_with_the_family_should_be_invited(role):
    assert h.level(plan_for(involved=[role]), role) == "should"


def test_everything_at_once_each_role_once_at_its_highest_level():
    plan = plan_for(
        "2026-11-28T11:00:00+00:00",
        children=[h.child("A", education="school"), h.child("B", unborn=True)],
        concerns=["sexual_abuse"], flags=["allegation_against_professional", "recent_incident"],
        referrer="school_nurse",
        involved=["camhs", "adult_mental_health", "domestic_abuse_service", "housing", "probation", "police"],
    )
    got = {i["role"]: i["level"] for i in plan["invitees"]}
    assert len(got) == len(plan["invitees"])
    assert got == {
        "social_care": "quorum", "health": "quorum", "police": "quorum",
        "lado": "must", "edt": "must",
        "school_nurse": "should", "education": "should", "camhs": "should", "midwife": "should",
        "adult_mental_health": "should", "sarc": "should", "domestic_abuse_service": "should",
        "housing": "should", "probation": "should",
    }


# --- follow-ups -----------------------------------------------------------------------------

def test_no_follow_ups_without_a_meeting_time():
    plan = plan_for()
    assert "follow_ups" not in plan


def test_follow_ups_after_an_office_hours_meeting():
    plan = plan_for(meeting_at="2026-11-25T10:00:00+00:00")
    assert plan["meeting_at"] == "2026-11-25T10:00:00+00:00"
    assert h.follow_up_kinds(plan) == {"minutes_due", "dissent_window_end", "icpc_due", "investigation_review_due"}
    cases = {
        "minutes_due": ("2026-11-30T17:00:00+00:00", "Recording"),
        "dissent_window_end": ("2026-11-26T10:00:00+00:00", "Escalation"),
        "icpc_due": ("2026-12-16T17:00:00+00:00", "Strategy Meeting: Factors for Consideration"),
        "investigation_review_due": (None, "Strategy Meeting: Factors for Consideration"),  # set at the meeting
    }
    assert h.follow_up(plan, "investigation_review_due")["due_set_by"] == "chair"
    for kind, (due, section) in cases.items():
        f = h.follow_up(plan, kind)
        assert f["due"] == due, kind
        h.assert_cites(f["rule"]["source"], DOC, section)


@pytest.mark.parametrize("meeting", [
    "2026-11-25T19:00:00+00:00", "2026-11-25T17:00:00+00:00", "2026-11-27T20:00:00+00:00",
    "2026-11-28T10:00:00+00:00", "2026-12-24T18:00:00+00:00", "2027-03-25T18:00:00+00:00",
])
def test_review_strategy_meeting_after_an_out_of_hours_meeting_is_timed_by_the_responsible_team(meeting):
    # "the timing of the review strategy meeting will be decided by the responsible social care
    # team": no date to invent; the chair sets it, and the follow-up can raise that meeting.
    plan = plan_for(meeting_at=meeting)
    f = h.follow_up(plan, "review_strategy_meeting")
    assert f is not None and f["due"] is None and f["due_set_by"] == "chair"
    assert f["applies_if"] == "s47_enquiry" and f["raises_meeting"] is True
    h.assert_cites(f["rule"]["source"], DOC, "Quoracy")


def test_no_review_strategy_meeting_after_a_meeting_at_16_59_59():
    plan = plan_for(meeting_at="2026-11-25T16:59:59+00:00")
    assert h.follow_up(plan, "review_strategy_meeting") is None


def test_follow_ups_over_christmas():
    plan = plan_for("2026-12-16T10:00:00+00:00", meeting_at="2026-12-17T10:00:00+00:00")
    assert h.follow_up(plan, "minutes_due")["due"] == "2026-12-22T17:00:00+00:00"
    assert h.follow_up(plan, "icpc_due")["due"] == "2027-01-12T17:00:00+00:00"
    assert h.follow_up(plan, "investigation_review_due")["due"] is None
    plan = plan_for("2026-12-23T10:00:00+00:00", meeting_at="2026-12-24T11:00:00+00:00")
    assert h.follow_up(plan, "minutes_due")["due"] == "2026-12-31T17:00:00+00:00"
    assert h.follow_up(plan, "dissent_window_end")["due"] == "2026-12-25T11:00:00+00:00"


def test_dissent_window_is_24_real_hours_across_the_clock_change():
    plan = plan_for("2026-10-23T10:00:00+01:00", meeting_at="2026-10-24T10:00:00+01:00")
    assert h.follow_up(plan, "dissent_window_end")["due"] == "2026-10-25T09:00:00+00:00"
    plan = plan_for("2026-03-27T10:00:00+00:00", meeting_at="2026-03-28T10:00:00+00:00")
    assert h.follow_up(plan, "dissent_window_end")["due"] == "2026-03-29T11:00:00+01:00"
    assert h.follow_up(plan, "minutes_due")["due"] == "2026-04-01T17:00:00+01:00"


# --- second reading (issue 15) ------------------------------------------------------------------
# Worked by hand from 000 §Timescales, §Quoracy, §Agency Information and §Escalation.

POLICE_POWERS = "ns_police_protection_4_hours"
FRI_EVENING_BEFORE_BANK_HOLIDAY = "2026-08-28T19:00:00+01:00"  # Monday 31 August 2026 is a bank holiday


def test_police_protection_powers_are_a_critical_incident_within_4_hours():
    # "When Police have executed protective powers to ensure the immediate safety of a child":
    # emergency protection was needed, so "Critical incidents ...; within 4 hours".
    plan = plan_for(flags=["immediate_action"])
    assert plan["meeting_deadline"] == "2026-11-25T14:00:00+00:00"
    assert h.matched_ids(plan) == [POLICE_POWERS]
    h.assert_cites(plan["deadline_rule"]["source"], DOC, SEC_TIME)


@pytest.mark.parametrize("flags", [["emergency_protection"], ["immediate_action"],
                                   ["emergency_protection", "immediate_action", "chronic_neglect"]])
def test_an_emergency_on_a_friday_evening_before_a_bank_holiday_is_met_that_evening(flags):
    plan = plan_for(FRI_EVENING_BEFORE_BANK_HOLIDAY, flags=flags)
    assert plan["meeting_deadline"] == "2026-08-28T23:00:00+01:00"
    assert plan["out_of_hours"] is True and h.level(plan, "edt") == "must"


def test_emergency_and_police_powers_tie_the_first_listed_wins():
    plan = plan_for(flags=["immediate_action", "emergency_protection"])
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        (EMERGENCY, "2026-11-25T14:00:00+00:00"), (POLICE_POWERS, "2026-11-25T14:00:00+00:00")]


@pytest.mark.parametrize("child, expected", [
    # "Any health service child/ren are receiving including mental health" should be invited
    (h.child(inpatient="paediatric"), {"hospital_consultant", "ward_nurse"}),
    (h.child(inpatient="mental_health_tier4"), {"mental_health_inpatient"}),
    (h.child(hospital_services=True), {"hospital_consultant"}),
    (h.child(), set()),
])
def test_health_services_a_child_receives_include_hospital_care(child, expected):
    plan = plan_for(children=[h.child("A"), {**child, "ref": "B"}])
    hospital = {"hospital_consultant", "ward_nurse", "mental_health_inpatient"}
    assert h.roles(plan) & hospital == expected
    for role in expected:
        assert h.level(plan, role) == "should"
        assert h.reason_sources(plan, role) == [f"{DOC} §Quoracy"]


def test_an_involved_ward_nurse_is_a_health_service_the_child_receives():
    plan = plan_for(involved=["ward_nurse"])
    assert h.level(plan, "ward_nurse") == "should"
    assert h.reason_rules(plan, "ward_nurse") == ["ns_child_health_services"]


def test_police_as_referrer_is_invited_at_quorum_with_the_referrer_reason():
    plan = plan_for("2026-11-28T02:00:00+00:00", flags=["immediate_action"], referrer="police")
    assert plan["meeting_deadline"] == "2026-11-28T06:00:00+00:00"
    assert h.level(plan, "police") == "quorum" and h.level(plan, "edt") == "must"


def test_no_invented_dates_for_the_mid_point_review():
    plan = plan_for(meeting_at="2026-11-25T10:00:00+00:00")
    review = h.follow_up(plan, "investigation_review_due")
    assert review["due"] is None and review["due_set_by"] == "chair" and review["applies_if"] == "s47_enquiry"
    # the follow-ups the text does date keep their dates, with no due_set_by
    assert "due_set_by" not in h.follow_up(plan, "minutes_due")


# --- the profile beyond the plan: who fills health, escalation, what health brings ---------------

def _profile():
    from bot.config_loader import load_profiles
    return load_profiles(h.CONFIG_DIR)[AREA]


@pytest.mark.parametrize("clinician, fills", [
    ("camhs", True), ("mental_health_inpatient", True), ("hospital_consultant", True), ("ward_nurse", True),
    ("health_visitor", True), ("paediatrician", True), ("gp", True),
    ("adult_mental_health", False), ("substance_misuse", False),  # the parents' services, not the child's health
])
def test_sirona_may_send_any_of_the_childs_clinicians_to_fill_health(clinician, fills):
    from bot.core.quoracy import Answered, quorum_status
    answers = [Answered("social_care", "S", "accepted"), Answered("police", "P", "accepted"),
               Answered(clinician, "C", "accepted")]
    assert quorum_status(_profile().quorum, answers).quorate is fills


def test_escalation_is_north_somersets_own():
    esc = _profile().escalation
    assert "Issue Resolution Policy" in esc.summary and "speak directly" in esc.summary
    h.assert_cites(esc.source, DOC, "Escalation")


def test_health_brings_the_whole_agency_information_list():
    items = " ".join(i for g in _profile().preparation_for("health") for i in g.items)
    for words in ("ongoing specialist treatment", "interaction with their parents or carers", "examinations",
                  "expert advice", "developmental concerns", "GP records", "hospital admissions"):
        assert words in items, words
