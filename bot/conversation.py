"""The service layer: what the bot does for the people who talk to it.

Plain values in (`Actor`, a verb, the card's data), plain values out (`Reply`: a card or a
text). No botbuilder types: the Teams adapter translates. Database calls are synchronous
SQLAlchemy, run in a worker thread so the event loop keeps serving other users.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Protocol

from . import cards
from .adapters.db.repository import InvitationRecord, MeetingRecord, NewInvitation, NewReminder, Repository
from .core import reminders
from .core.outcome import Outcome
from .core.plan import iso
from .core.profile import ProfessionalDiscussion, Profile
from .core.request import RequestInvalid, parse_request
from .core.routing import Routing, follow_on_deadline, follow_on_decided_at, routed_plan
from .directory import Directory, resolve
from .online_meetings import OnlineMeetings

log = logging.getLogger(__name__)

START_WORDS = {"new", "request", "new request", "start", "strategy meeting", "new meeting"}
RESPONSE_OF_VERB = {"invite_accept": "accepted", "invite_decline": "declined",
                    "invite_nominate": "nominated", "invite_written": "written"}


@dataclass(frozen=True)
class Actor:
    """Who is talking to the bot, and where to reach them again."""

    aad_object_id: str | None
    user_id: str
    name: str
    tenant_id: str | None
    service_url: str
    conversation_id: str


@dataclass(frozen=True)
class Reply:
    card: dict | None = None
    text: str | None = None
    replace: bool = False  # the card replaces the one whose button was pressed
    messages: tuple["Reply", ...] = ()  # further messages to the same person


class Messenger(Protocol):
    """Proactive messages (the Bot Connector client behind it)."""

    async def open_conversation(self, service_url: str, tenant_id: str | None, user_id: str) -> str: ...
    async def send_card(self, service_url: str, conversation_id: str, card: dict, tenant_id: str | None) -> str: ...
    async def update_card(self, service_url: str, conversation_id: str, activity_id: str, card: dict,
                          tenant_id: str | None) -> None: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ConversationService:
    profiles: dict[str, Profile]
    directories: dict[str, Directory]
    repo: Repository
    messenger: Messenger
    clock: Callable[[], datetime] = utcnow
    wake_delivery: Callable[[], None] = lambda: None
    wake_reminders: Callable[[], None] = lambda: None
    meetings: OnlineMeetings = field(default_factory=lambda: OnlineMeetings(None))
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _sync_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _refresh_queued: set[str] = field(default_factory=set)
    _known: dict[str, tuple] = field(default_factory=dict)  # users' addresses already stored
    _tasks: set[asyncio.Task] = field(default_factory=set)

    # --- plumbing -----------------------------------------------------------------------
    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _lock(self, meeting_id: str) -> asyncio.Lock:
        # Serialises this process's updates of one chair card; the database guards replicas.
        return self._locks.setdefault(meeting_id, asyncio.Lock())

    def _areas(self) -> list[tuple[str, str]]:
        return sorted(((p.id, p.name) for p in self.profiles.values()), key=lambda a: a[1])

    async def _remember(self, actor: Actor) -> None:
        if actor.aad_object_id and actor.tenant_id and actor.service_url:
            # Write only what changed: every card press carries the same address, and a
            # write per click would queue answers behind each other on the database.
            address = (actor.user_id, actor.name, actor.tenant_id, actor.service_url, actor.conversation_id)
            if self._known.get(actor.aad_object_id) == address:
                return
            # Teams' install event carries no name: store a placeholder rather than refuse it.
            await self._db(self.repo.upsert_user, aad_object_id=actor.aad_object_id, teams_user_id=actor.user_id,
                           name=actor.name or "Teams user", tenant_id=actor.tenant_id, service_url=actor.service_url,
                           conversation_id=actor.conversation_id or None)
            self._known[actor.aad_object_id] = address  # only once it is stored

    async def conversation_with(self, aad_object_id: str, service_url: str, tenant_id: str | None) -> str:
        """The bot's 1:1 chat with someone: the one they have used, else a new one opened
        proactively (by their Teams id if they have talked to the bot, else their Entra id)."""
        user = await self._db(self.repo.get_user, aad_object_id)
        if user and user.conversation_id:
            return user.conversation_id
        return await self.messenger.open_conversation(service_url, tenant_id, user.teams_user_id if user else aad_object_id)

    # --- entry points -----------------------------------------------------------------------
    async def welcome(self, actor: Actor) -> Reply:
        await self._remember(actor)
        return Reply(card=cards.welcome_card())

    async def message(self, actor: Actor, text: str) -> Reply:
        await self._remember(actor)
        if text.strip().lower() in START_WORDS:
            return Reply(card=cards.request_form_card(self._areas()))
        return Reply(card=cards.welcome_card())

    async def card_action(self, actor: Actor, verb: str, data: dict[str, Any]) -> Reply:
        handler: Callable[[Actor, dict], Awaitable[Reply]] | None = {
            "request_new": self._request_new, "request_start": self._request_new,
            "request_submit": self._request_submit,
            "plan_confirm_time": self._plan_confirm_time,
            "plan_send": self._plan_send,
            "invite_accept": self._respond, "invite_decline": self._respond,
            "invite_nominate": self._respond, "invite_written": self._respond,
            "invite_reopen": self._reopen,
            "status_refresh": self._status_refresh,
            "outcome_open": self._outcome_open, "outcome_submit": self._outcome_submit,
            "minutes_submit": self._minutes_submit, "followup_done": self._followup_done,
            "discussion_open": self._discussion_open, "discussion_submit": self._discussion_submit,
            "followon_request": self._followon_request, "meeting_cancel": self._meeting_cancel,
        }.get(verb)
        if handler is None:
            return Reply(text=f"Sorry, I don't know the action '{verb[:40]}'. Type 'new' to request a strategy meeting.")
        if not actor.aad_object_id:
            return Reply(text="I could not tell who you are (no Entra ID object id came with the message), so I changed nothing.")
        await self._remember(actor)
        return await handler(actor, {**data, "verb": verb})

    # --- the request and the plan ------------------------------------------------------------
    async def _request_new(self, actor: Actor, data: dict) -> Reply:
        return Reply(card=cards.request_form_card(self._areas()))

    async def _request_submit(self, actor: Actor, data: dict) -> Reply:
        request_data, form_problems = cards.read_request_form(data)
        try:
            request = parse_request(request_data, set(self.profiles))
        except RequestInvalid as e:
            errors = {**cards.form_errors(e.problems), **form_problems}
            return Reply(card=cards.request_form_card(self._areas(), values=data, errors=errors), replace=True)
        if form_problems:
            return Reply(card=cards.request_form_card(self._areas(), values=data, errors=form_problems), replace=True)
        profile = self.profiles[request.area]
        plan = routed_plan(request, profile)
        meeting = await self._db(
            self.repo.create_meeting, area=request.area, case_ref=request.case_ref,
            requester_aad_id=actor.aad_object_id, chair_aad_id=actor.aad_object_id, chair_name=actor.name or "the requester",
            request=request.model_dump(mode="json", exclude_none=True), plan=plan,
            deadline=datetime.fromisoformat(plan["meeting_deadline"]), meeting_at=request.meeting_at,
            chair_conversation_id=actor.conversation_id, chair_service_url=actor.service_url,
            chair_tenant_id=actor.tenant_id,
        )
        await self._db(self.repo.add_event, meeting.id, "requested", actor_aad_id=actor.aad_object_id,
                       detail={"deadline": plan["meeting_deadline"], "rule": plan["deadline_rule"]["id"],
                               "out_of_hours": plan["routing"]["out_of_hours"]})
        await self.sync_reminders(meeting.id)  # the deadline is watched even before anything is sent
        proposals, note = await self._proposals(meeting)
        return Reply(card=cards.plan_card(plan, request.case_ref or "", meeting.id, area_name=profile.name,
                                          proposals=proposals, proposals_note=note), replace=True)

    async def _proposals(self, meeting: MeetingRecord) -> tuple[list, str]:
        """The earliest times before the deadline when the invitees the organiser's calendar
        can see are free (Graph getSchedule), for the chair to pick with one press."""
        if not self.meetings.enabled:
            return [], ""
        rows, _ = self._invitation_rows(meeting, self.profiles[meeting.area])
        # Everyone is asked; Graph reports the calendars it cannot see (other organisations).
        emails = sorted({r.contact_email for r in rows if r.contact_email and r.level in ("quorum", "must")})
        routed = self._routing(meeting).out_of_hours
        slots = await self.meetings.propose(meeting, emails, now=self.clock(), office_hours_only=not routed,
                                            calendar=self.profiles[meeting.area].area_calendar)
        if not slots:
            return [], ""
        unchecked = sorted({u for s in slots for u in s.unchecked})
        note = f"Free in the calendars of {len(emails) - len(unchecked)} of {len(emails)} required invitee(s)"
        note += f"; not visible to the bot (other organisations): {', '.join(unchecked)}." if unchecked else "."
        return slots, note

    async def _sync_event(self, meeting_id: str) -> str | None:
        """Create or move the Teams meeting's calendar event to match the meeting; store its
        id and join link. Returns what to tell the chair, if anything."""
        meeting = await self._db(self.repo.get_meeting, meeting_id)
        if not self.meetings.enabled and meeting.join_url:
            return None  # the chair added the link by hand
        invitations = await self._db(self.repo.list_invitations, meeting_id)
        result = await self.meetings.sync(meeting, invitations)
        changes: dict[str, Any] = {}
        if result.event_id and result.event_id != meeting.event_id:
            changes.update(event_id=result.event_id, event_organiser=result.organiser)
        if result.join_url and result.join_url != meeting.join_url:
            changes["join_url"] = result.join_url
        if changes:
            await self._db(self.repo.update_meeting_fields, meeting_id, **changes)
            await self._db(self.repo.add_event, meeting_id, "calendar_event",
                           detail={"event_id": result.event_id, "organiser": result.organiser,
                                   "meeting_at": iso(meeting.meeting_at)})
        return result.note

    async def _chair_meeting(self, actor: Actor, data: dict) -> MeetingRecord | Reply:
        meeting_id = str(data.get("meeting_id") or "")
        meeting = await self._db(self.repo.get_meeting, meeting_id) if meeting_id else None
        if meeting is None:
            return Reply(text="I can't find that meeting request any more. Type 'new' to start again.")
        if meeting.chair_aad_id != actor.aad_object_id:
            return Reply(text=f"Only the chair ({meeting.chair_name}) can manage this meeting; nothing was changed.")
        return meeting

    async def _plan_confirm_time(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        request_data = dict(meeting.request)
        problems: dict[str, str] = {}
        when = _meeting_time(data, problems)
        if problems or when is None:
            return Reply(text=" ".join(problems.values()) or "Enter the meeting date and time (UK time).")
        request_data["meeting_at"] = when
        profile = self.profiles[meeting.area]
        request = parse_request(request_data, set(self.profiles))
        plan = routed_plan(request, profile, meeting.plan.get("follow_on"))
        deadline = datetime.fromisoformat(plan["meeting_deadline"])
        if request.meeting_at and request.meeting_at > deadline:
            late = (f"Note: {cards.uk_time(request.meeting_at)} is after the deadline {cards.uk_time(deadline)} "
                    f"({plan['deadline_rule']['source']}).")
        else:
            late = None
        rearranged: dict[str, Any] = {}
        join_url = str(data.get("join_url") or "").strip()
        if join_url:
            if not join_url.startswith("https://") or len(join_url) > 2000:
                return Reply(text="The Teams meeting link must be the https:// join link from the meeting invitation.")
            rearranged["join_url"] = join_url
        if meeting.outcome and meeting.outcome.get("held") is False:
            rearranged = {"outcome": None}  # a meeting that was not held, set again: watched afresh
        await self._db(self.repo.update_meeting_fields, meeting.id, request=request.model_dump(mode="json", exclude_none=True),
                       plan=plan, meeting_at=request.meeting_at, actor_aad_id=actor.aad_object_id, **rearranged)
        await self._db(self.repo.add_event, meeting.id, "time_set", actor_aad_id=actor.aad_object_id,
                       detail={"meeting_at": plan["meeting_at"]})
        await self.sync_reminders(meeting.id)
        notes = [late] if late else []
        if meeting.state != "draft":
            notes.append(await self._sync_event(meeting.id))
        meeting = await self._db(self.repo.get_meeting, meeting.id)
        card = cards.plan_card(plan, meeting.case_ref or "", meeting.id, area_name=profile.name, join_url=meeting.join_url)
        return Reply(card=card, replace=True, messages=tuple(Reply(text=n) for n in notes if n))

    async def _plan_send(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        profile = self.profiles[meeting.area]
        if meeting.state == "draft":
            rows, unresolved = self._invitation_rows(meeting, profile)
            await self._db(self.repo.add_invitations, meeting.id, rows)  # written before anything is sent
            await self._db(self.repo.update_meeting_fields, meeting.id, state="sending")
            await self._db(self.repo.add_event, meeting.id, "invitations_created", actor_aad_id=actor.aad_object_id,
                           detail={"roles": [r.role for r in rows], "unresolved": unresolved})
            calendar_note = await self._sync_event(meeting.id)  # before delivery, so the cards carry the link
            self.wake_delivery()
            await self.sync_reminders(meeting.id)
            notes = (Reply(text=calendar_note),) if calendar_note else ()
            if unresolved:
                notes += (Reply(text="No contact is listed in the directory for: "
                                + ", ".join(cards.role_name(r) for r in unresolved)
                                + ". Invite them by phone or email and record it."),)
        else:
            notes = (Reply(text="The invitations for this meeting were already sent."),)
        status = await self.refresh_status(meeting.id, post_if_missing=True)
        return Reply(card=status, replace=True, messages=notes)

    def _invitation_rows(self, meeting: MeetingRecord, profile: Profile) -> tuple[list[NewInvitation], list[str]]:
        plan = meeting.plan
        out_of_hours = bool(plan.get("out_of_hours") or (plan.get("routing") or {}).get("out_of_hours"))
        directory = self.directories.get(meeting.area)
        rows, unresolved = [], []
        chair_fills = self._chair_fills(meeting)
        for invitee in plan["invitees"]:
            if invitee["role"] in chair_fills:
                continue  # the EDT chair is there in that role already
            contact = resolve(directory, invitee["role"], out_of_hours) if directory else None
            if contact is None:
                unresolved.append(invitee["role"])
                continue
            if contact.aad_object_id and contact.aad_object_id == meeting.chair_aad_id:
                continue  # the chair (the EDT worker arranging it) does not invite themselves
            rows.append(NewInvitation(
                role=invitee["role"], level=invitee["level"], contact_id=contact.id, contact_name=contact.name,
                contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
                tenant_id=contact.tenant_id, service_url=meeting.chair_service_url,
            ))
        return rows, unresolved

    # --- invitations ---------------------------------------------------------------------------
    async def invitation_view(self, meeting: MeetingRecord, invitation: InvitationRecord) -> cards.InvitationView:
        nominated_by = None
        if invitation.nominated_by_id:
            nominator = await self._db(self.repo.get_invitation, invitation.nominated_by_id)
            nominated_by = nominator.contact_name if nominator else None
        return cards.InvitationView.for_role(
            invitation.id, meeting.plan, self.profiles[meeting.area], invitation.role,
            case_ref=meeting.case_ref or "", chair_name=meeting.chair_name,
            meeting_at=meeting.meeting_at, join_url=meeting.join_url, nominated_by=nominated_by,
        )

    async def _respond(self, actor: Actor, data: dict) -> Reply:
        invitation_id = str(data.get("invitation_id") or "")
        invitation = await self._db(self.repo.get_invitation, invitation_id) if invitation_id else None
        if invitation is None:
            return Reply(text="I can't find that invitation; it may have been withdrawn.")
        if invitation.contact_aad_id != actor.aad_object_id:
            await self._db(self.repo.add_event, invitation.meeting_id, "answer_refused", actor_aad_id=actor.aad_object_id,
                           detail={"invitation_id": invitation.id})
            return Reply(text=f"This invitation was sent to {invitation.contact_name or 'someone else'}; "
                              "only they can answer it. Nothing was changed.")
        response = RESPONSE_OF_VERB[data["verb"]]
        detail, problem = _response_detail(response, data)
        meeting = await self._db(self.repo.get_meeting, invitation.meeting_id)
        view = await self.invitation_view(meeting, invitation)
        if problem:
            return Reply(card=cards.invitation_card(view), replace=True, messages=(Reply(text=problem),))
        result = await self._db(self.repo.record_response, invitation.id, actor.aad_object_id, response,
                                detail, self.clock())
        if result.refused:
            return Reply(text=result.reason or "Your answer could not be recorded. Nothing was changed.")
        card = cards.invitation_answered_card(view, response, _detail_for_card(response, data),
                                              answered_at=result.invitation.responded_at)
        notes: tuple[Reply, ...] = ()
        if result.changed:  # the repository has logged the answer with the change
            if response == "nominated":
                notes = (Reply(text=await self._invite_nominee(meeting, result.invitation, data)),)
            handover = await self._hand_chair_over(meeting, result.invitation, actor) if response == "accepted" else None
            if handover:
                notes = (Reply(text=handover),)
                meeting = None  # the chair changed: read it again
            await self.after_answer(invitation.meeting_id, meeting)
        return Reply(card=card, replace=True, messages=notes)

    async def _invite_nominee(self, meeting: MeetingRecord, nominator: InvitationRecord, data: dict) -> str:
        """Invite the colleague a contact nominated, in the same role, when the area's directory
        knows them; otherwise ask the chair to reach them. Returns what to tell the nominator."""
        name, email = str(data.get("nominee_name") or "").strip(), str(data.get("nominee_email") or "").strip()
        directory = self.directories.get(meeting.area)
        contact = directory.by_email(email) if directory else None
        role = cards.role_name(nominator.role)
        if contact is None or contact.aad_object_id == nominator.contact_aad_id:
            await self.tell_chair(
                meeting, f"{role}: {nominator.contact_name or 'the invitee'} nominated a colleague",
                f"{name} <{email}> is not in the bot's directory for {self.profiles[meeting.area].name}, so the bot "
                f"cannot invite them in Teams. Send them the meeting details by email and record their answer.")
            return (f"{name} is not in the bot's directory, so I could not invite them in Teams. "
                    "The chair has been told; please forward the meeting details to them.")
        await self._db(self.repo.add_invitations, meeting.id, [NewInvitation(
            role=nominator.role, level=nominator.level, contact_id=contact.id, contact_name=contact.name,
            contact_aad_id=contact.aad_object_id, contact_email=contact.email, contact_phone=contact.phone,
            tenant_id=contact.tenant_id, service_url=nominator.service_url or meeting.chair_service_url,
            nominated_by_id=nominator.id,
        )], actor_aad_id=nominator.contact_aad_id)
        self.wake_delivery()
        if meeting.event_id:  # the colleague gets the calendar invitation too
            await self._sync_event(meeting.id)
        await self.tell_chair(
            meeting, f"{role}: {nominator.contact_name or 'the invitee'} nominated {contact.name}",
            f"{contact.name} ({contact.email}, {contact.phone}) has been sent the invitation in their place.")
        return f"{contact.name} has been sent the invitation in your place."

    async def _meeting_cancel(self, actor: Actor, data: dict) -> Reply:
        """The chair cancels: the calendar event is cancelled (Outlook tells its attendees),
        everyone whose invitation arrived in Teams is told, and every reminder stops."""
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        if meeting.state in ("cancelled", "held"):
            return Reply(text=f"This meeting is already {meeting.state}; nothing was changed.")
        reason = str(data.get("cancel_reason") or "").strip()[:500]
        if not reason:
            return Reply(text="Give a reason for cancelling; nothing was changed.")
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id, state="cancelled")
        await self._db(self.repo.add_event, meeting.id, "cancelled", actor_aad_id=actor.aad_object_id, detail={"reason": reason})
        await self.sync_reminders(meeting.id)
        note = await self.meetings.cancel(meeting, reason)
        told = 0
        card = cards.message_card("Strategy meeting cancelled",
                                  f"Case {meeting.case_ref or meeting.id[:8]}: the meeting"
                                  f"{' of ' + cards.uk_time(meeting.meeting_at) if meeting.meeting_at else ''} is cancelled "
                                  f"by {meeting.chair_name}: {reason}")
        for inv in await self._db(self.repo.list_invitations, meeting.id):
            if inv.delivery_state == "delivered" and inv.conversation_id:
                try:
                    await self.messenger.send_card(inv.service_url or meeting.chair_service_url or "", inv.conversation_id,
                                                   card, inv.tenant_id)
                    told += 1
                except Exception as e:
                    log.warning("could not tell %s of the cancellation: %s", inv.id, e)
        text = f"Cancelled. {told} invitee(s) told in Teams" + ("; the calendar invitation was cancelled too." if meeting.event_id else ".")
        return Reply(card=cards.message_card("Meeting cancelled", text), replace=True,
                     messages=(Reply(text=note),) if note else ())

    # --- out of hours ----------------------------------------------------------------------------
    def _routing(self, meeting: MeetingRecord) -> Routing:
        return Routing.from_dict(meeting.plan.get("routing"))

    def _in_role(self, area: str, aad_object_id: str | None, role: str | None) -> bool:
        directory = self.directories.get(area)
        return bool(directory and aad_object_id and role and any(
            c.role == role and c.aad_object_id == aad_object_id for c in directory.contacts))

    async def _hand_chair_over(self, meeting: MeetingRecord, invitation: InvitationRecord, actor: Actor) -> str | None:
        """Out of hours the EDT chairs. When a request reached the out-of-hours team from
        someone else (a day worker at 16:45), the EDT worker who accepts becomes the chair:
        their status card follows, and the requester is told who has it. Returns what to
        tell the new chair, or None when nothing changed."""
        routing = self._routing(meeting)
        if not routing.out_of_hours or invitation.role != routing.chair_role:
            return None
        if meeting.chair_aad_id == actor.aad_object_id or self._in_role(meeting.area, meeting.chair_aad_id, routing.chair_role):
            return None  # already chaired by the out-of-hours team
        name = invitation.contact_name or actor.name
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id,
                       chair_aad_id=actor.aad_object_id, chair_name=name, chair_conversation_id=actor.conversation_id,
                       chair_service_url=actor.service_url, chair_tenant_id=actor.tenant_id,
                       status_activity_id=None, plan_activity_id=None)
        await self._db(self.repo.add_event, meeting.id, "chair_handed_over", actor_aad_id=actor.aad_object_id,
                       detail={"from": meeting.chair_aad_id, "to": actor.aad_object_id, "role": routing.chair_role})
        source = (meeting.plan.get("chair") or {}).get("source", "")
        await self.tell_chair(meeting, f"{cards.role_name(routing.chair_role)} now chairs this meeting",
                              f"Case {meeting.case_ref or meeting.id[:8]}: {name} accepted and chairs this out-of-hours "
                              f"meeting{f' ({source})' if source else ''}. Their status card shows the quorum from now on.")
        await self.refresh_status(meeting.id, post_if_missing=True)
        return ("You now chair this out-of-hours meeting"
                f"{f' ({source})' if source else ''}: the status card with the quorum follows.")

    def _chair_fills(self, meeting: MeetingRecord) -> set[str]:
        """Out of hours the EDT worker who chairs is children's social care at the meeting:
        the roles they fill need no invitation (their own, and the quorum roles the EDT fills)."""
        role = self._routing(meeting).chair_role
        if not self._routing(meeting).out_of_hours or not self._in_role(meeting.area, meeting.chair_aad_id, role):
            return set()
        quorum = self.profiles[meeting.area].quorum.roles
        return {role} | {q.role for q in quorum if role in q.filled_by}

    def _chair_attends(self, meeting: MeetingRecord) -> str | None:
        """The role in which the chair counts towards quoracy (the EDT out of hours), or None."""
        return self._routing(meeting).chair_role if self._chair_fills(meeting) else None

    def _fallback_of(self, meeting: MeetingRecord) -> ProfessionalDiscussion | None:
        """The protocol's professional-discussion fallback, while it is on offer: the meeting
        is routed out of hours, the area has one, and no outcome is recorded yet."""
        if not self._routing(meeting).out_of_hours or meeting.outcome:
            return None
        return self.profiles[meeting.area].out_of_hours.professional_discussion

    def _discussion_view(self, meeting: MeetingRecord, discussion: ProfessionalDiscussion,
                         values: dict | None = None, error: str = "") -> cards.DiscussionView:
        follow_on = discussion.follow_on
        text = ""
        if follow_on is not None:
            text = (f"A quorate meeting will be requested from the daytime team ({follow_on.chaired_by})."
                    if follow_on.mode == "always" else
                    f"Request a follow-up strategy meeting from the daytime team ({follow_on.chaired_by})")
        return cards.DiscussionView(
            meeting_id=meeting.id, case_ref=meeting.case_ref or "", deadline=meeting.deadline, rule=discussion,
            with_role=discussion.with_role, rationale_required=discussion.rationale_required,
            follow_on=follow_on.mode if follow_on else "", follow_on_text=text, values=values or {}, error=error)

    async def _discussion_open(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        discussion = self._fallback_of(meeting)
        if discussion is None:
            return Reply(text="A professional discussion can be recorded only for an out-of-hours meeting whose "
                              "protocol provides for it, before an outcome is recorded. Nothing was changed.")
        return Reply(card=cards.discussion_card(self._discussion_view(meeting, discussion), now=self.clock()))

    async def _discussion_submit(self, actor: Actor, data: dict) -> Reply:
        """Record the protocol's fallback: a professional discussion (with the police) held
        instead of a quorate meeting, then raise the quorate meeting for the daytime team."""
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        discussion = self._fallback_of(meeting)
        if discussion is None:
            return Reply(text="An outcome is already recorded for this meeting, or it is not out of hours; "
                              "nothing was changed.")
        values, problem = cards.read_discussion_form(data, rationale_required=discussion.rationale_required)
        now = self.clock()
        if not problem and values["at"] > now + timedelta(minutes=5):
            problem = "The discussion's time is in the future: record it once it has taken place."
        if problem:
            card = cards.discussion_card(self._discussion_view(meeting, discussion, data, problem))
            return Reply(card=card, replace=True)
        profile = self.profiles[meeting.area]
        request_data = {**meeting.request, "meeting_at": values["at"].isoformat()}
        request = parse_request(request_data, set(self.profiles))
        plan = routed_plan(request, profile, meeting.plan.get("follow_on"))  # the discussion's own follow-ups (the record)
        outcome = Outcome(held=True, recorded_by=actor.aad_object_id or "", recorded_at=now, held_at=values["at"],
                          quorate=False, others_attended=values["with"], decision=values["decision"])
        stored = {**(meeting.outcome or {}), **outcome.to_json(), "professional_discussion": {
            "at": values["at"].isoformat(), "with": values["with"], "safety_plan": values["safety_plan"],
            "rationale": values["rationale"], "rule": discussion.citation()}}
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id,
                       request=request.model_dump(mode="json", exclude_none=True), plan=plan,
                       meeting_at=request.meeting_at, outcome=stored, state="held")
        await self._db(self.repo.add_event, meeting.id, "professional_discussion", actor_aad_id=actor.aad_object_id,
                       detail={"at": values["at"].isoformat(), "rule": discussion.id})
        lines = [f"Recorded the professional discussion at {cards.uk_time(values['at'])} with {values['with']}."]
        follow_on = discussion.follow_on
        if follow_on is not None and (follow_on.mode == "always" or values["follow_on"]):
            meeting = await self._db(self.repo.get_meeting, meeting.id)
            due = profile.area_calendar.deadline(follow_on.timescale, values["at"]) if follow_on.timescale else None
            lines.append(await self._raise_follow_on(meeting, actor, summary=follow_on.summary, source=follow_on.source,
                                                     due=due, due_rule=follow_on.citation(),
                                                     settles=[fu["kind"] for fu in plan.get("follow_ups") or ()
                                                              if fu.get("raises_meeting") and fu.get("applies_if") == "not_quorate"]))
        for fu in plan.get("follow_ups") or ():
            if fu["kind"] == "ooh_record_due" and fu.get("due"):
                to = "; ".join(fu.get("recipients") or ()) or "the daytime team"
                lines.append(f"Send the record to {to} by {cards.uk_time(fu['due'])} ({fu['rule']['source']}); "
                             "I will remind you.")
        await self.sync_reminders(meeting.id)
        self.refresh_soon(meeting.id)
        return Reply(card=cards.message_card("Professional discussion recorded", " ".join(lines)), replace=True)

    async def _followon_request(self, actor: Actor, data: dict) -> Reply:
        """A follow-up that is a further meeting (North Somerset's review after an out-of-hours
        meeting agreed an investigation; Walsall's quorate meeting the next working day):
        raise its request to the daytime team from the reminder."""
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        kind = str(data.get("follow_up") or "")
        fu = next((f for f in meeting.plan.get("follow_ups") or () if f["kind"] == kind and f.get("raises_meeting")), None)
        if fu is None:
            return Reply(text="That is not a meeting this meeting's plan asks for; nothing was changed.")
        due = datetime.fromisoformat(fu["due"]) if fu.get("due") else None
        text = await self._raise_follow_on(meeting, actor, summary=fu["rule"]["summary"], source=fu["rule"]["source"],
                                           due=due, due_rule=fu["rule"], settles=[kind])
        await self.sync_reminders(meeting.id)
        return Reply(card=cards.message_card("Meeting requested", text), replace=True)

    async def _raise_follow_on(self, parent: MeetingRecord, actor: Actor, *, summary: str, source: str,
                               due: datetime | None, due_rule: dict, settles: list[str]) -> str:
        """Create the daytime team's request for a further strategy meeting (same case, same
        concerns), chaired by the area's office-hours children's social care contact, who gets
        its plan card when the office opens. Its deadline is the protocol's own for it when
        that leaves office time to meet; otherwise the area's usual deadline. Returns what to
        tell the chair. Raised once per meeting."""
        stored = dict(parent.outcome or {})
        if stored.get("follow_on_meeting_id"):
            return "The daytime team's meeting was already requested."
        profile = self.profiles[parent.area]
        cal = profile.area_calendar
        directory = self.directories.get(parent.area)
        contact = resolve(directory, "social_care", False) if directory else None
        if contact is None or not contact.aad_object_id:
            return ("No daytime children's social care contact is in the bot's directory for "
                    f"{profile.name}: pass the request on by phone or email ({source}).")
        decided_at = follow_on_decided_at(cal, self.clock())
        request_data = {k: v for k, v in parent.request.items() if k != "meeting_at"}
        request = parse_request({**request_data, "decided_at": decided_at.isoformat()}, set(self.profiles))
        deadline, rule = follow_on_deadline(request, profile, due, due_rule)
        follow_on = {"of": parent.id, "summary": summary, "source": source,
                     "deadline": iso(cal.local(deadline)), "deadline_rule": rule}
        plan = routed_plan(request, profile, follow_on)
        child = await self._db(
            self.repo.create_meeting, area=parent.area, case_ref=parent.case_ref, requester_aad_id=actor.aad_object_id,
            chair_aad_id=contact.aad_object_id, chair_name=contact.name,
            request=request.model_dump(mode="json", exclude_none=True), plan=plan, deadline=deadline,
            chair_service_url=parent.chair_service_url, chair_tenant_id=contact.tenant_id)
        stored.update(follow_on_meeting_id=child.id, completed=sorted(set(stored.get("completed") or ()) | set(settles)))
        await self._db(self.repo.update_meeting_fields, parent.id, actor_aad_id=actor.aad_object_id, outcome=stored)
        await self._db(self.repo.add_event, child.id, "requested", actor_aad_id=actor.aad_object_id,
                       detail={"follow_on_of": parent.id, "deadline": follow_on["deadline"], "rule": rule.get("id")})
        await self._db(self.repo.add_event, parent.id, "follow_on_raised", actor_aad_id=actor.aad_object_id,
                       detail={"meeting_id": child.id, "chair": contact.id})
        await self.sync_reminders(child.id)
        reach = ", ".join(x for x in (contact.team, contact.phone) if x)
        return (f"Requested the daytime team's meeting from {contact.name}{f' ({reach})' if reach else ''}: "
                f"they get the plan at {cards.uk_time(cal.next_office_time(self.clock()))}, and it must take place by "
                f"{cards.uk_time(deadline)} ({rule.get('source', source)}).")

    async def _reopen(self, actor: Actor, data: dict) -> Reply:
        invitation = await self._db(self.repo.get_invitation, str(data.get("invitation_id") or ""))
        if invitation is None or invitation.contact_aad_id != actor.aad_object_id:
            return Reply(text="Only the invited person can change this answer. Nothing was changed.")
        meeting = await self._db(self.repo.get_meeting, invitation.meeting_id)
        return Reply(card=cards.invitation_card(await self.invitation_view(meeting, invitation)), replace=True)

    # --- the chair's status card -------------------------------------------------------------------
    async def _status_refresh(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        return Reply(card=await self.status_card(meeting), replace=True)

    async def status_card(self, meeting: MeetingRecord) -> dict:
        invitations = await self._db(self.repo.list_invitations, meeting.id)
        return cards.chair_status_card(self.status_view(meeting, invitations))

    def status_view(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> cards.StatusView:
        profile = self.profiles[meeting.area]
        handed_over = _handed_over(invitations)
        answers = [cards.Answer(
            role=i.role, level=i.level, state=_answer_state(i), name=i.contact_name,
            detail=i.response_detail if i.response in ("declined", "nominated") else None,
            delivery_failure=(i.delivery_error_kind or "failed") if i.delivery_state == "failed" else None,
            email=i.contact_email, phone=i.contact_phone,
            handed_over=i.id in handed_over,
        ) for i in invitations]
        chair_role = self._chair_attends(meeting)
        if chair_role:
            answers.insert(0, cards.Answer(role=chair_role, level="quorum", state="accepted",
                                           name=f"{meeting.chair_name} (chair)"))
        return cards.StatusView(
            meeting_id=meeting.id, case_ref=meeting.case_ref or "", area_name=profile.name,
            quorum=meeting.plan["quorum"], answers=answers, escalation=profile.escalation,
            filled_by=cards.StatusView.filled_by_of(profile), meeting_at=meeting.meeting_at,
            fallback=self._fallback_of(meeting),
        )

    async def refresh_status(self, meeting_id: str, *, post_if_missing: bool = False) -> dict:
        """Re-render the chair's status card and update it in place (posting it the first time)."""
        return (await self._refresh(meeting_id, post_if_missing))[2]

    async def _refresh(self, meeting_id: str, post_if_missing: bool = False) -> tuple[MeetingRecord, cards.StatusView, dict]:
        # Read under the lock, so that of two answers arriving together the later card wins.
        async with self._lock(meeting_id):
            meeting = await self._db(self.repo.get_meeting, meeting_id)
            invitations = await self._db(self.repo.list_invitations, meeting_id)
            view = self.status_view(meeting, invitations)
            card = cards.chair_status_card(view)
            if not meeting.chair_conversation_id or not meeting.chair_service_url:
                return meeting, view, card
            try:
                if meeting.status_activity_id:
                    await self.messenger.update_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                                     meeting.status_activity_id, card, meeting.chair_tenant_id)
                elif post_if_missing:
                    activity_id = await self.messenger.send_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                                                 card, meeting.chair_tenant_id)
                    await self._db(self.repo.update_meeting_fields, meeting.id, status_activity_id=activity_id or None)
            except Exception as e:  # the chair still gets the card in the reply; log why the update failed
                log.warning("could not update the chair's status card for %s: %s", meeting_id, e)
            return meeting, view, card

    async def tell_chair(self, meeting: MeetingRecord, title: str, text: str) -> None:
        if not meeting.chair_conversation_id or not meeting.chair_service_url:
            return
        try:
            await self.messenger.send_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                           cards.message_card(title, text), meeting.chair_tenant_id)
        except Exception as e:
            log.warning("could not notify the chair of %s: %s", meeting.id, e)

    async def after_answer(self, meeting_id: str, meeting: MeetingRecord | None = None) -> None:
        """Re-plan the meeting's reminders, then update the chair's card in the background.

        The reminders are written before the answerer gets their reply: the answer ends the
        chasing it answers, and the notices it calls for (quorate; a quorum role that can no
        longer be filled, with the protocol's escalation step) are stored once, by key, and
        sent at once by the reminder worker, so replicas never tell the chair twice. The
        chair's card is only a view of stored state; updating it waits on Teams (7 messages a
        second per chat), so answers arriving together share one update instead of each
        waiting its turn."""
        await self.sync_reminders(meeting_id, meeting)
        self.refresh_soon(meeting_id)

    def refresh_soon(self, meeting_id: str) -> None:
        if meeting_id in self._refresh_queued:
            return  # an update not yet started will read this answer too
        self._refresh_queued.add(meeting_id)

        async def run() -> None:
            try:
                await asyncio.sleep(0.05)  # let answers arriving together share this update
                self._refresh_queued.discard(meeting_id)  # answers from now on queue another
                await self._refresh(meeting_id)
            except Exception:
                self._refresh_queued.discard(meeting_id)
                log.exception("could not refresh the chair's card for %s", meeting_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Finish the chair-card updates under way (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    # --- reminders ----------------------------------------------------------------------------------
    def meeting_facts(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> reminders.MeetingFacts:
        profile = self.profiles[meeting.area]
        directory = self.directories.get(meeting.area)
        availability = {c.id: c.availability for c in directory.contacts} if directory else {}
        handed_over = _handed_over(invitations)
        stored = meeting.outcome or {}
        chair_role = self._chair_attends(meeting)
        chair = (reminders.InvitationFacts(id=reminders.CHAIR_ID, role=chair_role, level="quorum", name=meeting.chair_name,
                                           response="accepted", delivered_at=meeting.created_at, on_call=True),
                 ) if chair_role else ()
        return reminders.MeetingFacts(
            id=meeting.id, case_ref=meeting.case_ref or meeting.id[:8], state=meeting.state,
            created_at=meeting.created_at, deadline=meeting.deadline, plan=meeting.plan,
            fillers={q.role: frozenset(q.filled_by) for q in profile.quorum.roles},
            escalation={"summary": profile.escalation.summary, "source": profile.escalation.source},
            meeting_at=meeting.meeting_at, outcome=Outcome.from_json(stored if "held" in stored else None),
            completed=frozenset(stored.get("completed") or ()),
            minutes_circulated=bool(stored.get("minutes_circulated_at")),
            fallback=(lambda d: d.citation() if d else None)(self._fallback_of(meeting)),
            follow_on=meeting.plan.get("follow_on"),
            invitations=chair + tuple(reminders.InvitationFacts(
                id=i.id, role=i.role, level=i.level, name=i.contact_name or "", response=i.response,
                delivered_at=i.delivered_at if i.delivery_state == "delivered" else None,
                failed=i.delivery_state == "failed",
                on_call=availability.get(i.contact_id) in ("on_call", "always"),
                handed_over=i.id in handed_over,
                email=i.contact_email, phone=i.contact_phone,
            ) for i in invitations),
        )

    def planned_reminders(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> list[reminders.Planned]:
        calendar = self.profiles[meeting.area].area_calendar
        return reminders.planned(self.meeting_facts(meeting, invitations), calendar)

    async def sync_reminders(self, meeting_id: str, meeting: MeetingRecord | None = None) -> None:
        """Store the meeting's planned reminders. `meeting`: pass it if just read and unchanged."""
        # One sync per meeting at a time in this process, reading the answers inside it: two
        # answers arriving together must not store a plan made before the other one.
        async with self._sync_locks.setdefault(meeting_id, asyncio.Lock()):
            meeting = meeting or await self._db(self.repo.get_meeting, meeting_id)
            invitations = await self._db(self.repo.list_invitations, meeting_id)
            wanted = [NewReminder(key=p.key, kind=p.kind, recipient=p.recipient, due_at=p.due_at, detail=p.detail(),
                                  invitation_id=p.invitation_id) for p in self.planned_reminders(meeting, invitations)]
            await self._db(self.repo.sync_reminders, meeting_id, wanted)
        self.wake_reminders()

    # --- after the meeting: the outcome, the minutes, follow-ups done ---------------------------------
    async def _outcome_view(self, meeting: MeetingRecord, values: dict | None = None, error: str = "") -> cards.OutcomeView:
        invitations = await self._db(self.repo.list_invitations, meeting.id)
        recipients = reminders.recipients_of(meeting.plan, reminders.MINUTES_KINDS)
        return cards.OutcomeView(
            meeting_id=meeting.id, case_ref=meeting.case_ref or "", meeting_at=meeting.meeting_at,
            invitees=[(i.id, f"{cards.role_name(i.role)}: {i.contact_name or 'not named'}") for i in invitations],
            minutes_recipients=recipients, values=values or {}, error=error)

    async def _outcome_open(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        return Reply(card=cards.outcome_card(await self._outcome_view(meeting)))

    async def _outcome_submit(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        invitations = await self._db(self.repo.list_invitations, meeting.id)
        values, problem = cards.read_outcome_form(data, {i.id for i in invitations})
        if problem:
            return Reply(card=cards.outcome_card(await self._outcome_view(meeting, data, problem)), replace=True)
        now = self.clock()
        outcome = Outcome(
            held=values["held"], recorded_by=actor.aad_object_id or "", recorded_at=now,
            held_at=meeting.meeting_at if values["held"] else None, quorate=values["quorate"],
            attended=values["attended"], others_attended=values["others_attended"], decision=values["decision"],
            minutes_circulated_at=values["minutes_date"], minutes_to=values["minutes_to"])
        stored = {**(meeting.outcome or {}), **outcome.to_json()}
        if not outcome.minutes_circulated and (meeting.outcome or {}).get("minutes_circulated_at"):
            stored.update(minutes_circulated_at=meeting.outcome["minutes_circulated_at"],  # recorded earlier
                          minutes_to=meeting.outcome.get("minutes_to") or [])
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id, outcome=stored,
                       **({"state": "held"} if outcome.held else {}))
        await self.sync_reminders(meeting.id)
        if not outcome.held:
            text = ("Recorded: the meeting was not held. Arrange a new time with 'Change time' on the plan card: "
                    f"the deadline was {cards.uk_time(meeting.deadline)}.")
        else:
            from .core.outcome import DECISIONS
            text = f"Recorded: {DECISIONS[outcome.decision or 'no_enquiry']}."
            if not outcome.minutes_circulated:
                text += " I will remind you when the minutes are due."
        return Reply(card=cards.message_card("Outcome recorded", text), replace=True)

    async def _minutes_submit(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        when, to, problem = cards.read_minutes(data)
        if problem or when is None or not to:
            return Reply(text=problem or "Enter the date the minutes were circulated and who they went to.")
        stored = dict(meeting.outcome or {})
        stored.update(minutes_circulated_at=when.isoformat(), minutes_to=list(to))
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id, outcome=stored)
        await self.sync_reminders(meeting.id)
        return Reply(card=cards.message_card("Minutes recorded", f"Circulated on {when:%d %B %Y} to: " + "; ".join(to)),
                     replace=True)

    async def _followup_done(self, actor: Actor, data: dict) -> Reply:
        meeting = await self._chair_meeting(actor, data)
        if isinstance(meeting, Reply):
            return meeting
        kind = str(data.get("follow_up") or "")
        if kind not in {fu["kind"] for fu in meeting.plan.get("follow_ups") or ()}:
            return Reply(text="That follow-up is not part of this meeting's plan; nothing was changed.")
        stored = dict(meeting.outcome or {})
        stored["completed"] = sorted(set(stored.get("completed") or ()) | {kind})
        await self._db(self.repo.update_meeting_fields, meeting.id, actor_aad_id=actor.aad_object_id, outcome=stored)
        await self.sync_reminders(meeting.id)
        return Reply(card=cards.message_card("Marked done", f"{kind.replace('_', ' ').capitalize()}: no more reminders."),
                     replace=True)


def _meeting_time(data: dict, problems: dict[str, str]) -> str | None:
    """The chair's new meeting time: UK local date and time inputs -> ISO 8601 with offset."""
    when = cards.uk_instant(str(data.get("meeting_date") or ""), str(data.get("meeting_time") or ""))
    if when is None:
        problems["meeting_time"] = "Enter the meeting date (YYYY-MM-DD) and time (HH:MM), UK time."
    return when


def _handed_over(invitations: list[InvitationRecord]) -> set[str]:
    """Invitations whose invitee nominated a colleague who now has an invitation of their own."""
    nominators = {i.nominated_by_id for i in invitations if i.nominated_by_id}
    return {i.id for i in invitations if i.response == "nominated" and i.id in nominators}


def _answer_state(i: InvitationRecord) -> str:
    return {"none": cards.WAITING}.get(i.response, i.response)


def _response_detail(response: str, data: dict) -> tuple[str | None, str | None]:
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


def _detail_for_card(response: str, data: dict) -> Any:
    if response == "declined":
        return str(data.get("decline_reason") or "")
    if response == "nominated":
        return {"nominee_name": data.get("nominee_name"), "nominee_email": data.get("nominee_email")}
    return None
