"""What every use case shares: who is talking (`Actor`), what the bot answers (`Reply`), the
ports it talks through (`Messenger`), and `ConversationService`, which holds the profiles,
directories, the store and the messenger and does the shared work — one unit of work per
user action (`change`), the chair's one live card, reminders re-planned from stored state.

The use cases themselves are small handler functions in the sibling modules (requests,
sending, answers, out_of_hours, outcome, status), routed by card verb in `dispatch`.
No botbuilder types here: the Teams adapter translates. Database calls are synchronous
SQLAlchemy, run in a worker thread so the event loop keeps serving other users.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, TypeVar

from .. import cards
from ..db_threads import in_thread
from .records import InvitationRecord, MeetingRecord, NewReminder, VersionConflict
from ..core import reminders
from ..core.meeting import Chair, Event, Meeting, Refused
from ..core.outcome import Outcome
from ..core.profile import ProfessionalDiscussion, Profile
from ..core.routing import Routing
from ..directory import PREFERENCE, Contact, Directory
from ..online_meetings import OnlineMeetings
from .ports import Calendar, MeetingStore, Messenger
from .reach import AppInstaller

log = logging.getLogger("bot.service")
T = TypeVar("T")
# Changes to one meeting within this window share one update of the chair's card: Teams
# allows 7 messages a second per chat, and fifty agencies answering together need one card.
REFRESH_WINDOW = 1.0


@dataclass(frozen=True)
class Actor:
    """Who is talking to the bot, and where to reach them again."""

    aad_object_id: str | None
    user_id: str
    name: str
    tenant_id: str | None
    service_url: str
    conversation_id: str
    message_id: str | None = None  # the message whose card was pressed, when Teams says


@dataclass(frozen=True)
class Reply:
    card: dict | None = None
    text: str | None = None
    replace: bool = False  # the card replaces the one whose button was pressed
    messages: tuple["Reply", ...] = ()  # further messages to the same person


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Change:
    """What a use case decided, to be stored in one transaction: the meeting after the
    command, the audit events, further meeting fields (the plan, card ids), and `then`:
    further writes in the same transaction (invitations, a follow-on meeting)."""

    after: Meeting
    events: list[Event] = field(default_factory=list)
    fields: Mapping[str, Any] = field(default_factory=dict)
    then: Callable[[], Any] | None = None


def aggregate(rec: MeetingRecord) -> Meeting:
    """The lifecycle's view of a stored meeting."""
    decided = rec.request.get("decided_at")
    return Meeting(
        id=rec.id, state=rec.state, version=rec.version,  # type: ignore[arg-type]
        chair=Chair(rec.chair_aad_id, rec.chair_name),
        decided_at=datetime.fromisoformat(decided) if decided else rec.created_at,
        deadline=rec.deadline, meeting_at=rec.meeting_at, join_url=rec.join_url, outcome=rec.outcome,
        state_changed_at=rec.state_changed_at, state_changed_by=rec.state_changed_by, cancel_reason=rec.cancel_reason,
    )


def stored_fields(before: Meeting, after: Meeting) -> dict[str, Any]:
    """The meeting columns a command changed."""
    out: dict[str, Any] = {}
    for name in ("state", "meeting_at", "join_url", "outcome", "state_changed_at", "state_changed_by", "cancel_reason"):
        if getattr(before, name) != getattr(after, name):
            value = getattr(after, name)
            out[name] = dict(value) if isinstance(value, Mapping) else value
    if before.chair != after.chair:
        out.update(chair_aad_id=after.chair.aad_object_id, chair_name=after.chair.name)
    return out


