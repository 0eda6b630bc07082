"""The meeting's lifecycle through /api/messages, as Teams drives it, on SQLite and PostgreSQL:
one live status card for the chair, the time and link after sending, a cancelled meeting that
refuses everything (rows and audit log unchanged), racing changes both kept, and the
outcome's rules (not held and re-timed keeps the Teams link; held not before the start)."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from bot import cards
from bot.core.meeting import uk_moment
from bot.core.wording import UK, uk_time
from bot.keys import SERVICE
from tests.emulators.teams import Person, card_action, find_data
from tests.test_bot_flow import CHAIR_AAD, FORM, _sent_invitations, teams, text_of, until  # noqa: F401  (fixture)


# FORM's decision was on 25 November: a time set now is after its deadline and needs a reason.
LATE = "Police could not attend sooner"


def chair_of(t) -> Person:
    return Person(CHAIR_AAD, "29:chair", "Sam Chairperson", t.emulator.add_conversation("a:chair", "29:chair"))


async def press_on(t, who: Person, verb: str, data: dict, message_id: str | None) -> dict:
    """Press a button on the card in message `message_id` (Teams sends it as replyToId)."""
    body = card_action(t.emulator.url, who, verb, data, id=t.next_id(), replyToId=message_id)
    r = await t.client.post("/api/messages", json=body)
    assert r.status == 200, await r.text()
    return await r.json()


def posted_to(t, conversation: str) -> list[tuple[str, dict]]:
    """(activity id, card) of every card the bot posted into a chat, oldest first."""
    out = []
    for activity_id, body in t.emulator.activities.get(conversation, {}).items():
        for a in body.get("attachments") or []:
            out.append((activity_id, a["content"]))
    return out


def snapshot(repo, meeting_id: str) -> tuple:
    m = repo.get_meeting(meeting_id)
    return (m.state, m.version, m.meeting_at, m.join_url, json.dumps(m.outcome, sort_keys=True),
            tuple((i.id, i.response, i.response_detail, i.delivery_state) for i in repo.list_invitations(meeting_id)),
            tuple((r.key, r.state, r.due_at) for r in repo.list_reminders(meeting_id)),
            len(repo.list_events(meeting_id)))


async def requested(t, chair: Person) -> tuple[str, str]:
    """The chair types `new`, fills the form on that message: (meeting id, the message id)."""
    assert await t.say(chair, "new") == 201
    ((form_id, _),) = posted_to(t, chair.conversation)
    plan = (await press_on(t, chair, "request_submit", FORM, form_id))["value"]
    return find_data(plan, "meeting_id"), form_id


async def test_the_chair_has_one_live_status_card_for_the_whole_journey(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, message = await requested(t, chair)
    status = (await press_on(t, chair, "plan_send", {"meeting_id": meeting_id}, message))["value"]
    assert "Not yet quorate" in text_of(status) and "Change the time or link" in text_of(status)
    repo = app[SERVICE].repo
    await until(lambda: repo.get_meeting(meeting_id).state == "sent")
    invitations = repo.list_invitations(meeting_id)
    quorum = [i for i in invitations if i.level == "quorum"]
    for inv in quorum:
        person = Person(inv.contact_aad_id, f"29:{inv.role}", inv.contact_name, inv.conversation_id)
        await t.press(person, "invite_accept", {"invitation_id": inv.id})
    await until(lambda: any("is quorate" in text_of(c) for _, c in posted_to(t, chair.conversation)))
    # Every update of the status card went to the message the chair pressed Send on ...
    puts = lambda: [r for r in t.emulator.requests if r.method == "PUT" and r.conversation_id == chair.conversation]
    await until(lambda: puts() and "Quorate" in text_of(puts()[-1].body))
    assert {r.activity_id for r in puts()} == {message}
    # ... and no second status card was ever posted: the one with the status card is that message.
    assert [aid for aid, c in posted_to(t, chair.conversation) if "status_refresh" in text_of(c)] == [message]
    # Teams refreshes the card for the chair when they open the chat (Universal Actions).
    card = t.emulator.activities[chair.conversation][message]["attachments"][0]["content"]
    assert card["refresh"]["userIds"] == ["29:chair"] and card["refresh"]["action"]["verb"] == "status_refresh"


async def test_after_sending_the_chair_sets_the_time_and_link_and_invitees_are_told(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, people, _ = await _sent_invitations(t, chair, ("police", "health"))
    opened = await t.press(chair, "time_open", {"meeting_id": meeting_id})
    # The form comes as a message of its own; the card pressed stays the status card.
    assert "status_refresh" in text_of(opened["value"])
    form_id, form = posted_to(t, chair.conversation)[-1]
    assert "time_submit" in text_of(form)
    saved = await press_on(t, chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-25",
                                                     "meeting_time": "15:30",
                                                     "join_url": "https://teams.microsoft.com/l/meetup-join/abc"},
                           form_id)
    assert "Time and link saved" in text_of(saved["value"]) and "meetup-join/abc" in text_of(saved["value"])
    meeting = app[SERVICE].repo.get_meeting(meeting_id)
    assert meeting.meeting_at == datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)
    assert meeting.join_url == "https://teams.microsoft.com/l/meetup-join/abc"
    for person in people.values():
        await until(lambda p=person: any("new time" in text_of(c) for c in t.cards_to(p.conversation)))
        told = next(c for c in t.cards_to(person.conversation) if "new time" in text_of(c))
        assert "Wed 25 November 2026 15:30" in text_of(told) or uk_time(meeting.meeting_at) in text_of(told)
        assert "meetup-join/abc" in text_of(told)
    # Only the chair can change it, and a link that is not https is refused with nothing changed.
    refused = await t.press(people["police"], "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-26",
                                                              "meeting_time": "10:00"})
    assert "Only the chair" in json.dumps(refused)
    bad = await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-26",
                                               "meeting_time": "10:00", "join_url": "javascript:alert(1)"})
    assert "https://" in json.dumps(bad) and app[SERVICE].repo.get_meeting(meeting_id).meeting_at == meeting.meeting_at


async def test_a_cancelled_meeting_changes_nothing_and_says_when_and_by_whom(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, people, invitation = await _sent_invitations(t, chair, ("police", "health", "social_care"))
    repo = app[SERVICE].repo
    await t.press(people["police"], "invite_accept", {"invitation_id": invitation["police"]})
    cancelled = await t.press(chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Family moved away"})
    assert "Cancelled." in text_of(cancelled["value"])
    # The chair's card is updated in the background: wait until it shows the cancellation.
    puts = lambda: [r for r in t.emulator.requests if r.method == "PUT" and r.conversation_id == chair.conversation]
    await until(lambda: puts() and "Cancelled" in text_of(puts()[-1].body) and puts()[-1].status)
    before = snapshot(repo, meeting_id)
    assert before[0] == "cancelled"
    at = uk_moment(repo.get_meeting(meeting_id).state_changed_at)
    attempts = [
        (people["health"], "invite_accept", {"invitation_id": invitation["health"]}),
        (people["health"], "invite_decline", {"invitation_id": invitation["health"], "decline_reason": "Clinic"}),
        (people["social_care"], "invite_nominate", {"invitation_id": invitation["social_care"],
                                                     "nominee_name": "Bo", "nominee_email": "bo.pretend@avon-somerset.police.example"}),
        (people["social_care"], "invite_written", {"invitation_id": invitation["social_care"], "written_information": "x"}),
        (people["police"], "invite_decline", {"invitation_id": invitation["police"], "decline_reason": "changed mind"}),
        (chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": "2026-11-26", "meeting_time": "10:00"}),
        (chair, "plan_confirm_time", {"meeting_id": meeting_id, "meeting_date": "2026-11-26", "meeting_time": "10:00"}),
        (chair, "outcome_open", {"meeting_id": meeting_id}),
        (chair, "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "quorate": "yes", "decision": "joint"}),
        (chair, "minutes_submit", {"meeting_id": meeting_id, "minutes_date": "2026-11-27", "minutes_to": "GP"}),
        (chair, "followup_done", {"meeting_id": meeting_id, "follow_up": "minutes_due"}),
        (chair, "discussion_open", {"meeting_id": meeting_id}),
        (chair, "cancel_open", {"meeting_id": meeting_id}),
        (chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "again"}),
        (chair, "request_withdraw", {"meeting_id": meeting_id}),
        (chair, "meeting_close", {"meeting_id": meeting_id}),
    ]
    for who, verb, data in attempts:
        answer = json.dumps(await t.press(who, verb, data))
        assert "nothing was changed" in answer.lower() or "no longer" in answer.lower(), (verb, answer)
        assert snapshot(repo, meeting_id) == before, verb
    refused = json.dumps(await t.press(people["health"], "invite_accept", {"invitation_id": invitation["health"]}))
    assert f"This meeting was cancelled on {at} by Sam Chairperson; nothing was changed." in refused


async def test_outcome_and_minutes_recorded_at_once_are_both_kept(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, _, _ = await _sent_invitations(t, chair, ("police",))
    repo, service = app[SERVICE].repo, app[SERVICE]
    past = (service.clock() - timedelta(hours=2)).astimezone(UK)
    await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": f"{past:%Y-%m-%d}",
                                         "meeting_time": f"{past:%H:%M}", "delay_reason": LATE})
    first = await t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "quorate": "yes",
                                                    "decision": "joint"})
    assert "Outcome recorded" in text_of(first["value"]), first
    outcome, minutes = await asyncio.gather(
        t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "quorate": "yes",
                                          "decision": "single_agency"}),
        t.press(chair, "minutes_submit", {"meeting_id": meeting_id, "minutes_date": f"{service.clock():%Y-%m-%d}",
                                          "minutes_to": "GP\nSchool DSL"}))
    stored = repo.get_meeting(meeting_id).outcome
    assert stored["decision"] == "single_agency" and stored["minutes_to"] == ["GP", "School DSL"]
    kinds = [e.kind for e in repo.list_events(meeting_id)]
    assert "outcome_corrected" in kinds and "minutes_recorded" in kinds


async def test_answers_arriving_together_leave_the_reminders_all_of_them_call_for(teams):
    """Invitees of one meeting answering at once take turns on the meeting, each re-planning
    the reminders from the answers before it: what is stored is the plan of all the answers."""
    t, app = teams
    chair = chair_of(t)
    roles = ("social_care", "health", "police")
    meeting_id, people, invitation = await _sent_invitations(t, chair, roles)
    repo, service = app[SERVICE].repo, app[SERVICE]
    presses = {"social_care": ("invite_accept", {}), "health": ("invite_accept", {}),
               "police": ("invite_decline", {"decline_reason": "In court all day"})}
    answers = await asyncio.gather(*(t.press(people[role], verb, {"invitation_id": invitation[role], **data})
                                     for role, (verb, data) in presses.items()))
    assert all("You accepted" in text_of(a["value"]) or "You declined" in text_of(a["value"]) for a in answers)
    invitations = repo.list_invitations(meeting_id)
    responses = {i.id: i.response for i in invitations}
    assert [responses[invitation[role]] for role in roles] == ["accepted", "accepted", "declined"]
    planned = {p.key: (p.due_at, json.loads(json.dumps(p.detail())))
               for p in service.planned_reminders(repo.get_meeting(meeting_id), invitations)}
    stored = {r.key: r for r in repo.list_reminders(meeting_id)}
    assert set(planned) <= set(stored)
    pending = {key: (r.due_at, r.detail) for key, r in stored.items() if r.state == "pending"}
    assert pending == {key: planned.get(key) for key in pending}  # nothing pending that the plan does not want
    assert all(stored[key].state != "cancelled" or stored[key].last_error != "no longer needed" for key in planned)


async def test_held_cannot_be_recorded_before_the_start_and_a_not_held_meeting_keeps_its_link(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, _, _ = await _sent_invitations(t, chair, ("police",))
    repo, service = app[SERVICE].repo, app[SERVICE]
    await until(lambda: repo.get_meeting(meeting_id).state == "sent")  # the worker settles it just after the cards
    later = service.clock() + timedelta(days=1)
    await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": f"{later:%Y-%m-%d}",
                                         "meeting_time": "11:00", "join_url": "https://teams.microsoft.com/l/x",
                                         "delay_reason": LATE})
    early = await t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "yes", "quorate": "yes",
                                                    "decision": "joint"})
    assert "before it starts" in json.dumps(early) and repo.get_meeting(meeting_id).state == "sent"
    not_held = await t.press(chair, "outcome_submit", {"meeting_id": meeting_id, "held": "no"})
    assert "not held" in text_of(not_held["value"]) and repo.get_meeting(meeting_id).state == "not_held"
    again = later + timedelta(days=1)
    await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": f"{again:%Y-%m-%d}",
                                         "meeting_time": "11:00", "delay_reason": LATE})
    meeting = repo.get_meeting(meeting_id)
    assert meeting.state == "sent" and meeting.outcome is None
    assert meeting.join_url == "https://teams.microsoft.com/l/x"  # the link set before survives


async def test_a_request_withdrawn_before_sending_sends_nothing(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, message = await requested(t, chair)
    withdrawn = await press_on(t, chair, "request_withdraw", {"meeting_id": meeting_id}, message)
    assert "withdrawn" in text_of(withdrawn["value"])
    late = await press_on(t, chair, "plan_send", {"meeting_id": meeting_id}, message)
    assert "withdrawn" in json.dumps(late) and "nothing was changed" in json.dumps(late)
    repo = app[SERVICE].repo
    assert repo.list_invitations(meeting_id) == [] and repo.get_meeting(meeting_id).state == "withdrawn"
    assert all(r.state != "pending" for r in repo.list_reminders(meeting_id))


def fact(card: dict, title: str) -> str | None:
    """The value of the fact titled `title` in a card's FactSets (None if there is none)."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                found.extend(f["value"] for f in node.get("facts") or () if f.get("title") == title)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found[0] if found else None


