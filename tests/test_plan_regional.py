"""Regional child protection procedures, Convening a Strategy Meeting (001_e93436e8efe9093b.txt).

Expected values are derived from the procedure and shared/spec/plan.md:
  §6 timescales: within three working days, except serious risk of harm (same day as the
  referral), penetrative sexual abuse when needed for forensic evidence (same day),
  immediate action required by either agency (one working day), particularly complex
  concerns: organised abuse / allegations against staff (max. five working days), and
  extra-familial risk to more than one child (max. five working days); "sooner if there is
  a need to provide immediate protection".
  §4: must involve social care, police and relevant health professionals; the referring
  agency and the nursery/school may be included; a paediatrician should always be included
  where there are significant medical implications or a paediatric examination (must); the
  responsible medical consultant for a child receiving hospital / child development team
  services and a senior ward nurse for in-patients (must); a professional with expertise in
  the form of abuse. Nothing about out of hours: no EDT.
  §5 record "as soon as practicable" (no fixed due); §6 ICPC within 15 working days.
"""
from __future__ import annotations

import pytest

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

AREA = "regional"
DOC = h.DOCS[AREA]
TT = h.TOP_TIPS

WED = "2026-11-25T10:00:00+00:00"
DEFAULT = "reg_default_3_working_days"
SERIOUS = "reg_serious_harm_same_day"
PENETRATIVE = "reg_penetrative_sexual_abuse_forensic_same_day"
IMMEDIATE = "reg_immediate_action_1_working_day"
EMERGENCY = "reg_emergency_protection_same_day"
COMPLEX = "reg_complex_5_working_days"
EXTRA_FAMILIAL = "reg_extra_familial_several_children_5_working_days"


def plan_for(decided: str = WED, **kw) -> dict:
    plan = h.run_plan(h.request(AREA, decided, **kw))
    h.assert_sources_of_area(plan)
    return plan


# --- timescales -------------------------------------------------------------------------

@pytest.mark.parametrize("flags, concerns, children, deadline, rule", [
    ([], [], 1, "2026-11-30T17:00:00+00:00", DEFAULT),
    (["serious_harm"], [], 1, "2026-11-25T23:59:59+00:00", SERIOUS),
    (["penetrative_sexual_abuse", "forensic_window"], ["sexual_abuse"], 1, "2026-11-25T23:59:59+00:00", PENETRATIVE),
    (["immediate_action"], [], 1, "2026-11-26T17:00:00+00:00", IMMEDIATE),
    (["organised_abuse"], [], 1, "2026-12-02T17:00:00+00:00", COMPLEX),
    (["allegation_against_professional"], [], 1, "2026-12-02T17:00:00+00:00", COMPLEX),
    ([], ["extra_familial_harm"], 2, "2026-12-02T17:00:00+00:00", EXTRA_FAMILIAL),
    ([], ["extra_familial_harm"], 3, "2026-12-02T17:00:00+00:00", EXTRA_FAMILIAL),
])
def test_each_timescale_rule(flags, concerns, children, deadline, rule):
    plan = plan_for(flags=flags, concerns=concerns, children=children)
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_rule"]["id"] == rule
    h.assert_cites(plan["deadline_rule"]["source"], DOC, "6")
    assert plan["matched_rules"] == [{**plan["deadline_rule"], "deadline": deadline}]
    assert plan["deadline_out_of_hours"] is deadline.endswith("23:59:59+00:00")


@pytest.mark.parametrize("flags, concerns, children", [
    (["penetrative_sexual_abuse"], ["sexual_abuse"], 1),   # same day only "if required to ensure forensic evidence"
    (["forensic_window"], ["sexual_abuse"], 1),            # forensic window without penetrative abuse
    ([], ["extra_familial_harm"], 1),                      # extra-familial risk to one child only
    ([], ["physical_abuse"], 2),                           # two children, not extra-familial
    (["recent_incident", "chronic_neglect", "historical_abuse", "new_referral", "unexplained_injury"], [], 1),
    ([], ["sexual_abuse", "neglect", "domestic_abuse", "fabricated_induced_illness"], 1),
])
def test_near_misses_fall_back_to_three_working_days(flags, concerns, children):
    plan = plan_for(flags=flags, concerns=concerns, children=children)
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert h.matched_ids(plan) == [DEFAULT]


