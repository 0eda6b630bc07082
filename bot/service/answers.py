"""An invitee's answer: accept, decline (with a reason), nominate a colleague, or send
information in writing. Only the invited person answers; a meeting that no longer takes
answers (cancelled, held, closed) says so and changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import cards
from .records import InvitationRecord, MeetingRecord, NewInvitation, ResponseResult
from ..core.meeting import Chair, Command, Refused
from .core import Actor, Change, ConversationService, Reply, aggregate

RESPONSE_OF_VERB = {"invite_accept": "accepted", "invite_decline": "declined",
                    "invite_nominate": "nominated", "invite_written": "written"}


async def respond(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """An answer from the invitation card: found, checked and stored in ONE transaction (the
    invitation read, its meeting held, the answer, its audit events and the re-planned
    reminders), then the answered card."""
    invitation_id = str(data.get("invitation_id") or "")
    response = RESPONSE_OF_VERB[data["verb"]]
    detail, problem = response_detail(response, data)
    if not invitation_id:
        return Reply(text="I can't find that invitation; it may have been withdrawn.")

    def work() -> tuple[Stored, str | None] | Reply:
        found = svc.repo.lock_answer(invitation_id)  # the invitation, and its meeting held
        if found is None:
            return Reply(text="I can't find that invitation; it may have been withdrawn.")
        invitation, meeting = found
        if invitation.contact_aad_id != actor.aad_object_id:
            svc.repo.add_event(invitation.meeting_id, "answer_refused", actor_aad_id=actor.aad_object_id,
                               detail={"invitation_id": invitation.id})
            return Reply(text=f"This invitation was sent to {invitation.contact_name or 'someone else'}; "
                              "only they can answer it. Nothing was changed.")
        nominator = svc.repo.get_invitation(invitation.nominated_by_id) if invitation.nominated_by_id else None
        nominated_by = nominator.contact_name if nominator else None
        stored = Stored(invitation)
        if problem:
            stored.meeting = meeting
            return stored, nominated_by
        stored.meeting, _ = svc.apply(meeting.id, actor.aad_object_id,
                                      answer_decider(svc, actor, stored, response, detail, data), locked=meeting)
        return stored, nominated_by

    done = await svc.unit_of_work(work)
    if isinstance(done, Reply):
        return done
    stored, nominated_by = done
    view = svc.invitation_view_of(stored.meeting, stored.invitation, nominated_by)
    if problem:
        return Reply(card=cards.invitation_card(view), replace=True, messages=(Reply(text=problem),))
    answered = await after_answer(svc, stored, response, data)
    card = cards.invitation_answered_card(view, response, answered.shown,
                                          answered_at=answered.result.invitation.responded_at)
    notes = (Reply(text=answered.handover_note),) if answered.handover_note else ()
    return Reply(card=card, replace=True, messages=notes)


@dataclass(frozen=True)
class Answered:
    """An answer stored: the meeting after it, what the store said, what to show the invitee
    (the decline reason, the nominee and whether they were invited), and what to tell a new chair."""

    meeting: MeetingRecord
    result: ResponseResult
    shown: Any
    handover_note: str | None = None


@dataclass
class Stored:
    """What an answer's unit of work found and did, filled in by `answer_decider`."""

    invitation: InvitationRecord
    meeting: MeetingRecord = None  # type: ignore[assignment]  # the meeting after the unit of work
    result: ResponseResult | None = None
    nominee: NewInvitation | None = None
    handover_from: MeetingRecord | None = None


class LinkUsed(Refused):
    """The answer link was used already: nothing was changed."""


