"""Which reminders a meeting needs, and when: a pure function of the meeting's state.

`planned(meeting, calendar)` returns every reminder the meeting should have *now*, each
with a stable key. The service stores them (one row per meeting and key), whenever the
meeting changes; a reminder that stops being planned (the answer came, the chair recorded
the outcome) is cancelled before it is sent, and the worker asks again just before sending.
So "each answer ends the reminders it answers" is one rule, not a special case per answer.

What is reminded, to whom, when (times in the area's calendar):

* The meeting deadline, to the chair, while the meeting is not yet quorate or has no time:
  halfway from the request to the deadline ("approaching"), and shortly before it
  ("imminent": an hour, or a quarter of a short window). Once it has passed with no meeting
  time set, the chair is told at once (a request entered after its deadline too: nothing
  is skipped) and asked for the reason for the delay, until they record it.
* Quorum agencies that have not answered: the contact is chased once, a quarter of the
  way from delivery to the deadline; halfway, the chair is told to escalate, with the
  protocol's escalation step.
* Told to the chair at once, once: the meeting became quorate; a quorum role can no longer
  be filled (declined, unreachable, nobody to invite); someone who could fill a declined
  role is still in the directory (with a button inviting them). Once, a few minutes after
  sending: an invitation that still has not been delivered (the bot keeps trying).
* The meeting starting soon (15 minutes before) to everyone who accepted.
* After the meeting: the chair is asked for the outcome an hour after the start, and
  again the next working morning if it is still missing.
* Every follow-up the area defines (plan `follow_ups`): a heads-up before it is due and a
  note when it falls due, until the chair records it done. Follow-ups that apply only if
  a section 47 enquiry goes ahead wait for the chair's decision (and those that apply only
  if none does, for the decision that none does). "As soon as practicable" ones are reminded
  the next working morning. One whose date the protocol leaves to the chair (`due_set_by`)
  follows the date the chair set (`follow_up_dates`); until one is set, the chair is asked
  to set it at the first office opening after the meeting.

Quiet hours: a reminder that is not urgent, to someone who works office hours, is moved
to the next office opening (never past the thing it reminds about). Urgent: anything due
within 12 hours of the reminder, and every notice.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from . import quoracy
from .calendar import AreaCalendar, Timescale
from .outcome import Outcome
from .wording import delivery_problem, role_name, uk_time

Recipient = Literal["chair", "invitee"]
URGENT_WITHIN = timedelta(hours=12)
UNDELIVERED_AFTER = timedelta(minutes=5)  # temporary failures this long: the chair is told, once
SOON_BEFORE_START = timedelta(minutes=15)
OUTCOME_AFTER_START = timedelta(hours=1)
LONG_FOLLOW_UP = timedelta(days=3)  # longer windows get a heads-up two working days before

# The chair's own place in the quorum (the EDT chairing out of hours): no invitation row.
CHAIR_ID = "chair"

# Follow-ups the chair settles by recording the minutes as circulated.
MINUTES_KINDS = frozenset({"minutes_due", "minutes_circulation"})


@dataclass(frozen=True)
class InvitationFacts:
    id: str
    role: str
    level: str
    name: str
    response: str                  # none / accepted / declined / nominated / written
    delivered_at: datetime | None  # None while pending, or if delivery failed
    failed: bool = False
    on_call: bool = False          # the contact works out of hours (the on-call rota, or always)
    handed_over: bool = False      # nominated a colleague who has an invitation of their own
    email: str | None = None
    phone: str | None = None
    retrying: str | None = None    # still pending after a failed attempt: the last failure's kind
    detail: str | None = None      # the reason given for declining
    invited_at: datetime | None = None


@dataclass(frozen=True)
class MeetingFacts:
    id: str
    case_ref: str
    state: str                     # draft / sending / sent / cancelled / held
    created_at: datetime
    deadline: datetime
    plan: Mapping[str, Any]        # the plan as plan.to_dict() gives it
    fillers: Mapping[str, frozenset[str]]  # quorum role -> roles that fill it
    escalation: Mapping[str, str]  # {summary, source}
    meeting_at: datetime | None = None
    outcome: Outcome | None = None
    completed: frozenset[str] = frozenset()  # follow-up kinds the chair marked done
    minutes_circulated: bool = False         # recorded with the outcome or on its own
    invitations: Sequence[InvitationFacts] = ()
    # The protocol's out-of-hours fallback ({summary, source}) when the meeting is routed
    # out of hours and the area has one; named whenever quoracy is in doubt.
    fallback: Mapping[str, str] | None = None
    # A follow-on meeting raised to the daytime team: {of, summary, source}. Its plan goes to
    # the daytime chair when the office opens.
    follow_on: Mapping[str, str] | None = None
    # The dates the chair set for follow-ups whose protocol gives none (kind -> when).
    follow_up_dates: Mapping[str, datetime] = field(default_factory=dict)
    delay_explained: bool = False  # the chair recorded why the meeting is later than the deadline
    # Quorum role -> directory contacts not yet invited who could fill it ({contact_id, role,
    # name}), the next one first: offered to the chair when the role is declined.
    replacements: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)

    @property
    def chair_on_call(self) -> bool:
        """An out-of-hours meeting is arranged by the EDT, who work at night."""
        return bool(self.plan.get("out_of_hours") or (self.plan.get("routing") or {}).get("out_of_hours"))


@dataclass(frozen=True)
class Planned:
    key: str                       # unique per meeting: the same reminder is never planned twice
    kind: str
    recipient: Recipient
    due_at: datetime
    title: str
    text: str
    source: str = ""               # the protocol citation shown with it
    invitation_id: str | None = None
    expires_at: datetime | None = None  # not worth sending after this (e.g. "starts soon")
    follow_up: str | None = None   # the follow-up kind, for a "done" button
    raises_meeting: bool = False   # the follow-up is a further meeting: offer to request it
    asks_date: bool = False        # the protocol gives no date: the reminder asks the chair for one
    asks_delay_reason: bool = False  # the card asks the chair for the reason for the delay
    offer: Mapping[str, str] | None = None  # a contact to invite with one press: {contact_id, role, name}

    def detail(self) -> dict[str, Any]:
        out = {
            "title": self.title, "text": self.text, "source": self.source, "follow_up": self.follow_up,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
        }
        if self.raises_meeting:
            out["raises_meeting"] = True
        if self.asks_date:
            out["asks_date"] = True
        if self.asks_delay_reason:
            out["asks_delay_reason"] = True
        if self.offer:
            out["offer"] = dict(self.offer)
        return out


@dataclass(frozen=True)
class _Ctx:
    meeting: MeetingFacts
    calendar: AreaCalendar
    status: quoracy.QuorumStatus = field(init=False)

    def __post_init__(self) -> None:
        answered = [quoracy.Answered(i.role, i.name, i.response, i.failed, i.handed_over, key=i)  # type: ignore[arg-type]
                    for i in self.meeting.invitations]
        object.__setattr__(self, "status", quoracy.quorum_status(dict(self.meeting.fillers), answered))

    def when(self, due: datetime, *, about: datetime | None, on_call: bool) -> datetime:
        """Quiet hours: a non-urgent reminder to office-hours staff waits for the office to
        open, unless that would be after the thing it is about."""
        urgent = about is not None and about - due <= URGENT_WITHIN
        if urgent or on_call or not self.calendar.is_out_of_hours(due):
            return due
        later = self.calendar.next_office_time(due)
        return due if about is not None and later >= about else later


def planned(meeting: MeetingFacts, calendar: AreaCalendar) -> list[Planned]:
    if meeting.state == "cancelled":
        return []
    ctx = _Ctx(meeting, calendar)
    out: list[Planned] = []
    out += _handover(ctx)
    out += _notices(ctx)
    if meeting.outcome is None:
        out += _deadline(ctx)
        out += _chasing(ctx)
        out += _starting_soon(ctx)
        out += _outcome_requests(ctx)
    if meeting.outcome is None or meeting.outcome.held:
        out += _follow_ups(ctx)
    return out


def recipients_of(plan: Mapping[str, Any], kinds: Iterable[str]) -> list[str]:
    """Who the plan's follow-ups of these kinds go to (e.g. the minutes' circulation list)."""
    kinds = set(kinds)
    return [to for fu in plan.get("follow_ups") or () if fu["kind"] in kinds for to in fu.get("recipients") or ()]


# --- before the meeting ------------------------------------------------------------------

def _handover(ctx: _Ctx) -> list[Planned]:
    """A follow-on meeting's plan goes to its daytime chair when the office opens."""
    m = ctx.meeting
    if m.follow_on is None or m.state != "draft":
        return []
    return [Planned("handover", "handover", "chair", ctx.calendar.next_office_time(m.created_at),
                    "A strategy meeting to arrange",
                    f"Case {m.case_ref}: {m.follow_on.get('summary', '')}", m.follow_on.get("source", ""))]