def test_complex_five_working_days_applies_although_longer_than_the_default():
    plan = plan_for(flags=["organised_abuse"])
    assert plan["meeting_deadline"] == "2026-12-02T17:00:00+00:00"
    assert DEFAULT not in h.matched_ids(plan)


def test_complex_concerns_sooner_when_immediate_protection_is_needed():
    plan = plan_for(flags=["allegation_against_professional", "immediate_action"])
    assert plan["deadline_rule"]["id"] == IMMEDIATE
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        (IMMEDIATE, "2026-11-26T17:00:00+00:00"),
        (COMPLEX, "2026-12-02T17:00:00+00:00"),
    ]


def test_extra_familial_several_children_sooner_with_emergency_protection():
    plan = plan_for(concerns=["extra_familial_harm"], children=2, flags=["emergency_protection"])
    assert plan["deadline_rule"]["id"] == EMERGENCY
    assert plan["meeting_deadline"] == "2026-11-25T23:59:59+00:00"
    assert h.matched_ids(plan) == [EMERGENCY, IMMEDIATE, EXTRA_FAMILIAL]


def test_extra_familial_several_children_sooner_with_immediate_action():
    plan = plan_for(concerns=["extra_familial_harm"], children=2, flags=["immediate_action"])
    assert plan["deadline_rule"]["id"] == IMMEDIATE
    assert h.matched_ids(plan) == [IMMEDIATE, EXTRA_FAMILIAL]


def test_tie_goes_to_the_rule_listed_first():
    plan = plan_for(flags=["penetrative_sexual_abuse", "forensic_window", "serious_harm"], concerns=["sexual_abuse"])
    assert plan["deadline_rule"]["id"] == SERIOUS
    assert [(m["id"], m["deadline"]) for m in plan["matched_rules"]] == [
        (SERIOUS, "2026-11-25T23:59:59+00:00"), (PENETRATIVE, "2026-11-25T23:59:59+00:00"),
    ]
    plan = plan_for(flags=["organised_abuse"], concerns=["extra_familial_harm"], children=2)
    assert plan["deadline_rule"]["id"] == COMPLEX
    assert h.matched_ids(plan) == [COMPLEX, EXTRA_FAMILIAL]


def test_all_rules_at_once_sorted_by_deadline():
    plan = plan_for(
        flags=["serious_harm", "penetrative_sexual_abuse", "forensic_window", "immediate_action", "organised_abuse"],
        concerns=["sexual_abuse", "extra_familial_harm"], children=2,
    )
    assert h.matched_ids(plan) == [SERIOUS, PENETRATIVE, IMMEDIATE, COMPLEX, EXTRA_FAMILIAL]
    deadlines = [m["deadline"] for m in plan["matched_rules"]]
    assert deadlines == sorted(deadlines)


