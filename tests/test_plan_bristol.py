"""Bristol, Strategy meeting guidance (003_2d544eb75ad81283.txt).

Expected values are derived from the guidance and shared/spec/plan.md:
  §3.2 same working day for serious harm (serious physical injury, serious neglect, and sexual
  abuse where immediate safeguarding actions are required) and where forensic evidence may be
  lost (e.g. penetrative sexual abuse); otherwise within 2 working days.
  §4.2 minimum: social worker, health practitioner, police. §4.3 may include: the referrer,
  school/college/nursery, CAMHS, youth offending and probation, adult social care, adult mental
  health, substance misuse, domestic abuse specialists, housing, contextual safeguarding,
  support professionals involved, other health professionals. §2.4 inform the LADO.
  §6.1 out of hours: EDT, usually with the on-call community paediatrician; the record must be
  sent before the start of the next working day. §5.4 minutes within 5 working days, also to
  the GP. §2.3 the social worker sees the child within two working days.
"""
from __future__ import annotations

import pytest

try:
    import plan_helpers as h
except ModuleNotFoundError:  # tests/ imported as a package
    from tests import plan_helpers as h

AREA = "bristol"
DOC = h.DOCS[AREA]
TT = h.TOP_TIPS
S43 = f"{DOC} §4.3"

WED = "2026-11-25T10:00:00+00:00"
DEFAULT = "bri_default_2_working_days"
SERIOUS = "bri_serious_harm_same_working_day"
SEXUAL_IMMEDIATE = "bri_sexual_abuse_immediate_same_working_day"
FORENSIC = "bri_forensic_same_working_day"
IMMEDIATE = "bri_immediate_safeguarding_same_working_day"


def plan_for(decided: str = WED, **kw) -> dict:
    plan = h.run_plan(h.request(AREA, decided, **kw))
    h.assert_sources_of_area(plan)
    return plan


# --- timescales -------------------------------------------------------------------------

@pytest.mark.parametrize("flags, concerns, deadline, rule", [
    ([], [], "2026-11-27T17:00:00+00:00", DEFAULT),
    (["serious_harm"], ["physical_abuse"], "2026-11-25T17:00:00+00:00", SERIOUS),
    (["forensic_window"], [], "2026-11-25T17:00:00+00:00", FORENSIC),
    (["penetrative_sexual_abuse"], ["sexual_abuse"], "2026-11-25T17:00:00+00:00", FORENSIC),
    (["emergency_protection"], ["neglect"], "2026-11-25T17:00:00+00:00", IMMEDIATE),
    # 003 §3.2 "where immediate safeguarding actions are required", whatever the harm
    (["immediate_action"], ["physical_abuse"], "2026-11-25T17:00:00+00:00", IMMEDIATE),
    (["immediate_action"], [], "2026-11-25T17:00:00+00:00", IMMEDIATE),
])
def test_each_timescale_rule(flags, concerns, deadline, rule):
    plan = plan_for(flags=flags, concerns=concerns)
    assert plan["meeting_deadline"] == deadline
    assert plan["deadline_rule"]["id"] == rule
    h.assert_cites(plan["deadline_rule"]["source"], DOC, "3.2")
    assert plan["matched_rules"] == [{**plan["deadline_rule"], "deadline": deadline}]
    assert plan["deadline_out_of_hours"] is False


@pytest.mark.parametrize("flags, concerns, children", [
    ([], ["sexual_abuse"], 1),                          # sexual abuse without immediate action
    (["penetrative_sexual_abuse", "historical_abuse"], ["sexual_abuse"], 1),  # historical: no forensic window
    (["recent_incident", "chronic_neglect", "historical_abuse", "unexplained_injury", "new_referral"], [], 1),
    (["organised_abuse", "allegation_against_professional"], [], 1),
    ([], ["extra_familial_harm"], 3),
])
def test_near_misses_fall_back_to_two_working_days(flags, concerns, children):
    plan = plan_for(flags=flags, concerns=concerns, children=children)
    assert plan["meeting_deadline"] == "2026-11-27T17:00:00+00:00"
    assert h.matched_ids(plan) == [DEFAULT]


