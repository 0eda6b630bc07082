"""Every card the bot sends, filled with realistic sample data by the bot's own builders.

`card_samples()` returns {name: card}; a name is `<template>.<variant>` (the template being the
file under `cards/` that the builder rendered, checked as each sample is made). The samples
cover every template: every area's plan (in office hours, out of hours, routed out of hours
for lack of office time, a small case), every invitee's invitation, every answer, the chair's
status as it changes (the out-of-hours fallback offered), the request form with errors on it,
the outcome form, the out-of-hours professional discussion, and every kind of reminder
`bot.core.reminders` can plan (notices, deadline and chasing reminders, the hand-over of a
follow-on meeting, each area's follow-ups).

Used by tests/test_official_validators.py, which runs Microsoft's Adaptive Cards parser over
them. Child references are positions or sentinels, never names, as in the bot.
"""
from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from unittest import mock

from bot import cards
from bot.cards import (
    Answer, DiscussionView, InvitationView, OutcomeView, StatusView, chair_status_card, discussion_card,
    form_errors, invitation_answered_card, invitation_card, message_card, outcome_card, plan_card,
    read_request_form, reminder_card, request_form_card, welcome_card,
)
from bot.config_loader import load_profiles
from bot.core import reminders
from bot.core.outcome import Outcome
from bot.core.plan import make_plan
from bot.core.request import RequestInvalid, parse_request
from bot.core.routing import routed_plan
from bot.core.reminders import InvitationFacts, MeetingFacts
from bot.core.vocabulary import CONCERNS, FLAGS, ROLES

CASE_REF = "CS-2026-004711"
CHAIR = "Sam Fictional (Team Manager)"
JOIN_URL = "https://teams.example/l/meetup-join/19%3ameeting_sample%40thread.v2/0"

# decided_at, meeting_at (None: not set yet), rich (every concern, flag, service; four children)
SCENARIOS: dict[str, tuple[str, str | None, bool]] = {
    "in_hours": ("2026-11-25T10:00:00+00:00", "2026-11-25T14:30:00+00:00", True),
    "out_of_hours": ("2026-07-04T22:15:00+01:00", None, True),          # a Saturday night, BST
    "out_of_hours_meeting": ("2026-11-25T18:30:00+00:00", "2026-11-25T20:00:00+00:00", True),
    "small": ("2026-03-02T11:00:00+00:00", "2026-03-04T10:00:00+00:00", False),
    "late_afternoon": ("2026-11-25T16:40:00+00:00", None, True),         # little office time left
}


@lru_cache(maxsize=1)
def profiles() -> dict:
    return load_profiles()


def area_choices() -> list[tuple[str, str]]:
    return [(area, p.name) for area, p in sorted(profiles().items())]


def sample_request(area: str, scenario: str) -> dict[str, Any]:
    decided_at, meeting_at, rich = SCENARIOS[scenario]
    children = [
        {"ref": "child1", "age": 4, "education": "nursery", "hospital_services": True},
        {"ref": "child2", "age": 15, "education": "school", "inpatient": "mental_health_tier4"},
        {"ref": "child3", "unborn": True},
        {"ref": "child4", "age": 9, "education": "home_educated", "inpatient": "paediatric"},
    ]
    request: dict[str, Any] = {
        "area": area,
        "decided_at": decided_at,
        "children": children if rich else children[:1],
        "concerns": list(CONCERNS) if rich else ["neglect"],
        "flags": list(FLAGS) if rich else ["chronic_neglect"],
        "referrer": "education",
        "involved_services": [r for r in ROLES if r not in ("social_care", "police", "health")] if rich else ["gp"],
    }
    if meeting_at:
        request["meeting_at"] = meeting_at
    return request


def sample_plan(area: str, scenario: str):
    profile = profiles()[area]
    return make_plan(parse_request(sample_request(area, scenario), set(profiles())), profile), profile