# --- calendar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("decided, flags, deadline, ooh", [
    # weekend
    ("2026-11-27T15:00:00+00:00", [], "2026-12-02T17:00:00+00:00", False),
    ("2026-11-28T10:00:00+00:00", ["serious_harm"], "2026-11-28T23:59:59+00:00", True),
    ("2026-11-28T10:00:00+00:00", [], "2026-12-02T17:00:00+00:00", True),
    ("2026-11-27T16:00:00+00:00", ["immediate_action"], "2026-11-30T17:00:00+00:00", False),
    # Christmas 2026
    ("2026-12-24T10:00:00+00:00", [], "2026-12-31T17:00:00+00:00", False),
    ("2026-12-24T16:59:59+00:00", ["immediate_action"], "2026-12-29T17:00:00+00:00", False),
    ("2026-12-24T10:00:00+00:00", ["organised_abuse"], "2027-01-05T17:00:00+00:00", False),
    ("2026-12-25T10:00:00+00:00", ["serious_harm"], "2026-12-25T23:59:59+00:00", True),
    ("2026-12-28T10:00:00+00:00", ["emergency_protection"], "2026-12-28T23:59:59+00:00", True),
    ("2026-12-28T10:00:00+00:00", ["immediate_action"], "2026-12-29T17:00:00+00:00", True),
    # Easter 2027
    ("2027-03-24T10:00:00+00:00", [], "2027-03-31T17:00:00+01:00", False),
    ("2027-03-25T10:00:00+00:00", ["immediate_action"], "2027-03-30T17:00:00+01:00", False),
    ("2027-03-26T10:00:00+00:00", [], "2027-04-01T17:00:00+01:00", True),
    ("2027-03-29T10:00:00+01:00", ["serious_harm"], "2027-03-29T23:59:59+01:00", True),
    # clock changes: same_day ends at 23:59:59 local, printed with the day's new offset
    ("2026-03-29T00:30:00+00:00", ["serious_harm"], "2026-03-29T23:59:59+01:00", True),
    ("2026-10-25T00:30:00+01:00", ["serious_harm"], "2026-10-25T23:59:59+00:00", True),
    ("2026-03-27T10:00:00+00:00", ["immediate_action"], "2026-03-30T17:00:00+01:00", False),
    ("2026-10-23T10:00:00+01:00", [], "2026-10-28T17:00:00+00:00", False),
    ("2026-10-22T10:00:00+01:00", ["organised_abuse"], "2026-10-29T17:00:00+00:00", False),
])
def test_calendar(decided, flags, deadline, ooh):
    plan = plan_for(decided, flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["out_of_hours"] is ooh


@pytest.mark.parametrize("decided, ooh", [
    ("2026-11-25T16:59:59+00:00", False), ("2026-11-25T17:00:00+00:00", True),
    ("2026-11-25T09:00:00+00:00", False), ("2026-11-25T08:59:59+00:00", True),
])
def test_office_close_changes_out_of_hours_but_not_the_deadline(decided, ooh):
    plan = plan_for(decided, flags=["serious_harm"])
    assert plan["out_of_hours"] is ooh
    assert plan["meeting_deadline"] == "2026-11-25T23:59:59+00:00"
    plan = plan_for(decided)
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"
    assert plan["deadline_out_of_hours"] is False
    # Regional's procedure says nothing about out of hours: no EDT invitation
    assert h.invitee(plan, "edt") is None


# --- invitees ---------------------------------------------------------------------------------

def test_must_involve_social_care_police_health():
    plan = plan_for()
    assert set(plan["quorum"]) == h.QUORUM_ROLES and len(plan["quorum"]) == 3
    for role in h.QUORUM_ROLES:
        assert h.level(plan, role) == "quorum"
        assert h.reason_sources(plan, role) == [f"{DOC} §4"]
    assert h.roles(plan) == h.QUORUM_ROLES


def test_referring_agency_may_be_included():
    plan = plan_for(referrer="early_help")
    assert h.level(plan, "early_help") == "should"
    sources = h.reason_sources(plan, "early_help")
    assert f"{DOC} §4" in sources and any(s.startswith(f"{TT} §") for s in sources)


@pytest.mark.parametrize("education, invited", [
    ("nursery", True), ("school", True), ("none", False), ("home_educated", False), ("missing", False),
])
def test_nursery_or_school_likely_included(education, invited):
    plan = plan_for(children=[h.child(education=education)])
    assert h.level(plan, "education") == ("should" if invited else None)
    if invited:
        assert h.reason_sources(plan, "education") == [f"{DOC} §4"]


@pytest.mark.parametrize("flags, concerns", [
    (["unexplained_injury"], ["physical_abuse"]),
    ([], ["fabricated_induced_illness"]),
])
def test_paediatrician_always_included_for_medical_issues(flags, concerns):
    plan = plan_for(flags=flags, concerns=concerns)
    assert h.level(plan, "paediatrician") == "must"
    assert h.reason_sources(plan, "paediatrician") == [f"{DOC} §4"]


def test_no_paediatrician_without_medical_issues():
    assert h.invitee(plan_for(concerns=["physical_abuse", "emotional_abuse"]), "paediatrician") is None


def test_consultant_for_a_child_receiving_hospital_services():
    plan = plan_for(children=[h.child(hospital_services=True)])
    assert h.level(plan, "hospital_consultant") == "must"
    assert h.reason_sources(plan, "hospital_consultant") == [f"{DOC} §4"]
    assert h.invitee(plan, "ward_nurse") is None  # not an in-patient


def test_consultant_and_senior_ward_nurse_for_a_paediatric_in_patient():
    plan = plan_for(children=[h.child(inpatient="paediatric")])
    assert h.level(plan, "hospital_consultant") == "must"
    assert h.level(plan, "ward_nurse") == "must"
    assert h.reason_sources(plan, "ward_nurse") == [f"{DOC} §4"]


def test_tier4_in_patient_consultant_and_ward_nurse():
    plan = plan_for(children=[h.child(inpatient="mental_health_tier4")])
    assert h.level(plan, "mental_health_inpatient") == "must"
    assert h.level(plan, "ward_nurse") == "must"


def test_no_hospital_roles_for_a_child_not_in_hospital():
    plan = plan_for(children=[h.child(inpatient="none", hospital_services=False)])
    assert not {"hospital_consultant", "ward_nurse", "mental_health_inpatient"} & h.roles(plan)


def test_unborn_child_midwife():
    assert h.level(plan_for(children=[h.child(unborn=True)]), "midwife") == "should"
    assert h.invitee(plan_for(), "midwife") is None


def test_expertise_in_extra_familial_harm():
    plan = plan_for(concerns=["extra_familial_harm"])
    assert h.level(plan, "contextual_safeguarding") == "should"
    assert h.reason_sources(plan, "contextual_safeguarding") == [f"{DOC} §4"]
    assert h.invitee(plan_for(concerns=["neglect"]), "contextual_safeguarding") is None


@pytest.mark.parametrize("role", ["housing", "camhs", "adult_mental_health", "early_help", "gp", "other_local_authority"])
def test_other_relevant_agencies_involved(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert f"{DOC} §4" in h.reason_sources(plan, role)
    assert h.invitee(plan_for(), role) is None


@pytest.mark.parametrize("role", ["youth_justice", "probation"])
def test_youth_justice_and_probation_with_004(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    sources = h.reason_sources(plan, role)
    assert any(s.startswith(f"{TT} §") for s in sources)


def test_lado_from_004_only_should():
    plan = plan_for(flags=["allegation_against_professional"])
    assert h.level(plan, "lado") == "should"
    assert all(s.startswith(f"{TT} §") for s in h.reason_sources(plan, "lado"))
    assert h.invitee(plan_for(), "lado") is None


def test_no_edt_out_of_hours_in_regional():
    plan = plan_for("2026-11-28T22:00:00+00:00")
    assert plan["out_of_hours"] is True
    assert h.invitee(plan, "edt") is None


def test_role_named_by_several_rules_appears_once_at_highest_level():
    plan = plan_for(flags=["unexplained_injury"], involved=["paediatrician"], referrer="paediatrician")
    inv = h.invitee(plan, "paediatrician")
    assert inv["level"] == "must"
    assert len(inv["reasons"]) == 4  # medical (must), involved agency, referrer (001 and 004)


# --- follow-ups -------------------------------------------------------------------------------

@pytest.mark.parametrize("meeting, icpc", [
    ("2026-11-25T10:00:00+00:00", "2026-12-16T17:00:00+00:00"),
    ("2026-11-25T20:00:00+00:00", "2026-12-16T17:00:00+00:00"),  # out of hours: no extra follow-up
    ("2026-12-17T10:00:00+00:00", "2027-01-12T17:00:00+00:00"),
    ("2027-03-18T10:00:00+00:00", "2027-04-12T17:00:00+01:00"),
])
def test_follow_ups(meeting, icpc):
    plan = plan_for(meeting_at=meeting)
    assert h.follow_up_kinds(plan) == {"icpc_due", "minutes_circulation"}
    f = h.follow_up(plan, "icpc_due")
    assert f["due"] == icpc
    h.assert_cites(f["rule"]["source"], DOC, "6")
    m = h.follow_up(plan, "minutes_circulation")
    assert m["due"] is None  # "as soon as practicable"
    h.assert_cites(m["rule"]["source"], DOC, "5")


def test_no_follow_ups_without_meeting():
    assert "follow_ups" not in plan_for()


# --- second reading (issue 15) ------------------------------------------------------------------
# Worked by hand from 001 §1, §3, §4 and §6.

FRI_EVENING_BEFORE_BANK_HOLIDAY = "2026-08-28T19:00:00+01:00"  # Monday 31 August 2026 is a bank holiday


def test_emergency_protection_is_a_serious_risk_of_harm_the_same_day():
    plan = plan_for(flags=["emergency_protection"])
    assert plan["meeting_deadline"] == "2026-11-25T23:59:59+00:00"
    assert h.matched_ids(plan) == [EMERGENCY, IMMEDIATE]  # it is immediate action too
    h.assert_cites(plan["deadline_rule"]["source"], DOC, "6")


def test_an_emergency_on_a_friday_evening_before_a_bank_holiday_is_not_given_tuesday():
    plan = plan_for(FRI_EVENING_BEFORE_BANK_HOLIDAY, flags=["emergency_protection"])
    assert plan["meeting_deadline"] == "2026-08-28T23:59:59+01:00"
    # immediate action alone is "within one working day" as the text says: Tuesday 1 September
    plan = plan_for(FRI_EVENING_BEFORE_BANK_HOLIDAY, flags=["immediate_action"])
    assert plan["meeting_deadline"] == "2026-09-01T17:00:00+01:00"


@pytest.mark.parametrize("flags, concerns", [
    (["forensic_window"], ["sexual_abuse"]),                # a forensic examination
    (["penetrative_sexual_abuse"], ["sexual_abuse"]),       # a paediatric (forensic) examination is likely
    (["serious_harm"], ["neglect"]),                        # serious neglect: significant medical implications
    (["serious_harm"], ["physical_abuse"]),                 # serious physical injury
    (["unexplained_injury"], []),
])
def test_a_paediatrician_is_always_included_for_examinations_and_medical_implications(flags, concerns):
    plan = plan_for(flags=flags, concerns=concerns)
    assert h.level(plan, "paediatrician") == "must"
    assert h.reason_sources(plan, "paediatrician") == [f"{DOC} §4"]


@pytest.mark.parametrize("flags, concerns", [
    ([], ["sexual_abuse"]), (["historical_abuse"], ["emotional_abuse"]), (["serious_harm"], ["emotional_abuse"]),
])
def test_no_paediatrician_without_an_examination_or_medical_implications(flags, concerns):
    assert h.invitee(plan_for(flags=flags, concerns=concerns), "paediatrician") is None


def test_child_on_child_abuse_separate_meetings_for_both_children():
    plan = plan_for(flags=["child_on_child_abuse"], concerns=["sexual_abuse"])
    [separate] = plan["separate_meetings"]
    assert separate["id"] == "reg_child_on_child_separate_meetings"
    assert "separate strategy meetings" in separate["summary"]
    h.assert_cites(separate["source"], DOC, "3")
    assert "separate_meetings" not in plan_for(concerns=["sexual_abuse"])
    # the flag is no urgency: the deadline is the default's
    assert plan["meeting_deadline"] == "2026-11-30T17:00:00+00:00"


@pytest.mark.parametrize("area", ["north-somerset", "walsall", "bristol"])
def test_other_areas_accept_the_child_on_child_flag_and_say_nothing_of_separate_meetings(area):
    plan = h.run_plan(h.request(area, WED, flags=["child_on_child_abuse"]))
    assert "separate_meetings" not in plan


def _profile():
    from bot.config_loader import load_profiles
    return load_profiles(h.CONFIG_DIR)[AREA]


def test_camhs_is_a_relevant_health_professional_for_quorum():
    from bot.core.quoracy import Answered, quorum_status
    answers = [Answered("social_care", "S", "accepted"), Answered("police", "P", "accepted"),
               Answered("camhs", "C", "accepted")]
    assert quorum_status(_profile().quorum, answers).quorate
    assert not quorum_status(_profile().quorum, answers[:2] + [Answered("housing", "H", "accepted")]).quorate


def test_escalation_is_the_regional_procedures_own():
    esc = _profile().escalation
    assert "follow the escalation process" in esc.summary
    assert "safeguarding lead" not in esc.summary and "Issue Resolution" not in esc.summary  # North Somerset's words
    h.assert_cites(esc.source, DOC, "1")


@pytest.mark.parametrize("role", ["police", "health", "education", "housing", "probation", "sarc"])
def test_every_agency_brings_all_its_information_on_the_child(role):
    groups = _profile().preparation_for(role)
    items = " ".join(i for g in groups for i in g.items)
    assert "all your agency's information" in items
    assert any(g.source == f"{DOC} §4" for g in groups)
    assert any(g.source.startswith(TT) for g in groups)  # 004's own prompts stay
