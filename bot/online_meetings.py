"""The Teams meeting itself: an Outlook calendar event with a Teams link, through Microsoft
Graph (bot.adapters.graph), kept in step with the bot's meeting.

* When the invitations are sent and a time is set, the event is created in the organiser's
  calendar (the chair's mailbox when the directory lists one, else the configured
  organiser) with every invitee as an attendee: agencies in other tenants, who may never
  open Teams, get an ordinary Outlook invitation with the join link. The link goes on the
  cards. A new time moves the event; a cancelled meeting cancels it. Creation carries the
  meeting id as Graph's transactionId, so a retried create never makes two events.
* Attendees' answers in their calendars are read back (`CalendarWatcher`) and count for
  quoracy exactly like card answers. Tentative is not an answer.
* Before the chair picks a time, the earliest free slots before the deadline of the people
  in the organiser's tenant are proposed (getSchedule; findMeetingTimes does not accept
  application permissions).

Without Graph credentials every method reports that it is off, and the chair is told to
create the meeting by hand and paste its link.
"""
from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from .adapters.graph.client import Attendee, GraphClient
from .adapters.graph.errors import GraphError
from .core.calendar import AreaCalendar
from .core.privacy import cancelled_by_chair, meeting_code
from .core.slots import Slot, earliest_slots
from .core.wording import role_name, uk_time
from .outage import Outage

if TYPE_CHECKING:
    from .adapters.db.repository import InvitationRecord, MeetingRecord
    from .core.profile import Profile

log = logging.getLogger(__name__)

MEETING_LENGTH = timedelta(hours=1)
NO_GRAPH = ("No Microsoft Graph credentials are configured, so I cannot create the Teams meeting: create it in "
            "Teams or Outlook, invite the agencies, and paste its join link with 'Change the time or link' on the "
            "status card.")


@dataclass(frozen=True)
class EventResult:
    event_id: str | None = None
    join_url: str | None = None
    organiser: str | None = None
    note: str | None = None  # what to tell the chair (nothing when all went well)


@dataclass(frozen=True)
class Person:
    """Someone found in the organisation's directory through Graph: enough to invite them in Teams."""

    aad_object_id: str
    name: str
    email: str
    phone: str | None
    tenant_id: str


@dataclass(frozen=True)
class PersonLookup:
    person: Person | None = None
    note: str | None = None  # why the lookup could not be done (Graph off, refused, unreachable)