def _fallback_text(m: MeetingFacts) -> tuple[str, str]:
    if not m.fallback:
        return "", ""
    return (f" If a quorate meeting cannot be held in time: {m.fallback['summary']} "
            "Use 'Record a professional discussion' on the status card.", m.fallback["source"])


def _notices(ctx: _Ctx) -> list[Planned]:
    m, out = ctx.meeting, []
    if m.state == "draft":
        return []
    now_ish = m.created_at  # a notice is due at once: any past time will do
    out += _undelivered(ctx)
    if ctx.status.quorate:
        out.append(Planned("notice:quorate", "quorate", "chair", now_ish, "The meeting is quorate",
                           f"Case {m.case_ref}: social care, health and police have each accepted."))
        return out
    if m.outcome is not None:
        return out
    for slot in ctx.status.roles:
        if not slot.unfilled:
            continue
        who: InvitationFacts | None = slot.by.key if slot.by is not None else None
        reach = ""
        if who is not None and (who.email or who.phone):
            reach = f" Contact: {who.name} {who.email or ''} {who.phone or ''}".rstrip()
        state = {"declined": "declined", "unreachable": "could not be reached in Teams",
                 "not_invited": "nobody was invited"}[slot.state]
        nxt = next(iter(m.replacements.get(slot.role) or ()), None)
        if nxt is not None and who is not None:  # someone else could still fill it: not yet an escalation
            said = f": \"{who.detail}\"" if slot.state == "declined" and who.detail else ""
            out.append(Planned(
                f"notice:replace:{slot.role}:{who.id}", "replacement_offered", "chair", now_ish,
                f"{role_name(slot.role)}: {who.name or 'the contact'} {state}",
                f"Case {m.case_ref}: {who.name or 'the contact'} ({role_name(who.role)}) {state}{said}. "
                f"{nxt['name']} ({role_name(nxt['role'])}) could fill the {role_name(slot.role)} place: invite them "
                "with one press, or choose someone else with 'Invite someone else' on the status card.",
                offer=nxt))
            continue
        fallback, fallback_source = _fallback_text(m)
        out.append(Planned(
            f"notice:unfilled:{slot.role}", "quorum_unfilled", "chair", now_ish,
            f"{role_name(slot.role)} cannot make the meeting quorate",
            f"{role_name(slot.role)}: {state}.{reach} {m.escalation['summary']}{fallback}",
            "; ".join(s for s in (m.escalation["source"], fallback_source) if s)))
    return out