@pytest.mark.parametrize("flag", ["emergency_protection", "immediate_action"])
def test_sexual_abuse_with_immediate_safeguarding_matches_two_rules_first_listed_wins(flag):
    plan = plan_for(concerns=["sexual_abuse"], flags=[flag])
    assert plan["deadline_rule"]["id"] == SEXUAL_IMMEDIATE
    assert plan["meeting_deadline"] == "2026-11-25T17:00:00+00:00"
    assert h.matched_ids(plan) == [SEXUAL_IMMEDIATE, IMMEDIATE]


def test_every_same_working_day_rule_ties_first_listed_wins():
    plan = plan_for(concerns=["sexual_abuse"],
                    flags=["emergency_protection", "forensic_window", "immediate_action", "serious_harm"])
    assert plan["deadline_rule"]["id"] == SERIOUS
    assert h.matched_ids(plan) == [SERIOUS, SEXUAL_IMMEDIATE, FORENSIC, IMMEDIATE]
    assert {m["deadline"] for m in plan["matched_rules"]} == {"2026-11-25T17:00:00+00:00"}


# --- same working day at the edges of the day ---------------------------------------------------

@pytest.mark.parametrize("decided, deadline, ooh, deadline_ooh", [
    ("2026-11-25T16:59:59+00:00", "2026-11-25T17:00:00+00:00", False, False),
    ("2026-11-25T17:00:00+00:00", "2026-11-25T23:59:59+00:00", True, True),
    ("2026-11-25T08:00:00+00:00", "2026-11-25T17:00:00+00:00", True, False),
    ("2026-11-25T09:00:00+00:00", "2026-11-25T17:00:00+00:00", False, False),
    ("2026-11-25T23:30:00+00:00", "2026-11-25T23:59:59+00:00", True, True),
    ("2026-07-01T16:30:00+01:00", "2026-07-01T17:00:00+01:00", False, False),
    ("2026-07-01T16:30:00+00:00", "2026-07-01T23:59:59+01:00", True, True),  # 17:30 in Bristol
])
def test_serious_harm_around_office_hours(decided, deadline, ooh, deadline_ooh):
    plan = plan_for(decided, flags=["serious_harm"])
    assert plan["meeting_deadline"] == deadline
    assert plan["out_of_hours"] is ooh
    assert plan["deadline_out_of_hours"] is deadline_ooh
    assert h.level(plan, "edt") == ("must" if ooh else None)


@pytest.mark.parametrize("decided, flags, deadline, ooh", [
    # weekend
    ("2026-11-27T15:00:00+00:00", [], "2026-12-01T17:00:00+00:00", False),
    ("2026-11-28T10:00:00+00:00", [], "2026-12-01T17:00:00+00:00", True),
    ("2026-11-28T10:00:00+00:00", ["serious_harm"], "2026-11-28T23:59:59+00:00", True),
    # Christmas 2026
    ("2026-12-24T10:00:00+00:00", ["serious_harm"], "2026-12-24T17:00:00+00:00", False),
    ("2026-12-24T10:00:00+00:00", [], "2026-12-30T17:00:00+00:00", False),
    ("2026-12-25T10:00:00+00:00", ["emergency_protection"], "2026-12-25T23:59:59+00:00", True),
    ("2026-12-28T10:00:00+00:00", ["forensic_window"], "2026-12-28T23:59:59+00:00", True),
    ("2026-12-28T10:00:00+00:00", [], "2026-12-30T17:00:00+00:00", True),
    ("2026-12-29T10:00:00+00:00", ["serious_harm"], "2026-12-29T17:00:00+00:00", False),
    # Easter 2027
    ("2027-03-25T10:00:00+00:00", [], "2027-03-31T17:00:00+01:00", False),
    ("2027-03-26T10:00:00+00:00", ["serious_harm"], "2027-03-26T23:59:59+00:00", True),
    ("2027-03-29T10:00:00+01:00", ["penetrative_sexual_abuse"], "2027-03-29T23:59:59+01:00", True),
    ("2027-03-29T10:00:00+01:00", [], "2027-03-31T17:00:00+01:00", True),
    # clock changes
    ("2026-03-27T10:00:00+00:00", [], "2026-03-31T17:00:00+01:00", False),
    ("2026-03-29T00:30:00+00:00", ["serious_harm"], "2026-03-29T23:59:59+01:00", True),
    ("2026-10-23T10:00:00+01:00", [], "2026-10-27T17:00:00+00:00", False),
    ("2026-10-25T00:30:00+01:00", ["serious_harm"], "2026-10-25T23:59:59+00:00", True),
    ("2026-10-26T10:00:00+00:00", ["serious_harm"], "2026-10-26T17:00:00+00:00", False),
])
def test_calendar(decided, flags, deadline, ooh):
    plan = plan_for(decided, flags=flags)
    assert plan["meeting_deadline"] == deadline
    assert plan["out_of_hours"] is ooh
    assert h.level(plan, "edt") == ("must" if ooh else None)


