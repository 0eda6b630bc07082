"""The Meeting aggregate: one strategy meeting's lifecycle, and the only place that decides
which command a meeting in a given state accepts.

    draft ──send──> sending ──all delivered──> sent ──outcome held──> held ──close──> closed
      │                 │                        │  └─outcome not held─> not_held ──close──> closed
      └──withdraw──> withdrawn                   │                          │
                                                  └────────cancel──────────┴──> cancelled
    not_held ──set a new time──> sent (watched afresh)

Pure: no I/O, no clock of its own (callers pass `at`). A command either returns the changed
meeting with the audit events it produces, or raises `Refused` with a sentence for the person
who asked ("This meeting was cancelled on Tue 1 Dec at 10:58 by Sam Chairperson; nothing was
changed."), having changed nothing. The service layer persists what a command returns in one
transaction, checked against `version`, so two people acting at once never lose a change.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo

from .outcome import Outcome
from .timing import how_long

State = Literal["draft", "sending", "sent", "held", "not_held", "closed", "cancelled", "withdrawn"]
STATES: tuple[State, ...] = ("draft", "sending", "sent", "held", "not_held", "closed", "cancelled", "withdrawn")
FINAL: frozenset[State] = frozenset({"closed", "cancelled", "withdrawn"})
UK = ZoneInfo("Europe/London")


class Command(str, Enum):
    """What a person (or the delivery worker) can ask of a meeting."""

    SEND = "send"                          # the chair sends the invitations
    DELIVERED = "delivered"                # every invitation delivered or given up (the worker)
    SET_TIME = "set_time"                  # the chair sets or changes the time and the Teams link
    WITHDRAW = "withdraw"                  # the requester withdraws a request never sent
    CANCEL = "cancel"                      # the chair cancels a meeting that was sent
    ANSWER = "answer"                      # an invitee accepts, declines, nominates, writes
    INVITE = "invite"                      # an invitation is added (a nominee, another contact)
    HAND_OVER = "hand_over"                # the out-of-hours team takes the chair
    RECORD_OUTCOME = "record_outcome"      # held or not, who came, the s47 decision
    RECORD_DISCUSSION = "record_discussion"  # the protocol's professional discussion instead
    RECORD_MINUTES = "record_minutes"
    FOLLOW_UP_DONE = "follow_up_done"
    SET_FOLLOW_UP_DATE = "set_follow_up_date"  # a follow-up the protocol leaves the date of to the chair
    RAISE_FOLLOW_ON = "raise_follow_on"    # a further meeting for the daytime team
    CLOSE = "close"                        # nothing more to do: the record is complete
    EXPLAIN_DELAY = "explain_delay"        # the chair records why the meeting is later than the deadline


ALLOWED: dict[State, frozenset[Command]] = {
    "draft": frozenset({Command.SEND, Command.SET_TIME, Command.WITHDRAW, Command.EXPLAIN_DELAY}),
    "sending": frozenset({Command.DELIVERED, Command.SET_TIME, Command.CANCEL, Command.ANSWER, Command.INVITE,
                          Command.HAND_OVER, Command.RECORD_OUTCOME, Command.RECORD_DISCUSSION,
                          Command.EXPLAIN_DELAY}),
    "sent": frozenset({Command.SET_TIME, Command.CANCEL, Command.ANSWER, Command.INVITE, Command.HAND_OVER,
                       Command.RECORD_OUTCOME, Command.RECORD_DISCUSSION, Command.EXPLAIN_DELAY}),
    # The chair may correct the outcome (say, the decision) until the record is closed.
    "held": frozenset({Command.RECORD_OUTCOME, Command.RECORD_MINUTES, Command.FOLLOW_UP_DONE,
                       Command.SET_FOLLOW_UP_DATE, Command.RAISE_FOLLOW_ON, Command.CLOSE, Command.EXPLAIN_DELAY}),
    # A meeting that did not take place is given a new time, or cancelled, or closed.
    "not_held": frozenset({Command.SET_TIME, Command.CANCEL, Command.ANSWER, Command.INVITE,
                           Command.FOLLOW_UP_DONE, Command.SET_FOLLOW_UP_DATE, Command.RAISE_FOLLOW_ON,
                           Command.CLOSE, Command.EXPLAIN_DELAY}),
    "closed": frozenset(),
    "cancelled": frozenset(),
    "withdrawn": frozenset(),
}

_WHAT_HAPPENED: dict[State, str] = {
    "draft": "is a request that has not been sent yet",
    "sending": "is sending its invitations",
    "sent": "has been sent",
    "held": "was recorded as held",
    "not_held": "was recorded as not held",
    "closed": "was closed",
    "cancelled": "was cancelled",
    "withdrawn": "was withdrawn before it was sent",
}

_WHY_NOT: dict[Command, str] = {
    Command.SEND: "The invitations can only be sent once, from the request",
    Command.DELIVERED: "",
    Command.SET_TIME: "The time can be changed only until the outcome is recorded",
    Command.WITHDRAW: "Only a request that has not been sent can be withdrawn; cancel it instead",
    Command.CANCEL: "Only a meeting that has been sent and not yet held can be cancelled",
    Command.ANSWER: "Answers are no longer taken for it",
    Command.INVITE: "No one more can be invited to it",
    Command.HAND_OVER: "Its chair can no longer change",
    Command.RECORD_OUTCOME: "The outcome can be recorded only once the invitations are sent",
    Command.RECORD_DISCUSSION: "A professional discussion can be recorded only before the outcome",
    Command.RECORD_MINUTES: "Minutes can be recorded only for a meeting that was held",
    Command.FOLLOW_UP_DONE: "Follow-ups can be marked done only after the meeting",
    Command.SET_FOLLOW_UP_DATE: "A follow-up's date can be set only after the meeting",
    Command.RAISE_FOLLOW_ON: "A further meeting can be requested only after this one",
    Command.CLOSE: "Only a meeting whose outcome is recorded can be closed",
    Command.EXPLAIN_DELAY: "The reason for a delay can be recorded only while the record is open",
}


def uk_moment(at: datetime) -> str:
    """'Tue 1 Dec at 10:58' in UK time: how the bot names a moment in a sentence."""
    local = at.astimezone(UK)
    return f"{local:%a} {local.day} {local:%b} at {local:%H:%M}"


class Refused(Exception):
    """A command the meeting does not allow now: nothing was changed, and `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """An audit event a command produces, stored with the change in one transaction."""

    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chair:
    aad_object_id: str
    name: str


@dataclass(frozen=True)
class Meeting:
    """What the lifecycle needs to know of a meeting; the service maps it to and from storage.

    `outcome` is the stored outcome document: the Outcome's fields plus what accumulates
    around it (follow-ups completed, the professional discussion, a follow-on meeting's id).
    """

    id: str
    state: State
    version: int
    chair: Chair
    decided_at: datetime
    deadline: datetime
    meeting_at: datetime | None = None
    join_url: str | None = None
    outcome: Mapping[str, Any] | None = None
    state_changed_at: datetime | None = None
    state_changed_by: str | None = None    # the name of who changed the state last
    cancel_reason: str | None = None

    # --- asking ----------------------------------------------------------------------------
    def allows(self, command: Command) -> bool:
        return command in ALLOWED[self.state]

    def check(self, command: Command) -> None:
        """Raise Refused, in words for the person asking, unless the state allows `command`."""
        if self.allows(command):
            return
        raise Refused(self.refusal(command))

    def refusal(self, command: Command) -> str:
        """Why `command` is refused now, in words (when, by whom, and why if known)."""
        when = f" on {uk_moment(self.state_changed_at)}" if self.state_changed_at else ""
        who = f" by {self.state_changed_by}" if self.state_changed_by else ""
        why = f" ({self.cancel_reason})" if self.state == "withdrawn" and self.cancel_reason else ""
        if self.state == "withdrawn":  # never sent: a request, not a meeting, and no date that reads as sent
            return f"This request was withdrawn{when}{who}{why}, before anything was sent; nothing was changed."
        if self.state in FINAL or self.state in ("held", "not_held"):
            return f"This meeting {_WHAT_HAPPENED[self.state]}{when}{who}{why}; nothing was changed."
        return f"{_WHY_NOT[command]}: this meeting {_WHAT_HAPPENED[self.state]}; nothing was changed."

    @property
    def recorded_outcome(self) -> Outcome | None:
        doc = self.outcome or {}
        return Outcome.from_json(dict(doc)) if "held" in doc else None

    # --- commands --------------------------------------------------------------------------
    def _moved(self, state: State, at: datetime, by: str, **changes: Any) -> "Meeting":
        return replace(self, state=state, version=self.version + 1, state_changed_at=at, state_changed_by=by, **changes)

    def _changed(self, **changes: Any) -> "Meeting":
        return replace(self, version=self.version + 1, **changes)

    def send(self, at: datetime, by: str) -> tuple["Meeting", list[Event]]:
        self.check(Command.SEND)
        return self._moved("sending", at, by), [Event("invitations_sent", {})]

    def delivered(self, at: datetime) -> tuple["Meeting", list[Event]]:
        """Every invitation delivered or given up. Only a meeting still sending moves on: a
        meeting cancelled meanwhile stays cancelled."""
        if self.state != "sending":
            return self, []
        return self._changed(state="sent"), [Event("all_delivered", {})]

    def set_time(self, when: datetime, join_url: str | None, at: datetime, by: str,
                 delay_reason: str = "") -> tuple["Meeting", list[Event]]:
        """A new time (and, if given, a new Teams link; otherwise the link is kept). A meeting
        recorded as not held and given a new time is watched afresh: its outcome is cleared,
        but what was done around it (the link, follow-ups marked done) is kept. A time after
        the deadline needs the reason for the delay (the protocols ask the chair to record it);
        the reason is kept in the audit event."""
        self.check(Command.SET_TIME)
        if when.tzinfo is None:
            raise ValueError("the meeting time must carry its time zone")
        if when < self.decided_at:
            raise Refused(f"The meeting cannot be before the strategy discussion was decided "
                          f"({uk_moment(self.decided_at)}); nothing was changed.")
        delay_reason = delay_reason.strip()[:1000]
        late = when - self.deadline if when > self.deadline else None
        if late is not None and not delay_reason:
            raise Refused(f"{uk_moment(when)} is {how_long(late)} after the deadline ({uk_moment(self.deadline)}): "
                          "give the reason for the delay, or choose an earlier time; nothing was changed.")
        changes: dict[str, Any] = {"meeting_at": when}
        if join_url:
            changes["join_url"] = join_url
        detail: dict[str, Any] = {"meeting_at": when.isoformat(), **({"join_url_changed": True} if join_url else {})}
        if late is not None:
            detail.update(after_deadline_by_minutes=int(late.total_seconds() // 60), delay_reason=delay_reason)
        if self.state == "not_held":
            kept = {k: v for k, v in (self.outcome or {}).items() if k in _KEPT_WHEN_REARRANGED}
            return self._moved("sent", at, by, outcome=kept or None, **changes), [Event("time_set", detail)]
        return self._changed(**changes), [Event("time_set", detail)]

    def explain_delay(self, reason: str, at: datetime, by: str) -> tuple["Meeting", list[Event]]:
        """The chair records why the meeting is later than the deadline: kept beside the
        outcome (so the reminder asking for it stops) and in the audit event."""
        self.check(Command.EXPLAIN_DELAY)
        reason = reason.strip()[:1000]
        if not reason:
            raise Refused("Give the reason for the delay; nothing was changed.")
        doc = {**(self.outcome or {}), "delay": {"reason": reason, "at": at.isoformat(), "by": by}}
        return self._changed(outcome=doc), [Event("delay_explained", {"reason": reason})]

    def withdraw(self, at: datetime, by: str, reason: str | None = None) -> tuple["Meeting", list[Event]]:
        """Withdraw a request never sent; `reason` (say, an edited request replaces it) is
        what its buttons say from then on."""
        self.check(Command.WITHDRAW)
        return (self._moved("withdrawn", at, by, cancel_reason=reason),
                [Event("withdrawn", {"reason": reason} if reason else {})])

    def cancel(self, reason: str, at: datetime, by: str) -> tuple["Meeting", list[Event]]:
        self.check(Command.CANCEL)
        reason = reason.strip()
        if not reason:
            raise Refused("Give a reason for cancelling; nothing was changed.")
        return self._moved("cancelled", at, by, cancel_reason=reason), [Event("cancelled", {"reason": reason})]

    def record_outcome(self, outcome: Outcome, by: str) -> tuple["Meeting", list[Event]]:
        """Held or not, who came, the decision. Minutes recorded earlier and what accumulated
        around the outcome are kept when it is recorded again (a correction)."""
        self.check(Command.RECORD_OUTCOME)
        if outcome.held:
            if self.meeting_at is None:
                raise Refused("Set the meeting's time before recording that it was held; nothing was changed.")
            if outcome.recorded_at < self.meeting_at:
                raise Refused(f"The meeting is set for {uk_moment(self.meeting_at)}: it cannot be recorded as held "
                              "before it starts. Change the time if it was held earlier; nothing was changed.")
        doc = merge_outcome(self.outcome, outcome)
        state: State = "held" if outcome.held else "not_held"
        detail = {"held": outcome.held, "decision": outcome.decision, "quorate": outcome.quorate}
        if state == self.state:
            return self._changed(outcome=doc), [Event("outcome_corrected", detail)]
        return self._moved(state, outcome.recorded_at, by, outcome=doc), [Event("outcome_recorded", detail)]

    def record_discussion(self, outcome: Outcome, discussion: Mapping[str, Any], by: str,
                          meeting_at: datetime) -> tuple["Meeting", list[Event]]:
        """The protocol's fallback: a professional discussion held instead of a quorate
        meeting. The meeting counts as held at the discussion's time."""
        self.check(Command.RECORD_DISCUSSION)
        if self.recorded_outcome is not None:
            raise Refused("An outcome is already recorded for this meeting; nothing was changed.")
        doc = {**merge_outcome(self.outcome, outcome), "professional_discussion": dict(discussion)}
        return (self._moved("held", outcome.recorded_at, by, outcome=doc, meeting_at=meeting_at),
                [Event("professional_discussion", {"at": meeting_at.isoformat()})])

    def record_minutes(self, when: datetime, to: tuple[str, ...]) -> tuple["Meeting", list[Event]]:
        self.check(Command.RECORD_MINUTES)
        if not to:
            raise Refused("Say who the minutes went to; nothing was changed.")
        doc = {**(self.outcome or {}), "minutes_circulated_at": when.isoformat(), "minutes_to": list(to)}
        return self._changed(outcome=doc), [Event("minutes_recorded", {"at": when.isoformat(), "to": list(to)})]

    def follow_up_done(self, kind: str) -> tuple["Meeting", list[Event]]:
        self.check(Command.FOLLOW_UP_DONE)
        done = set((self.outcome or {}).get("completed") or ())
        if kind in done:
            return self, []
        doc = {**(self.outcome or {}), "completed": sorted(done | {kind})}
        return self._changed(outcome=doc), [Event("follow_up_done", {"kind": kind})]

    def set_follow_up_date(self, kind: str, when: datetime) -> tuple["Meeting", list[Event]]:
        """The date of a follow-up the protocol gives none for (the chair decides it)."""
        self.check(Command.SET_FOLLOW_UP_DATE)
        if self.meeting_at is not None and when < self.meeting_at:
            raise Refused(f"The date is before the meeting ({uk_moment(self.meeting_at)}); nothing was changed.")
        dates = {**((self.outcome or {}).get("follow_up_dates") or {}), kind: when.isoformat()}
        doc = {**(self.outcome or {}), "follow_up_dates": dates}
        return self._changed(outcome=doc), [Event("follow_up_date_set", {"kind": kind, "due": when.isoformat()})]

    def follow_on_raised(self, child_id: str, settles: list[str]) -> tuple["Meeting", list[Event]]:
        """A further meeting was requested for the daytime team: once per meeting."""
        self.check(Command.RAISE_FOLLOW_ON)
        doc = dict(self.outcome or {})
        if doc.get("follow_on_meeting_id"):
            raise Refused("The daytime team's meeting was already requested.")
        doc.update(follow_on_meeting_id=child_id, completed=sorted(set(doc.get("completed") or ()) | set(settles)))
        return self._changed(outcome=doc), [Event("follow_on_raised", {"meeting_id": child_id})]

    def invite(self, name: str, role: str, by: str) -> tuple["Meeting", list[Event]]:
        """The chair invites someone else (for a role that declined, or one the plan did not
        list); the invitation row is the service's to write in the same unit of work."""
        self.check(Command.INVITE)
        return self._changed(), [Event("invited_by_chair", {"name": name, "role": role, "by": by})]

    def hand_over(self, to: Chair) -> tuple["Meeting", list[Event]]:
        self.check(Command.HAND_OVER)
        if to.aad_object_id == self.chair.aad_object_id:
            return self, []
        return (self._changed(chair=to),
                [Event("chair_handed_over", {"from": self.chair.aad_object_id, "to": to.aad_object_id})])

    def close(self, at: datetime, by: str) -> tuple["Meeting", list[Event]]:
        self.check(Command.CLOSE)
        return self._moved("closed", at, by), [Event("closed", {})]


# What survives a not-held meeting being given a new time: none of the outcome itself.
_KEPT_WHEN_REARRANGED = frozenset({"completed", "follow_on_meeting_id", "follow_up_dates", "delay"})


def merge_outcome(stored: Mapping[str, Any] | None, outcome: Outcome) -> dict[str, Any]:
    """The stored outcome document with `outcome` recorded over it: minutes recorded earlier
    stay unless this recording gives them again, and everything kept beside the outcome
    (follow-ups done, the discussion, a follow-on meeting) is carried over."""
    previous = dict(stored or {})
    doc = {**previous, **outcome.to_json()}
    if not outcome.minutes_circulated and previous.get("minutes_circulated_at"):
        doc.update(minutes_circulated_at=previous["minutes_circulated_at"], minutes_to=previous.get("minutes_to") or [])
    return doc