def _undelivered(ctx: _Ctx) -> list[Planned]:
    """An invitation still not delivered a few minutes after it was sent (the bot keeps
    trying): told to the chair once, with how else to reach the contact."""
    out = []
    for inv in ctx.meeting.invitations:
        if inv.retrying is None or inv.delivered_at is not None or inv.failed or inv.invited_at is None:
            continue
        reach = ", ".join(x for x in (f"email {inv.email}" if inv.email else "", f"phone {inv.phone}" if inv.phone else "") if x)
        out.append(Planned(
            f"notice:undelivered:{inv.id}", "undelivered", "chair", inv.invited_at + UNDELIVERED_AFTER,
            f"{role_name(inv.role)}: not delivered yet, still trying",
            f"Case {ctx.meeting.case_ref}: the invitation to {inv.name or 'the contact'} has not reached them in "
            f"Teams yet ({delivery_problem(inv.retrying)}). The bot keeps trying; if it is urgent, reach them "
            f"another way{': ' + reach if reach else ''}."))
    return out


def _deadline(ctx: _Ctx) -> list[Planned]:
    m = ctx.meeting
    if ctx.status.quorate and m.meeting_at is not None:
        return []
    window = m.deadline - m.created_at
    missing = []
    if not ctx.status.quorate:
        waiting = [role_name(r.role) for r in ctx.status.roles if r.state != "accepted"]
        missing.append("not yet quorate (no acceptance yet from " + ", ".join(waiting) + ")")
    if m.meeting_at is None:
        missing.append("no meeting time is set")
    if m.state == "draft":
        missing.insert(0, "the invitations have not been sent")
    rule = m.plan.get("deadline_rule") or {}
    text = (f"Case {m.case_ref}: the strategy meeting must take place by {uk_time(m.deadline)}"
            + (f" — {str(rule['summary']).rstrip('.')}" if rule.get("summary") else "") + ". Where it stands: "
            + "; ".join(missing) + ".")
    out = _deadline_passed(ctx, missing, rule)
    if window <= timedelta(0):
        return out  # requested after its deadline: only the notice that it has passed
    imminent_at = m.deadline - min(timedelta(hours=1), window / 4)
    approaching_at = ctx.when(m.created_at + window / 2, about=m.deadline, on_call=m.chair_on_call)
    if m.follow_on is not None:  # nothing reaches the daytime chair before the plan itself
        handover_at = ctx.calendar.next_office_time(m.created_at)
        approaching_at, imminent_at = max(approaching_at, handover_at), max(imminent_at, handover_at)
    iso = m.deadline.isoformat()
    if approaching_at < imminent_at:
        out.append(Planned(f"deadline:approaching:{iso}", "deadline_approaching", "chair", approaching_at,
                           "The meeting deadline is approaching", text, rule.get("source", "")))
    fallback, fallback_source = _fallback_text(m) if not ctx.status.quorate else ("", "")
    out.append(Planned(f"deadline:imminent:{iso}", "deadline_imminent", "chair", imminent_at,
                       "The meeting deadline is close", text + fallback,
                       "; ".join(s for s in (rule.get("source", ""), fallback_source) if s)))
    return out