# --- invitees ---------------------------------------------------------------------------------

def test_minimum_attendance():
    plan = plan_for()
    assert set(plan["quorum"]) == h.QUORUM_ROLES and len(plan["quorum"]) == 3
    for role in h.QUORUM_ROLES:
        assert h.level(plan, role) == "quorum"
        assert h.reason_sources(plan, role) == [f"{DOC} §4.2"]
    assert h.roles(plan) == h.QUORUM_ROLES


def test_referrer():
    plan = plan_for(referrer="camhs")
    assert h.level(plan, "camhs") == "should"
    sources = h.reason_sources(plan, "camhs")
    assert S43 in sources and any(s.startswith(f"{TT} §") for s in sources)


@pytest.mark.parametrize("education, invited", [
    ("school", True), ("college", True), ("nursery", True),
    ("none", False), ("home_educated", False), ("missing", False),
])
def test_school_college_or_nursery(education, invited):
    plan = plan_for(children=[h.child(education=education)])
    assert h.level(plan, "education") == ("should" if invited else None)
    if invited:
        assert h.reason_sources(plan, "education") == [S43]


@pytest.mark.parametrize("role", [
    "camhs", "midwife", "health_visitor", "school_nurse", "gp",
    "youth_justice", "probation",
    "adult_social_care", "adult_mental_health", "substance_misuse", "domestic_abuse_service",
    "housing", "contextual_safeguarding", "early_help", "other_local_authority",
])
def test_agencies_involved_with_the_child_may_be_included(role):
    plan = plan_for(involved=[role])
    assert h.level(plan, role) == "should"
    assert S43 in h.reason_sources(plan, role)
    assert h.invitee(plan_for(), role) is None


def test_unborn_child_midwife():
    plan = plan_for(children=[h.child(unborn=True)])
    assert h.level(plan, "midwife") == "should"
    assert h.reason_sources(plan, "midwife") == [S43]


def test_contextual_safeguarding_for_extra_familial_harm():
    plan = plan_for(concerns=["extra_familial_harm"])
    assert h.level(plan, "contextual_safeguarding") == "should"
    assert h.reason_sources(plan, "contextual_safeguarding") == [S43]
    assert h.invitee(plan_for(concerns=["physical_abuse"]), "contextual_safeguarding") is None


def test_lado_informed_for_an_allegation_against_a_professional():
    plan = plan_for(flags=["allegation_against_professional"])
    assert h.level(plan, "lado") == "should"
    sources = h.reason_sources(plan, "lado")
    assert f"{DOC} §2.4" in sources and any(s.startswith(f"{TT} §") for s in sources)
    assert h.invitee(plan_for(flags=["organised_abuse"]), "lado") is None


def test_edt_and_on_call_paediatrician_out_of_hours():
    plan = plan_for("2026-11-28T03:00:00+00:00")
    assert h.level(plan, "edt") == "must"
    assert h.reason_sources(plan, "edt") == [f"{DOC} §6.1"]
    assert h.level(plan, "paediatrician") == "should"
    assert f"{DOC} §6.1" in h.reason_sources(plan, "paediatrician")
    plan = plan_for()
    assert h.invitee(plan, "edt") is None and h.invitee(plan, "paediatrician") is None


def test_involved_quorum_agency_stays_quorum_with_both_reasons():
    plan = plan_for(involved=["police", "health"], referrer="police")
    for role in ("police", "health"):
        assert h.level(plan, role) == "quorum"
        assert f"{DOC} §4.2" in h.reason_sources(plan, role)
    assert len(h.reason_rules(plan, "police")) == len(set(h.reason_rules(plan, "police"))) >= 3


