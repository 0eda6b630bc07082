"""The request: the form, the plan it gives, and withdrawing a request never sent."""
from __future__ import annotations

from datetime import datetime

from .. import cards
from ..core.request import RequestInvalid, parse_new_request
from ..core.routing import routed_plan
from .core import Actor, Change, ConversationService, Reply

START_WORDS = {"new", "request", "new request", "start", "strategy meeting", "new meeting"}


async def request_new(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    return Reply(card=cards.request_form_card(svc.areas()))


async def request_submit(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    request_data, form_problems = cards.read_request_form(data)
    try:
        request = parse_new_request(request_data, svc.profiles, svc.clock().date())  # privacy: case_ref's format
    except RequestInvalid as e:
        errors = {**cards.form_errors(e.problems), **form_problems}
        return Reply(card=cards.request_form_card(svc.areas(), values=data, errors=errors), replace=True)
    if form_problems:
        return Reply(card=cards.request_form_card(svc.areas(), values=data, errors=form_problems), replace=True)
    profile = svc.profiles[request.area]
    plan = routed_plan(request, profile)

    def create():
        with svc.repo.transaction():  # the meeting, its audit event and its first reminders together
            meeting = svc.repo.create_meeting(
                area=request.area, case_ref=request.case_ref, requester_aad_id=actor.aad_object_id,
                chair_aad_id=actor.aad_object_id, chair_name=actor.name or "the requester",
                request=request.model_dump(mode="json", exclude_none=True), plan=plan,
                deadline=datetime.fromisoformat(plan["meeting_deadline"]), meeting_at=request.meeting_at,
                chair_conversation_id=actor.conversation_id, chair_service_url=actor.service_url,
                chair_tenant_id=actor.tenant_id,
            )
            svc.repo.add_event(meeting.id, "requested", actor_aad_id=actor.aad_object_id,
                               detail={"deadline": plan["meeting_deadline"], "rule": plan["deadline_rule"]["id"],
                                       "out_of_hours": plan["routing"]["out_of_hours"]})
            svc.replan(meeting.id)  # the deadline is watched even before anything is sent
            return meeting

    meeting = await svc.db(create)
    svc.wake_reminders()
    from .status import proposals

    slots, note = await proposals(svc, meeting)
    return Reply(card=cards.plan_card(plan, request.case_ref or "", meeting.id, area_name=profile.name,
                                      proposals=slots, proposals_note=note), replace=True)


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
