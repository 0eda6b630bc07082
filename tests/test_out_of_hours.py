"""Out of hours: routing to the EDT and the on-call directory, the EDT chairing, and the
protocols' fallbacks (a professional discussion, then a quorate meeting for the daytime
team; North Somerset's review meeting). The routing rule is tested directly; the journeys
run over HTTP with the connector emulator and a controllable clock, an evening request in
each area, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config_loader import config_dir, load_profile
from bot.core.request import parse_request
from bot.core.routing import follow_on_deadline, office_time_between, route
from bot.directory import load_directory
from bot.keys import CLOCK, REMINDERS, SERVICE
from tests.emulators.teams import open_form
from tests.test_bot_flow import CHAIR_AAD, Person, find_data, teams, text_of, until  # noqa: F401

UK = ZoneInfo("Europe/London")
AREAS = ("bristol", "north-somerset", "regional", "walsall")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UK)


def profile(area: str):
    return load_profile(config_dir() / f"{area}.yaml", config_dir())


def contact(area: str, contact_id: str):
    return next(c for c in load_directory(area).contacts if c.id == contact_id)


def prefix(area: str) -> str:
    return {"bristol": "br", "north-somerset": "ns", "regional": "rg", "walsall": "ws"}[area]


# --- the routing rule -------------------------------------------------------------------------

@pytest.mark.parametrize("decided, deadline, routed", [
    ("2026-11-25T10:00", "2026-11-25T23:59:59", False),  # seven office hours left: the day team
    ("2026-11-25T16:30", "2026-11-25T23:59:59", True),   # 30 minutes of office left: the EDT
    ("2026-11-25T15:59", "2026-11-25T17:00", False),     # just over an hour left
    ("2026-11-25T20:00", "2026-11-30T17:00", True),      # decided in the evening
    ("2026-11-28T11:00", "2026-12-01T17:00", True),      # a Saturday
    ("2026-12-24T16:30", "2026-12-29T17:00", False),     # the next office day counts, after Christmas
])
def test_a_request_goes_to_the_out_of_hours_team_when_decided_out_of_hours_or_too_late_in_the_day(decided, deadline, routed):
    p = profile("walsall")
    r = route(at(decided), at(deadline), p.area_calendar, p.out_of_hours)
    assert r.out_of_hours is routed
    assert (r.chair_role == "edt") is routed
    if routed:
        assert "out-of-hours team" in r.why


def test_office_time_counts_only_working_days_office_hours():
    cal = profile("bristol").area_calendar
    assert office_time_between(cal, at("2026-11-27T16:00"), at("2026-11-30T10:00")) == timedelta(hours=2)  # Fri..Mon
    assert office_time_between(cal, at("2026-12-24T08:00"), at("2026-12-29T09:30")) == timedelta(hours=8, minutes=30)
    assert office_time_between(cal, at("2026-11-25T18:00"), at("2026-11-25T17:00")) == timedelta(0)


def test_a_follow_on_keeps_the_protocols_time_only_when_the_day_team_can_still_meet_by_it():
    p = profile("walsall")
    request = parse_request({"area": "walsall", "decided_at": "2026-11-26T09:00:00+00:00", "children": [{"ref": "a"}],
                             "concerns": ["neglect"]}, {"walsall"})
    rule = {"id": "wal_x", "summary": "next working day", "source": "002_cf3891b0befb602d.txt §X", "extra": "dropped"}
    assert follow_on_deadline(request, p, at("2026-11-26T17:00"), rule) == (at("2026-11-26T17:00"),
                                                                            {k: rule[k] for k in ("id", "summary", "source")})
    usual, usual_rule = follow_on_deadline(request, p, at("2026-11-26T09:30"), rule)  # 30 minutes: too little
    assert usual == at("2026-12-01T17:00") and usual_rule["id"] == "wal_default_3_working_days"
    assert follow_on_deadline(request, p, None, rule)[0] == usual


def test_the_fallbacks_are_the_protocols_own():
    walsall = profile("walsall").out_of_hours.professional_discussion
    assert walsall.with_role == "police" and walsall.follow_on.mode == "always"
    assert walsall.source.endswith("§Professional Discussions and Safety planning")
    bristol = profile("bristol").out_of_hours.professional_discussion
    assert bristol.rationale_required and bristol.follow_on.mode == "chair_decides" and bristol.source.endswith("§3.1")
    assert profile("north-somerset").out_of_hours.professional_discussion is None  # its protocol has none
    assert profile("regional").out_of_hours.professional_discussion is None


# --- journeys -------------------------------------------------------------------------------------

def evening_form(area: str, **extra) -> dict:
    return {"area": area, "case_ref": f"{prefix(area).upper()}-EVE-1", "child1_age": "7", "child1_education": "school",
            "concerns": "physical_abuse", "flags": "serious_harm", "referrer": "police",
            "decided_date": "2026-11-25", "decided_time": "20:00", **extra}


async def start(t, app, area: str, when: str, chair: Person, form: dict):
    clock = app[CLOCK]
    clock.now = at(when)
    plan = (await t.press(chair, "request_submit", form))["value"]
    return clock, plan, find_data(plan, "meeting_id")


def edt_person(t, area: str) -> Person:
    edt = contact(area, f"{prefix(area)}-edt-on-call")
    return Person(edt.aad_object_id, "29:edt", edt.name, t.emulator.add_conversation("a:edt", "29:edt"))


async def people_invited(t, contacts) -> dict:
    await until(lambda: all(t.emulator.conversation_of(c.aad_object_id) for c in contacts.values()))
    people = {r: Person(c.aad_object_id, f"29:{r}", c.name, t.emulator.conversation_of(c.aad_object_id)) for r, c in contacts.items()}
    await until(lambda: all(t.cards_to(p.conversation) for p in people.values()))
    return people


@pytest.mark.parametrize("area", AREAS)
async def test_an_evening_request_goes_to_the_on_call_team_and_the_edt_chairs(teams, area):
    t, app = teams
    edt = edt_person(t, area)
    clock, plan, meeting_id = await start(t, app, area, "2026-11-25T20:00", edt, evening_form(area))
    assert "out-of-hours team convenes it" in text_of(plan) and "Emergency Duty Team chairs" in text_of(plan)
    status = (await t.press(edt, "plan_send", {"meeting_id": meeting_id}))["value"]
    # The EDT worker chairing fills children's social care; police and health are the on-call ones.
    assert "(chair)" in text_of(status)
    on_call = {r: contact(area, f"{prefix(area)}-{r}-on-call") for r in ("police", "health")}
    people = await people_invited(t, on_call)
    service = app[SERVICE]
    invited = {i.contact_id for i in service.repo.list_invitations(meeting_id)}
    assert {c.id for c in on_call.values()} <= invited
    assert not any(cid.endswith("office-hours") and cid.split("-", 1)[1].startswith(("police", "health", "social-care", "edt"))
                   for cid in invited), invited
    assert f"{prefix(area)}-edt-on-call" not in invited  # the chair does not invite themselves
    for role in ("police", "health"):
        inv = find_data(t.cards_to(people[role].conversation)[0], "invitation_id")
        await t.press(people[role], "invite_accept", {"invitation_id": inv})
    await app[REMINDERS].run_until_idle()
    await until(lambda: any("is quorate" in text_of(c) for c in t.cards_to(edt.conversation)))
    card = await service.status_card(service.repo.get_meeting(meeting_id))
    assert "Quorate" in text_of(card) and "Record a professional discussion" not in text_of(card)


async def test_walsall_no_quorate_meeting_tonight_professional_discussion_then_the_next_working_day(teams):
    t, app = teams
    service, worker = app[SERVICE], app[REMINDERS]
    edt = edt_person(t, "walsall")
    clock, plan, meeting_id = await start(t, app, "walsall", "2026-11-25T20:00", edt, evening_form("walsall"))
    status = (await t.press(edt, "plan_send", {"meeting_id": meeting_id}))["value"]
    assert "Record a professional discussion" in text_of(status)  # on offer while not quorate
    on_call = {r: contact("walsall", f"ws-{r}-on-call") for r in ("police", "health", "paediatrician")}
    people = await people_invited(t, on_call)
    inv = {r: find_data(t.cards_to(p.conversation)[0], "invitation_id") for r, p in people.items()}
    await t.press(people["police"], "invite_accept", {"invitation_id": inv["police"]})
    for role in ("health", "paediatrician"):  # both can fill health (002 §Who attends); neither can come
        await t.press(people[role], "invite_decline", {"invitation_id": inv[role], "decline_reason": "In theatre all night"})
    await worker.run_until_idle()
    # The chair hears health cannot make it quorate, with the escalation and the fallback.
    notice = [text_of(c) for c in t.cards_to(edt.conversation) if "cannot make the meeting quorate" in text_of(c)]
    assert len(notice) == 1 and "professional discussion" in notice[0] and "§Professional Discussions" in notice[0]

    # Only the chair records it; the form asks who, when, the safety plan.
    police = people["police"]
    refused = await t.press(police, "discussion_open", {"meeting_id": meeting_id})
    assert "Only the chair" in text_of(refused)
    form = await open_form(t, edt, "discussion_open", {"meeting_id": meeting_id})
    assert "discussion_submit" in text_of(form) and "Police" in text_of(form) and "2026-11-25" in text_of(form)
    clock.now = at("2026-11-25T21:45")
    bad = (await t.press(edt, "discussion_submit", {"meeting_id": meeting_id, "discussed_date": "2026-11-25",
                                                    "discussed_time": "21:30", "discussed_with": "PS Bo Notreal, PPU"}))["value"]
    assert "safety planning" in text_of(bad).lower() and "discussion_submit" in text_of(bad)
    assert service.repo.get_meeting(meeting_id).outcome is None  # nothing stored from the bad form
    done = (await t.press(edt, "discussion_submit", {
        "meeting_id": meeting_id, "discussed_date": "2026-11-25", "discussed_time": "21:30",
        "discussed_with": "PS Bo Notreal, PPU", "safety_plan": "Child stays with grandmother tonight; visit 10:00.",
        "decision": "joint"}))["value"]
    daytime = contact("walsall", "ws-social-care-office-hours")
    assert "Professional discussion recorded" in text_of(done) and daytime.name in text_of(done)
    assert "26/11/2026" in text_of(done) or "26 November" in text_of(done) or "Thu" in text_of(done)

    parent = service.repo.get_meeting(meeting_id)
    assert parent.state == "held" and parent.outcome["quorate"] is False
    assert parent.outcome["professional_discussion"]["with"] == "PS Bo Notreal, PPU"
    child_id = parent.outcome["follow_on_meeting_id"]
    child = service.repo.get_meeting(child_id)
    # The quorate meeting: the daytime team's, chaired by the MASH contact, due by the close
    # of the next working day (Thursday 26 November, 17:00), citing the protocol.
    assert child.chair_aad_id == daytime.aad_object_id and child.state == "draft"
    assert child.deadline == at("2026-11-26T17:00")
    assert child.plan["deadline_rule"]["source"].endswith("§Professional Discussions and Safety planning")
    assert child.plan["routing"]["out_of_hours"] is False and child.plan["follow_on"]["of"] == meeting_id
    assert child.case_ref == parent.case_ref
    # Asking twice raises nothing more.
    again = (await t.press(edt, "discussion_submit", {"meeting_id": meeting_id, "discussed_date": "2026-11-25",
                                                      "discussed_time": "21:30", "discussed_with": "x", "safety_plan": "y"}))
    assert "recorded as held" in text_of(again) and "nothing was changed" in text_of(again)

    # The daytime chair gets the plan when the office opens, not at night.
    clock.now = at("2026-11-26T08:59")
    await worker.run_until_idle()
    assert t.emulator.conversation_of(daytime.aad_object_id) is None
    clock.now = at("2026-11-26T09:00")
    await worker.run_until_idle()
    await until(lambda: t.emulator.conversation_of(daytime.aad_object_id))
    conversation = t.emulator.conversation_of(daytime.aad_object_id)
    plan_cards = [c for c in t.cards_to(conversation) if "plan_send" in text_of(c)]
    assert len(plan_cards) == 1 and child_id in text_of(plan_cards[0])
    assert "Professional Discussions" in text_of(plan_cards[0])
    # The daytime chair can send it: the day team's contacts are invited.
    manager = Person(daytime.aad_object_id, "29:day", daytime.name, conversation)
    status = (await t.press(manager, "plan_send", {"meeting_id": child_id}))["value"]
    assert "Not yet quorate" in text_of(status) and "Record a professional discussion" not in text_of(status)
    invited = {i.contact_id for i in service.repo.list_invitations(child_id)}
    assert "ws-police-office-hours" in invited and "ws-edt-on-call" not in invited
    # Walsall's own follow-up "quorate meeting next working day" is settled by the request.
    pending = {r.kind for r in service.repo.list_reminders(meeting_id) if r.state == "pending"}
    assert "quorate_meeting_due" not in pending


async def test_bristol_separate_conversations_need_a_rationale_and_the_record_before_the_day_starts(teams):
    t, app = teams
    service = app[SERVICE]
    edt = edt_person(t, "bristol")
    clock, plan, meeting_id = await start(t, app, "bristol", "2026-11-27T19:00", edt,  # a Friday evening
                                        evening_form("bristol", decided_date="2026-11-27", decided_time="19:00"))
    await t.press(edt, "plan_send", {"meeting_id": meeting_id})
    clock.now = at("2026-11-27T23:10")
    form = await open_form(t, edt, "discussion_open", {"meeting_id": meeting_id})
    assert "rationale" in text_of(form) and "§3.1" in text_of(form) and "follow_on" in text_of(form)
    values = {"meeting_id": meeting_id, "discussed_date": "2026-11-27", "discussed_time": "23:00",
              "discussed_with": "PC Ali, on-call paediatrician Dr Cy", "safety_plan": "Mother agreed safety plan.",
              "decision": "single_agency"}
    bad = (await t.press(edt, "discussion_submit", values))["value"]
    assert "rationale" in text_of(bad) and service.repo.get_meeting(meeting_id).outcome is None
    done = (await t.press(edt, "discussion_submit", {**values, "rationale": "No health cover until morning.",
                                                     "follow_on": "no"}))["value"]
    # No follow-up meeting was asked for; the record must reach the day team before Monday 09:00 (§6.1).
    assert "Send the record to" in text_of(done) and "§6.1" in text_of(done)
    assert "follow_on_meeting_id" not in service.repo.get_meeting(meeting_id).outcome
    rows = [r for r in service.repo.list_reminders(meeting_id) if r.kind == "ooh_record_due" and r.state == "pending"]
    assert rows and max(r.due_at for r in rows) == at("2026-11-30T09:00")


async def passes_until(worker, check, timeout: float = 20.0) -> None:
    """Run the reminder worker's passes until `check()` is true (or fail after `timeout`)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        await worker.run_until_idle()
        if check():
            return
        if loop.time() > end:
            raise AssertionError("timed out waiting for the reminder")
        await asyncio.sleep(0.1)


