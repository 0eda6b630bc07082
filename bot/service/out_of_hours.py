"""Out of hours: the protocol's professional discussion recorded instead of a quorate
meeting, and the daytime team's further meeting it raises (or a follow-up that is one)."""
from __future__ import annotations

from datetime import datetime, timedelta

from .. import cards
from .records import MeetingRecord
from ..core.meeting import Command, Refused
from ..core.outcome import Outcome
from ..core.plan import iso
from ..core.profile import ProfessionalDiscussion
from ..core.request import parse_request
from ..core.routing import follow_on_deadline, follow_on_decided_at, routed_plan
from ..directory import resolve
from .core import Actor, Change, ConversationService, Reply, aggregate


def follow_on_text(discussion: ProfessionalDiscussion) -> str:
    """What the discussion form says of the daytime team's further meeting."""
    follow_on = discussion.follow_on
    if follow_on is None:
        return ""
    if follow_on.mode == "always":
        return f"A quorate meeting will be requested from the daytime team ({follow_on.chaired_by})."
    return f"Request a follow-up strategy meeting from the daytime team ({follow_on.chaired_by})"


def discussion_view(svc: ConversationService, meeting: MeetingRecord, discussion: ProfessionalDiscussion,
                    values: dict | None = None, error: str = "") -> cards.DiscussionView:
    follow_on = discussion.follow_on
    return cards.DiscussionView(
        meeting_id=meeting.id, case_ref=meeting.case_ref or "", deadline=meeting.deadline, rule=discussion,
        with_role=discussion.with_role, rationale_required=discussion.rationale_required,
        follow_on=follow_on.mode if follow_on else "", follow_on_text=follow_on_text(discussion),
        values=values or {}, error=error)


def _fallback(svc: ConversationService, meeting: MeetingRecord) -> ProfessionalDiscussion:
    aggregate(meeting).check(Command.RECORD_DISCUSSION)
    discussion = svc.fallback_of(meeting)
    if discussion is None:
        raise Refused("A professional discussion can be recorded only for an out-of-hours meeting whose "
                      "protocol provides for it, before an outcome is recorded. Nothing was changed.")
    return discussion


async def open_form(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The form opens as its own message, so no update of the status card can replace it
    while the chair types; the status card itself is left as it is."""
    meeting = await svc.chair_meeting(actor, data)
    discussion = _fallback(svc, meeting)
    form = cards.discussion_card(discussion_view(svc, meeting, discussion), now=svc.clock())
    return Reply(card=await svc.status_card(meeting), replace=True, messages=(Reply(card=form),))


async def submit(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Record the protocol's fallback: a professional discussion (with the police) held
    instead of a quorate meeting, then raise the quorate meeting for the daytime team."""
    meeting = await svc.chair_meeting(actor, data)
    discussion = _fallback(svc, meeting)
    values, problem = cards.read_discussion_form(data, rationale_required=discussion.rationale_required)
    now = svc.clock()
    if not problem and values["at"] > now + timedelta(minutes=5):
        problem = "The discussion's time is in the future: record it once it has taken place."
    if problem:
        return Reply(card=cards.discussion_card(discussion_view(svc, meeting, discussion, data, problem)), replace=True)
    profile = svc.profiles[meeting.area]
    request = parse_request({**meeting.request, "meeting_at": values["at"].isoformat()}, svc.profiles)
    plan = routed_plan(request, profile, meeting.plan.get("follow_on"))  # the discussion's own follow-ups (the record)
    outcome = Outcome(held=True, recorded_by=actor.aad_object_id or "", recorded_at=now, held_at=values["at"],
                      quorate=False, others_attended=values["with"], decision=values["decision"])
    record = {"at": values["at"].isoformat(), "with": values["with"], "safety_plan": values["safety_plan"],
              "rationale": values["rationale"], "rule": discussion.citation()}

    def decide(rec, m):
        svc.check_chair(rec, actor)
        after, events = m.record_discussion(outcome, record, actor.name or rec.chair_name, values["at"])
        return Change(after, events, {"request": request.model_dump(mode="json", exclude_none=True), "plan": plan})

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    lines = [f"Recorded the professional discussion at {cards.uk_time(values['at'])} with {values['with']}."]
    follow_on = discussion.follow_on
    if follow_on is not None and (follow_on.mode == "always" or values["follow_on"]):
        due = profile.area_calendar.deadline(follow_on.timescale, values["at"]) if follow_on.timescale else None
        lines.append(await raise_follow_on(svc, meeting, actor, summary=follow_on.summary, source=follow_on.source,
                                           due=due, due_rule=follow_on.citation(),
                                           settles=[fu["kind"] for fu in plan.get("follow_ups") or ()
                                                    if fu.get("raises_meeting") and fu.get("applies_if") == "not_quorate"]))
    for fu in plan.get("follow_ups") or ():
        if fu["kind"] == "ooh_record_due" and fu.get("due"):
            to = "; ".join(fu.get("recipients") or ()) or "the daytime team"
            lines.append(f"Send the record to {to} by {cards.uk_time(fu['due'])} ({fu['rule']['source']}); "
                         "I will remind you.")
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card("Professional discussion recorded", " ".join(lines)), replace=True)


