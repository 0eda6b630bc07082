"""Which reminders a meeting gets, and when (bot.core.reminders, pure): worked out by hand
from the protocols' timescales and the rules in the module's docstring."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config_loader import load_profiles
from bot.core import reminders
from bot.core.outcome import Outcome
from bot.core.plan import make_plan
from bot.core.request import parse_request
from bot.core.reminders import InvitationFacts, MeetingFacts

PROFILES = load_profiles()
UK = ZoneInfo("Europe/London")


def uk(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UK)


def facts(area: str, decided: str, *, flags=("serious_harm",), meeting_at: str | None = None, state="sent",
          invitations=(), outcome: Outcome | None = None, **kw) -> MeetingFacts:
    request = {"area": area, "decided_at": uk(decided).isoformat(), "children": [{"ref": "c1", "age": 7, "education": "school"}],
               "concerns": ["physical_abuse"], "flags": list(flags)}
    if meeting_at:
        request["meeting_at"] = uk(meeting_at).isoformat()
    profile = PROFILES[area]
    plan = make_plan(parse_request(request, set(PROFILES)), profile)
    return MeetingFacts(
        id="m1", case_ref="CASE-1", state=state, created_at=uk(decided), deadline=plan.meeting_deadline,
        plan=plan.to_dict(), fillers={q.role: frozenset(q.filled_by) for q in profile.quorum.roles},
        escalation={"summary": profile.escalation.summary, "source": profile.escalation.source},
        meeting_at=uk(meeting_at) if meeting_at else None, outcome=outcome, invitations=tuple(invitations), **kw)


def inv(role: str, response="none", delivered: str | None = "2026-11-25T10:05", **kw) -> InvitationFacts:
    return InvitationFacts(id=f"i-{role}", role=role, level="quorum", name=f"{role} person", response=response,
                           delivered_at=uk(delivered) if delivered else None, email=f"{role}@x.example", phone="01632 960000", **kw)


def planned(f: MeetingFacts) -> dict[str, reminders.Planned]:
    return {p.key: p for p in reminders.planned(f, PROFILES[f.plan["area"]].area_calendar)}


def by_kind(f: MeetingFacts, kind: str) -> list[reminders.Planned]:
    return [p for p in planned(f).values() if p.kind == kind]


ALL_WAITING = [inv("social_care"), inv("health"), inv("police")]
ALL_ACCEPTED = [inv("social_care", "accepted"), inv("health", "accepted"), inv("police", "accepted")]


def test_bristol_same_working_day_deadline_is_reminded_halfway_and_an_hour_before():
    # Bristol §3.2: decided Wednesday 10:00, meeting by 17:00 the same day.
    f = facts("bristol", "2026-11-25T10:00", invitations=ALL_WAITING)
    assert f.deadline == uk("2026-11-25T17:00")
    (approaching,) = by_kind(f, "deadline_approaching")
    (imminent,) = by_kind(f, "deadline_imminent")
    assert approaching.due_at == uk("2026-11-25T13:30") and imminent.due_at == uk("2026-11-25T16:00")
    assert approaching.recipient == "chair" and "003_2d544eb75ad81283.txt" in approaching.source
    assert "not yet quorate" in imminent.text and "no meeting time is set" in imminent.text


def test_a_quorate_meeting_with_a_time_has_no_deadline_reminders_but_one_quorate_notice():
    f = facts("bristol", "2026-11-25T10:00", meeting_at="2026-11-25T15:00", invitations=ALL_ACCEPTED)
    assert not by_kind(f, "deadline_approaching") and not by_kind(f, "deadline_imminent")
    (notice,) = by_kind(f, "quorate")
    assert notice.key == "notice:quorate" and notice.due_at <= f.created_at  # due at once
    # Quorate but no time yet: the deadline is still watched.
    untimed = facts("bristol", "2026-11-25T10:00", invitations=ALL_ACCEPTED)
    assert "no meeting time is set" in by_kind(untimed, "deadline_imminent")[0].text


def test_a_silent_quorum_agency_is_chased_then_the_chair_told_to_escalate_and_an_answer_ends_both():
    f = facts("bristol", "2026-11-25T10:00", invitations=[inv("social_care", "accepted"), inv("health", "accepted"), inv("police")])
    window = uk("2026-11-25T17:00") - uk("2026-11-25T10:05")
    (chase,) = by_kind(f, "chase")
    (no_answer,) = by_kind(f, "no_answer")
    assert chase.recipient == "invitee" and chase.invitation_id == "i-police"
    assert chase.due_at == uk("2026-11-25T10:05") + window / 4
    assert no_answer.recipient == "chair" and no_answer.due_at == uk("2026-11-25T10:05") + window / 2
    assert "police@x.example" in no_answer.text and PROFILES["bristol"].escalation.source == no_answer.source
    answered = facts("bristol", "2026-11-25T10:00", invitations=ALL_ACCEPTED)
    assert not by_kind(answered, "chase") and not by_kind(answered, "no_answer")
    # Health is filled by the paediatrician's acceptance (Bristol): the silent nurse is not chased.
    filled = facts("bristol", "2026-11-25T10:00", invitations=[
        inv("social_care", "accepted"), inv("police", "accepted"), inv("health"), inv("paediatrician", "accepted")])
    assert not by_kind(filled, "chase")
    # Not yet delivered, or delivery failed: nobody to chase in Teams.
    assert not by_kind(facts("bristol", "2026-11-25T10:00", invitations=[inv("police", delivered=None)]), "chase")


def test_a_quorum_role_that_declines_is_a_notice_with_the_escalation_step():
    f = facts("north-somerset", "2026-11-25T10:00", invitations=[inv("social_care", "accepted"), inv("health"),
                                                                  inv("police", "declined")])
    (notice,) = by_kind(f, "quorum_unfilled")
    assert notice.key == "notice:unfilled:police" and "declined" in notice.text
    assert notice.source == PROFILES["north-somerset"].escalation.source


def test_quiet_hours_move_a_non_urgent_reminder_to_the_office_opening_but_not_for_the_edt():
    # North Somerset, chronic neglect: 3 working days. Decided Friday 27 Nov 16:00: deadline
    # Wednesday 2 Dec 17:00; halfway is Monday 30 Nov 04:30, more than 12 hours before it.
    f = facts("north-somerset", "2026-11-27T16:00", flags=("chronic_neglect",), invitations=ALL_WAITING)
    assert f.deadline == uk("2026-12-02T17:00")
    (approaching,) = by_kind(f, "deadline_approaching")
    assert approaching.due_at == uk("2026-11-30T09:00")
    # The imminent one is urgent: it keeps its time.
    assert by_kind(f, "deadline_imminent")[0].due_at == uk("2026-12-02T16:00")


def test_an_out_of_hours_meeting_reminds_the_edt_at_night():
    f = facts("bristol", "2026-11-25T21:00", invitations=[inv("social_care", delivered="2026-11-25T21:05"),
                                                           inv("health", delivered="2026-11-25T21:05"),
                                                           inv("police", delivered="2026-11-25T21:05", on_call=True)])
    assert f.chair_on_call
    items = list(planned(f).values())
    assert {p.kind for p in items} >= {"chase", "no_answer", "deadline_approaching", "deadline_imminent"}
    for p in items:
        local = p.due_at.astimezone(UK)
        assert local.date() == datetime(2026, 11, 25).date() or local.hour < 9  # nothing waits for the office


def test_starting_soon_goes_to_those_who_accepted_and_expires():
    f = facts("bristol", "2026-11-25T10:00", meeting_at="2026-11-25T15:00",
              invitations=[inv("social_care", "accepted"), inv("health", "declined"), inv("police", "accepted")])
    soon = by_kind(f, "starting_soon")
    assert {p.invitation_id for p in soon} == {"i-social_care", "i-police"}
    assert all(p.due_at == uk("2026-11-25T14:45") and p.expires_at == uk("2026-11-25T15:05") for p in soon)


def test_the_outcome_is_asked_for_after_the_meeting_and_again_the_next_working_morning():
    f = facts("bristol", "2026-11-27T10:00", meeting_at="2026-11-27T14:00", invitations=ALL_ACCEPTED)  # a Friday
    asks = sorted(by_kind(f, "outcome_request"), key=lambda p: p.due_at)
    assert [p.due_at for p in asks] == [uk("2026-11-27T15:00"), uk("2026-11-30T09:00")]
    recorded = Outcome(held=True, recorded_by="chair", recorded_at=uk("2026-11-27T15:10"), decision="no_enquiry")
    assert not by_kind(facts("bristol", "2026-11-27T10:00", meeting_at="2026-11-27T14:00", invitations=ALL_ACCEPTED,
                             outcome=recorded), "outcome_request")


def test_north_somerset_follow_ups_wait_for_the_decision_and_end_when_done():
    args = dict(meeting_at="2026-11-25T14:00", invitations=ALL_ACCEPTED)
    before = facts("north-somerset", "2026-11-25T10:00", **args)
    kinds = {p.kind for p in planned(before).values()}
    assert {"minutes_due", "dissent_window_end"} <= kinds
    assert "icpc_due" not in kinds and "investigation_review_due" not in kinds  # only if the enquiry goes ahead
    minutes = {p.key.split(":")[2]: p for p in by_kind(before, "minutes_due")}
    # Minutes within 3 working days (by Monday 30 Nov 17:00): a heads-up and the due note.
    assert minutes["due"].due_at == uk("2026-11-30T17:00") and minutes["soon"].due_at == uk("2026-11-26T09:00")
    enquiry = Outcome(held=True, recorded_by="chair", recorded_at=uk("2026-11-25T15:00"), decision="joint")
    after = facts("north-somerset", "2026-11-25T10:00", outcome=enquiry, **args)
    icpc = by_kind(after, "icpc_due")
    assert icpc and all("§" in p.source for p in icpc)
    # 15 working days from Wednesday 25 Nov: Wednesday 16 December; heads-up two working days before.
    assert {p.due_at for p in icpc} == {uk("2026-12-14T09:00"), uk("2026-12-16T17:00")}
    no_enquiry = facts("north-somerset", "2026-11-25T10:00", **args,
                       outcome=Outcome(held=True, recorded_by="c", recorded_at=uk("2026-11-25T15:00"), decision="no_enquiry"))
    assert not by_kind(no_enquiry, "icpc_due")
    circulated = facts("north-somerset", "2026-11-25T10:00", outcome=enquiry, minutes_circulated=True, **args)
    assert not by_kind(circulated, "minutes_due")
    done = facts("north-somerset", "2026-11-25T10:00", outcome=enquiry, completed=frozenset({"icpc_due"}), **args)
    assert not by_kind(done, "icpc_due") and by_kind(done, "investigation_review_due")


def test_a_meeting_not_held_or_cancelled_has_no_follow_ups():
    not_held = Outcome(held=False, recorded_by="c", recorded_at=uk("2026-11-25T15:00"))
    f = facts("north-somerset", "2026-11-25T10:00", meeting_at="2026-11-25T14:00", invitations=ALL_ACCEPTED, outcome=not_held)
    assert not any(p.follow_up for p in planned(f).values())
    assert planned(facts("bristol", "2026-11-25T10:00", invitations=ALL_WAITING, state="cancelled")) == {}


@pytest.mark.parametrize("area", sorted(PROFILES))
def test_every_area_plans_reminders_with_unique_keys_citations_and_no_time_after_what_they_remind_of(area):
    enquiry = Outcome(held=True, recorded_by="c", recorded_at=uk("2026-11-25T15:00"), decision="single_agency")
    for outcome in (None, enquiry):
        f = facts(area, "2026-11-25T10:00", meeting_at="2026-11-25T14:00", invitations=ALL_WAITING, outcome=outcome)
        items = reminders.planned(f, PROFILES[area].area_calendar)
        kinds = {p.kind for p in items}
        # Something to check: before the outcome, the deadline reminders and the chases; after
        # an enquiry decision, the follow-ups the area's protocol sets.
        assert ({"deadline_approaching", "deadline_imminent", "chase", "no_answer"} <= kinds if outcome is None
                else any(p.follow_up for p in items))
        assert len({p.key for p in items}) == len(items)
        for p in items:
            assert p.title and p.text
            if p.kind in ("deadline_approaching", "deadline_imminent", "chase", "no_answer"):
                assert p.due_at < f.deadline
            if p.follow_up:
                assert p.source  # every follow-up reminder carries its protocol citation


def test_a_follow_up_the_protocol_leaves_undated_asks_the_chair_for_a_date_then_follows_it():
    # North Somerset: the mid-point review's date "must be set at the meeting" (000 §Strategy
    # Meeting: Factors for Consideration); no date is invented.
    enquiry = Outcome(held=True, recorded_by="chair", recorded_at=uk("2026-11-25T15:00"), decision="joint")
    args = dict(meeting_at="2026-11-25T14:00", invitations=ALL_ACCEPTED, outcome=enquiry)
    (ask,) = by_kind(facts("north-somerset", "2026-11-25T10:00", **args), "investigation_review_due")
    assert ask.due_at == uk("2026-11-26T09:00") and ask.key.split(":")[2] == "set_date"
    assert "gives no date" in ask.text and ask.follow_up == "investigation_review_due"
    dated = facts("north-somerset", "2026-11-25T10:00", follow_up_dates={"investigation_review_due": uk("2026-12-03T10:00")},
                  **args)
    review = by_kind(dated, "investigation_review_due")
    assert {p.key.split(":")[2] for p in review} == {"soon", "due"}
    assert uk("2026-12-03T10:00") in {p.due_at for p in review}


def test_bristol_inform_the_lado_waits_for_the_decision_that_no_enquiry_follows():
    args = dict(flags=("allegation_against_professional",), meeting_at="2026-11-25T14:00", invitations=ALL_ACCEPTED)
    decided = lambda d: Outcome(held=True, recorded_by="c", recorded_at=uk("2026-11-25T15:00"), decision=d)
    assert not by_kind(facts("bristol", "2026-11-25T10:00", **args), "lado_informed")
    assert not by_kind(facts("bristol", "2026-11-25T10:00", outcome=decided("joint"), **args), "lado_informed")
    (ask,) = by_kind(facts("bristol", "2026-11-25T10:00", outcome=decided("no_enquiry"), **args), "lado_informed")
    assert "003_2d544eb75ad81283.txt §2.4" == ask.source and "LADO" in ask.text