def answer_decider(svc: ConversationService, actor: Actor, stored: Stored, response: str, detail: str | None,
                   data: dict, *, link_nonce: str | None = None) -> Callable[[MeetingRecord, Any], Change]:
    """The command of one invitee's answer, for `ConversationService.apply`: the meeting's
    state rules (Refused, nothing changed), the answer link used up in the same transaction
    (LinkUsed if it already was), the answer recorded, a nominee's invitation added, and, out
    of hours, the chair handed over. A link answer never takes the chair: the chair needs a
    Teams chat for the status card."""
    invitation = stored.invitation
    responder = invitation.contact_aad_id if link_nonce is not None else actor.aad_object_id

    def decide(rec: MeetingRecord, m) -> Change:
        m.check(Command.ANSWER)
        now = svc.clock()
        if link_nonce is not None:
            if not svc.repo.use_answer_link(link_nonce, invitation.id, rec.id, now):
                raise LinkUsed("This link has already been used. Nothing was changed.")
            svc.repo.add_event(rec.id, "answered_by_link", {"invitation_id": invitation.id, "response": response},
                               actor_aad_id=responder)
        result = svc.repo.record_response(invitation.id, responder, response, detail, now,
                                          by_link=link_nonce is not None)
        if result.refused:
            raise Refused(result.reason or "Your answer could not be recorded. Nothing was changed.")
        stored.result, stored.handover_from = result, None
        after, events = m, []
        if (result.changed and link_nonce is None and response == "accepted"
                and takes_the_chair(svc, rec, result.invitation, actor)):
            after, events = m.hand_over(Chair(actor.aad_object_id or "", result.invitation.contact_name or actor.name))
            stored.handover_from = rec
        stored.nominee = nominee_invitation(svc, rec, invitation, data) if response == "nominated" else None
        if result.changed and stored.nominee is not None:  # the colleague's invitation with the answer, together
            svc.repo.add_invitations(rec.id, [stored.nominee], actor_aad_id=responder)
        fields = ({"chair_conversation_id": actor.conversation_id, "chair_service_url": actor.service_url,
                   "chair_tenant_id": actor.tenant_id, "status_activity_id": None, "plan_activity_id": None}
                  if stored.handover_from else {})
        return Change(after, events, fields)

    return decide


async def record_answer(svc: ConversationService, actor: Actor, meeting: MeetingRecord, invitation: InvitationRecord,
                        response: str, detail: str | None, data: dict, *, link_nonce: str | None = None) -> Answered:
    """Store one invitee's answer as one unit of work (`answer_decider`) and do what follows it
    (`after_answer`): the path of an answer from the answer page (`link_nonce`: the answer
    link it came with), and the card's apart from how the invitation is found. `meeting` is
    as the caller read it; the unit of work reads it again, held, and decides on that."""
    stored = Stored(invitation)
    responder = invitation.contact_aad_id if link_nonce is not None else actor.aad_object_id
    stored.meeting, _ = await svc.change(invitation.meeting_id, responder, answer_decider(
        svc, actor, stored, response, detail, data, link_nonce=link_nonce))
    return await after_answer(svc, stored, response, data)


async def after_answer(svc: ConversationService, stored: Stored, response: str, data: dict) -> Answered:
    """Once the answer is stored: a nominee invited or the chair asked to reach them, a new
    chair told, the chair's card updated."""
    meeting, result = stored.meeting, stored.result
    assert result is not None and result.invitation is not None
    shown = detail_for_card(response, data)
    if response == "nominated":  # what really happened to the colleague, said once
        shown["invited"] = stored.nominee is not None
    note = None
    if result.changed:
        if response == "nominated":
            await after_nomination(svc, meeting, result.invitation, stored.nominee, data)
        if stored.handover_from:
            note = await announce_handover(svc, stored.handover_from, meeting)
        svc.refresh_soon(meeting.id)
    return Answered(meeting, result, shown, note)


