"""The chair's live card and what it manages after sending: the time and the Teams link,
cancelling, and the calendar event behind the Teams meeting."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import cards
from .records import InvitationRecord, MeetingRecord
from ..core.meeting import Command, Meeting, Refused, uk_moment
from ..core.privacy import cancelled_by_chair
from ..core.request import parse_request
from ..core.routing import routed_plan
from .core import Actor, Change, ConversationService, Reply, aggregate, handed_over_ids, log


def status_view(svc: ConversationService, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> cards.StatusView:
    profile = svc.profiles[meeting.area]
    handed_over = handed_over_ids(invitations)
    answers = [cards.Answer(
        role=i.role, level=i.level, state={"none": cards.WAITING}.get(i.response, i.response), name=i.contact_name,
        detail=i.response_detail if i.response in ("declined", "nominated") else None,
        delivery_failure=(i.delivery_error_kind or "failed") if i.delivery_state == "failed" else None,
        delivery_retrying=(i.delivery_error_kind or "server") if i.delivery_state == "pending" and i.delivery_error else None,
        email=i.contact_email, phone=i.contact_phone,
        handed_over=i.id in handed_over,
    ) for i in invitations]
    chair_role = svc.chair_attends(meeting)
    if chair_role:
        answers.insert(0, cards.Answer(role=chair_role, level="quorum", state="accepted",
                                       name=f"{meeting.chair_name} (chair)"))
    m = aggregate(meeting)
    planned = svc.planned_reminders(meeting, invitations) if meeting.state not in ("cancelled", "withdrawn", "closed") else []
    # A follow-up is reminded ahead ("Coming up: ...") and when due: the latest reminder of
    # each kind is its due time, which is what the card shows.
    due: dict[str, datetime] = {}
    for p in planned:
        if p.follow_up:
            due[p.follow_up] = max(p.due_at, due.get(p.follow_up, p.due_at))
    next_follow_up = min(due.items(), key=lambda kv: kv[1], default=None)
    return cards.StatusView(
        meeting_id=meeting.id, case_ref=meeting.case_ref or "", area_name=profile.name,
        quorum=meeting.plan["quorum"], answers=answers, escalation=profile.escalation,
        filled_by=cards.StatusView.filled_by_of(profile), meeting_at=meeting.meeting_at,
        fallback=svc.fallback_of(meeting),
        state=meeting.state, state_note=_state_note(m), deadline=meeting.deadline, now=svc.clock(),
        join_url=meeting.join_url,
        next_follow_up=(cards.follow_up_name(next_follow_up[0]), next_follow_up[1]) if next_follow_up else None,
        can=frozenset(c.value for c in Command if m.allows(c)),
        next_contacts={role: found[0]["name"] for role, found in svc.replacements(meeting, invitations).items() if found}
        if "invite" in {c.value for c in Command if m.allows(c)} else {},
        delay_reason=str(((meeting.outcome or {}).get("delay") or {}).get("reason") or ""),
    )


_STATE_NOTES = {"cancelled": "Cancelled", "withdrawn": "Withdrawn", "closed": "Closed",
                "held": "Recorded as held", "not_held": "Recorded as not held"}


def _state_note(m: Meeting) -> str:
    """What happened to a meeting no longer gathering answers, when and by whom."""
    what = _STATE_NOTES.get(m.state)
    if what is None or m.state_changed_at is None:
        return ""
    return f"{what} on {uk_moment(m.state_changed_at)}" + (f" by {m.state_changed_by}" if m.state_changed_by else "") + "."


async def refresh(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    meeting = await svc.chair_meeting(actor, data)
    return Reply(card=await svc.status_card(meeting), replace=True)


# --- the time and the Teams link ---------------------------------------------------------

async def time_open(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The time-and-link form, as its own message so no status update replaces it."""
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.SET_TIME)
    return Reply(card=await svc.status_card(meeting), replace=True,
                 messages=(Reply(card=cards.time_card(meeting.id, meeting.case_ref or "", meeting.meeting_at,
                                                      meeting.join_url, meeting.deadline, now=svc.clock())),))


def _join_url(data: dict) -> str | None:
    join_url = str(data.get("join_url") or "").strip()
    if not join_url:
        return None
    if not join_url.startswith("https://") or len(join_url) > 2000:
        raise Refused("The Teams meeting link must be the https:// join link from the meeting invitation; "
                      "nothing was changed.")
    return join_url


