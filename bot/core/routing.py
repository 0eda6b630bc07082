"""Out of hours: which team a request goes to, and what the protocol offers when a quorate
meeting cannot be held in time.

A request is routed to the out-of-hours team (the Emergency Duty Team, the on-call police
and paediatrician of the area's directory) when it is decided out of hours, or when its
deadline leaves too little office time to convene and hold the meeting: a same-day concern
raised at 16:30 will in practice meet in the evening. The plan's contract field
`out_of_hours` keeps its meaning (the decision was made out of hours); routing is the bot's
own decision on top of it and is shown, with its reason, on the plan card.

Pure: plain values in and out, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .calendar import AreaCalendar
from .plan import make_plan
from .profile import OutOfHours, Profile
from .request import PlanRequest
from .wording import uk_time


@dataclass(frozen=True)
class Routing:
    out_of_hours: bool
    why: str                 # one sentence for the plan card ("" in office hours)
    chair_role: str | None   # who chairs out of hours (the EDT), None in office hours

    def to_dict(self) -> dict[str, Any]:
        return {"out_of_hours": self.out_of_hours, "why": self.why, "chair_role": self.chair_role}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Routing":
        d = d or {}
        return cls(bool(d.get("out_of_hours")), str(d.get("why") or ""), d.get("chair_role"))


def office_time_between(calendar: AreaCalendar, start: datetime, end: datetime) -> timedelta:
    """Office hours (working days, open to close) between two instants."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day = calendar.local(start).date()
    last = calendar.local(end).date()
    while day <= last:
        if calendar.is_working_day(day):
            opens, closes = calendar.at(day, calendar.office_open), calendar.at(day, calendar.office_close)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def route(decided_at: datetime, deadline: datetime, calendar: AreaCalendar, rules: OutOfHours) -> Routing:
    """Where a request goes: to the daytime team, or out of hours to the EDT, and why."""
    if calendar.is_out_of_hours(decided_at):
        return Routing(True, f"Decided out of office hours ({uk_time(decided_at)}): the out-of-hours team "
                             "convenes it.", rules.chair_role)
    left = office_time_between(calendar, decided_at, deadline)
    # An `immediate` deadline (the decision itself) leaves no office time by definition: in
    # office hours the daytime team starts the discussion at once.
    if deadline > decided_at and left < timedelta(minutes=rules.min_office_minutes):
        minutes = int(left.total_seconds() // 60)
        return Routing(True, f"Only {minutes} minutes of office time are left before the deadline "
                             f"({uk_time(deadline)}): the out-of-hours team convenes it.", rules.chair_role)
    return Routing(False, "", None)


def routed_plan(request: PlanRequest, profile: Profile, follow_on: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan as the bot stores it: the plan engine's output, where it is routed (office
    hours or the out-of-hours team) as `routing` and, for a follow-on meeting (`follow_on`:
    {of, summary, source, deadline, deadline_rule}), the deadline its protocol gives."""
    base = make_plan(request, profile)
    deadline = datetime.fromisoformat(follow_on["deadline"]) if follow_on else base.meeting_deadline
    routing = route(request.decided_at, deadline, profile.area_calendar, profile.out_of_hours)
    plan = make_plan(request, profile, routed_out_of_hours=True) if routing.out_of_hours and not base.out_of_hours else base
    out = {**plan.to_dict(), "routing": routing.to_dict()}
    if follow_on:
        out.update(follow_on=follow_on, meeting_deadline=follow_on["deadline"], deadline_rule=follow_on["deadline_rule"])
    return out


def follow_on_decided_at(calendar: AreaCalendar, discussed_at: datetime) -> datetime:
    """A follow-on meeting is the daytime team's: it counts as decided when the office opens
    (at once, if the discussion itself was in office hours)."""
    return calendar.next_office_time(discussed_at)


def follow_on_deadline(request: PlanRequest, profile: Profile, due: datetime | None,
                       due_rule: dict[str, str]) -> tuple[datetime, dict[str, str]]:
    """A follow-on meeting's deadline and its rule's citation: the protocol's own time for it
    (`due`: Walsall's next working day after the discussion) when that leaves the daytime team
    office time to meet, else the area's usual deadline for the request as the team receives it
    (`request.decided_at`)."""
    calendar = profile.area_calendar
    enough = timedelta(minutes=profile.out_of_hours.min_office_minutes)
    if due is not None and office_time_between(calendar, request.decided_at, due) >= enough:
        return due, {k: due_rule[k] for k in ("id", "summary", "source") if k in due_rule}
    usual = make_plan(request, profile)
    return usual.meeting_deadline, usual.deadline_rule.citation()
