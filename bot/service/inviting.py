"""The chair invites someone else: the next directory contact for a role that declined (one
press on the notice), anyone in the area's directory, for any role, including one the plan
did not list (the status card's "Invite someone else" form), or, when Microsoft Graph is
configured, anyone in the organisation's directory by email address, in the role the chair
chooses (someone outside it gets an answer link by email). The invitation counts for quoracy in
that role, like any other."""
from __future__ import annotations

import re

from .. import cards
from ..core.meeting import Command, Refused
from .records import MeetingRecord, NewInvitation
from .core import Actor, Change, ConversationService, Reply, aggregate

# One @, something before it, a dot in the domain, no spaces: enough to catch a slip; whether
# the address exists is for the directory to say.
EMAIL = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]+")


def _level(svc: ConversationService, meeting: MeetingRecord, role: str) -> str:
    """The plan's level for the role; else quorum if the role fills a quorum place; else should."""
    listed = next((i["level"] for i in meeting.plan.get("invitees") or () if i["role"] == role), None)
    if listed:
        return listed
    quorum = svc.profiles[meeting.area].quorum.roles
    return "quorum" if any(role == q.role or role in q.filled_by for q in quorum) else "should"


def _roles(svc: ConversationService, meeting: MeetingRecord) -> list[str]:
    """The roles someone invited by email can take: the quorum's, the plan's and the directory's."""
    roles = {q.role for q in svc.profiles[meeting.area].quorum.roles}
    roles |= {i["role"] for i in meeting.plan.get("invitees") or ()}
    directory = svc.directories.get(meeting.area)
    roles |= {c.role for c in directory.contacts} if directory else set()
    return sorted(roles, key=cards.role_name)


async def invite_open(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """The form to invite anyone from the directory (or by email, with Graph), as a message of its own."""
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.INVITE)
    invitations = await svc.db(svc.repo.list_invitations, meeting.id)
    directory = svc.directories.get(meeting.area)
    roles = {c.role for c in directory.contacts} if directory else set()
    free = svc.candidates(meeting, invitations, roles)
    by_email = svc.meetings.enabled
    if not free and not by_email:
        raise Refused("Everyone in the area's directory is already invited; invite anyone else by phone or email.")
    choices = [(c.id, f"{cards.role_name(c.role)}: {c.name}" + (f" ({c.team})" if c.team else "")
                + {"on_call": " — on call", "always": " — any time"}.get(c.availability, ""))
               for c in sorted(free, key=lambda c: (cards.role_name(c.role), c.name))]
    email_roles = [(r, cards.role_name(r)) for r in _roles(svc, meeting)] if by_email else []
    return Reply(card=await svc.status_card(meeting), replace=True,
                 messages=(Reply(card=cards.invite_card(meeting.id, meeting.case_ref or "", choices,
                                                        email_roles=email_roles)),))