def test_other_local_authority_in_complex_abuse_is_should():
    plan = plan_for(flags=["organised_abuse"], involved=["other_local_authority"])
    assert h.level(plan, "other_local_authority") == "should"


# --- follow-ups -------------------------------------------------------------------------------

def test_office_hours_meeting_follow_ups():
    plan = plan_for(meeting_at="2026-11-25T11:00:00+00:00")
    assert h.follow_up_kinds(plan) == {"minutes_due", "child_seen_due"}
    minutes = h.follow_up(plan, "minutes_due")
    assert minutes["due"] == "2026-12-02T17:00:00+00:00"
    h.assert_cites(minutes["rule"]["source"], DOC, "5.4")
    recipients = " | ".join(minutes.get("recipients", []))
    assert "GP" in recipients
    assert "Designated Safeguarding Lead" in recipients and "Named Nurse" in recipients
    seen = h.follow_up(plan, "child_seen_due")
    assert seen["due"] == "2026-11-27T17:00:00+00:00"
    h.assert_cites(seen["rule"]["source"], DOC, "2.3")


@pytest.mark.parametrize("meeting, record_due", [
    ("2026-11-25T18:00:00+00:00", "2026-11-26T09:00:00+00:00"),
    ("2026-11-25T17:00:00+00:00", "2026-11-26T09:00:00+00:00"),
    ("2026-11-27T22:00:00+00:00", "2026-11-30T09:00:00+00:00"),
    ("2026-11-29T10:00:00+00:00", "2026-11-30T09:00:00+00:00"),
    ("2026-12-24T19:00:00+00:00", "2026-12-29T09:00:00+00:00"),
    ("2026-12-28T10:00:00+00:00", "2026-12-29T09:00:00+00:00"),
    ("2027-03-25T18:00:00+00:00", "2027-03-30T09:00:00+01:00"),
    ("2026-10-24T20:00:00+01:00", "2026-10-26T09:00:00+00:00"),
])
def test_out_of_hours_record_before_the_next_working_day_starts(meeting, record_due):
    plan = plan_for(meeting_at=meeting)
    assert h.follow_up_kinds(plan) == {"minutes_due", "child_seen_due", "ooh_record_due"}
    f = h.follow_up(plan, "ooh_record_due")
    assert f["due"] == record_due
    h.assert_cites(f["rule"]["source"], DOC, "6.1")


def test_no_out_of_hours_record_for_a_meeting_at_16_59_59():
    assert h.follow_up(plan_for(meeting_at="2026-11-25T16:59:59+00:00"), "ooh_record_due") is None


def test_follow_ups_over_christmas():
    plan = plan_for("2026-12-23T10:00:00+00:00", meeting_at="2026-12-24T10:00:00+00:00")
    assert h.follow_up(plan, "minutes_due")["due"] == "2027-01-05T17:00:00+00:00"
    assert h.follow_up(plan, "child_seen_due")["due"] == "2026-12-30T17:00:00+00:00"


def test_out_of_hours_record_after_a_small_hours_discussion_is_due_that_morning():
    plan = plan_for("2026-11-25T01:30:00+00:00", meeting_at="2026-11-25T02:00:00+00:00")
    assert h.follow_up(plan, "ooh_record_due")["due"] == "2026-11-25T09:00:00+00:00"


# --- second reading (issue 15) ------------------------------------------------------------------
# Worked by hand from 003 §2.4, §3.2, §4.2-4.7, §6 Contextual Safeguarding and §8.1.

FRI_EVENING_BEFORE_BANK_HOLIDAY = "2026-08-28T19:00:00+01:00"  # Monday 31 August 2026 is a bank holiday


@pytest.mark.parametrize("flags", [["emergency_protection"], ["immediate_action"]])
def test_immediate_safeguarding_on_a_friday_evening_before_a_bank_holiday_is_that_evening(flags):
    plan = plan_for(FRI_EVENING_BEFORE_BANK_HOLIDAY, flags=flags, concerns=["physical_abuse"])
    assert plan["meeting_deadline"] == "2026-08-28T23:59:59+01:00"
    assert h.matched_ids(plan) == [IMMEDIATE]


