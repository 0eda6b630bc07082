"""Reminders end to end, over HTTP with the connector emulator and a controllable clock: a
Bristol meeting decided Wednesday 25 November 2026 at 10:00 (meeting by 17:00 that day),
police silent, then the meeting, the outcome and the minutes. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.directory import load_directory, resolve
from bot.keys import CLOCK, REMINDERS, SERVICE
from tests.emulators.teams import open_form
from tests.test_bot_flow import CHAIR_AAD, FORM, Person, find_data, teams, text_of, until  # noqa: F401

UK = ZoneInfo("Europe/London")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UK)


async def test_reminders_follow_the_meeting_from_request_to_minutes(teams):
    t, app = teams
    service, worker = app[SERVICE], app[REMINDERS]
    clock = app[CLOCK]
    clock.now = at("2026-11-25T10:00")

    async def to(when: str) -> None:
        clock.now = at(when)
        await worker.run_until_idle()

    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    chair_cards = lambda: [text_of(c) for c in t.cards_to(chair.conversation)]
    plan = (await t.press(chair, "request_submit", FORM))["value"]
    meeting_id = find_data(plan, "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    directory = load_directory("bristol")
    contacts = {role: resolve(directory, role, False) for role in ("social_care", "health", "police")}
    await until(lambda: all(t.emulator.conversation_of(c.aad_object_id) for c in contacts.values()))
    people = {r: Person(c.aad_object_id, f"29:{r}", c.name, t.emulator.conversation_of(c.aad_object_id)) for r, c in contacts.items()}
    await until(lambda: all(t.cards_to(p.conversation) for p in people.values()))
    invitation = {r: find_data(t.cards_to(p.conversation)[0], "invitation_id") for r, p in people.items()}
    for role in ("social_care", "health"):
        await t.press(people[role], "invite_accept", {"invitation_id": invitation[role]})

    # 11:50: police (silent) are chased once, a quarter of the way to the deadline.
    await to("2026-11-25T11:40")
    assert not any("Please answer" in text_of(c) for c in t.cards_to(people["police"].conversation))
    await to("2026-11-25T11:50")
    chases = lambda: [c for c in t.cards_to(people["police"].conversation) if "Please answer" in text_of(c)]
    assert len(chases()) == 1 and "Bristol strategy meeting guidance §3.2" in text_of(chases()[0])
    await to("2026-11-25T11:55")
    assert len(chases()) == 1  # never twice
    assert not any("Please answer" in text_of(c) for c in t.cards_to(people["health"].conversation))  # health answered

    # 13:31: halfway. The chair is told police have not answered (with the escalation step),
    # and that the deadline approaches with the meeting not yet quorate and untimed.
    await to("2026-11-25T13:31")
    assert any("Police has not answered" in c and contacts["police"].phone in c for c in chair_cards())
    approaching = [c for c in chair_cards() if "deadline is approaching" in c]
    assert len(approaching) == 1 and "not yet quorate" in approaching[0] and "no meeting time is set" in approaching[0]

    # Police accept: the chair is told at once that the meeting is quorate.
    await t.press(people["police"], "invite_accept", {"invitation_id": invitation["police"]})
    await until(lambda: any("is quorate" in c for c in chair_cards()))
    # The chair sets the time: 15:00. Nothing more about the deadline.
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "15:00"})
    await to("2026-11-25T14:46")
    for p in people.values():  # everyone who accepted hears the meeting starts soon
        assert sum("starts soon" in text_of(c) for c in t.cards_to(p.conversation)) == 1
    await to("2026-11-25T16:01")
    assert not any("deadline is close" in c for c in chair_cards())

    # 16:01: the chair is asked for the outcome, and records it.
    asks = [c for c in t.cards_to(chair.conversation) if "Record the meeting's outcome" in text_of(c)]
    assert len(asks) == 1 and "outcome_open" in text_of(asks[0])
    form = await open_form(t, chair, "outcome_open", {"meeting_id": meeting_id})
    assert "outcome_submit" in text_of(form) and "GP" in text_of(form)  # Bristol's minutes list (§5.4)
    bad = (await t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "yes"}))["value"]
    assert "section 47 decision" in text_of(bad)  # shown back in the card
    refused = await t.press(people["police"], "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "decision": "joint"})
    assert "Only the chair" in text_of(refused)
    saved = (await t.press(chair, "outcome_submit", {
        "meeting_id": meeting_id, "held": "yes", "quorate": "yes", "decision": "joint",
        "attended": ",".join(invitation.values())}))["value"]
    assert "Joint section 47 enquiry" in text_of(saved)
    await to("2026-11-26T09:30")
    assert not any("still to be recorded" in c for c in chair_cards())  # the outcome ended that

    # The enquiry goes ahead: the child must be seen within 2 working days (§2.3); the minutes
    # are due in 5 working days (§5.4), with a heads-up two working days before.
    await to("2026-11-27T09:01")
    assert any("child seen due" in c.lower() or "child_seen" in c for c in chair_cards())
    await to("2026-11-30T09:01")
    minutes = [c for c in t.cards_to(chair.conversation) if "minutes_submit" in text_of(c)]
    assert len(minutes) == 1 and "Service Manager" in text_of(minutes[0])
    await t.press(chair, "minutes_submit", {"meeting_id": meeting_id, "minutes_date": "2026-11-30",
                                            "minutes_to": "GP\nNamed nurse\nDSL\nService manager"})
    await to("2026-12-02T17:01")
    assert len([c for c in t.cards_to(chair.conversation) if "minutes_submit" in text_of(c)]) == 1  # no more
    rows = service.repo.list_reminders(meeting_id)
    assert not [r for r in rows if r.state == "pending" and r.kind in ("minutes_due", "outcome_request")]
    assert all(r.state in ("sent", "cancelled", "pending") for r in rows)
    sent_keys = [r.key for r in rows if r.state == "sent"]
    assert len(sent_keys) == len(set(sent_keys))


async def test_a_meeting_not_held_and_set_again_is_watched_afresh(teams):
    t, app = teams
    service, worker = app[SERVICE], app[REMINDERS]
    clock = app[CLOCK]
    clock.now = at("2026-11-25T10:00")
    chair = Person(CHAIR_AAD, "29:chair", "Sam Chair", t.emulator.add_conversation("a:chair", "29:chair"))
    meeting_id = find_data((await t.press(chair, "request_submit", FORM))["value"], "meeting_id")
    await t.press(chair, "plan_send", {"meeting_id": meeting_id})
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "11:00"})
    saved = (await t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "no"}))["value"]
    assert "not held" in text_of(saved)
    pending = lambda: {r.kind for r in service.repo.list_reminders(meeting_id) if r.state == "pending"}
    assert "deadline_imminent" not in pending()
    await t.press(chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-25", "meeting_time": "16:00"})
    assert {"deadline_imminent", "outcome_request"} <= pending()  # not quorate yet; the outcome will be asked again
    clock.now = at("2026-11-25T16:01")
    await worker.run_until_idle()
    assert any("deadline is close" in text_of(c) for c in t.cards_to(chair.conversation))