def _deadline_passed(ctx: _Ctx, missing: list[str], rule: Mapping[str, Any]) -> list[Planned]:
    """The deadline passed with no meeting time: tell the chair when it passes (at once, for
    a request entered late) and ask for the reason for the delay, until it is recorded. A time
    set after the deadline came with its reason (the aggregate requires one)."""
    m = ctx.meeting
    if m.meeting_at is not None or m.delay_explained:
        return []
    fallback, fallback_source = _fallback_text(m) if not ctx.status.quorate else ("", "")
    return [Planned(
        f"deadline:passed:{m.deadline.isoformat()}", "deadline_passed", "chair", max(m.deadline, m.created_at),
        "The meeting deadline has passed",
        f"Case {m.case_ref}: the strategy meeting should have taken place by {uk_time(m.deadline)}"
        + (f" — {str(rule['summary']).rstrip('.')}" if rule.get("summary") else "") + ". Where it stands: "
        + "; ".join(missing) + ". Hold it as soon as you can, and record the reason for the delay: the "
        "protocols ask for it in the case record." + fallback,
        "; ".join(s for s in (rule.get("source", ""), fallback_source) if s), asks_delay_reason=True)]


def _chasing(ctx: _Ctx) -> list[Planned]:
    m, out = ctx.meeting, []
    filled = {r.role for r in ctx.status.roles if r.state == "accepted"}
    for inv in m.invitations:
        if inv.level != "quorum" or inv.response != "none" or inv.delivered_at is None:
            continue
        if any(inv.role in m.fillers.get(role, ()) for role in filled):
            continue  # someone else already fills the quorum role this invitee could fill
        window = m.deadline - inv.delivered_at
        overdue = window <= timedelta(0)  # invited after the deadline: chase soon, never skip
        rule = m.plan.get("deadline_rule") or {}
        chase_at = inv.delivered_at + (timedelta(minutes=15) if overdue else max(timedelta(minutes=15), window / 4))
        escalate_at = inv.delivered_at + (timedelta(minutes=30) if overdue else max(timedelta(minutes=30), window / 2))
        by = (f"Its deadline ({uk_time(m.deadline)}) has passed: it is needed as soon as possible." if overdue
              else f"It must take place by {uk_time(m.deadline)}.")
        expires = None if overdue else m.deadline
        if overdue or chase_at < m.deadline:
            out.append(Planned(
                f"chase:{inv.id}", "chase", "invitee", ctx.when(chase_at, about=m.deadline, on_call=inv.on_call),
                "Please answer: strategy meeting invitation",
                f"Case {m.case_ref}: your agency ({role_name(inv.role)}) is needed for the meeting to be quorate. "
                f"{by} Please accept, send a colleague, or decline with a reason.",
                rule.get("source", ""), invitation_id=inv.id, expires_at=expires))
        if overdue or escalate_at < m.deadline:
            reach = " ".join(x for x in (inv.name, inv.email, inv.phone) if x)
            out.append(Planned(
                f"no_answer:{inv.id}", "no_answer", "chair",
                ctx.when(escalate_at, about=m.deadline, on_call=m.chair_on_call),
                f"{role_name(inv.role)} has not answered",
                f"Case {m.case_ref}: no answer yet from {role_name(inv.role)} ({reach}), invited "
                f"{uk_time(inv.delivered_at)}. {m.escalation['summary']}",
                m.escalation["source"], expires_at=expires))
    return out


