"""The chair invites someone else: the next directory contact for a role that declined (one
press on the notice), or anyone in the area's directory, for any role, including one the plan
did not list (the status card's "Invite someone else" form). The invitation counts for
quoracy in the contact's role, like any other."""
from __future__ import annotations

from .. import cards
from ..core.meeting import Command, Refused
from .records import MeetingRecord, NewInvitation
from .core import Actor, Change, ConversationService, Reply, aggregate


def _level(svc: ConversationService, meeting: MeetingRecord, role: str) -> str:
    """The plan's level for the role; else quorum if the role fills a quorum place; else should."""
    listed = next((i["level"] for i in meeting.plan.get("invitees") or () if i["role"] == role), None)
    if listed:
        return listed
    quorum = svc.profiles[meeting.area].quorum.roles
    return "quorum" if any(role == q.role or role in q.filled_by for q in quorum) else "should"


async def invite_open(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The form to invite anyone from the directory, as a message of its own."""
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.INVITE)
    invitations = await svc.db(svc.repo.list_invitations, meeting.id)
    directory = svc.directories.get(meeting.area)
    roles = {c.role for c in directory.contacts} if directory else set()
    free = svc.candidates(meeting, invitations, roles)
    if not free:
        raise Refused("Everyone in the area's directory is already invited; invite anyone else by phone or email.")
    choices = [(c.id, f"{cards.role_name(c.role)}: {c.name}" + (f" ({c.team})" if c.team else "")
                + {"on_call": " — on call", "always": " — any time"}.get(c.availability, ""))
               for c in sorted(free, key=lambda c: (cards.role_name(c.role), c.name))]
    return Reply(card=await svc.status_card(meeting), replace=True,
                 messages=(Reply(card=cards.invite_card(meeting.id, meeting.case_ref or "", choices)),))


async def invite_contact(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Invite one directory contact (contact_id): in one unit of work the aggregate allows it
    and the invitation is written; then it is delivered and added to the calendar event."""
    meeting = await svc.chair_meeting(actor, data)
    contact_id = str(data.get("contact_id") or "").strip()
    directory = svc.directories.get(meeting.area)
    contact = next((c for c in directory.contacts if c.id == contact_id), None) if directory else None
    if contact is None:
        raise Refused("Choose someone from the list: that contact is not in the area's directory; nothing was changed.")

    def decide(rec: MeetingRecord, m):
        svc.check_chair(rec, actor)
        after, events = m.invite(contact.name, contact.role, actor.name or rec.chair_name)
        if any(i.contact_id == contact.id for i in svc.repo.list_invitations(rec.id)):
            raise Refused(f"{contact.name} is already invited to this meeting; nothing was changed.")
        row = NewInvitation(
            role=contact.role, level=_level(svc, rec, contact.role), contact_id=contact.id, contact_name=contact.name,
            contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
            tenant_id=contact.tenant_id, service_url=rec.chair_service_url)
        return Change(after, events, then=lambda: svc.repo.add_invitations(rec.id, [row], actor_aad_id=actor.aad_object_id))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.wake_delivery()
    if meeting.event_id:  # they get the calendar invitation too
        from .status import sync_event

        await sync_event(svc, meeting.id)
    svc.refresh_soon(meeting.id)
    return Reply(card=cards.message_card(
        f"{contact.name} invited",
        f"Case {meeting.case_ref or meeting.id[:8]}: {contact.name} ({cards.role_name(contact.role)}, {contact.email}, "
        f"{contact.phone}) is being sent the invitation. Their answer shows on the status card."), replace=True)