async def test_the_status_card_names_the_next_follow_up_and_when_it_is_due_not_when_it_is_reminded(teams):
    # Seen in Agents Playground: "Next follow-up: Coming up: minutes due by Tuesday 8 December,
    # 17:00: due Friday 4 December, 09:00" (the advance reminder's title and when it is sent).
    t, app = teams
    chair = chair_of(t)
    meeting_id, _, _ = await _sent_invitations(t, chair, ("police",))
    repo, service = app[SERVICE].repo, app[SERVICE]
    past = (service.clock() - timedelta(hours=1)).astimezone(UK)
    await t.press(chair, "time_submit", {"meeting_id": meeting_id, "meeting_date": f"{past:%Y-%m-%d}",
                                         "meeting_time": f"{past:%H:%M}", "delay_reason": LATE})
    card = (await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"]
    value = fact(card, "Next follow-up")
    assert value and "Coming up" not in value, value
    what, when = value.split(": due ")
    due = {fu["kind"]: fu["due"] for fu in repo.get_meeting(meeting_id).plan["follow_ups"] if fu.get("due")}
    named = [kind for kind in due if cards.follow_up_name(kind) == what]
    assert named and when == uk_time(datetime.fromisoformat(due[named[0]])), (value, due)


async def test_without_graph_the_chair_is_told_where_to_paste_the_link_after_sending(teams):
    # Seen in Agents Playground: after Send the bot said to paste the link "on the plan card",
    # which had just become the status card (the link is set with "Change the time or link").
    t, _ = teams
    chair = chair_of(t)
    meeting_id, message = await requested(t, chair)
    await press_on(t, chair, "plan_send", {"meeting_id": meeting_id}, message)
    await until(lambda: any("Microsoft Graph" in m for m in t.texts_to(chair.conversation)))
    note = next(m for m in t.texts_to(chair.conversation) if "Microsoft Graph" in m)
    assert "'Change the time or link' on the status card" in note and "plan card" not in note, note


async def test_a_cancelled_meetings_card_waits_for_no_one(teams):
    t, app = teams
    chair = chair_of(t)
    meeting_id, people, invitation = await _sent_invitations(t, chair, ("police", "health", "social_care"))
    await t.press(chair, "meeting_cancel", {"meeting_id": meeting_id, "cancel_reason": "Family moved away"})
    card = text_of((await t.press(chair, "status_refresh", {"meeting_id": meeting_id}))["value"])
    assert "Cancelled" in card and "by Sam Chairperson" in card
    assert "Waiting" not in card and "No answer" in card and "no longer applies" in card
    assert "time_open" not in card and "cancel_open" not in card and "outcome_open" not in card


async def test_child_on_child_abuse_raises_the_other_childs_meeting_in_one_press(teams):
    """Regional procedure (001 §3): separate strategy meetings for both children. The plan says
    so; one press opens the other child's request, filled in but for who the child is."""
    t, app = teams
    chair = chair_of(t)
    decided = (app[SERVICE].clock() - timedelta(minutes=30)).astimezone(UK)
    form = {**FORM, "area": "regional", "case_ref": "REG-2026-0042", "flags": "child_on_child_abuse",
            "concerns": "sexual_abuse", "decided_date": f"{decided:%Y-%m-%d}", "decided_time": f"{decided:%H:%M}"}
    plan = (await t.press(chair, "request_submit", form))["value"]
    assert "A separate strategy meeting for the other child" in text_of(plan) and "Regional child protection procedures: convening a strategy meeting §3" in text_of(plan)
    meeting_id = find_data(plan, "meeting_id")
    before = len(t.cards_to(chair.conversation))
    await t.press(chair, "request_separate", {"meeting_id": meeting_id})
    (other,) = t.cards_to(chair.conversation)[before:]
    filled = {i["id"]: i.get("value") for i in _inputs(other)}
    assert filled["area"] == "regional" and "child_on_child_abuse" in filled["flags"]
    assert "sexual_abuse" in filled["concerns"] and filled["decided_date"] == f"{decided:%Y-%m-%d}"
    assert not filled.get("case_ref") and not filled.get("child1_age")  # who the other child is: the chair's to say
    # A meeting whose protocol asks for no separate meeting offers none.
    ordinary = find_data((await t.press(chair, "request_submit", {**form, "flags": "serious_harm"}))["value"], "meeting_id")
    assert "does not ask" in json.dumps(await t.press(chair, "request_separate", {"meeting_id": ordinary}))


def _inputs(card) -> list[dict]:
    found = []
    if isinstance(card, dict):
        if str(card.get("type", "")).startswith("Input.") and "id" in card:
            found.append(card)
        for v in card.values():
            found += _inputs(v)
    elif isinstance(card, list):
        for v in card:
            found += _inputs(v)
    return found