def _starting_soon(ctx: _Ctx) -> list[Planned]:
    m = ctx.meeting
    if m.meeting_at is None:
        return []
    return [Planned(
        f"starting:{inv.id}:{m.meeting_at.isoformat()}", "starting_soon", "invitee", m.meeting_at - SOON_BEFORE_START,
        "The strategy meeting starts soon", f"Case {m.case_ref}: the meeting starts at {uk_time(m.meeting_at)}.",
        invitation_id=inv.id, expires_at=m.meeting_at + timedelta(minutes=5))
        for inv in m.invitations if inv.response == "accepted" and inv.id != CHAIR_ID]


def _outcome_requests(ctx: _Ctx) -> list[Planned]:
    m = ctx.meeting
    if m.meeting_at is None or m.state == "draft":
        return []
    first = ctx.when(m.meeting_at + OUTCOME_AFTER_START, about=None, on_call=m.chair_on_call)
    again = ctx.calendar.deadline(Timescale("next_office_opening"), first)  # the next working morning
    iso = m.meeting_at.isoformat()
    text = (f"Case {m.case_ref}: please record the outcome of the meeting of {uk_time(m.meeting_at)}: "
            "whether it was held and quorate, who attended, and the section 47 decision.")
    out = [Planned(f"outcome:{iso}", "outcome_request", "chair", first, "Record the meeting's outcome", text)]
    if again is not None and again > first:
        out.append(Planned(f"outcome:again:{iso}", "outcome_request", "chair", again,
                           "The meeting's outcome is still to be recorded", text))
    return out