async def reopen(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    invitation = await svc.db(svc.repo.get_invitation, str(data.get("invitation_id") or ""))
    if invitation is None or invitation.contact_aad_id != actor.aad_object_id:
        return Reply(text="Only the invited person can change this answer. Nothing was changed.")
    meeting = await svc.db(svc.repo.get_meeting, invitation.meeting_id)
    aggregate(meeting).check(Command.ANSWER)
    return Reply(card=cards.invitation_card(await svc.invitation_view(meeting, invitation)), replace=True)


def nominee_invitation(svc: ConversationService, meeting: MeetingRecord, nominator: InvitationRecord,
                       data: dict) -> NewInvitation | None:
    """The invitation for the colleague a contact nominates, in the same role, when the area's
    directory knows them (matched by email); None when it does not."""
    email = str(data.get("nominee_email") or "").strip()
    directory = svc.directories.get(meeting.area)
    contact = directory.by_email(email) if directory else None
    if contact is None or contact.aad_object_id == nominator.contact_aad_id:
        return None
    return NewInvitation(
        role=nominator.role, level=nominator.level, contact_id=contact.id, contact_name=contact.name,
        contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
        tenant_id=contact.tenant_id, service_url=nominator.service_url or meeting.chair_service_url,
        nominated_by_id=nominator.id,
    )


async def after_nomination(svc: ConversationService, meeting: MeetingRecord, nominator: InvitationRecord,
                           nominee: NewInvitation | None, data: dict) -> None:
    """Once the nomination is stored: deliver the colleague's invitation (and add them to the
    calendar event), or ask the chair to reach a colleague the directory does not know. The
    nominator's answered card says which (once)."""
    from .status import sync_event

    role = cards.role_name(nominator.role)
    if nominee is None:
        name, email = str(data.get("nominee_name") or "").strip(), str(data.get("nominee_email") or "").strip()
        await svc.tell_chair(
            meeting, f"{role}: {nominator.contact_name or 'the invitee'} nominated a colleague",
            f"{name} <{email}> is not in the bot's directory for {svc.profiles[meeting.area].name}, so the bot "
            f"cannot invite them in Teams. Send them the meeting details by email and record their answer.")
        return
    svc.wake_delivery()
    if meeting.event_id:  # the colleague gets the calendar invitation too
        await sync_event(svc, meeting.id)
    await svc.tell_chair(
        meeting, f"{role}: {nominator.contact_name or 'the invitee'} nominated {nominee.contact_name}",
        f"{nominee.contact_name} ({nominee.contact_email}, {nominee.contact_phone}) has been sent the invitation "
        "in their place.")


def takes_the_chair(svc: ConversationService, meeting: MeetingRecord, invitation: InvitationRecord, actor: Actor) -> bool:
    """Out of hours the EDT chairs. When a request reached the out-of-hours team from someone
    else (a day worker at 16:45), the EDT worker who accepts becomes the chair."""
    routing = svc.routing(meeting)
    if not routing.out_of_hours or invitation.role != routing.chair_role:
        return False
    return not (meeting.chair_aad_id == actor.aad_object_id
                or svc.in_role(meeting.area, meeting.chair_aad_id, routing.chair_role))


async def announce_handover(svc: ConversationService, previous: MeetingRecord, meeting: MeetingRecord) -> str:
    """Tell the requester who chairs now, post the new chair's status card, and return what to
    tell the new chair."""
    routing = svc.routing(meeting)
    source = (meeting.plan.get("chair") or {}).get("source", "")
    await svc.tell_chair(previous, f"{cards.role_name(routing.chair_role)} now chairs this meeting",
                         f"Case {meeting.case_ref or meeting.id[:8]}: {meeting.chair_name} accepted and chairs this "
                         f"out-of-hours meeting{f' ({source})' if source else ''}. Their status card shows the quorum "
                         "from now on.")
    await svc.refresh_status(meeting.id, post_if_missing=True)
    return ("You now chair this out-of-hours meeting"
            f"{f' ({source})' if source else ''}: the status card with the quorum follows.")


def response_detail(response: str, data: dict) -> tuple[str | None, str | None]:
    """(what is stored, a problem to show) for one answer."""
    if response == "declined":
        reason = str(data.get("decline_reason") or "").strip()
        return (reason[:1000], None) if reason else (None, "Please give a reason for declining.")
    if response == "nominated":
        name, email = str(data.get("nominee_name") or "").strip(), str(data.get("nominee_email") or "").strip()
        if not name or "@" not in email:
            return None, "Please give your colleague's name and email address."
        return f"{name[:200]} <{email[:200]}>", None
    if response == "written":
        info = str(data.get("written_information") or "").strip()
        return (info[:4000], None) if info else (None, "Please add the information you will send in writing.")
    return None, None


def detail_for_card(response: str, data: dict) -> Any:
    if response == "declined":
        return str(data.get("decline_reason") or "")
    if response == "nominated":
        return {"nominee_name": data.get("nominee_name"), "nominee_email": data.get("nominee_email")}
    return None