@dataclass
class OnlineMeetings:
    graph: GraphClient | None
    organiser: str | None = None                  # STRATBOT_GRAPH_ORGANISER
    chair_email: Callable[[str, str], str | None] = lambda area, aad: None  # the chair's mailbox, from the directory

    @property
    def enabled(self) -> bool:
        return self.graph is not None

    def organiser_for(self, meeting: "MeetingRecord") -> str | None:
        return meeting.event_organiser or self.chair_email(meeting.area, meeting.chair_aad_id) or self.organiser

    async def sync(self, meeting: "MeetingRecord", invitations: list["InvitationRecord"], profile: "Profile") -> EventResult:
        """Create or move the meeting's event to match the meeting (needs a time and sent
        invitations); add attendees invited since. Never raises: a failure is a note."""
        if self.graph is None:
            return EventResult(note=NO_GRAPH)
        if meeting.meeting_at is None or meeting.state in ("draft", "cancelled", "withdrawn", "closed"):
            return EventResult(event_id=meeting.event_id, join_url=meeting.join_url)
        organiser = self.organiser_for(meeting)
        if not organiser:
            return EventResult(note="No organiser mailbox is known for the Teams meeting (set STRATBOT_GRAPH_ORGANISER): "
                                    "create it by hand and paste its join link with 'Change the time or link' on "
                                    "the status card.")
        attendees = [Attendee(i.contact_email, i.contact_name, required=i.level in ("quorum", "must"))
                     for i in invitations if i.contact_email]
        start, end = meeting.meeting_at, meeting.meeting_at + MEETING_LENGTH
        try:
            if meeting.event_id is None:
                event = await self.graph.create_meeting(
                    organiser, event_subject(meeting, profile), start, end, attendees,
                    event_body(meeting, invitations, profile), transaction_id=meeting.id)
            else:
                event = await self.graph.move_meeting(organiser, meeting.event_id, start, end,
                                                      event_body(meeting, invitations, profile))
                known = {a.email.lower() for a in event.attendees}
                if any(a.email.lower() not in known for a in attendees):
                    event = await self.graph.add_attendees(organiser, meeting.event_id, attendees)
        except GraphError as e:
            log.warning("calendar event for %s: %s", meeting.id, e)
            return EventResult(event_id=meeting.event_id, join_url=meeting.join_url, organiser=organiser,
                               note=f"I could not {'create' if meeting.event_id is None else 'update'} the Teams meeting "
                                    f"in {organiser}'s calendar ({e}). Create or update it by hand if this persists.")
        note = None if event.join_url else ("The calendar event was created, but Teams gave no join link "
                                            "(does the organiser have Teams?). Add the link by hand.")
        return EventResult(event_id=event.id, join_url=event.join_url or meeting.join_url, organiser=organiser, note=note)

    async def find_person(self, email: str) -> PersonLookup:
        """Look an email address up in the organisation's directory (User.Read.All). Neither
        found nor a note: nobody in the tenant has that address. Never raises."""
        if self.graph is None:
            return PersonLookup(note="Microsoft Graph is not configured")
        try:
            user = await self.graph.find_user(email)
        except GraphError as e:
            log.warning("looking up a person by email: %s", e)
            if e.status == 403:
                return PersonLookup(note="the bot's app is not allowed to read the organisation's directory "
                                         "(it needs the User.Read.All permission)")
            return PersonLookup(note="Microsoft Graph could not be reached or refused the lookup")
        if user is None:
            return PersonLookup()
        return PersonLookup(Person(user.id, user.name, user.email, user.phone, self.graph.settings.tenant_id))

    async def cancel(self, meeting: "MeetingRecord") -> str | None:
        """Cancel the event (attendees get Outlook's cancellation). Returns a note on failure.
        The chair's reason is never sent: attendees in other organisations read the comment."""
        organiser = self.organiser_for(meeting)
        if self.graph is None or meeting.event_id is None or not organiser:
            return None
        try:
            await self.graph.cancel_meeting(organiser, meeting.event_id, cancelled_by_chair(meeting.chair_name))
        except GraphError as e:
            return f"I could not cancel the Teams meeting in the calendar ({e}): cancel it by hand."
        return None

    async def send_answer_link(self, meeting: "MeetingRecord", invitation: "InvitationRecord", profile: "Profile",
                               link: str, expires: str) -> str | None:
        """Email one invitee the bot cannot message their personal answer link, from the
        organiser's mailbox (a calendar event has one body for every attendee, so a personal
        link cannot go in it: anyone invited could answer as anyone else). Returns None when
        sent, else why not (Graph off, no organiser, no address, Graph refused)."""
        organiser = self.organiser_for(meeting)
        if self.graph is None:
            return "no Microsoft Graph credentials are configured"
        if not organiser:
            return "no organiser mailbox is known (STRATBOT_GRAPH_ORGANISER)"
        if not invitation.contact_email:
            return "no email address is known for them"
        try:
            await self.graph.send_mail(organiser, Attendee(invitation.contact_email, invitation.contact_name),
                                       f"Your answer is needed: {event_subject(meeting, profile)}",
                                       answer_link_mail(meeting, invitation, profile, link, expires))
        except GraphError as e:
            log.warning("answer link for %s not emailed: %s", invitation.id, e)
            return f"the email could not be sent ({e})"
        return None

    async def responses(self, meeting: "MeetingRecord") -> dict[str, Any]:
        organiser = self.organiser_for(meeting)
        if self.graph is None or meeting.event_id is None or not organiser:
            return {}
        return await self.graph.attendee_responses(organiser, meeting.event_id)

    async def propose(self, meeting: "MeetingRecord", emails: list[str], *, now: datetime, calendar: AreaCalendar,
                      office_hours_only: bool, timeout: float = 5.0) -> list[Slot]:
        """The earliest free slots before the deadline for these people ([] when Graph is off,
        slow or refuses: proposing is a convenience, never a blocker)."""
        organiser = self.organiser_for(meeting)
        if self.graph is None or not organiser or not emails or meeting.deadline <= now:
            return []
        try:
            availability = await asyncio.wait_for(
                self.graph.get_schedule(organiser, emails, now, meeting.deadline), timeout)
        except (GraphError, asyncio.TimeoutError) as e:
            log.info("no slot proposals for %s: %s", meeting.id, e)
            return []
        return earliest_slots(availability.busy, set(availability.unknown), start=now, deadline=meeting.deadline,
                              duration=MEETING_LENGTH, calendar=calendar, office_hours_only=office_hours_only)


def _text(s: str) -> str:
    """Text for an HTML body (no attribute values: quotes stay as typed)."""
    return html.escape(s, quote=False)


def event_subject(meeting: "MeetingRecord", profile: "Profile") -> str:
    """The calendar subject: the area and the bot's meeting code, never the case reference
    (attendees in other organisations, and their calendars, see it)."""
    return f"Strategy meeting {meeting_code(meeting.id)} ({profile.name})"