async def invite_contact(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Invite one directory contact (contact_id)."""
    meeting = await svc.chair_meeting(actor, data)
    contact_id = str(data.get("contact_id") or "").strip()
    if not contact_id and svc.meetings.enabled:
        raise Refused("Choose someone from the list, or give an email address and a role and press "
                      "'Invite by email'; nothing was changed.")
    directory = svc.directories.get(meeting.area)
    contact = next((c for c in directory.contacts if c.id == contact_id), None) if directory else None
    if contact is None:
        raise Refused("Choose someone from the list: that contact is not in the area's directory; nothing was changed.")
    return await _invite(svc, actor, meeting, lambda rec: NewInvitation(
        role=contact.role, level=_level(svc, rec, contact.role), contact_id=contact.id, contact_name=contact.name,
        contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
        tenant_id=contact.tenant_id, service_url=rec.chair_service_url))


async def invite_email(svc: ConversationService, actor: Actor, data: dict) -> Reply:
    """Invite someone by email address (invite_email) in a role (invite_role): found in the
    organisation's directory through Graph, they are invited in Teams like a directory contact.
    Someone the directory does not have (another organisation) is invited by their own answer
    link, emailed from the organiser's mailbox, and the chair is told so."""
    meeting = await svc.chair_meeting(actor, data)
    aggregate(meeting).check(Command.INVITE)
    if not svc.meetings.enabled:
        raise Refused("Inviting by email address needs Microsoft Graph, which is not configured for this bot: choose "
                      "someone from the area's directory, or send them the meeting details yourself; nothing was "
                      "changed.")
    email = str(data.get("invite_email") or "").strip()
    role = str(data.get("invite_role") or "").strip()
    if not email:
        raise Refused("Give the email address of the person to invite; nothing was changed.")
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise Refused(f"\"{cards.clip(email, 80)}\" is not an email address (like name@organisation.gov.uk); "
                      "nothing was changed.")
    if role not in _roles(svc, meeting):
        raise Refused("Choose the role they will take at the meeting; nothing was changed.")
    found = await svc.meetings.find_person(email)
    if found.note:
        raise Refused(f"I could not look {email} up in the organisation's directory: {found.note}. Nothing was "
                      "changed; try again later, or choose someone from the area's directory.")
    person = found.person
    if person is None:  # outside the organisation: no Teams card, their own answer link by email
        address = email.lower()
        return await _invite(svc, actor, meeting, lambda rec: NewInvitation(
            role=role, level=_level(svc, rec, role), contact_id=f"email:{address}", contact_name=email,
            contact_aad_id=None, contact_email=email, contact_phone=None, tenant_id=None,
            service_url=rec.chair_service_url), outside=True)
    directory = svc.directories.get(meeting.area)
    known = next((c for c in directory.contacts if c.aad_object_id == person.aad_object_id), None) if directory else None
    return await _invite(svc, actor, meeting, lambda rec: NewInvitation(
        role=role, level=_level(svc, rec, role),
        contact_id=known.id if known and known.role == role else f"graph:{person.aad_object_id}",
        contact_name=person.name, contact_aad_id=person.aad_object_id, contact_email=person.email,
        contact_phone=person.phone or (known.phone if known else None), tenant_id=person.tenant_id,
        service_url=rec.chair_service_url))


async def _invite(svc: ConversationService, actor: Actor, meeting: MeetingRecord, row_of, *,
                  outside: bool = False) -> Reply:
    """In one unit of work the aggregate allows it and the invitation is written; then it is
    delivered and added to the calendar event."""
    written: list[NewInvitation] = []

    def decide(rec: MeetingRecord, m):
        svc.check_chair(rec, actor)
        row: NewInvitation = row_of(rec)
        after, events = m.invite(row.contact_name or "", row.role, actor.name or rec.chair_name)
        if any(i.contact_id == row.contact_id or (row.contact_aad_id and i.contact_aad_id == row.contact_aad_id)
               or (outside and (i.contact_email or "").lower() == (row.contact_email or "").lower())
               for i in svc.repo.list_invitations(rec.id)):
            raise Refused(f"{row.contact_name} is already invited to this meeting; nothing was changed.")
        written[:] = [row]
        return Change(after, events, then=lambda: svc.repo.add_invitations(rec.id, [row], actor_aad_id=actor.aad_object_id))

    meeting, _ = await svc.change(meeting.id, actor.aad_object_id, decide)
    svc.wake_delivery()
    if meeting.event_id:  # they get the calendar invitation too
        from .status import sync_event

        await sync_event(svc, meeting.id)
    svc.refresh_soon(meeting.id)
    (row,) = written
    case = meeting.case_ref or meeting.id[:8]
    if outside:
        return Reply(card=cards.message_card(
            f"{row.contact_email} invited by answer link",
            f"Case {case}: nobody with that address is in your organisation's Teams directory, so they will not get "
            f"a Teams card. They are invited as {cards.role_name(row.role)} and get their own answer link by email "
            "(if the bot cannot email it, you are given the link to send). Check the address is right; their "
            "answer shows on the status card."), replace=True)
    return Reply(card=cards.message_card(
        f"{row.contact_name} invited",
        f"Case {meeting.case_ref or meeting.id[:8]}: {row.contact_name} ({cards.role_name(row.role)}, "
        f"{row.contact_email or 'email not known'}, {row.contact_phone or 'phone not known'}) is being sent the "
        "invitation. Their answer shows on the status card."), replace=True)