@pytest.mark.parametrize("flags, deadline, matched", [
    (["penetrative_sexual_abuse", "historical_abuse"], "2026-11-27T17:00:00+00:00", [DEFAULT]),
    (["penetrative_sexual_abuse", "historical_abuse", "forensic_window"], "2026-11-25T17:00:00+00:00", [FORENSIC]),
    (["penetrative_sexual_abuse", "recent_incident"], "2026-11-25T17:00:00+00:00", [FORENSIC]),
])
def test_historical_penetrative_abuse_has_no_forensic_window_unless_one_is_flagged(flags, deadline, matched):
    plan = plan_for(flags=flags, concerns=["sexual_abuse"])
    assert plan["meeting_deadline"] == deadline
    assert h.matched_ids(plan) == matched


@pytest.mark.parametrize("child, expected", [
    (h.child(inpatient="paediatric"), {"hospital_consultant", "ward_nurse"}),
    (h.child(inpatient="mental_health_tier4"), {"mental_health_inpatient"}),
    (h.child(hospital_services=True), {"hospital_consultant"}),
    (h.child(), set()),
])
def test_in_patients_hospital_professionals_are_other_health_professionals(child, expected):
    plan = plan_for(children=[h.child("A"), {**child, "ref": "B"}])
    assert h.roles(plan) & {"hospital_consultant", "ward_nurse", "mental_health_inpatient"} == expected
    for role in expected:
        assert h.level(plan, role) == "should" and h.reason_sources(plan, role) == [S43]


def test_an_involved_ward_nurse_is_invited():
    plan = plan_for(involved=["ward_nurse"])
    assert h.level(plan, "ward_nurse") == "should"
    assert h.reason_rules(plan, "ward_nurse") == ["bri_health_professionals"]


def test_inform_the_lado_when_no_section_47_enquiry_follows_an_allegation_against_a_professional():
    plan = plan_for(flags=["allegation_against_professional"], meeting_at="2026-11-25T14:00:00+00:00")
    lado = h.follow_up(plan, "lado_informed")
    assert lado["due"] is None and lado["due_set_by"] == "chair"
    assert lado["applies_if"] == "no_s47_enquiry"
    h.assert_cites(lado["rule"]["source"], DOC, "2.4")
    assert h.follow_up(plan_for(meeting_at="2026-11-25T14:00:00+00:00"), "lado_informed") is None


@pytest.mark.parametrize("children, concerns, flags, chair", [
    (3, ["physical_abuse"], [], "bri_chair_complex"),       # "a number of ... abused children (3 or more)"
    (4, ["extra_familial_harm"], [], "bri_chair_complex"),
    (1, [], ["organised_abuse"], "bri_chair_complex"),
    (2, ["sexual_abuse"], [], "bri_chair"),
    (3, [], [], "bri_chair"),                               # no abuse alleged: not complex abuse
])
def test_complex_abuse_follows_bristols_definition(children, concerns, flags, chair):
    plan = plan_for(children=children, concerns=concerns, flags=flags)
    assert plan["chair"]["id"] == chair
    if chair == "bri_chair_complex":
        assert "Deputy Service Manager" in plan["chair"]["summary"]
        h.assert_cites(plan["chair"]["source"], DOC, "6 Contextual Safeguarding")


def test_complex_abuse_invites_the_other_local_authorities_involved():
    plan = plan_for(children=3, concerns=["neglect"], involved=["other_local_authority"])
    assert "bri_complex_other_authorities" in h.reason_rules(plan, "other_local_authority")


def _profile():
    from bot.config_loader import load_profiles
    return load_profiles(h.CONFIG_DIR)[AREA]


def test_escalation_is_bristols_dispute_resolution():
    esc = _profile().escalation
    assert "level closest" in esc.summary and "Resolution of Professional Disagreements" in esc.summary
    assert "safeguarding lead" not in esc.summary  # North Somerset's words
    h.assert_cites(esc.source, DOC, "8.1")


def test_each_agency_brings_its_whole_list():
    profile = _profile()
    text = lambda role: " ".join(i for g in profile.preparation_for(role) for i in g.items)
    for words in ("medical assessments", "expert medical advice", "examinations", "maternity health"):
        assert words in text("paediatrician"), words
    assert "Lead the criminal investigation" in text("police")
    assert "Record agreed decisions" in text("social_care")
    for role in ("police", "housing", "health"):  # §4.7 "All attendees"
        assert "one lead professional" in text(role), role