async def request_follow_on(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """A follow-up that is a further meeting (North Somerset's review after an out-of-hours
    meeting agreed an investigation; Walsall's quorate meeting the next working day):
    raise its request to the daytime team from the reminder."""
    meeting = await svc.chair_meeting(actor, data)
    kind = str(data.get("follow_up") or "")
    fu = next((f for f in meeting.plan.get("follow_ups") or () if f["kind"] == kind and f.get("raises_meeting")), None)
    if fu is None:
        return Reply(text="That is not a meeting this meeting's plan asks for; nothing was changed.")
    chosen = ((meeting.outcome or {}).get("follow_up_dates") or {}).get(kind)  # the chair's date, where the text has none
    due = datetime.fromisoformat(fu["due"]) if fu.get("due") else datetime.fromisoformat(chosen) if chosen else None
    text = await raise_follow_on(svc, meeting, actor, summary=fu["rule"]["summary"], source=fu["rule"]["source"],
                                 due=due, due_rule=fu["rule"], settles=[kind])
    return Reply(card=cards.message_card("Meeting requested", text), replace=True)


async def raise_follow_on(svc: ConversationService, parent: MeetingRecord, actor: Actor, *, summary: str, source: str,
                          due: datetime | None, due_rule: dict, settles: list[str]) -> str:
    """Create the daytime team's request for a further strategy meeting (same case, same
    concerns), chaired by the area's office-hours children's social care contact, who gets
    its plan card when the office opens. Its deadline is the protocol's own for it when
    that leaves office time to meet; otherwise the area's usual deadline. The new meeting
    and the parent's record of it are stored together, once. Returns what to tell the chair."""
    if (parent.outcome or {}).get("follow_on_meeting_id"):
        return "The daytime team's meeting was already requested."
    profile = svc.profiles[parent.area]
    cal = profile.area_calendar
    directory = svc.directories.get(parent.area)
    contact = resolve(directory, "social_care", False) if directory else None
    if contact is None or not contact.aad_object_id:
        return ("No daytime children's social care contact is in the bot's directory for "
                f"{profile.name}: pass the request on by phone or email ({source}).")
    decided_at = follow_on_decided_at(cal, svc.clock())
    request_data = {k: v for k, v in parent.request.items() if k != "meeting_at"}
    request = parse_request({**request_data, "decided_at": decided_at.isoformat()}, svc.profiles)
    deadline, rule = follow_on_deadline(request, profile, due, due_rule)
    follow_on = {"of": parent.id, "summary": summary, "source": source,
                 "deadline": iso(cal.local(deadline)), "deadline_rule": rule}
    plan = routed_plan(request, profile, follow_on)

    def create_child():
        child = svc.repo.create_meeting(
            area=parent.area, case_ref=parent.case_ref, requester_aad_id=actor.aad_object_id,
            chair_aad_id=contact.aad_object_id, chair_name=contact.name,
            request=request.model_dump(mode="json", exclude_none=True), plan=plan, deadline=deadline,
            chair_service_url=parent.chair_service_url, chair_tenant_id=contact.tenant_id)
        svc.repo.add_event(child.id, "requested", actor_aad_id=actor.aad_object_id,
                           detail={"follow_on_of": parent.id, "deadline": follow_on["deadline"], "rule": rule.get("id")})
        svc.replan(child.id)
        return child

    def decide(rec, m):
        child = create_child()
        after, events = m.follow_on_raised(child.id, settles)
        return Change(after, events)

    try:
        await svc.change(parent.id, actor.aad_object_id, decide)
    except Refused as refused:
        return refused.reason
    reach = ", ".join(x for x in (contact.team, contact.phone) if x)
    return (f"Requested the daytime team's meeting from {contact.name}{f' ({reach})' if reach else ''}: "
            f"they get the plan at {cards.uk_time(cal.next_office_time(svc.clock()))}, and it must take place by "
            f"{cards.uk_time(deadline)} ({rule.get('source', source)}).")