async def test_north_somerset_review_meeting_is_prompted_when_an_out_of_hours_meeting_agrees_an_investigation(teams):
    t, app = teams
    service, worker = app[SERVICE], app[REMINDERS]
    edt = edt_person(t, "north-somerset")
    clock, plan, meeting_id = await start(t, app, "north-somerset", "2026-11-25T20:00", edt, evening_form("north-somerset"))
    await t.press(edt, "plan_send", {"meeting_id": meeting_id})
    await t.press(edt, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "21:00"})
    clock.now = at("2026-11-25T22:05")
    saved = await t.press(edt, "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "quorate": "yes",
                                                  "decision": "joint"})
    assert "Joint section 47" in text_of(saved)
    clock.now = at("2026-11-26T09:00")
    # The timing is the responsible team's (000 §Quoracy): the chair is asked to set it and can
    # raise the meeting. (Passes are run until the prompt is out: on a busy machine the outcome's
    # follow-up reminders may be planned after the first pass has looked.)
    prompts = lambda: [c for c in t.cards_to(edt.conversation) if "followon_request" in text_of(c)]
    await passes_until(worker, prompts)
    prompts = prompts()
    assert prompts and "review strategy meeting" in text_of(prompts[-1]).lower()
    assert "gives no date" in text_of(prompts[-1]) and "followup_date" in text_of(prompts[-1])
    # The chair sets the date (Monday 30 November, 14:00): the reminders follow it from now on.
    too_early = await t.press(edt, "followup_date", {"meeting_id": meeting_id, "follow_up": "review_strategy_meeting",
                                                      "due_date": "2026-11-24", "due_time": "10:00"})
    assert "before the meeting" in text_of(too_early)
    saved = (await t.press(edt, "followup_date", {"meeting_id": meeting_id, "follow_up": "review_strategy_meeting",
                                                  "due_date": "2026-11-30", "due_time": "14:00"}))["value"]
    assert "Date set" in text_of(saved) and "Monday 30 November 2026, 14:00" in text_of(saved)
    review = [r for r in service.repo.list_reminders(meeting_id)
              if r.kind == "review_strategy_meeting" and r.state == "pending"]
    assert review and all("set_date" not in r.key for r in review)
    assert max(r.due_at for r in review) == at("2026-11-30T14:00")
    done = (await t.press(edt, "followon_request", {"meeting_id": meeting_id, "follow_up": "review_strategy_meeting"}))["value"]
    daytime = contact("north-somerset", "ns-social-care-office-hours")
    assert "Meeting requested" in text_of(done) and daytime.name in text_of(done)
    child = service.repo.get_meeting(service.repo.get_meeting(meeting_id).outcome["follow_on_meeting_id"])
    assert child.chair_aad_id == daytime.aad_object_id and child.plan["routing"]["out_of_hours"] is False
    assert child.deadline == at("2026-11-30T14:00")  # the date the chair set
    pending = {r.kind for r in service.repo.list_reminders(meeting_id) if r.state == "pending"}
    assert "review_strategy_meeting" not in pending  # the request settles the prompt
    twice = (await t.press(edt, "followon_request", {"meeting_id": meeting_id, "follow_up": "review_strategy_meeting"}))["value"]
    assert "already requested" in text_of(twice)


