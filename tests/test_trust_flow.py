"""What a chair and an agency contact need to trust the bot (issue 14), through /api/messages
as Teams drives it, on SQLite and PostgreSQL: impossible times refused field by field, an
overdue deadline said plainly with the reason for the delay asked for, an edited request
replacing the old one, failed deliveries told, a decline answered with the next contact, and
the chair inviting someone else."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from bot.clock import Clock
from bot.keys import CLOCK, REMINDERS, SERVICE
from tests.emulators.teams import Person, find_data, find_verb, open_form
from tests.test_bot_flow import CHAIR_AAD, FORM, teams, text_of, until  # noqa: F401  (fixture)
from tests.test_lifecycle_flow import posted_to, press_on

# FORM: decided Wednesday 25 November 2026 10:00; Bristol's deadline for it is 17:00 that day.
DEADLINE = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)


def clocked(app, now: datetime) -> Clock:
    """Stop the bot's one clock (service, repository and workers share it) at `now`; wind it
    by hand with `clock.now = ...`."""
    clock = app[CLOCK]
    clock.now = now
    return clock


def chair_of(t) -> Person:
    return Person(CHAIR_AAD, "29:chair", "Sam Chairperson", t.emulator.add_conversation("a:chair", "29:chair"))


def events(app, meeting_id: str, kind: str) -> list[dict]:
    return [e.detail for e in app[SERVICE].repo.list_events(meeting_id) if e.kind == kind]


# --- item 2: impossible times --------------------------------------------------------------

async def test_impossible_times_are_refused_field_by_field_with_what_was_typed_kept(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    chair = chair_of(t)

    future = (await t.press(chair, "request_submit", {**FORM, "decided_date": "2030-01-01", "decided_time": "09:00"}))
    card = future["value"]
    assert find_verb(card, "request_submit") and "is in the future" in text_of(card)
    assert "BR-2026-0042" in text_of(card) and "2030-01-01" in text_of(card)  # what was typed is kept
    # A few minutes ahead is a clock difference, not a mistake.
    ok = await t.press(chair, "request_submit", {**FORM, "decided_date": "2026-11-25", "decided_time": "11:04"})
    assert find_verb(ok["value"], "plan_send")

    before = await t.press(chair, "request_submit", {**FORM, "meeting_date": "2026-11-25", "meeting_time": "09:30"})
    assert "cannot be before the decision" in text_of(before["value"])
    assert find_verb(before["value"], "request_submit")

    # After the deadline: the form asks for the reason for the delay, then plans with it.
    late = {**FORM, "meeting_date": "2026-11-26", "meeting_time": "14:00"}
    asked = await t.press(chair, "request_submit", late)
    assert "after the deadline" in text_of(asked["value"]) and "reason for the delay" in text_of(asked["value"])
    assert find_verb(asked["value"], "request_submit") and "2026-11-26" in text_of(asked["value"])
    plan = (await t.press(chair, "request_submit", {**late, "delay_reason": "Police available Thursday only"}))["value"]
    meeting_id = find_data(plan, "meeting_id")
    assert find_verb(plan, "plan_send") and "after the deadline" in text_of(plan)
    (requested,) = events(app, meeting_id, "requested")
    assert requested["delay_reason"] == "Police available Thursday only"
    assert requested["after_deadline_by_minutes"] == 21 * 60


async def test_a_time_after_the_deadline_on_the_plan_or_the_status_card_needs_the_reason(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    chair = chair_of(t)
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    repo = app[SERVICE].repo
    # The plan card's time: refused in words (the card, with what was typed, stays).
    refused = await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-26",
                                                         "meeting_time": "10:00"})
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    assert "after the deadline" in refused["value"] and "nothing was changed" in refused["value"]
    assert repo.get_meeting(meeting_id).meeting_at is None
    saved = await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-26",
                                                       "meeting_time": "10:00", "delay_reason": "Paediatrician on leave"})
    assert find_verb(saved["value"], "plan_send")
    assert repo.get_meeting(meeting_id).meeting_at == datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    assert events(app, meeting_id, "time_set")[-1]["delay_reason"] == "Paediatrician on leave"
    # After sending, the status card's time form asks the same.
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    await t.press(chair, "time_open", {"meeting_id": meeting_id})
    form = next(c for c in reversed(t.cards_to(chair.conversation)) if find_verb(c, "time_submit"))
    assert "delay_reason" in text_of(form)
    refused = await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-27",
                                                   "meeting_time": "10:00"})
    assert "after the deadline" in json.dumps(refused) and repo.get_meeting(meeting_id).meeting_at.day == 26
    await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-27",
                                         "meeting_time": "10:05", "delay_reason": "Police asked for Friday"})
    assert repo.get_meeting(meeting_id).meeting_at == datetime(2026, 11, 27, 10, 5, tzinfo=timezone.utc)
    assert events(app, meeting_id, "time_set")[-1]["delay_reason"] == "Police asked for Friday"


# --- item 1: an overdue deadline -------------------------------------------------------------

async def test_an_overdue_request_says_so_reminds_at_once_and_asks_for_the_reason(teams):
    t, app = teams
    now = clocked(app, datetime(2026, 11, 26, 10, 30, tzinfo=timezone.utc))  # 17 h 30 min after the deadline
    chair = chair_of(t)
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    assert "The deadline passed 17 hours 30 minutes ago" in text_of(plan)
    # The chair is told at once (not skipped because the deadline is behind us) and asked why.
    await app[REMINDERS].run_due()
    await until(lambda: any("deadline has passed" in text_of(c) for c in t.cards_to(chair.conversation)))
    notice = next(c for c in t.cards_to(chair.conversation) if "deadline has passed" in text_of(c))
    assert find_verb(notice, "delay_submit") and "reason for the delay" in text_of(notice)
    # Sent: the status card says the same, and invitees are chased soon, not never.
    status = (await t.press(chair, "plan_send", {"meeting_id": meeting_id}))["value"]
    assert "The deadline passed 17 hours 30 minutes ago" in text_of(status)
    repo = app[SERVICE].repo
    await until(lambda: repo.get_meeting(meeting_id).state == "sent")
    chases = [r for r in repo.list_reminders(meeting_id) if r.kind == "chase"]
    assert chases and all(r.due_at <= now.now + timedelta(minutes=20) for r in chases)
    # The chair records the reason: kept in the audit log, the request for it stops.
    saved = await t.press(chair, "delay_submit", {"meeting_id": meeting_id,
                                                  "delay_reason": "Referral reached us the next morning"})
    assert "Reason for the delay recorded" in text_of(saved["value"])
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Reason for the delay (recorded): Referral reached us the next morning" in text_of(status)
    assert "the bot has asked you for the reason" not in text_of(status)
    assert events(app, meeting_id, "delay_explained") == [{"reason": "Referral reached us the next morning"}]
    assert repo.get_meeting(meeting_id).outcome["delay"]["reason"] == "Referral reached us the next morning"
    passed = [r for r in repo.list_reminders(meeting_id) if r.kind == "deadline_passed"]
    assert [r.state for r in passed] == ["sent"]
    empty = await t.press(chair, "delay_submit", {"meeting_id": meeting_id, "delay_reason": "  "})
    assert "Give the reason" in json.dumps(empty)


async def test_a_deadline_still_ahead_reads_as_a_deadline(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc))
    plan = (await t.press(chair_of(t), "request_submit", FORM))["value"]
    assert "Meet by Wednesday 25 November 2026, 17:00" in text_of(plan) and "passed" not in text_of(plan)
    assert not [r for r in app[SERVICE].repo.list_reminders(find_data(plan, "meeting_id"))
                if r.kind == "deadline_passed" and r.due_at <= datetime(2026, 11, 25, 16, 59, tzinfo=timezone.utc)]


# --- item 8: edit the request before sending -------------------------------------------------

async def test_an_edited_request_replaces_the_old_one_whose_buttons_then_say_why(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    chair = chair_of(t)
    assert await t.say(chair, "new") == 201
    ((form_id, _),) = posted_to(t, chair.conversation)
    plan = (await press_on(t, chair, "request_submit", FORM, form_id))["value"]
    old_id = find_data(plan, "meeting_id")
    opened = await press_on(t, chair, "request_edit", {"meeting_id": old_id}, form_id)
    assert opened["type"] == "application/vnd.microsoft.activity.message"  # the plan card stays
    edit_id, edit = posted_to(t, chair.conversation)[-1]
    assert edit_id != form_id and find_verb(edit, "request_submit") and "Edit the request" in text_of(edit)
    assert "BR-2026-0042" in text_of(edit) and "2026-11-25" in text_of(edit)  # the stored values
    assert find_data(edit, "replaces") == old_id
    submitted = {**FORM, "case_ref": "BR-2026-0043", "replaces": old_id, "plan_message": form_id}
    new_plan = (await press_on(t, chair, "request_submit", submitted, edit_id))["value"]
    new_id = find_data(new_plan, "meeting_id")
    assert new_id != old_id and "BR-2026-0043" in text_of(new_plan)
    repo = app[SERVICE].repo
    assert repo.get_meeting(old_id).state == "withdrawn" and repo.get_meeting(new_id).state == "draft"
    assert events(app, old_id, "superseded") == [{"by_meeting_id": new_id}]
    # The old plan card says it was replaced, and its buttons change nothing and say why.
    await until(lambda: any(r.method == "PUT" and r.activity_id == form_id for r in t.emulator.requests))
    late = await press_on(t, chair, "plan_send", {"meeting_id": old_id}, form_id)
    assert "the request was edited" in json.dumps(late) and "nothing was changed" in json.dumps(late)
    assert repo.list_invitations(old_id) == []
    again = await t.press(chair, "request_edit", {"meeting_id": old_id})
    assert "the request was edited" in json.dumps(again)
    # A sent request is changed on its status card, not edited.
    await t.press(chair, "plan_send", {"meeting_id": new_id})
    sent = await t.press(chair, "request_edit", {"meeting_id": new_id})
    assert "Only a request that has not been sent can be edited" in json.dumps(sent)


# --- item 4: undeliverable invitations -----------------------------------------------------

async def _send_with_police(t, app, fail) -> tuple[Person, str, object]:
    from bot.adapters.connector import RetryPolicy
    from bot.directory import load_directory, resolve

    app[SERVICE].messenger.client.retry = RetryPolicy(max_attempts=1)  # one HTTP try per delivery attempt
    police = resolve(load_directory("bristol"), "police", False)
    fail(police.aad_object_id)
    chair = chair_of(t)
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    return chair, meeting_id, police


async def test_a_permanent_refusal_is_told_at_once_and_the_card_says_not_delivered(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    # Agents Playground answers 500 "UserNotFound" for someone who is not one of its users.
    chair, meeting_id, police = await _send_with_police(
        t, app, lambda aad: t.emulator.fail(aad, 500, times=None, code="UserNotFound"))
    await until(lambda: any("could not be reached" in text_of(c) for c in t.cards_to(chair.conversation)))
    notice = next(c for c in t.cards_to(chair.conversation) if "could not be reached" in text_of(c))
    assert police.email in text_of(notice) and police.phone in text_of(notice)
    assert "no Teams account was found" in text_of(notice)
    tries = [r for r in t.emulator.requests if r.user_id == police.aad_object_id]
    assert len(tries) == 1  # not retried for minutes
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Not delivered to DC Bea Madeup: no Teams account was found for them" in text_of(status)
    assert "Waiting for DC Bea Madeup" not in text_of(status)


async def test_temporary_failures_are_told_once_after_a_few_minutes_still_trying(teams):
    t, app = teams
    now = clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    chair, meeting_id, police = await _send_with_police(t, app, lambda aad: t.emulator.fail(aad, 503, times=None))
    repo = app[SERVICE].repo
    await until(lambda: any(i.delivery_error for i in repo.list_invitations(meeting_id)))
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "DC Bea Madeup: not delivered yet (Teams answered with an error): still trying" in text_of(status)
    still = lambda: [c for c in t.cards_to(chair.conversation) if "not delivered yet, still trying" in text_of(c)]
    await app[REMINDERS].run_due()
    assert still() == []  # a moment's failure does not trouble the chair
    now.now += timedelta(minutes=6)
    await app[REMINDERS].run_due()
    await until(lambda: still())
    assert police.email in text_of(still()[0]) and police.phone in text_of(still()[0])
    now.now += timedelta(minutes=10)
    await app[REMINDERS].run_due()
    await asyncio.sleep(0.2)
    assert len(still()) == 1  # once


# --- items 6 and 7: a decline offers the next contact; the chair invites anyone ------------

async def _sent(t, app, roles):
    from tests.test_bot_flow import _sent_invitations

    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))  # Wednesday, office hours
    chair = chair_of(t)
    meeting_id, people, invitation = await _sent_invitations(t, chair, roles)
    return chair, meeting_id, people, invitation


def _person(t, contact) -> Person:
    return Person(contact.aad_object_id, f"29:{contact.id}", contact.name, t.emulator.conversation_of(contact.aad_object_id))


async def test_a_decline_offers_the_next_contact_and_cannot_be_quorate_waits_until_no_one_is_left(teams):
    from bot.directory import load_directory

    t, app = teams
    chair, meeting_id, people, invitation = await _sent(t, app, ("social_care", "health", "police"))
    reminders = app[REMINDERS]
    await t.press(people["health"], "invite_decline", {"invitation_id": invitation["health"], "decline_reason": "Clinic all day"})
    await reminders.run_due()
    offers = lambda: [c for c in t.cards_to(chair.conversation) if find_verb(c, "invite_contact")]
    await until(offers)
    offer = offers()[0]
    assert "Cal Notreal declined" in text_of(offer) and "Clinic all day" in text_of(offer)
    assert "Invite Dr Dana Pretend" in text_of(offer) and find_data(offer, "contact_id") == "br-paediatrician-office-hours"
    assert not any("Health (safeguarding practitioner) cannot make" in text_of(c) for c in t.cards_to(chair.conversation))
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Declined by Cal Notreal — invite Dr Dana Pretend instead" in text_of(status)
    assert "Escalate:" not in text_of(status)  # someone else can fill the place: nothing to escalate yet
    # One press invites her, in the health place.
    pressed = await t.press(chair, "invite_contact", {"meeting_id": meeting_id, "contact_id": find_data(offer, "contact_id")})
    assert "Dr Dana Pretend invited" in text_of(pressed["value"])
    dana = next(c for c in load_directory("bristol").contacts if c.id == "br-paediatrician-office-hours")
    await until(lambda: t.emulator.conversation_of(dana.aad_object_id) and t.cards_to(t.emulator.conversation_of(dana.aad_object_id)))
    card = t.cards_to(_person(t, dana).conversation)[0]
    await t.press(_person(t, dana), "invite_accept", {"invitation_id": find_data(card, "invitation_id")})
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Accepted by Dr Dana Pretend (Paediatrician)" in text_of(status)
    kinds = [e.kind for e in app[SERVICE].repo.list_events(meeting_id)]
    assert "invited_by_chair" in kinds
    # Police decline, and nobody else works office hours for police: now it cannot be quorate.
    await t.press(people["police"], "invite_decline", {"invitation_id": invitation["police"], "decline_reason": "Court"})
    await reminders.run_due()
    cannot = lambda: [c for c in t.cards_to(chair.conversation) if "Police cannot make the meeting quorate" in text_of(c)]
    await until(cannot)
    assert "Bristol strategy meeting guidance §" in text_of(cannot()[0])  # the area's escalation, cited
    assert len(offers()) == 1
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "— escalate" in text_of(status) and "Escalate:" in text_of(status)  # no one left for police


async def test_the_chair_invites_anyone_from_the_directory_and_they_count_in_their_role(teams):
    from bot.directory import load_directory

    t, app = teams
    chair, meeting_id, people, invitation = await _sent(t, app, ("social_care", "health", "police"))
    directory = {c.id: c for c in load_directory("bristol").contacts}
    form = await open_form(t, chair, "invite_open", {"meeting_id": meeting_id})
    listed = text_of(form)
    assert "Sexual Assault Referral Centre (SARC): Em Sample" in listed and "Housing" in listed
    assert "Cal Notreal" not in listed  # already invited
    # Someone the plan did not list (housing), and a SARC worker, who can fill health.
    for contact_id in ("br-housing-office-hours", "br-sarc-always"):
        answer = await t.press(chair, "invite_contact", {"meeting_id": meeting_id, "contact_id": contact_id})
        assert f"{directory[contact_id].name} invited" in text_of(answer["value"])
    again = await t.press(chair, "invite_contact", {"meeting_id": meeting_id, "contact_id": "br-sarc-always"})
    assert "already invited" in json.dumps(again)
    stranger = await t.press(people["police"], "invite_contact", {"meeting_id": meeting_id, "contact_id": "br-gp-office-hours"})
    assert "Only the chair" in json.dumps(stranger)
    unknown = await t.press(chair, "invite_contact", {"meeting_id": meeting_id, "contact_id": "nobody"})
    assert "not in the area's directory" in json.dumps(unknown)
    for contact_id in ("br-housing-office-hours", "br-sarc-always"):
        c = directory[contact_id]
        await until(lambda c=c: t.emulator.conversation_of(c.aad_object_id) and t.cards_to(t.emulator.conversation_of(c.aad_object_id)))
    housing = t.cards_to(_person(t, directory["br-housing-office-hours"]).conversation)[0]
    assert "Sam Chairperson (the chair) invited you" in text_of(housing)
    sarc = _person(t, directory["br-sarc-always"])
    await t.press(sarc, "invite_accept", {"invitation_id": find_data(t.cards_to(sarc.conversation)[0], "invitation_id")})
    status = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert "Accepted by Em Sample (Sexual Assault Referral Centre (SARC))" in text_of(status) and "Housing" in text_of(status)
    # A cancelled meeting invites no one.
    await t.press(chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Family moved away"})
    late = await t.press(chair, "invite_contact", {"meeting_id": meeting_id, "contact_id": "br-gp-office-hours"})
    assert "cancelled" in json.dumps(late) and "nothing was changed" in json.dumps(late)


# --- item 3: out of hours the EDT fills the social-care place -------------------------------

async def test_out_of_hours_the_edt_fills_the_social_care_place_not_the_day_worker(teams):
    from tests.test_out_of_hours import contact, evening_form, people_invited, start

    t, app = teams
    service = app[SERVICE]
    worker = Person(CHAIR_AAD, "29:chair", "Sam Day", t.emulator.add_conversation("a:chair", "29:chair"))
    clock, plan, meeting_id = await start(t, app, "walsall", "2026-11-25T16:30", worker,
                                        evening_form("walsall", decided_time="16:30"))
    assert "Emergency Duty Team" in text_of(plan)
    status = (await t.press(worker, "plan_send", {"meeting_id": meeting_id}))["value"]
    edt = contact("walsall", "ws-edt-on-call")
    day = contact("walsall", "ws-social-care-office-hours")
    await people_invited(t, {"edt": edt})
    invited = {i.contact_id for i in service.repo.list_invitations(meeting_id)}
    assert edt.id in invited and day.id not in invited
    status = (await t.press(worker, "status_refresh", {"meeting_id": meeting_id}))["value"]
    assert f"Waiting for {edt.name}" in text_of(status) and day.name not in text_of(status)


# --- item 11: the export carries everything recorded ---------------------------------------

async def test_the_export_carries_the_professional_discussion_and_the_follow_on_meeting(teams):
    from bot.record import case_record, record_csv
    from tests.test_out_of_hours import at, edt_person, evening_form, start

    t, app = teams
    service = app[SERVICE]
    edt = edt_person(t, "walsall")
    clock, plan, meeting_id = await start(t, app, "walsall", "2026-11-25T20:00", edt, evening_form("walsall"))
    await t.press(edt, "plan_send", {"meeting_id": meeting_id})
    clock.now = at("2026-11-25T21:45")
    done = (await t.press(edt, "discussion_submit", {
        "meeting_id": meeting_id, "discussed_date": "2026-11-25", "discussed_time": "21:30",
        "discussed_with": "PS Bo Notreal, PPU", "safety_plan": "Stays with grandmother tonight; visit 10:00.",
        "rationale": "No paediatrician on call", "decision": "joint"}))["value"]
    assert "Professional discussion recorded" in text_of(done)
    repo = service.repo
    meeting = repo.get_meeting(meeting_id)
    record = case_record(meeting, repo.list_invitations(meeting_id), repo.list_events(meeting_id))
    discussion = record["professional_discussion"]
    assert discussion["with"] == "PS Bo Notreal, PPU" and discussion["at"] == "2026-11-25T21:30:00+00:00"
    assert discussion["safety_plan"] == "Stays with grandmother tonight; visit 10:00."
    assert discussion["rationale"] == "No paediatrician on call" and discussion["decision"] == "joint"
    assert discussion["recorded_by"] == edt.name and discussion["rule"]["source"]
    child_id = meeting.outcome["follow_on_meeting_id"]
    assert record["follow_on_meeting_id"] == child_id
    csv_text = record_csv(record)
    assert "PS Bo Notreal, PPU" in csv_text and child_id in csv_text and "grandmother" in csv_text
    assert any("Professional discussion recorded" in e["description"] for e in record["timeline"])
    child = repo.get_meeting(child_id)
    assert case_record(child, [], repo.list_events(child_id))["follow_on_of"] == meeting_id


# --- item 12: the forms and cards -------------------------------------------------------------

async def test_the_outcome_form_ticks_those_who_accepted_nominees_included(teams):
    from bot.directory import load_directory

    t, app = teams
    chair, meeting_id, people, invitation = await _sent(t, app, ("social_care", "health", "police"))
    bo = load_directory("bristol").by_email("bo.pretend@avon-somerset.police.example")
    await t.press(people["health"], "invite_accept", {"invitation_id": invitation["health"]})
    await t.press(people["police"], "invite_nominate", {"invitation_id": invitation["police"],
                                                        "nominee_name": "PS Bo Pretend", "nominee_email": bo.email})
    await t.press(people["social_care"], "invite_nominate", {"invitation_id": invitation["social_care"],
                                                             "nominee_name": "Nia Elsewhere",
                                                             "nominee_email": "nia@elsewhere.example"})
    await until(lambda: t.emulator.conversation_of(bo.aad_object_id) and t.cards_to(t.emulator.conversation_of(bo.aad_object_id)))
    bo_person = _person(t, bo)
    bo_invitation = find_data(t.cards_to(bo_person.conversation)[0], "invitation_id")
    await t.press(bo_person, "invite_accept", {"invitation_id": bo_invitation})
    form = await open_form(t, chair, "outcome_open", {"meeting_id": meeting_id})
    attended = next(i for i in form["body"] if i.get("id") == "attended")
    assert set(attended["value"].split(",")) == {invitation["health"], bo_invitation}
    others = next(i for i in form["body"] if i.get("id") == "others_attended")
    assert others["value"] == "Nia Elsewhere (nominated)"


def _elements(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _elements(v)
    elif isinstance(node, list):
        for v in node:
            yield from _elements(v)


def test_no_card_shows_light_green_or_yellow_text_and_children_two_to_four_wait_to_be_added():
    from bot.cards import request_form_card
    from tests.card_samples import card_samples

    for name, card in card_samples().items():
        for element in _elements(card):
            if element.get("type") == "TextBlock":
                assert element.get("color", "Default") in ("Default", "Attention", "Dark"), (name, element)
    form = request_form_card([("bristol", "Bristol")])
    shown = {e["id"]: e.get("isVisible", True) for e in _elements(form) if str(e.get("id", "")).startswith("child")
             and e.get("type") == "Container"}
    assert shown == {"child1": True, "child2": False, "child3": False, "child4": False}
    toggles = [e for e in _elements(form) if e.get("type") == "Action.ToggleVisibility"]
    assert [t["targetElements"] for t in toggles] == [["child2"], ["child3"], ["child4"]]
    age = next(e for e in _elements(form) if e.get("id") == "child1_age")
    assert (age["min"], age["max"]) == (0, 17)
    # Inputs with a placeholder get the card's full width, so it is never cut off.
    for column_set in (e for e in _elements(form) if e.get("type") == "ColumnSet"):
        assert not [e for e in _elements(column_set) if e.get("placeholder")], column_set


async def test_ages_beyond_17_get_a_clear_message_and_typed_times_are_read(teams):
    t, app = teams
    clocked(app, datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))
    chair = chair_of(t)
    old = (await t.press(chair, "request_submit", {**FORM, "child1_age": "19"}))["value"]
    assert "Enter an age from 0 to 17" in text_of(old) and "greater than" not in text_of(old)
    plan = (await t.press(chair, "request_submit", {**FORM, "decided_time": "10.05", "meeting_date": "2026-11-25",
                                                    "meeting_time": "2:35pm"}))["value"]
    meeting = app[SERVICE].repo.get_meeting(find_data(plan, "meeting_id"))
    assert meeting.meeting_at == datetime(2026, 11, 25, 14, 35, tzinfo=timezone.utc)
    assert meeting.request["decided_at"].startswith("2026-11-25T10:05")