# --- after the meeting ----------------------------------------------------------------------

def _follow_ups(ctx: _Ctx) -> list[Planned]:
    m, out = ctx.meeting, []
    if m.meeting_at is None:
        return out
    enquiry = m.outcome.enquiry if m.outcome is not None else None
    for fu in m.plan.get("follow_ups") or ():
        kind = fu["kind"]
        if kind in m.completed or (kind in MINUTES_KINDS and m.minutes_circulated):
            continue
        if fu.get("applies_if") == "s47_enquiry" and enquiry is not True:
            continue  # waits for the chair's decision that the enquiry goes ahead
        if fu.get("applies_if") == "no_s47_enquiry" and enquiry is not False:
            continue  # only once the chair records that no enquiry goes ahead
        if fu.get("applies_if") == "not_quorate" and (m.outcome is None or m.outcome.quorate is not False):
            continue  # only once the chair records that the meeting was not quorate
        rule = fu.get("rule") or {}
        summary, source = rule.get("summary", kind.replace("_", " ")), rule.get("source", "")
        to = fu.get("recipients") or ()
        to_text = (" Send to: " + "; ".join(to) + ".") if to else ""
        due = datetime.fromisoformat(fu["due"]) if fu.get("due") else m.follow_up_dates.get(kind)
        if due is None and fu.get("due_set_by") == "chair":  # no date in the protocol: ask for one
            at = ctx.calendar.deadline(Timescale("next_office_opening"), m.meeting_at)  # the next working morning
            out.append(Planned(f"follow_up:{kind}:set_date:{m.meeting_at.isoformat()}", kind, "chair",
                               ctx.when(at, about=None, on_call=m.chair_on_call),
                               f"Set a date: {kind.replace('_', ' ')}",
                               f"Case {m.case_ref}: {summary}{to_text} The protocol gives no date: set one, "
                               "and the reminders will follow it.", source, follow_up=kind,
                               raises_meeting=bool(fu.get("raises_meeting")), asks_date=True))
            continue
        if due is None:  # as soon as practicable: the next working morning after the meeting
            at = ctx.calendar.next_office_time(m.meeting_at + timedelta(hours=16))
            out.append(Planned(f"follow_up:{kind}:asap:{m.meeting_at.isoformat()}", kind, "chair",
                               ctx.when(at, about=None, on_call=m.chair_on_call),
                               f"Due as soon as practicable: {kind.replace('_', ' ')}",
                               f"Case {m.case_ref}: {summary}{to_text}", source, follow_up=kind,
                               raises_meeting=bool(fu.get("raises_meeting"))))
            continue
        iso = due.isoformat()
        window = due - m.meeting_at
        if window > LONG_FOLLOW_UP:
            local = ctx.calendar.local(due)
            day = local.date()
            for _ in range(2):  # two working days before the due day
                day -= timedelta(days=1)
                while not ctx.calendar.is_working_day(day):
                    day -= timedelta(days=1)
            soon = ctx.calendar.at(day, ctx.calendar.office_open)
        else:
            soon = due - window / 4
        if soon > m.meeting_at:
            out.append(Planned(f"follow_up:{kind}:soon:{iso}", kind, "chair",
                               ctx.when(soon, about=due, on_call=m.chair_on_call),
                               f"Coming up: {kind.replace('_', ' ')} by {uk_time(due)}",
                               f"Case {m.case_ref}: {summary}{to_text}", source, follow_up=kind,
                               raises_meeting=bool(fu.get("raises_meeting"))))
        out.append(Planned(f"follow_up:{kind}:due:{iso}", kind, "chair", due,  # at the time itself
                           f"Due now: {kind.replace('_', ' ')} ({uk_time(due)})",
                           f"Case {m.case_ref}: {summary}{to_text} If it is done, press Done.", source,
                           follow_up=kind, raises_meeting=bool(fu.get("raises_meeting"))))
    return out