async def test_a_late_afternoon_request_is_handed_to_the_edt_who_accepts_and_chairs(teams):
    t, app = teams
    service = app[SERVICE]
    worker = Person(CHAIR_AAD, "29:chair", "Sam Day", t.emulator.add_conversation("a:chair", "29:chair"))
    form = evening_form("walsall", decided_time="16:30")  # same day (serious harm): 30 minutes of office left
    clock, plan, meeting_id = await start(t, app, "walsall", "2026-11-25T16:30", worker, form)
    assert "Only 30 minutes of office time" in text_of(plan)
    await t.press(worker, "plan_send", {"meeting_id": meeting_id})
    edt_contact = contact("walsall", "ws-edt-on-call")
    people = await people_invited(t, {"edt": edt_contact})
    edt = people["edt"]
    inv = find_data(t.cards_to(edt.conversation)[0], "invitation_id")
    await t.press(edt, "invite_accept", {"invitation_id": inv})
    said = lambda: t.texts_to(edt.conversation) + [text_of(c) for c in t.cards_to(edt.conversation)]
    await until(lambda: any("You now chair this out-of-hours meeting" in x for x in said()))
    meeting = service.repo.get_meeting(meeting_id)
    assert meeting.chair_aad_id == edt_contact.aad_object_id
    await until(lambda: any("now chairs this meeting" in text_of(c) for c in t.cards_to(worker.conversation)))
    await until(lambda: any("Quorum" in text_of(c) for c in t.cards_to(edt.conversation)))
    # From now on only the EDT manages it.
    refused = await t.press(worker, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                                          "meeting_time": "19:00"})
    assert "Only the chair" in text_of(refused)
    ok = await t.press(edt, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "19:00"})
    assert "The meeting is now Wednesday 25 November 2026, 19:00" in text_of(ok)