def stored_plan(area: str, scenario: str) -> dict[str, Any]:
    """The plan as the bot stores and shows it, with where it is routed."""
    return routed_plan(parse_request(sample_request(area, scenario), set(profiles())), profiles()[area])


# --- recording which template each builder renders -------------------------------------------

class _Collector:
    def __init__(self) -> None:
        self.samples: dict[str, dict] = {}

    def add(self, name: str, build: Callable[..., dict], *args: Any, **kwargs: Any) -> None:
        """Build one sample, checking that the builder rendered exactly the template `name`
        starts with (so a name can be trusted to say which file under cards/ it exercises)."""
        template = name.split(".", 1)[0]
        with mock.patch.object(cards, "render", wraps=cards.render) as render:
            card = build(*args, **kwargs)
        used = {call.args[0] for call in render.call_args_list}
        assert used == {template}, f"sample {name!r} rendered {sorted(used)}, expected {template!r}"
        assert name not in self.samples, f"duplicate sample name {name!r}"
        self.samples[name] = card


# --- the samples ---------------------------------------------------------------------------------

def card_samples() -> dict[str, dict]:
    c = _Collector()
    _welcome_and_messages(c)
    _request_forms(c)
    for area in sorted(profiles()):
        for scenario in SCENARIOS:
            c.add(f"plan.{area}.{scenario}", plan_card, stored_plan(area, scenario), CASE_REF,
                  f"meeting-{area}-{scenario}", area_name=profiles()[area].name)
    c.add("plan.walsall.follow_on_note", plan_card, stored_plan("walsall", "small"), CASE_REF, "meeting-follow-on",
          area_name=profiles()["walsall"].name,
          note="A follow-on meeting after the out-of-hours professional discussion of 25 November 2026.")
    from bot.core.slots import Slot
    uk = cards.UK
    slots = [Slot(datetime(2026, 11, 25, h, 0, tzinfo=uk), datetime(2026, 11, 25, h + 1, 0, tzinfo=uk), ("a@x.example",),
                  ("police@y.example",)) for h in (12, 13, 14)]
    child_on_child = {**sample_request("regional", "in_hours"), "flags": ["child_on_child_abuse"]}
    c.add("plan.regional.separate_meetings", plan_card,
          routed_plan(parse_request(child_on_child, set(profiles())), profiles()["regional"]), CASE_REF,
          "meeting-separate", area_name=profiles()["regional"].name)
    c.add("plan.bristol.graph", plan_card, stored_plan("bristol", "small"), CASE_REF, "meeting-graph",
          area_name=profiles()["bristol"].name, proposals=slots, proposals_note="Free in the calendars of 1 of 3.",
          join_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0")
    _invitations(c)
    _chair_status(c)
    _reminders(c)
    _outcomes(c)
    _discussions(c)
    return c.samples


def _welcome_and_messages(c: _Collector) -> None:
    c.add("welcome.default", welcome_card)
    c.add("message.title_and_text", message_card, "Not allowed",
          "Only a social worker can request a strategy meeting. Ask your team manager to add you to the requesters.")
    c.add("message.title_only", message_card, "Invitations sent", "")
    c.add("message.minutes", message_card, "Minutes recorded",
          "Circulated on 02 December 2026 to: Police: DC Bea Madeup; Health: Cal Notreal; the child's GP")


def _request_forms(c: _Collector) -> None:
    areas = area_choices()
    c.add("request_form.blank", request_form_card, areas)
    # a form sent back with the form's own problems and the request's, field by field
    submitted = {
        "area": "walsall", "case_ref": "", "child1_age": "seven", "child1_education": "school",
        "child1_inpatient": "none", "child1_hospital_services": "false", "child1_unborn": "false",
        "child2_included": "true", "child2_age": "40", "child2_education": "college",
        "concerns": "neglect,domestic_abuse", "flags": "recent_incident,serious_harm",
        "referrer": "police", "involved_services": "gp,housing",
        "decided_date": "2026-11-25", "decided_time": "25:00",
        "meeting_date": "2026-11-26", "meeting_time": "",
    }
    data, problems = read_request_form(submitted)
    try:
        parse_request(data, set(profiles()))
        request_problems: list[str] = []
    except RequestInvalid as e:
        request_problems = e.problems
    errors = {**form_errors(request_problems), **problems, "_form": "Some answers need checking before the plan can be made."}
    assert len(errors) >= 4, errors  # the sample really shows errors on several fields
    c.add("request_form.with_errors", request_form_card, areas, submitted, errors)
    # every child filled in, prefilled from an earlier submission, no errors
    full = {
        "area": "bristol", "case_ref": CASE_REF, "concerns": ",".join(CONCERNS), "flags": ",".join(FLAGS),
        "referrer": "education", "involved_services": ",".join(r for r in ROLES if r not in ("social_care", "police", "health")),
        "decided_date": "2026-11-25", "decided_time": "18:30", "meeting_date": "2026-11-25", "meeting_time": "20:00",
    }
    for n, (age, education, inpatient) in enumerate([(4, "nursery", "none"), (15, "school", "mental_health_tier4"),
                                                     ("", "none", "none"), (9, "home_educated", "paediatric")], start=1):
        full.update({f"child{n}_age": str(age), f"child{n}_education": education, f"child{n}_inpatient": inpatient,
                     f"child{n}_hospital_services": "true" if n == 1 else "false",
                     f"child{n}_unborn": "true" if age == "" else "false"})
        if n > 1:
            full[f"child{n}_included"] = "true"
    assert read_request_form(full)[1] == {}
    c.add("request_form.every_child", request_form_card, areas, full)


def _invitations(c: _Collector) -> None:
    for area in sorted(profiles()):
        plan, profile = sample_plan(area, "in_hours")
        for invitee in plan.invitees:
            view = InvitationView.for_role(f"inv-{area}-{invitee.role}", plan, profile, invitee.role,
                                           case_ref=CASE_REF, chair_name=CHAIR, join_url=JOIN_URL)
            c.add(f"invitation.{area}.{invitee.role}", invitation_card, view)
        # out of hours, before a time or a link exists
        plan, profile = sample_plan(area, "out_of_hours")
        role = plan.invitees[0].role
        view = InvitationView.for_role(f"inv-{area}-ooh", plan, profile, role, case_ref=CASE_REF, chair_name=CHAIR)
        c.add(f"invitation.{area}.out_of_hours_no_time", invitation_card, view)
    plan, profile = sample_plan("north-somerset", "in_hours")
    nominee = InvitationView.for_role("inv-nominee", plan, profile, "police", case_ref=CASE_REF, chair_name=CHAIR,
                                      join_url=JOIN_URL, nominated_by="DC Bea Madeup")
    c.add("invitation.north-somerset.nominated_colleague", invitation_card, nominee)

    view = InvitationView.for_role("inv-answered", plan, profile, "police", case_ref=CASE_REF, chair_name=CHAIR, join_url=JOIN_URL)
    answered_at = datetime(2026, 11, 25, 11, 5, tzinfo=timezone.utc)
    for response, detail in [
        ("accepted", None),
        ("declined", {"decline_reason": "No officer free before 18:00; the duty sergeant can attend then."}),
        ("declined", "x" * 1000),  # a long reason, clipped
        ("nominated", {"nominee_name": "Jo Example", "nominee_email": "jo.example@police.example"}),
        ("written", {"written_information": "The family is known to the neighbourhood team."}),
    ]:
        name = f"invitation_answered.{response}" + ("_long_reason" if isinstance(detail, str) else "")
        c.add(name, invitation_answered_card, view, response, detail, answered_at=answered_at)
    no_link = InvitationView.for_role("inv-answered-2", plan, profile, "health", case_ref=CASE_REF, chair_name=CHAIR)
    c.add("invitation_answered.accepted_no_link_no_time", invitation_answered_card, no_link, "invite_accept", None)


def _chair_status(c: _Collector) -> None:
    for area in sorted(profiles()):
        plan, profile = sample_plan(area, "in_hours")

        def status(name: str, answers: list[Answer], meeting_at: Any = plan.meeting_at) -> None:
            view = StatusView(meeting_id=f"meeting-{area}", case_ref=CASE_REF, area_name=profile.name, quorum=plan.quorum,
                              answers=answers, escalation=profile.escalation, filled_by=StatusView.filled_by_of(profile),
                              meeting_at=meeting_at)
            c.add(f"chair_status.{area}.{name}", chair_status_card, view)

        status("all_waiting", [Answer("social_care", "quorum", name="Alex Fictional"), Answer("police", "quorum"),
                               Answer("health", "quorum"), Answer("gp", "should")], meeting_at=None)
        status("mixed", [
            Answer("social_care", "quorum", "accepted", "Alex Fictional"),
            Answer("police", "quorum", "declined", detail="No officer free before 18:00"),
            Answer("health", "quorum", delivery_failure="blocked", name="Cal Notreal",
                   email="cal.notreal@nhs.example", phone="01632 960102"),
            Answer("paediatrician", "should", "nominated", detail="Dr Jo Example"),
            Answer("education", "must", "written"),
            Answer("gp", "should", delivery_failure="not_installed", email="surgery@gp.example", phone="01632 960103"),
        ])
        status("quorate", [
            Answer("social_care", "quorum", "accepted", "Alex Fictional"),
            Answer("police", "quorum", "accepted", "DC Bea Madeup"),
            Answer("health", "quorum", "accepted", "Cal Notreal"),
            Answer("gp", "should", "declined", detail="Clinic all afternoon"),
            Answer("housing", "should", "nominated", detail="Pat Example", handed_over=True),
        ])
        discussion = profile.out_of_hours.professional_discussion
        if discussion is not None:  # routed out of hours, not yet quorate: the protocol's fallback is offered
            view = StatusView(meeting_id=f"meeting-{area}", case_ref=CASE_REF, area_name=profile.name, quorum=plan.quorum,
                              answers=[Answer("social_care", "quorum", "accepted", "Ash Placeholder (EDT)"),
                                       Answer("police", "quorum"), Answer("health", "quorum", "declined", detail="No on-call paediatrician")],
                              escalation=profile.escalation, filled_by=StatusView.filled_by_of(profile),
                              fallback=discussion)
            c.add(f"chair_status.{area}.fallback_offered", chair_status_card, view)
    plan, profile = sample_plan("bristol", "in_hours")
    many = [Answer(r, "should", "declined", f"Person {i}", detail="x" * 500, delivery_failure="not_found",
                   email=f"p{i}@agency.example", phone="01632 960000") for i, r in enumerate(ROLES)]
    view = StatusView("meeting-many", CASE_REF, profile.name, plan.quorum, many, profile.escalation,
                      StatusView.filled_by_of(profile), plan.meeting_at)
    c.add("chair_status.bristol.every_role_declined_and_unreachable", chair_status_card, view)
    # The live card through the lifecycle: the deadline passed, the link, the next follow-up,
    # refreshed for the chair; and a meeting no longer gathering answers.
    from dataclasses import replace as _replace
    from datetime import timedelta
    deadline = datetime(2026, 11, 25, 17, 0, tzinfo=cards.UK)
    live = StatusView("meeting-live", CASE_REF, profile.name, plan.quorum,
                      [Answer("social_care", "quorum", "accepted", "Alex Fictional"), Answer("police", "quorum"),
                       Answer("health", "quorum")], profile.escalation, StatusView.filled_by_of(profile), None,
                      state="sent", deadline=deadline, now=deadline + timedelta(hours=27, minutes=5),
                      join_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0",
                      next_follow_up=("Minutes due", deadline + timedelta(days=5)),
                      can=frozenset({"set_time", "cancel", "record_outcome"}), chair_user_id="29:chair")
    c.add("chair_status.bristol.deadline_passed", chair_status_card, live)
    for state, note, can in (("cancelled", "Cancelled on Tue 1 Dec at 10:58 by Sam Chairperson.", frozenset()),
                             ("held", "Recorded as held on Wed 25 Nov at 16:00 by Sam Chairperson.",
                              frozenset({"record_outcome", "close"})),
                             ("not_held", "Recorded as not held on Wed 25 Nov at 16:00 by Sam Chairperson.",
                              frozenset({"set_time", "cancel", "close"}))):
        c.add(f"chair_status.bristol.{state}", chair_status_card,
              _replace(live, state=state, state_note=note, can=can, meeting_at=deadline))
    c.add("time.bristol", cards.time_card, "meeting-live", CASE_REF, deadline - timedelta(hours=2),
          "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0", deadline)
    c.add("time.unset", cards.time_card, "meeting-live", CASE_REF, None, None, None)
    c.add("cancel.bristol", cards.cancel_card, "meeting-live", CASE_REF, deadline - timedelta(hours=2))
    c.add("invite.bristol", cards.invite_card, "meeting-live", CASE_REF,
          [("br-paediatrician-office-hours", "Paediatrician: Dr Dana Pretend"), ("br-sarc-always", "SARC: Em Sample — any time")])
    c.add("invite.bristol_by_email", cards.invite_card, "meeting-live", CASE_REF,
          [("br-paediatrician-office-hours", "Paediatrician: Dr Dana Pretend")], [("health", "Health"), ("police", "Police")])
    c.add("invite.by_email_only", cards.invite_card, "meeting-live", CASE_REF, [], [("health", "Health")])


# --- reminders: every kind bot.core.reminders plans, from real meetings ------------------------

def reminder_kinds() -> set[str]:
    """Every kind bot.core.reminders can plan: the literal kinds of its `Planned(...)` calls,
    and every follow-up kind an area profile defines (a follow-up's reminders carry its kind)."""
    tree = ast.parse(inspect.getsource(reminders))
    literal = {
        node.args[1].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Planned"
        and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
    }
    follow_ups = {f.kind for p in profiles().values() for f in p.follow_ups}
    return literal | follow_ups


def _meeting(area: str, decided: str, meeting_at: str | None, invitations: list[InvitationFacts], *,
             flags: tuple[str, ...] = ("serious_harm", "recent_incident"), outcome: Outcome | None = None,
             state: str = "sent", **kw: Any) -> MeetingFacts:
    profile = profiles()[area]
    request = {"area": area, "decided_at": decided, "children": [{"ref": "child1", "age": 7, "education": "school"}],
               "concerns": ["physical_abuse"], "flags": list(flags), "referrer": "education",
               "involved_services": ["gp"]}
    if meeting_at:
        request["meeting_at"] = meeting_at
    plan = make_plan(parse_request(request, set(profiles())), profile)
    return MeetingFacts(
        id=f"meeting-{area}", case_ref=CASE_REF, state=state, created_at=datetime.fromisoformat(decided),
        deadline=plan.meeting_deadline, plan=plan.to_dict(),
        fillers={q.role: frozenset(q.filled_by) for q in profile.quorum.roles},
        escalation={"summary": profile.escalation.summary, "source": profile.escalation.source},
        meeting_at=datetime.fromisoformat(meeting_at) if meeting_at else None, outcome=outcome,
        invitations=tuple(invitations), **kw)


def _inv(role: str, response: str = "none", *, delivered: str | None = "2026-11-25T10:05:00+00:00", **kw: Any) -> InvitationFacts:
    return InvitationFacts(id=f"inv-{role}", role=role, level="quorum", name=f"{role.replace('_', ' ').title()} Contact",
                           response=response, delivered_at=datetime.fromisoformat(delivered) if delivered else None,
                           email=f"{role}@agency.example", phone="01632 960000", **kw)


def _reminder_meetings() -> list[MeetingFacts]:
    held = Outcome(held=True, recorded_by="00000000-0000-0000-0000-00000000c4a1",
                   recorded_at=datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc), quorate=True,
                   attended=("inv-social_care", "inv-health", "inv-police"), decision="joint")
    not_quorate = Outcome(held=True, recorded_by="00000000-0000-0000-0000-00000000c4a1",
                          recorded_at=datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc), quorate=False,
                          attended=("inv-social_care", "inv-police"), decision="joint")
    no_enquiry = Outcome(held=True, recorded_by="00000000-0000-0000-0000-00000000c4a1",
                         recorded_at=datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc), quorate=True,
                         attended=("inv-social_care", "inv-health", "inv-police"), decision="no_enquiry")
    accepted = [_inv("social_care", "accepted"), _inv("health", "accepted"), _inv("police", "accepted")]
    out: list[MeetingFacts] = []
    for area in sorted(profiles()):
        discussion = profiles()[area].out_of_hours.professional_discussion
        fallback = discussion.citation() if discussion is not None else None
        # waiting for answers, no time yet: deadline reminders, chasing, the chair told to escalate
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", None,
                            [_inv("social_care", "accepted"), _inv("health"), _inv("police")], fallback=fallback))
        # a quorum role that cannot be filled: declined, unreachable
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", None,
                            [_inv("social_care", "accepted"), _inv("health", failed=True, delivered=None),
                             _inv("police", "declined")], fallback=fallback))
        # a decline while someone else in the directory could fill the role: offered with one press
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", None,
                            [_inv("social_care", "accepted"), _inv("police"), _inv("health", "declined", detail="Clinic")],
                            replacements={"health": ({"contact_id": "c-paed", "role": "paediatrician",
                                                      "name": "Dr Dana Pretend"},)}))
        # an invitation Teams keeps refusing for now: "not delivered yet, still trying"
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", None,
                            [_inv("social_care", "accepted"), _inv("police"),
                             _inv("health", delivered=None, retrying="server",
                                  invited_at=datetime(2026, 11, 25, 10, 5, tzinfo=timezone.utc))]))
        # met out of hours but not quorate: the meeting the protocol then raises
        out.append(_meeting(area, "2026-11-25T18:30:00+00:00", "2026-11-25T20:00:00+00:00", accepted,
                            flags=("emergency_protection",), outcome=not_quorate, state="held"))
        # a follow-on meeting handed to the daytime chair when the office opens
        if discussion is not None and discussion.follow_on is not None:
            out.append(_meeting(area, "2026-11-25T21:30:00+00:00", None, [], state="draft",
                                follow_on={"of": "meeting-ooh", "summary": discussion.follow_on.summary,
                                           "source": discussion.follow_on.source}))
        # quorate with a time: the notice, "starts soon", the outcome request, follow-ups
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", "2026-11-25T14:30:00+00:00", accepted))
        # held, joint enquiry: every follow-up, those that wait for a s47 enquiry included
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", "2026-11-25T14:30:00+00:00", accepted,
                            outcome=held, state="held"))
        # held, no enquiry, an allegation against a professional: the steps that follow no enquiry
        out.append(_meeting(area, "2026-11-25T10:00:00+00:00", "2026-11-25T14:30:00+00:00", accepted,
                            flags=("allegation_against_professional",), outcome=no_enquiry, state="held"))
        # decided and met out of hours (out-of-hours records)
        out.append(_meeting(area, "2026-11-25T18:30:00+00:00", "2026-11-25T20:00:00+00:00", accepted,
                            flags=("emergency_protection",), outcome=held, state="held"))
    return out


