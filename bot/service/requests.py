"""The request: the form (impossible times refused where they are typed), the plan it gives,
editing a request before it is sent, and withdrawing one never sent."""
from __future__ import annotations

from datetime import datetime

from .. import cards
from ..core import timing
from ..core.meeting import FINAL, Command, Refused
from ..core.request import RequestInvalid, parse_new_request
from ..core.routing import routed_plan
from .core import Actor, Change, ConversationService, Reply, aggregate, log

START_WORDS = {"new", "request", "new request", "start", "strategy meeting", "new meeting"}


async def request_new(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    return Reply(card=cards.request_form_card(svc.areas()))


async def request_submit(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The request form: checked field by field (values kept), then planned. A form opened
    with "Edit the request" carries `replaces`: the new request supersedes that one."""
    replaces = str(data.get("replaces") or "")
    request_data, form_problems = cards.read_request_form(data)
    try:
        request = parse_new_request(request_data, svc.profiles, svc.clock().date())  # privacy: case_ref's format
    except RequestInvalid as e:
        errors = {**cards.form_errors(e.problems), **form_problems}
        return Reply(card=cards.request_form_card(svc.areas(), values=data, errors=errors), replace=True)
    # Impossible times are refused here, where a person typed them; the plan engine itself
    # (and the CLI) plans for any decision time, as the contract says.
    form_problems.update(timing.request_time_problems(request.decided_at, request.meeting_at, svc.clock()))
    if form_problems:
        return Reply(card=cards.request_form_card(svc.areas(), values=data, errors=form_problems), replace=True)
    profile = svc.profiles[request.area]
    plan = routed_plan(request, profile)
    deadline = datetime.fromisoformat(plan["meeting_deadline"])
    delay_reason = str(data.get("delay_reason") or "").strip()[:1000]
    late = timing.late_meeting_problem(request.meeting_at, deadline, delay_reason)
    if late:
        return Reply(card=cards.request_form_card(svc.areas(), values=data, errors={"delay_reason": late}),
                     replace=True)
    detail = {"deadline": plan["meeting_deadline"], "rule": plan["deadline_rule"]["id"],
              "out_of_hours": plan["routing"]["out_of_hours"]}
    if request.meeting_at is not None and request.meeting_at > deadline:
        detail.update(delay_reason=delay_reason,
                      after_deadline_by_minutes=int((request.meeting_at - deadline).total_seconds() // 60))

    def create():
        meeting = svc.repo.create_meeting(
            area=request.area, case_ref=request.case_ref, requester_aad_id=actor.aad_object_id,
            chair_aad_id=actor.aad_object_id, chair_name=actor.name or "the requester",
            request=request.model_dump(mode="json", exclude_none=True), plan=plan,
            deadline=deadline, meeting_at=request.meeting_at,
            chair_conversation_id=actor.conversation_id, chair_service_url=actor.service_url,
            chair_tenant_id=actor.tenant_id,
        )
        svc.repo.add_event(meeting.id, "requested", actor_aad_id=actor.aad_object_id,
                           detail={**detail, **({"replaces": replaces} if replaces else {})})
        svc.replan(meeting.id)  # the deadline is watched even before anything is sent
        return meeting

    if replaces:
        meeting = await _supersede(svc, actor, replaces, create, data)
    else:
        def work():
            with svc.repo.transaction():  # the meeting, its audit event and its first reminders together
                return create()

        meeting = await svc.db(work)
    svc.wake_reminders()
    from .status import proposals

    slots, note = await proposals(svc, meeting)
    from .reach import plan_reach

    return Reply(card=cards.plan_card(plan, request.case_ref or "", meeting.id, area_name=profile.name,
                                      proposals=slots, proposals_note=note, now=svc.clock(),
                                      reach=plan_reach(svc, meeting.area, plan)), replace=True)


async def _supersede(svc: ConversationService, actor: Actor, old_id: str, create, data: dict):
    """The edited request replaces the old one in one transaction: the old one is withdrawn
    (its plan card's buttons then say why and change nothing) and the new one created."""
    old = await svc.chair_meeting(actor, {"meeting_id": old_id})
    by = actor.name or old.chair_name

    def decide(rec, m):
        svc.check_chair(rec, actor)
        after, events = m.withdraw(svc.clock(), by, reason=SUPERSEDED)
        return Change(after, events, then=create)

    _, meeting = await svc.change(old.id, actor.aad_object_id, decide)
    await svc.db(svc.repo.add_event, old.id, "superseded", actor_aad_id=actor.aad_object_id,
                 detail={"by_meeting_id": meeting.id})
    plan_message = str(data.get("plan_message") or "")
    if plan_message and old.chair_conversation_id and old.chair_service_url:
        try:  # the old plan card says it was replaced (its buttons would say so too)
            await svc.messenger.update_card(
                old.chair_service_url, old.chair_conversation_id, plan_message,
                cards.message_card("Request replaced", f"Case {old.case_ref or old.id[:8]}: this plan was replaced by "
                                   "the edited request below; its buttons no longer do anything."),
                old.chair_tenant_id)
        except Exception as e:
            log.warning("could not mark the replaced plan card of %s: %s", old.id, e)
    return meeting


SUPERSEDED = "the request was edited, and the new plan replaces this one"


async def request_edit(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The request form again, filled in with what was entered, as a message of its own (the
    plan card stays until the edited request replaces it). Only a request not yet sent."""
    meeting = await svc.chair_meeting(actor, data)
    m = aggregate(meeting)
    if m.state in FINAL:
        raise Refused(m.refusal(Command.WITHDRAW))
    if not m.allows(Command.WITHDRAW):
        raise Refused("Only a request that has not been sent can be edited: change the time on the status card, "
                      "or cancel the meeting; nothing was changed.")
    values = cards.request_form_values(meeting.request)
    if meeting.request.get("meeting_at") and meeting.meeting_at and meeting.meeting_at > meeting.deadline:
        values["delay_reason"] = await _stored_delay_reason(svc, meeting.id)
    form = cards.request_form_card(svc.areas(), values=values,
                                   replaces={"meeting_id": meeting.id, "plan_message": actor.message_id or ""})
    return Reply(text="The request, to edit: the new plan will replace this one.", messages=(Reply(card=form),))


async def request_separate(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Child-on-child abuse: "separate strategy meetings should be held for both children".
    One press opens a new request, as a message of its own, filled in with this one's area,
    concerns, flags, referrer, agencies and decision time; the other child's case reference and
    details are left for the chair, since only they know them."""
    meeting = await svc.chair_meeting(actor, data)
    if not meeting.plan.get("separate_meetings"):
        return Reply(text="This meeting's protocol does not ask for a separate meeting; nothing was changed.")
    values = {k: v for k, v in cards.request_form_values(meeting.request).items()
              if k != "case_ref" and not k.startswith("child") and not k.startswith("meeting_")}
    form = cards.request_form_card(svc.areas(), values=values)
    rule = meeting.plan["separate_meetings"][0]
    return Reply(text=f"The other child's meeting ({rule['source']}): enter their case reference and details; "
                      "the rest is filled in from this request.", messages=(Reply(card=form),))


async def _stored_delay_reason(svc: ConversationService, meeting_id: str) -> str:
    for event in reversed(await svc.db(svc.repo.list_events, meeting_id)):
        if event.kind in ("requested", "time_set") and event.detail.get("delay_reason"):
            return str(event.detail["delay_reason"])
    return ""


async def withdraw(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The requester withdraws a request that was never sent: nothing goes out, reminders stop."""
    meeting = await svc.chair_meeting(actor, data)
    by = actor.name or meeting.chair_name

    def decide(rec, m):
        svc.check_chair(rec, actor)
        after, events = m.withdraw(svc.clock(), by)
        return Change(after, events)

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    return Reply(card=cards.message_card("Request withdrawn",
                                         f"Case {meeting.case_ref or meeting.id[:8]}: the request was withdrawn; "
                                         "no invitations were sent and no reminders will follow."), replace=True)
