"""Sending the invitations: each role resolved to a contact, the invitations written before
anything is sent, and the plan card turned into the chair's one live status card."""
from __future__ import annotations

from .records import MeetingRecord, NewInvitation
from ..core.meeting import Event
from ..core.profile import Profile
from ..directory import resolve
from .. import cards
from .core import Actor, Change, ConversationService, Reply
from .reach import not_in_teams_note


def invitation_rows(svc: ConversationService, meeting: MeetingRecord,
                    profile: Profile) -> tuple[list[NewInvitation], list[str]]:
    """One invitation per invitee the plan lists, to the directory's contact for the role
    (on call when the meeting is routed out of hours), and the roles nobody is listed for.
    Out of hours the EDT fills the quorum roles it can (the plan card says so): a day worker
    in such a role (the directory's office-hours fallback) is not invited in its place."""
    plan = meeting.plan
    out_of_hours = bool(plan.get("out_of_hours") or (plan.get("routing") or {}).get("out_of_hours"))
    directory = svc.directories.get(meeting.area)
    rows, unresolved = [], []
    chair_fills = svc.chair_fills(meeting)
    edt_fills = _edt_fills(svc, meeting) if out_of_hours else set()
    for invitee in plan["invitees"]:
        if invitee["role"] in chair_fills:
            continue  # the EDT chair is there in that role already
        contact = resolve(directory, invitee["role"], out_of_hours) if directory else None
        if contact is None and invitee["role"] in edt_fills:
            continue
        if contact is None:
            unresolved.append(invitee["role"])
            continue
        if invitee["role"] in edt_fills and contact.availability == "office_hours":
            continue  # the EDT, invited in its own role, fills this place tonight
        if contact.aad_object_id and contact.aad_object_id == meeting.chair_aad_id:
            continue  # the chair (the EDT worker arranging it) does not invite themselves
        rows.append(NewInvitation(
            role=invitee["role"], level=invitee["level"], contact_id=contact.id, contact_name=contact.name,
            contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
            tenant_id=contact.tenant_id, service_url=meeting.chair_service_url,
        ))
    return rows, unresolved


def _edt_fills(svc: ConversationService, meeting: MeetingRecord) -> set[str]:
    """The quorum roles the out-of-hours chair's team fills, when the plan invites that team."""
    chair_role = svc.routing(meeting).chair_role
    if not chair_role or not any(i["role"] == chair_role for i in meeting.plan["invitees"]):
        return set()
    return {q.role for q in svc.profiles[meeting.area].quorum.roles if chair_role in q.filled_by}


async def send(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The chair sends: in one transaction the meeting moves to "sending", the invitations
    are written (pending) with their audit events and the reminders re-planned; then the
    calendar event is made (so the cards carry the link) and delivery is woken. The plan
    card the chair pressed becomes the status card: no second card."""
    meeting = await svc.chair_meeting(actor, data)
    if meeting.state in ("sending", "sent"):
        card = await svc.status_card(meeting)
        return Reply(card=card, replace=True, messages=(Reply(text="The invitations for this meeting were already sent."),))
    profile = svc.profiles[meeting.area]
    unresolved: list[str] = []
    invited: list[NewInvitation] = []

    def decide(rec, m):
        svc.check_chair(rec, actor)
        after, events = m.send(svc.clock(), actor.name or rec.chair_name)
        rows, missing = invitation_rows(svc, rec, profile)
        unresolved.extend(missing)
        invited[:] = rows
        events.append(Event("invitations_created", {"roles": [r.role for r in rows], "unresolved": missing}))
        # The pressed plan card is now the status card: background updates go to it.
        fields = {"status_activity_id": actor.message_id} if actor.message_id else {}
        return Change(after, events, fields, then=lambda: svc.repo.add_invitations(rec.id, rows,
                                                                                  actor_aad_id=actor.aad_object_id))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    from .status import sync_event

    calendar_note = await sync_event(svc, meeting.id, meeting)  # before delivery, so the cards carry the link
    svc.wake_delivery()
    notes: tuple[Reply, ...] = (Reply(text=calendar_note),) if calendar_note else ()
    not_in_teams = not_in_teams_note(svc, meeting, invited)  # told at once, not after failed sends
    if not_in_teams:
        notes += (Reply(text=not_in_teams),)
    if unresolved:
        notes += (Reply(text="No contact is listed in the directory for: "
                        + ", ".join(cards.role_name(r) for r in unresolved)
                        + ". Invite them by phone or email and record it."),)
    if actor.message_id:
        card = await svc.status_card(meeting)
    else:  # the client did not say which message was pressed: post the status card to follow
        card = await svc.refresh_status(meeting.id, post_if_missing=True)
    return Reply(card=card, replace=True, messages=notes)