async def set_time(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Set or change the meeting's time (and, if given, the Teams link), from the plan card
    before sending or the status card's form after: the plan is worked out again for the
    new time, the calendar event moves, invitees already reached are told, reminders
    re-plan. A meeting recorded as not held and given a new time is watched afresh."""
    meeting = await svc.chair_meeting(actor, data)
    when_text = cards.uk_instant(str(data.get("meeting_date") or ""), str(data.get("meeting_time") or ""))
    join_url = _join_url(data)
    if when_text is None and not join_url:
        return Reply(text="Enter the meeting date (YYYY-MM-DD) and time (HH:MM), UK time.")
    profile = svc.profiles[meeting.area]
    delay_reason = str(data.get("delay_reason") or "")
    late: list[str] = []

    def decide(rec: MeetingRecord, m):
        svc.check_chair(rec, actor)
        when = datetime.fromisoformat(when_text) if when_text else rec.meeting_at
        if when is None:
            raise Refused("Enter the meeting date (YYYY-MM-DD) and time (HH:MM), UK time; nothing was changed.")
        request = parse_request({**rec.request, "meeting_at": when.isoformat()}, svc.profiles)
        plan = routed_plan(request, profile, rec.plan.get("follow_on"))
        # The aggregate refuses a time before the decision, and one after the deadline
        # without the reason for the delay (kept in the audit event).
        after, events = m.set_time(request.meeting_at, join_url, svc.clock(), actor.name or rec.chair_name,
                                   delay_reason=delay_reason)
        if request.meeting_at > rec.deadline:
            late.append(f"{cards.uk_time(request.meeting_at)} is after the deadline {cards.uk_time(rec.deadline)} "
                        f"({plan['deadline_rule']['source']}): the reason for the delay is recorded.")
        return Change(after, events, {"request": request.model_dump(mode="json", exclude_none=True), "plan": plan})

    before = meeting
    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    notes = list(late)
    if meeting.state == "draft":
        from .reach import plan_reach

        card = cards.plan_card(meeting.plan, meeting.case_ref or "", meeting.id, area_name=profile.name,
                               join_url=meeting.join_url, now=svc.clock(),
                               reach=plan_reach(svc, meeting.area, meeting.plan))
        return Reply(card=card, replace=True, messages=tuple(Reply(text=n) for n in notes if n))
    notes.append(await sync_event(svc, meeting.id))
    meeting = await svc.db(svc.repo.get_meeting, meeting.id)  # with the link the calendar gave it
    told = await tell_invitees_of_the_time(svc, before, meeting)
    svc.refresh_soon(meeting.id)
    text = f"The meeting is now {cards.uk_time(meeting.meeting_at)}"
    text += f". [Join the Teams meeting]({meeting.join_url})." if meeting.join_url else "."
    if told:
        text += f" {told} invitee(s) told in Teams."
    return Reply(card=cards.message_card("Time and link saved", text), replace=True,
                 messages=tuple(Reply(text=n) for n in notes if n))


async def tell_invitees_of_the_time(svc: ConversationService, before: MeetingRecord, after: MeetingRecord) -> int:
    """Everyone whose invitation reached them in Teams gets a short message with the new
    time and link (a new message: their invitation card, which may hold a half-typed
    answer, is never rewritten)."""
    if before.meeting_at == after.meeting_at and before.join_url == after.join_url:
        return 0
    text = f"Case {after.case_ref or after.id[:8]}: the strategy meeting is now {cards.uk_time(after.meeting_at)}."
    if after.join_url:
        text += f" [Join the Teams meeting]({after.join_url})"
    return await _tell_delivered(svc, after, cards.message_card("Strategy meeting: new time", text))


async def _tell_delivered(svc: ConversationService, meeting: MeetingRecord, card: dict, outside: dict | None = None) -> int:
    """`outside`: what invitees in other tenants than the chair's get instead of `card`."""
    told = 0
    for inv in await svc.db(svc.repo.list_invitations, meeting.id):
        if inv.delivery_state == "delivered" and inv.conversation_id:
            inside = outside is None or (inv.tenant_id and inv.tenant_id == meeting.chair_tenant_id)
            try:
                await svc.messenger.send_card(inv.service_url or meeting.chair_service_url or "", inv.conversation_id,
                                              card if inside else outside, inv.tenant_id)
                told += 1
            except Exception as e:
                log.warning("could not tell invitation %s: %s", inv.id, e)
    return told


# --- cancelling ----------------------------------------------------------------------------

async def cancel_open(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.CANCEL)
    return Reply(card=await svc.status_card(meeting), replace=True,
                 messages=(Reply(card=cards.cancel_card(meeting.id, meeting.case_ref or "", meeting.meeting_at)),))


async def cancel(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The chair cancels: the calendar event is cancelled (Outlook tells its attendees),
    everyone whose invitation arrived in Teams is told, and every reminder stops."""
    meeting = await svc.chair_meeting(actor, data)
    reason = str(data.get("cancel_reason") or "").strip()[:500]

    def decide(rec, m):
        svc.check_chair(rec, actor)
        return Change(*m.cancel(reason, svc.clock(), actor.name or rec.chair_name))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    note = await svc.meetings.cancel(meeting)
    said = (f"Case {meeting.case_ref or meeting.id[:8]}: the meeting"
            f"{' of ' + cards.uk_time(meeting.meeting_at) if meeting.meeting_at else ''} is cancelled")
    card = cards.message_card("Strategy meeting cancelled", f"{said} by {meeting.chair_name}: {reason}")
    # The chair's words stay in the organisation's tenant; other organisations learn whom to ask.
    outside = cards.message_card("Strategy meeting cancelled", f"{said}. {cancelled_by_chair(meeting.chair_name)}")
    told = await _tell_delivered(svc, meeting, card, outside)
    svc.refresh_soon(meeting.id)
    text = f"Cancelled. {told} invitee(s) told in Teams" + ("; the calendar invitation was cancelled too." if meeting.event_id else ".")
    return Reply(card=cards.message_card("Meeting cancelled", text), replace=True,
                 messages=(Reply(text=note),) if note else ())


# --- the calendar event ----------------------------------------------------------------------

async def proposals(svc: ConversationService, meeting: MeetingRecord) -> tuple[list, str]:
    """The earliest times before the deadline when the invitees the organiser's calendar
    can see are free (Graph getSchedule), for the chair to pick with one press."""
    if not svc.meetings.enabled:
        return [], ""
    from .sending import invitation_rows

    rows, _ = invitation_rows(svc, meeting, svc.profiles[meeting.area])
    # Everyone is asked; Graph reports the calendars it cannot see (other organisations).
    emails = sorted({r.contact_email for r in rows if r.contact_email and r.level in ("quorum", "must")})
    routed = svc.routing(meeting).out_of_hours
    slots = await svc.meetings.propose(meeting, emails, now=svc.clock(), office_hours_only=not routed,
                                       calendar=svc.profiles[meeting.area].area_calendar)
    if not slots:
        return [], ""
    unchecked = sorted({u for s in slots for u in s.unchecked})
    note = f"Free in the calendars of {len(emails) - len(unchecked)} of {len(emails)} required invitee(s)"
    note += f"; not visible to the bot (other organisations): {', '.join(unchecked)}." if unchecked else "."
    return slots, note


async def sync_event(svc: ConversationService, meeting_id: str, stored: MeetingRecord | None = None) -> str | None:
    """Create or move the Teams meeting's calendar event to match the meeting; store its id
    and join link. Returns what to tell the chair, if anything.

    `stored`: the meeting as the caller's transaction just stored it. Without Graph no event is
    made, so that record is all this needs: no database round trip (25 chairs pressing Send at
    once queued these reads in front of their invitations' delivery). With Graph the meeting
    and its invitations are read afresh, as the event must match what is stored now."""
    enabled = svc.meetings.enabled
    meeting = stored if stored is not None and not enabled else await svc.db(svc.repo.get_meeting, meeting_id)
    if not enabled and meeting.join_url:
        return None  # the chair added the link by hand
    invitations = await svc.db(svc.repo.list_invitations, meeting_id) if enabled else []  # no event without Graph
    result = await svc.meetings.sync(meeting, invitations, svc.profiles[meeting.area])
    changes: dict[str, Any] = {}
    if result.event_id and result.event_id != meeting.event_id:
        changes.update(event_id=result.event_id, event_organiser=result.organiser)
    if result.join_url and result.join_url != meeting.join_url:
        changes["join_url"] = result.join_url
    if changes:
        def store():
            with svc.repo.transaction():
                svc.repo.update_meeting_fields(meeting_id, **changes)
                svc.repo.add_event(meeting_id, "calendar_event", detail={
                    "event_id": result.event_id, "organiser": result.organiser,
                    "meeting_at": None if meeting.meeting_at is None else meeting.meeting_at.isoformat()})

        await svc.db(store)
    return result.note


# --- the reason for a delay ----------------------------------------------------------------

async def explain_delay(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The chair records why the meeting is later than its deadline (asked on the card that
    says the deadline has passed): kept with the meeting and in the audit log, and the
    request for it stops."""
    meeting = await svc.chair_meeting(actor, data)
    reason = str(data.get("delay_reason") or "")

    def decide(rec: MeetingRecord, m):
        svc.check_chair(rec, actor)
        return Change(*m.explain_delay(reason, svc.clock(), actor.name or rec.chair_name))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card(
        "Reason for the delay recorded",
        f"Case {meeting.case_ref or meeting.id[:8]}: \"{cards.clip(reason.strip(), 300)}\" is recorded with the "
        "meeting and in its audit log."), replace=True)