def _shape(key: str) -> str:
    """A follow-up reminder's moment (soon / due / asap), the first or second outcome request."""
    parts = key.split(":")
    if parts[0] == "follow_up":
        return parts[2]
    if parts[0] == "outcome":
        return "again" if parts[1] == "again" else "first"
    return ""


def _reminders(c: _Collector) -> None:
    seen: set[tuple[str, str]] = set()
    for meeting in _reminder_meetings():
        calendar = profiles()[meeting.plan["area"]].area_calendar
        for r in reminders.planned(meeting, calendar):
            shape = _shape(r.key)
            if (r.kind, shape) in seen:
                continue
            seen.add((r.kind, shape))
            minutes_to = reminders.recipients_of(meeting.plan, {r.follow_up}) if r.follow_up else []
            name = f"reminder.{r.kind}" + (f".{shape}" if shape else "")
            c.add(name, reminder_card, meeting.id, r.kind, r.detail(), minutes_to=minutes_to)
    # A follow-up the protocol leaves the date of to the chair: the reminder asks for it.
    c.add("reminder.set_date", reminder_card, "meeting-ns", "review_strategy_meeting",
          {"title": "Set a date: review strategy meeting", "text": "Case BR-1: the protocol gives no date.",
           "source": "North Somerset §Quoracy", "follow_up": "review_strategy_meeting", "raises_meeting": True,
           "asks_date": True})


