"""After the meeting: the outcome, the minutes, follow-ups done, and closing the record."""
from __future__ import annotations

from datetime import datetime

from .. import cards
from .records import MeetingRecord
from ..core import reminders
from ..core.meeting import Command
from ..core.outcome import DECISIONS, Outcome
from .core import Actor, Change, ConversationService, Reply, aggregate, handed_over_ids


async def _view(svc: ConversationService, meeting: MeetingRecord, values: dict | None = None,
                error: str = "") -> cards.OutcomeView:
    invitations = await svc.db(svc.repo.list_invitations, meeting.id)
    recipients = reminders.recipients_of(meeting.plan, reminders.MINUTES_KINDS)
    if values is None:  # first opened: those who accepted are ticked (nominees in the directory have
        # their own invitation); a colleague nominated from outside it goes under "anyone else"
        handed_over = handed_over_ids(invitations)
        outside = [str(i.response_detail).split(" <")[0] for i in invitations
                   if i.response == "nominated" and i.id not in handed_over and i.response_detail]
        values = {"attended": ",".join(i.id for i in invitations if i.response == "accepted"),
                  "others_attended": "; ".join(f"{name} (nominated)" for name in outside)}
    return cards.OutcomeView(
        meeting_id=meeting.id, case_ref=meeting.case_ref or "", meeting_at=meeting.meeting_at,
        invitees=[(i.id, f"{cards.role_name(i.role)}: {i.contact_name or 'not named'}") for i in invitations],
        minutes_recipients=recipients, values=values or {}, error=error)


async def open_form(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The outcome form opens as its own message (no status update can replace it while the
    chair types); the status card stays as it is."""
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.RECORD_OUTCOME)
    form = cards.outcome_card(await _view(svc, meeting))
    return Reply(card=await svc.status_card(meeting), replace=True, messages=(Reply(card=form),))


async def submit(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.RECORD_OUTCOME)
    invitations = await svc.db(svc.repo.list_invitations, meeting.id)
    values, problem = cards.read_outcome_form(data, {i.id for i in invitations})
    if problem:
        return Reply(card=cards.outcome_card(await _view(svc, meeting, data, problem)), replace=True)
    now = svc.clock()

    def decide(rec, m):
        svc.check_chair(rec, actor)
        outcome = Outcome(
            held=values["held"], recorded_by=actor.aad_object_id or "", recorded_at=now,
            held_at=rec.meeting_at if values["held"] else None, quorate=values["quorate"],
            attended=values["attended"], others_attended=values["others_attended"], decision=values["decision"],
            minutes_circulated_at=values["minutes_date"], minutes_to=values["minutes_to"])
        after, events = m.record_outcome(outcome, actor.name or rec.chair_name)
        return Change(after, events, then=lambda: outcome)

    meeting, outcome = await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.refresh_soon(meeting.id)
    if not outcome.held:
        text = ("Recorded: the meeting was not held. Set a new time with 'Change the time or link' on the status "
                f"card: the deadline was {cards.uk_time(meeting.deadline)}.")
    else:
        text = f"Recorded: {DECISIONS[outcome.decision or 'no_enquiry']}."
        if not outcome.minutes_circulated:
            text += " I will remind you when the minutes are due."
    return Reply(card=cards.message_card("Outcome recorded", text), replace=True)


async def minutes(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    meeting = await svc.chair_meeting(actor, data)
    when, to, problem = cards.read_minutes(data)
    if problem or when is None or not to:
        return Reply(text=problem or "Enter the date the minutes were circulated and who they went to.")

    def decide(rec, m):
        svc.check_chair(rec, actor)
        return Change(*m.record_minutes(when, tuple(to)))

    await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card("Minutes recorded", f"Circulated on {when:%d %B %Y} to: " + "; ".join(to)),
                 replace=True)


async def follow_up_done(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    meeting = await svc.chair_meeting(actor, data)
    kind = str(data.get("follow_up") or "")
    if kind not in {fu["kind"] for fu in meeting.plan.get("follow_ups") or ()}:
        return Reply(text="That follow-up is not part of this meeting's plan; nothing was changed.")

    def decide(rec, m):
        svc.check_chair(rec, actor)
        return Change(*m.follow_up_done(kind))

    await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card("Marked done", f"{kind.replace('_', ' ').capitalize()}: no more reminders."),
                 replace=True)


async def follow_up_date(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The chair sets the date of a follow-up the protocol leaves to them (North Somerset's
    review meeting, "timing ... decided by the responsible social care team"): its reminders
    follow that date from now on."""
    meeting = await svc.chair_meeting(actor, data)
    kind = str(data.get("follow_up") or "")
    fu = next((f for f in meeting.plan.get("follow_ups") or () if f["kind"] == kind), None)
    if fu is None or fu.get("due_set_by") != "chair":
        return Reply(text="That follow-up's date is set by the protocol, not by the chair; nothing was changed.")
    when_text = cards.uk_instant(str(data.get("due_date") or ""), str(data.get("due_time") or "") or "09:00")
    if when_text is None:
        return Reply(text="Enter the date (YYYY-MM-DD) and, if it matters, the time (HH:MM, UK time); nothing was changed.")
    when = datetime.fromisoformat(when_text)

    def decide(rec, m):
        svc.check_chair(rec, actor)
        return Change(*m.set_follow_up_date(kind, when))

    await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card("Date set", f"{kind.replace('_', ' ').capitalize()}: "
                                         f"{cards.uk_time(when)}. The reminders follow this date."), replace=True)


async def close(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The chair closes the record: nothing more is reminded, and the retention period starts."""
    meeting = await svc.chair_meeting(actor, data)

    def decide(rec, m):
        svc.check_chair(rec, actor)
        return Change(*m.close(svc.clock(), actor.name or rec.chair_name))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    return Reply(card=await svc.status_card(meeting), replace=True,
                 messages=(Reply(text="Closed: no more reminders for this meeting."),))
