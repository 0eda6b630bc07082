"""Answers given on the answer page (bot/web/answer_page.py) by people the bot cannot message
in Teams: what the page shows, the checks on what they typed, and the answer itself, which
goes through the card's own path (answers.record_answer: one unit of work, the meeting's
state rules, quoracy, the chair's card) with the link used up in the same transaction.

The link is the invitee's credential (bot/answer_links.py): the answer is stored as theirs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .. import cards
from ..answer_links import LinkClaim
from ..core.meeting import Command, Refused
from ..core.privacy import screen_inputs
from ..core.wording import uk_time
from ..directory import EMAIL  # the same check as a directory entry's address
from ..screening import FREE_TEXT
from .answers import Answered, record_answer, response_detail
from .core import Actor, ConversationService, aggregate
from .records import InvitationRecord, MeetingRecord

# choice on the page -> (stored response, the card verb whose free-text screen applies)
CHOICES = {"accept": ("accepted", "invite_accept"), "decline": ("declined", "invite_decline"),
           "nominate": ("nominated", "invite_nominate"), "written": ("written", "invite_written")}
LIMITS = {"decline_reason": 1000, "nominee_name": 200, "nominee_email": 200, "written_information": 4000}
MISSING = {  # the card's own wording
    "decline_reason": "Give a reason: the chair needs it to escalate.",
    "nominee_name": "Enter your colleague's name.",
    "nominee_email": "Enter a work email address, e.g. name@agency.example.",
    "written_information": "Enter the information your agency holds.",
}
FIELDS = {"accept": (), "decline": ("decline_reason",), "nominate": ("nominee_name", "nominee_email"),
          "written": ("written_information",)}


@dataclass(frozen=True)
class LinkContext:
    """Everything the page needs about one invitation, read in one go."""

    invitation: InvitationRecord
    meeting: MeetingRecord
    facts: Mapping[str, Any]          # what the invitation card shows (cards.invitation_fields)
    chair_name: str
    chair_phone: str | None
    closed_reason: str | None         # the meeting no longer takes answers: the aggregate's words


def answer_link(svc: ConversationService, invitation: InvitationRecord) -> str | None:
    """A new signed, single-use answer link for this invitee (None when links are off)."""
    return svc.answer_links.url(invitation.id) if svc.answer_links else None


def link_notice(svc: ConversationService, invitation: InvitationRecord, why_not_emailed: str | None = None) -> str:
    """The sentence for the chair that gives them an invitee's answer link to send by secure
    email ("" when links are off). Each call makes a new link: a copy for each sending."""
    link = answer_link(svc, invitation)
    if not link:
        return ""
    expires = uk_time(svc.answer_links.expires_at())
    because = f" (the bot could not email it: {why_not_emailed})" if why_not_emailed else ""
    return (f" Or send them their personal answer link by secure email{because}: {link} (it answers once, for them "
            f"only, until {expires}; their answer counts like a card answer).")


async def offer_answer_link(svc: ConversationService, meeting: MeetingRecord, invitation: InvitationRecord) -> str:
    """For an invitee the bot cannot message in Teams: email them a personal answer link from
    the organiser's mailbox (with Graph), else give the chair one to send. Returns the
    sentence to add to the chair's notice ("" when links are off)."""
    if not svc.answer_links:
        return ""
    link = answer_link(svc, invitation)
    assert link is not None
    why_not = await svc.meetings.send_answer_link(meeting, invitation, svc.profiles[meeting.area], link,
                                                  uk_time(svc.answer_links.expires_at()))
    if why_not is None:
        await svc.db(svc.repo.add_event, meeting.id, "answer_link_emailed", {"invitation_id": invitation.id})
        return (f" They have been emailed a personal answer link ({invitation.contact_email}); their answer will "
                "show on your card.")
    return link_notice(svc, invitation, why_not if svc.meetings.enabled else None)


def chair_phone(svc: ConversationService, meeting: MeetingRecord) -> str | None:
    directory = svc.directories.get(meeting.area)
    return next((c.phone for c in directory.contacts if c.aad_object_id == meeting.chair_aad_id), None) \
        if directory else None


async def link_context(svc: ConversationService, invitation_id: str) -> LinkContext | None:
    """The invitation a link names, or None if it is gone (withdrawn, purged)."""
    def read():
        with svc.repo.snapshot():
            inv = svc.repo.get_invitation(invitation_id)
            if inv is None:
                return None, None, None
            nominator = svc.repo.get_invitation(inv.nominated_by_id) if inv.nominated_by_id else None
            return inv, svc.repo.get_meeting(inv.meeting_id), nominator

    invitation, meeting, nominator = await svc.db(read)
    if invitation is None or meeting is None:
        return None
    view = svc.invitation_view_of(meeting, invitation, nominator.contact_name if nominator else None)
    try:
        aggregate(meeting).check(Command.ANSWER)
        closed = None
    except Refused as e:
        closed = e.reason
    return LinkContext(invitation, meeting, cards.invitation_fields(view), meeting.chair_name,
                       chair_phone(svc, meeting), closed)


def field_problems(choice: str, data: Mapping[str, str], svc: ConversationService) -> dict[str, str]:
    """field -> what is wrong with it, in the card's words; {} when the answer can be stored.
    Free text is screened for children's identifiers exactly as on the card."""
    problems: dict[str, str] = {}
    for name in FIELDS[choice]:
        value = (data.get(name) or "").strip()
        if not value:
            problems[name] = MISSING[name]
        elif len(value) > LIMITS[name]:
            problems[name] = f"Keep it to {LIMITS[name]} characters (it has {len(value)})."
        elif name == "nominee_email" and not EMAIL.match(value):
            problems[name] = MISSING[name]
    verb = CHOICES[choice][1]
    screened = screen_inputs({k: v for k, v in data.items() if k not in problems}, FREE_TEXT.get(verb, ()),
                             today=svc.clock().date())
    for name, message in screened.items():
        problems.setdefault(name, f"{message} Take it out: only the case reference may identify a child, and it is "
                                  "not asked for here.")
    return problems


async def answer_by_link(svc: ConversationService, claim: LinkClaim, context: LinkContext, choice: str,
                         data: Mapping[str, str]) -> Answered:
    """Store the answer the page sent (already checked by `field_problems`). Raises Refused
    (the meeting's state; nothing changed) or answers.LinkUsed (the link answered before)."""
    response = CHOICES[choice][0]
    clean = {k: (data.get(k) or "").strip() for k in FIELDS[choice]}
    detail, problem = response_detail(response, clean)
    if problem:  # field_problems catches these first; never store an incomplete answer
        raise ValueError(problem)
    inv = context.invitation
    actor = Actor(aad_object_id=inv.contact_aad_id, user_id="", name=inv.contact_name or "",
                  tenant_id=inv.tenant_id, service_url="", conversation_id="")
    return await record_answer(svc, actor, context.meeting, inv, response, detail, clean, link_nonce=claim.nonce)


async def link_used(svc: ConversationService, claim: LinkClaim) -> bool:
    return await svc.db(svc.repo.answer_link_used, claim.nonce)