def _outcomes(c: _Collector) -> None:
    plan, profile = sample_plan("bristol", "in_hours")
    minutes_to = reminders.recipients_of(plan.to_dict(), reminders.MINUTES_KINDS)
    invitees = [(f"inv-{i.role}", f"{cards.role_name(i.role)}: {name}") for i, name in
                zip(plan.invitees, ["Alex Fictional", "DC Bea Madeup", "Cal Notreal", "Dr Jo Example"] + ["not named"] * 40)]
    view = OutcomeView(meeting_id="meeting-bristol", case_ref=CASE_REF, meeting_at=plan.meeting_at,
                       invitees=invitees, minutes_recipients=minutes_to)
    c.add("outcome.blank", outcome_card, view)
    again = OutcomeView(meeting_id="meeting-bristol", case_ref=CASE_REF, meeting_at=plan.meeting_at, invitees=invitees,
                        minutes_recipients=minutes_to, error="Record the section 47 decision (no enquiry, single-agency or joint).",
                        values={"held": "yes", "quorate": "yes", "attended": ",".join(i for i, _ in invitees[:3]),
                                "others_attended": "Duty sergeant (police)", "minutes_date": "2026-12-02",
                                "minutes_to": "Police\nHealth\nthe child's GP"})
    c.add("outcome.with_error", outcome_card, again)
    untimed = OutcomeView(meeting_id="meeting-x", case_ref=CASE_REF, meeting_at=None, invitees=[])
    c.add("outcome.no_time_no_invitees", outcome_card, untimed)