@dataclass
class ConversationService:
    profiles: dict[str, Profile]
    directories: dict[str, Directory]
    repo: MeetingStore
    messenger: Messenger
    clock: Callable[[], datetime] = utcnow
    wake_delivery: Callable[[], None] = lambda: None
    wake_reminders: Callable[[], None] = lambda: None
    meetings: Calendar = field(default_factory=lambda: OnlineMeetings(None))
    answer_links: Any = None  # bot.answer_links.AnswerLinks: links for people the bot cannot message
    # Installs the Teams app for people in the bot's tenant (Graph); None: the bot cannot.
    installer: "AppInstaller | None" = None
    teams_app_id: str = "strategy-meeting-bot"  # the app's (and bot's) id, for the "add the app" link
    _installing: dict[str, asyncio.Future] = field(default_factory=dict)
    _reaching: dict[tuple, asyncio.Future] = field(default_factory=dict)  # chats being looked up or opened (reach.py)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _refresh_queued: set[str] = field(default_factory=set)
    _known: dict[str, tuple] = field(default_factory=dict)  # users' addresses already stored
    _tasks: set[asyncio.Task] = field(default_factory=set)

    # --- entry points (the Teams adapter calls these) ---------------------------------------
    async def welcome(self, actor: Actor) -> Reply:
        await self.remember(actor)
        return Reply(card=cards.welcome_card())

    async def message(self, actor: Actor, text: str) -> Reply:
        from .requests import START_WORDS

        await self.remember(actor)
        if text.strip().lower() in START_WORDS:
            return Reply(card=cards.request_form_card(self.areas()))
        return Reply(card=cards.welcome_card())

    async def card_action(self, actor: Actor, verb: str, data: dict[str, Any]) -> Reply:
        from .dispatch import dispatch

        return await dispatch(self, actor, verb, data)

    # --- plumbing -------------------------------------------------------------------------------
    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await in_thread(fn, *args, **kwargs)  # the current task's database threads (db_threads.py)

    def areas(self) -> list[tuple[str, str]]:
        return sorted(((p.id, p.name) for p in self.profiles.values()), key=lambda a: a[1])

    async def remember(self, actor: Actor) -> None:
        if actor.aad_object_id and actor.tenant_id and actor.service_url:
            # Write only what changed: every card press carries the same address, and a
            # write per click would queue answers behind each other on the database.
            address = (actor.user_id, actor.name, actor.tenant_id, actor.service_url, actor.conversation_id)
            if self._known.get(actor.aad_object_id) == address:
                return
            # Teams' install event carries no name: store a placeholder rather than refuse it.
            await self.db(self.repo.upsert_user, aad_object_id=actor.aad_object_id, teams_user_id=actor.user_id,
                          name=actor.name or "Teams user", tenant_id=actor.tenant_id, service_url=actor.service_url,
                          conversation_id=actor.conversation_id or None)
            self._known[actor.aad_object_id] = address  # only once it is stored

    async def conversation_with(self, aad_object_id: str, service_url: str, tenant_id: str | None,
                                area: str | None = None) -> str:
        """The bot's 1:1 chat with someone of `area`: the one known (persisted), else one opened
        proactively, the app installed for them first where Teams needs it (service/reach.py)."""
        from .reach import conversation_for

        return await conversation_for(self, area, aad_object_id, tenant_id, service_url)

    # --- one unit of work per action -----------------------------------------------------------
    async def change(self, meeting_id: str, actor_aad_id: str | None,
                     decide: Callable[[MeetingRecord, Meeting], Change]) -> tuple[MeetingRecord, Any]:
        """Load the meeting, let `decide` apply a command (it may raise Refused: nothing is
        written), and store the change, its audit events, any further writes and the
        re-planned reminders in ONE transaction, checked against the version read (see
        `apply` and `unit_of_work`). Returns the stored meeting and what `then` returned."""
        return await self.unit_of_work(lambda: self.apply(meeting_id, actor_aad_id, decide))

    async def unit_of_work(self, work: Callable[[], T]) -> T:
        """Run `work` in a worker thread as ONE transaction: every store call it makes (the
        reads that lead to the command, `apply`) joins it, and it commits whole or not at
        all. A version conflict (a writer that did not lock) is retried once against the
        fresh state, else answered "someone changed this meeting"."""
        def run() -> T:
            with self.repo.transaction():
                return work()

        try:
            result = await self.db(run)
        except VersionConflict:
            try:
                result = await self.db(run)  # once more, deciding on the fresh state
            except VersionConflict:
                raise Refused("Someone changed this meeting a moment ago, so nothing was changed: "
                              "look at its card again and try once more.") from None
        self.wake_reminders()
        return result

    def apply(self, meeting_id: str, actor_aad_id: str | None, decide: Callable[[MeetingRecord, Meeting], Change],
              *, locked: MeetingRecord | None = None) -> tuple[MeetingRecord, Any]:
        """Inside a unit of work: lock the meeting (on PostgreSQL its row stays locked until
        the end, so actions on one meeting take turns, each deciding on the other's result;
        `locked`: the meeting as this unit of work already locked it), let `decide` apply a
        command, store the changed fields with the version read, the audit events and
        `then`'s writes, and re-plan the reminders."""
        rec = locked or self.repo.lock_meeting(meeting_id)
        if rec is None:
            raise Refused("I can't find that meeting request any more. Type 'new' to start again.")
        before = aggregate(rec)
        decided = decide(rec, before)
        fields = {**stored_fields(before, decided.after), **decided.fields}
        if fields:
            rec = self.repo.update_meeting_fields(meeting_id, rec.version, actor_aad_id=actor_aad_id, **fields)
        for event in decided.events:
            self.repo.add_event(meeting_id, event.kind, dict(event.detail), actor_aad_id=actor_aad_id)
        extra = decided.then() if decided.then else None
        self.replan(meeting_id, rec)
        return rec, extra

    async def chair_meeting(self, actor: Actor, data: Mapping[str, Any]) -> MeetingRecord:
        """The meeting a chair's button names; Refused unless `actor` chairs it."""
        meeting_id = str(data.get("meeting_id") or "")
        meeting = await self.db(self.repo.get_meeting, meeting_id) if meeting_id else None
        if meeting is None:
            raise Refused("I can't find that meeting request any more. Type 'new' to start again.")
        if meeting.chair_aad_id != actor.aad_object_id:
            raise Refused(f"Only the chair ({meeting.chair_name}) can manage this meeting; nothing was changed.")
        return meeting

    @staticmethod
    def check_chair(rec: MeetingRecord, actor: Actor) -> None:
        """Inside a unit of work: the chair may have changed since the button was drawn."""
        if rec.chair_aad_id != actor.aad_object_id:
            raise Refused(f"Only the chair ({rec.chair_name}) can manage this meeting; nothing was changed.")

    # --- the meeting's shape -----------------------------------------------------------------
    def routing(self, meeting: MeetingRecord) -> Routing:
        return Routing.from_dict(meeting.plan.get("routing"))

    def in_role(self, area: str, aad_object_id: str | None, role: str | None) -> bool:
        directory = self.directories.get(area)
        return bool(directory and aad_object_id and role and any(
            c.role == role and c.aad_object_id == aad_object_id for c in directory.contacts))

    def chair_fills(self, meeting: MeetingRecord) -> set[str]:
        """Out of hours the EDT worker who chairs is children's social care at the meeting:
        the roles they fill need no invitation (their own, and the quorum roles the EDT fills)."""
        routing = self.routing(meeting)
        if not routing.out_of_hours or not self.in_role(meeting.area, meeting.chair_aad_id, routing.chair_role):
            return set()
        quorum = self.profiles[meeting.area].quorum.roles
        return {routing.chair_role} | {q.role for q in quorum if routing.chair_role in q.filled_by}

    def chair_attends(self, meeting: MeetingRecord) -> str | None:
        """The role in which the chair counts towards quoracy (the EDT out of hours), or None."""
        return self.routing(meeting).chair_role if self.chair_fills(meeting) else None

    def candidates(self, meeting: MeetingRecord, invitations: list[InvitationRecord],
                   roles: frozenset[str] | set[str], *, working_now: bool = False) -> list[Contact]:
        """Directory contacts in `roles` not yet invited to the meeting (nor its chair), the
        ones the meeting's hours call for first (on call out of hours); `working_now`: only
        those (an office-hours contact is no replacement at 9 in the evening)."""
        directory = self.directories.get(meeting.area)
        if directory is None:
            return []
        invited = {i.contact_id for i in invitations} | {i.contact_aad_id for i in invitations if i.contact_aad_id}
        order = PREFERENCE[bool(self.routing(meeting).out_of_hours)]
        free = [c for c in directory.contacts if c.role in roles and c.id not in invited
                and c.aad_object_id not in invited and c.aad_object_id != meeting.chair_aad_id
                and (not working_now or c.availability in order[:2])]
        return sorted(free, key=lambda c: order.index(c.availability))

    def replacements(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> dict[str, tuple]:
        """Quorum role -> the next directory contacts who could fill it ({contact_id, role, name})."""
        out: dict[str, tuple] = {}
        for q in self.profiles[meeting.area].quorum.roles:
            found = self.candidates(meeting, invitations, {q.role, *q.filled_by}, working_now=True)
            # the role itself first, then the roles that may fill it
            found.sort(key=lambda c: c.role != q.role)
            out[q.role] = tuple({"contact_id": c.id, "role": c.role, "name": c.name} for c in found)
        return out

    def fallback_of(self, meeting: MeetingRecord) -> ProfessionalDiscussion | None:
        """The protocol's professional-discussion fallback, while it is on offer: the meeting
        is routed out of hours, the area has one, it is live and no outcome is recorded yet."""
        if not self.routing(meeting).out_of_hours or meeting.state not in ("sending", "sent"):
            return None
        if "held" in (meeting.outcome or {}):
            return None
        return self.profiles[meeting.area].out_of_hours.professional_discussion

    async def invitation_view(self, meeting: MeetingRecord, invitation: InvitationRecord) -> cards.InvitationView:
        nominated_by = None
        if invitation.nominated_by_id:
            nominator = await self.db(self.repo.get_invitation, invitation.nominated_by_id)
            nominated_by = nominator.contact_name if nominator else None
        return self.invitation_view_of(meeting, invitation, nominated_by)

    def invitation_view_of(self, meeting: MeetingRecord, invitation: InvitationRecord,
                           nominated_by: str | None) -> cards.InvitationView:
        return cards.InvitationView.for_role(
            invitation.id, meeting.plan, self.profiles[meeting.area], invitation.role,
            case_ref=meeting.case_ref or "", chair_name=meeting.chair_name,
            meeting_at=meeting.meeting_at, join_url=meeting.join_url, nominated_by=nominated_by, meeting_id=meeting.id,
            level=invitation.level,
        )

    # --- the chair's one live card ---------------------------------------------------------------
    def status_view(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> cards.StatusView:
        from .status import status_view

        return status_view(self, meeting, invitations)

    def _status_reads(self, meeting_id: str) -> tuple[MeetingRecord | None, list[InvitationRecord], str | None]:
        """What the chair's card shows, read in one go: the meeting, its invitations, and the
        chair's Teams id (for the card's refresh)."""
        with self.repo.snapshot():
            meeting = self.repo.get_meeting(meeting_id)
            if meeting is None:
                return None, [], None
            chair = self.repo.get_user(meeting.chair_aad_id)
            return meeting, self.repo.list_invitations(meeting_id), chair.teams_user_id if chair else None

    async def status_card(self, meeting: MeetingRecord) -> dict:
        """The chair's live card as the meeting stands; Teams refreshes it for the chair
        (Universal Actions `refresh`) whenever they open the chat."""
        meeting, invitations, chair_user_id = await self.db(self._status_reads, meeting.id)
        return self._status_card(meeting, invitations, chair_user_id)

    def _status_card(self, meeting: MeetingRecord, invitations: list[InvitationRecord], chair_user_id: str | None) -> dict:
        return cards.chair_status_card(replace(self.status_view(meeting, invitations), chair_user_id=chair_user_id))

    def _lock(self, meeting_id: str) -> asyncio.Lock:
        # Serialises this process's updates of one chair card; the database guards replicas.
        return self._locks.setdefault(meeting_id, asyncio.Lock())

    async def refresh_status(self, meeting_id: str, *, post_if_missing: bool = False) -> dict:
        """Re-render the chair's status card and update it in place (posting it the first time)."""
        # Read under the lock, so that of two updates arriving together the later card wins.
        async with self._lock(meeting_id):
            meeting, invitations, chair_user_id = await self.db(self._status_reads, meeting_id)
            card = self._status_card(meeting, invitations, chair_user_id)
            if not meeting.chair_conversation_id or not meeting.chair_service_url:
                return card
            try:
                if meeting.status_activity_id:
                    await self.messenger.update_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                                     meeting.status_activity_id, card, meeting.chair_tenant_id)
                elif post_if_missing:
                    activity_id = await self.messenger.send_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                                                 card, meeting.chair_tenant_id)
                    await self.db(self.repo.update_meeting_fields, meeting.id, status_activity_id=activity_id or None)
            except Exception as e:  # the chair still gets the card in the reply; log why the update failed
                log.warning("could not update the chair's status card for %s: %s", meeting_id, e)
            return card

    def refresh_soon(self, meeting_id: str) -> None:
        """Update the chair's card in the background: answers arriving together share one
        update (Teams allows 7 messages a second per chat), so no one waits on it."""
        if meeting_id in self._refresh_queued:
            return  # an update not yet started will read this change too
        self._refresh_queued.add(meeting_id)

        async def run() -> None:
            try:
                await asyncio.sleep(REFRESH_WINDOW)  # let changes arriving together share this update
                self._refresh_queued.discard(meeting_id)  # changes from now on queue another
                await self.refresh_status(meeting_id)
            except Exception:
                self._refresh_queued.discard(meeting_id)
                log.exception("could not refresh the chair's card for %s", meeting_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def tell_chair(self, meeting: MeetingRecord, title: str, text: str) -> None:
        if not meeting.chair_conversation_id or not meeting.chair_service_url:
            return
        if not text.startswith("Case "):  # a chair with three live cases needs to know which one
            text = f"Case {meeting.case_ref or meeting.id[:8]}: {text}"
        try:
            await self.messenger.send_card(meeting.chair_service_url, meeting.chair_conversation_id,
                                           cards.message_card(title, text), meeting.chair_tenant_id)
        except Exception as e:
            log.warning("could not notify the chair of %s: %s", meeting.id, e)

    async def after_answer(self, meeting_id: str, meeting: MeetingRecord | None = None) -> None:
        """Re-plan the meeting's reminders, then update the chair's card in the background."""
        await self.sync_reminders(meeting_id)
        self.refresh_soon(meeting_id)

    async def close(self) -> None:
        """Finish the chair-card updates under way (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    # --- reminders ------------------------------------------------------------------------------
    def meeting_facts(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> reminders.MeetingFacts:
        profile = self.profiles[meeting.area]
        directory = self.directories.get(meeting.area)
        availability = {c.id: c.availability for c in directory.contacts} if directory else {}
        handed_over = handed_over_ids(invitations)
        stored = meeting.outcome or {}
        chair_role = self.chair_attends(meeting)
        chair = (reminders.InvitationFacts(id=reminders.CHAIR_ID, role=chair_role, level="quorum", name=meeting.chair_name,
                                           response="accepted", delivered_at=meeting.created_at, on_call=True),
                 ) if chair_role else ()
        fallback = self.fallback_of(meeting)
        return reminders.MeetingFacts(
            id=meeting.id, case_ref=meeting.case_ref or meeting.id[:8], state=_reminder_state(meeting.state),
            created_at=meeting.created_at, deadline=meeting.deadline, plan=meeting.plan,
            fillers={q.role: frozenset(q.filled_by) for q in profile.quorum.roles},
            escalation={"summary": profile.escalation.summary, "source": profile.escalation.source},
            meeting_at=meeting.meeting_at, outcome=Outcome.from_json(stored if "held" in stored else None),
            completed=frozenset(stored.get("completed") or ()),
            follow_up_dates={k: datetime.fromisoformat(v) for k, v in (stored.get("follow_up_dates") or {}).items()},
            minutes_circulated=bool(stored.get("minutes_circulated_at")),
            fallback=fallback.citation() if fallback else None,
            follow_on=meeting.plan.get("follow_on"),
            delay_explained=bool(stored.get("delay")),
            replacements=self.replacements(meeting, invitations),
            invitations=chair + tuple(reminders.InvitationFacts(
                id=i.id, role=i.role, level=i.level, name=i.contact_name or "", response=i.response,
                delivered_at=i.delivered_at if i.delivery_state == "delivered" else None,
                failed=i.delivery_state == "failed",
                on_call=availability.get(i.contact_id) in ("on_call", "always"),
                handed_over=i.id in handed_over,
                email=i.contact_email, phone=i.contact_phone,
                detail=i.response_detail if i.response == "declined" else None,
                retrying=(i.delivery_error_kind or "server") if i.delivery_state == "pending" and i.delivery_error else None,
                invited_at=i.created_at,
            ) for i in invitations),
        )

    def planned_reminders(self, meeting: MeetingRecord, invitations: list[InvitationRecord]) -> list[reminders.Planned]:
        calendar = self.profiles[meeting.area].area_calendar
        return reminders.planned(self.meeting_facts(meeting, invitations), calendar)

    def replan(self, meeting_id: str, meeting: MeetingRecord | None = None) -> None:
        """Inside a unit of work: store the reminders the meeting's state now calls for
        (`meeting`: the meeting as this unit of work left it, if the caller has it)."""
        meeting = meeting or self.repo.get_meeting(meeting_id)
        if meeting is None:
            return
        invitations = self.repo.list_invitations(meeting_id)
        wanted = [NewReminder(key=p.key, kind=p.kind, recipient=p.recipient, due_at=p.due_at, detail=p.detail(),
                              invitation_id=p.invitation_id) for p in self.planned_reminders(meeting, invitations)]
        self.repo.sync_reminders(meeting_id, wanted, returning=False)

    async def sync_reminders(self, meeting_id: str, meeting: MeetingRecord | None = None) -> None:
        """Store the meeting's planned reminders, in a transaction that holds the meeting (so
        two answers arriving together never store a plan made before the other one)."""
        def work() -> None:
            with self.repo.transaction():
                self.repo.lock_meeting(meeting_id)
                self.replan(meeting_id)

        await self.db(work)
        self.wake_reminders()


def _reminder_state(state: str) -> str:
    """The reminder planner knows the states it plans for; a meeting recorded as not held is
    still "sent" to it (its outcome says not held), a closed or withdrawn one is over."""
    return {"not_held": "sent", "closed": "cancelled", "withdrawn": "cancelled"}.get(state, state)


def handed_over_ids(invitations: list[InvitationRecord]) -> set[str]:
    """Invitations whose invitee nominated a colleague who now has an invitation of their own."""
    nominators = {i.nominated_by_id for i in invitations if i.nominated_by_id}
    return {i.id for i in invitations if i.response == "nominated" and i.id in nominators}