def event_body(meeting: "MeetingRecord", invitations: list["InvitationRecord"], profile: "Profile") -> str:
    """The invitation's text, all that other organisations' calendars receive: the area, the
    meeting code, the time, who is invited and why (with the protocol's citation), and where
    the child's details come from. No case reference, nothing the chair typed."""
    code = meeting_code(meeting.id)
    reasons = {i["role"]: i.get("reasons") or () for i in meeting.plan.get("invitees") or ()}
    roles = list(dict.fromkeys(i.role for i in invitations if i.contact_email))
    why = "".join(
        f"<li>{_text(role_name(role))}: "
        + _text("; ".join(f"{r.get('summary', '')} ({r.get('source', '')})" for r in reasons.get(role, ())) or "invited by the chair")
        + "</li>" for role in roles)
    return (f"<p>Child protection strategy meeting (section 47, Children Act 1989), {_text(profile.name)}. "
            f"Meeting code: <b>{code}</b>: quote it to the chair ({_text(meeting.chair_name)}).</p>"
            f"<p>When: {_text(uk_time(meeting.meeting_at))}, one hour, online: join with the Teams link "
            "in this invitation.</p>"
            f"<p>Who is invited and why:</p><ul>{why}</ul>"
            f"<p>The child's details are not in this invitation: you will receive them "
            f"{_text(profile.case_reference.details_from)}. Please accept or decline here, or answer in Teams. "
            "If the bot cannot reach you in Teams, you will also receive a personal answer link by email.</p>")


def answer_link_mail(meeting: "MeetingRecord", invitation: "InvitationRecord", profile: "Profile", link: str,
                     expires: str) -> str:
    """The email that carries one invitee's answer link: who asks, why, when, and the link.
    Like the calendar invitation, no case reference and nothing the chair typed."""
    reasons = next((i.get("reasons") or () for i in meeting.plan.get("invitees") or ()
                    if i.get("role") == invitation.role), ())
    why = "".join(f"<li>{_text(r.get('summary', ''))} ({_text(r.get('source', ''))})</li>" for r in reasons)
    when = uk_time(meeting.meeting_at) if meeting.meeting_at else (
        f"time to be confirmed; it must take place by {uk_time(meeting.deadline)}")
    return (f"<p>{_text(meeting.chair_name)}, children's social care, {_text(profile.name)}, invites you as "
            f"{_text(role_name(invitation.role))} to a child protection strategy meeting (section 47, Children Act "
            f"1989). Meeting code: <b>{meeting_code(meeting.id)}</b>.</p>"
            f"<p>When: {_text(when)}.</p>"
            f"<p><a href=\"{html.escape(link, quote=True)}\">Answer here: accept, decline, send a colleague or send "
            "information in writing</a></p>"
            f"<p>The link is personal to you and records one answer, until {_text(expires)}. "
            "Please do not forward it.</p>"
            + (f"<p>Why your agency is invited:</p><ul>{why}</ul>" if why else "")
            + f"<p>The child's details are not in this email: you will receive them "
            f"{_text(profile.case_reference.details_from)}.</p>")


@dataclass
class CalendarWatcher:
    """Reads attendees' calendar answers back into the invitations they belong to. Reading
    is idempotent and an unchanged answer writes nothing, so replicas may all poll."""

    service: Any  # ConversationService
    meetings: OnlineMeetings
    outage: Outage = field(default_factory=lambda: Outage("database"))

    async def poll_once(self) -> int:
        """Read every live meeting's event; returns how many answers changed."""
        if not self.meetings.enabled:
            return 0
        repo = self.service.repo
        live = await asyncio.to_thread(repo.meetings_with_events, self.service.clock() - MEETING_LENGTH)
        changed = 0
        for meeting in live:
            try:
                changed += await self._one(meeting)
            except GraphError as e:
                log.info("calendar answers for %s not read: %s", meeting.id, e)
        return changed

    async def _one(self, meeting: "MeetingRecord") -> int:
        repo = self.service.repo
        answers = await self.meetings.responses(meeting)
        changed = 0
        for inv in await asyncio.to_thread(repo.list_invitations, meeting.id):
            answer = answers.get((inv.contact_email or "").lower())
            if answer is None or answer.response not in ("accepted", "declined") or not inv.contact_aad_id:
                continue
            if inv.response == answer.response:
                continue
            if inv.response != "none" and (answer.at is None or (inv.responded_at and answer.at <= inv.responded_at)):
                continue  # a later answer on the card wins over an older one in the calendar
            detail = "Declined in Outlook" if answer.response == "declined" else None
            result = await asyncio.to_thread(repo.record_response, inv.id, inv.contact_aad_id, answer.response, detail,
                                             answer.at or self.service.clock())
            if result.changed:
                changed += 1
                await asyncio.to_thread(repo.add_event, meeting.id, "calendar_answer", actor_aad_id=inv.contact_aad_id,
                                        detail={"invitation_id": inv.id, "response": answer.response})
        if changed:
            await self.service.after_answer(meeting.id)
        return changed

    async def run_forever(self, every: float) -> None:
        while True:
            try:
                await self.poll_once()
                self.outage.recovered()
            except Exception as e:
                if self.outage.is_outage(e):
                    self.outage.failed(e)  # one line when it starts, one when it ends
                else:
                    log.exception("reading calendar answers failed")
            await asyncio.sleep(every)