def _discussions(c: _Collector) -> None:
    """The out-of-hours professional discussion, for every area whose protocol has one, as
    bot.service.out_of_hours words it."""
    from bot.service.out_of_hours import follow_on_text

    for area in sorted(profiles()):
        discussion = profiles()[area].out_of_hours.professional_discussion
        if discussion is None:
            continue
        follow_on = discussion.follow_on
        text = follow_on_text(discussion)

        def view(**kw: Any) -> DiscussionView:
            return DiscussionView(meeting_id=f"meeting-{area}", case_ref=CASE_REF,
                                  deadline=datetime(2026, 11, 25, 23, 59, tzinfo=timezone.utc), rule=discussion,
                                  with_role=discussion.with_role, rationale_required=discussion.rationale_required,
                                  follow_on=follow_on.mode if follow_on else "", follow_on_text=text, **kw)

        c.add(f"discussion.{area}.new", discussion_card, view(), now=datetime(2026, 11, 25, 22, 40, tzinfo=timezone.utc))
        c.add(f"discussion.{area}.with_error", discussion_card, view(
            values={"discussed_date": "2026-11-25", "discussed_time": "22:15", "discussed_with": "PS Dee Madeup (on-call sergeant)",
                    "safety_plan": "Child stays with the grandmother tonight; police visit at 09:00.", "decision": "joint",
                    "follow_on": "yes"},
            error="Record why a meeting could not be held: the protocol asks for the rationale."))


def reminder_kinds_covered(samples: dict[str, dict]) -> set[str]:
    return {name.split(".")[1] for name in samples if name.startswith("reminder.")}

