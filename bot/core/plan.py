"""The plan engine: request + area profile -> who to invite, by when, and what follows.

Pure and deterministic. The output shape is the contract in shared/spec/plan.md; the
fields it does not mention (`deadline_out_of_hours`, `chair`, `format_rule`, follow-up
`applies_if`, `counted_from`, `recipients`, `raises_meeting`, `due_set_by`, `separate_meetings`)
are additions the bot uses, documented in the README.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .calendar import AreaCalendar
from .conditions import Facts, holds
from .profile import Cited, Profile
from .request import PlanRequest
from .vocabulary import LEVEL_RANK


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Reason:
    rule: str
    summary: str
    source: str

    @classmethod
    def of(cls, rule: Cited) -> "Reason":
        return cls(rule.id, rule.summary, rule.source)

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "summary": self.summary, "source": self.source}


@dataclass
class Invitee:
    role: str
    level: str
    reasons: list[Reason] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "level": self.level, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class MatchedRule:
    rule: Cited
    deadline: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.rule.id, "deadline": iso(self.deadline), "summary": self.rule.summary, "source": self.rule.source}


@dataclass(frozen=True)
class FollowUp:
    kind: str
    due: datetime | None
    rule: Cited
    counted_from: str
    timescale: str
    applies_if: str | None
    recipients: tuple[str, ...]
    raises_meeting: bool = False
    set_by_chair: bool = False  # no date in the protocol: `due` is None until the chair sets one

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "due": iso(self.due), "rule": self.rule.citation(),
            "counted_from": self.counted_from, "timescale": self.timescale,
        }
        if self.applies_if:
            out["applies_if"] = self.applies_if
        if self.recipients:
            out["recipients"] = list(self.recipients)
        if self.raises_meeting:
            out["raises_meeting"] = True
        if self.set_by_chair:
            out["due_set_by"] = "chair"
        return out


@dataclass(frozen=True)
class Plan:
    area: str
    decided_at: datetime
    meeting_at: datetime | None
    out_of_hours: bool
    meeting_deadline: datetime
    deadline_rule: Cited
    deadline_out_of_hours: bool
    matched_rules: tuple[MatchedRule, ...]
    quorum: tuple[str, ...]
    invitees: tuple[Invitee, ...]
    follow_ups: tuple[FollowUp, ...] | None
    chair: Cited | None
    meeting_target: datetime | None = None  # the protocol's usual aim within the limit
    format: str = "meeting"                 # or "meeting_or_calls"
    format_rule: Cited | None = None
    separate_meetings: tuple[Cited, ...] = ()

    def invitee(self, role: str) -> Invitee | None:
        return next((i for i in self.invitees if i.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "area": self.area,
            "decided_at": iso(self.decided_at),
            "out_of_hours": self.out_of_hours,
            "meeting_deadline": iso(self.meeting_deadline),
            **({"meeting_target": iso(self.meeting_target)} if self.meeting_target is not None else {}),
            "deadline_rule": self.deadline_rule.citation(),
            "deadline_out_of_hours": self.deadline_out_of_hours,
            "matched_rules": [m.to_dict() for m in self.matched_rules],
            "quorum": list(self.quorum),
            "invitees": [i.to_dict() for i in self.invitees],
            "format": self.format,
        }
        if self.format_rule is not None:
            out["format_rule"] = self.format_rule.citation()
        if self.meeting_at is not None:
            out["meeting_at"] = iso(self.meeting_at)
            out["follow_ups"] = [f.to_dict() for f in self.follow_ups or ()]
        if self.chair is not None:
            out["chair"] = self.chair.citation()
        if self.separate_meetings:
            out["separate_meetings"] = [r.citation() for r in self.separate_meetings]
        return out


def facts_of(request: PlanRequest, cal: AreaCalendar) -> Facts:
    return Facts(
        concerns=frozenset(request.concerns),
        flags=frozenset(request.flags),
        children=tuple(c.facts() for c in request.children),
        referrer=request.referrer,
        involved=frozenset(request.involved_services),
        out_of_hours=cal.is_out_of_hours(request.decided_at),
        meeting_out_of_hours=None if request.meeting_at is None else cal.is_out_of_hours(request.meeting_at),
    )


def meeting_deadline(profile: Profile, cal: AreaCalendar, facts: Facts,
                     decided_at: datetime) -> tuple[Cited, datetime, list[MatchedRule]]:
    """Earliest deadline among the matching specific rules (ties: the first in the profile);
    the default only when none matches. The winner is always among the matched rules."""
    matched = [
        MatchedRule(rule, cal.deadline(rule.timescale, decided_at))
        for rule in profile.timescales.rules
        if holds(rule.when, facts)
    ]
    if not matched:
        default = profile.timescales.default
        matched = [MatchedRule(default, cal.deadline(default.timescale, decided_at))]
    # Compare instants in UTC: in October's repeated hour, two London times with the same
    # wall clock compare equal however far apart they are.
    order = {id(m): i for i, m in enumerate(matched)}
    matched.sort(key=lambda m: (m.deadline.astimezone(timezone.utc), order[id(m)]))
    return matched[0].rule, matched[0].deadline, matched


def meeting_target(cal: AreaCalendar, matched: list[MatchedRule], decided_at: datetime,
                   deadline: datetime) -> datetime | None:
    """The earliest target among the matched rules that set one, never after the deadline."""
    targets = [cal.deadline(m.rule.target, decided_at) for m in matched if m.rule.target is not None]
    if not targets:
        return None
    earliest = min(targets, key=lambda t: t.astimezone(timezone.utc))
    return earliest if earliest <= deadline else deadline


def invitees(profile: Profile, facts: Facts) -> list[Invitee]:
    """Quorum roles first, then every matching invitee rule; a role appears once, at its
    highest level, with every reason that applies. Order: by level, then first mention."""
    found: dict[str, Invitee] = {}

    def add(role: str, level: str, reason: Reason) -> None:
        invitee = found.setdefault(role, Invitee(role, level))
        if LEVEL_RANK[level] < LEVEL_RANK[invitee.level]:
            invitee.level = level
        if reason not in invitee.reasons:
            invitee.reasons.append(reason)

    quorum = profile.quorum_for(facts)
    for q in quorum.roles:
        summary = q.summary or quorum.summary
        add(q.role, "quorum", Reason(quorum.id, summary, q.source or quorum.source))
    for rule in profile.invitees:
        if not holds(rule.when, facts):
            continue
        for role in _roles_of(rule, facts):
            add(role, rule.level, Reason.of(rule))
    rank = {role: i for i, role in enumerate(found)}
    return sorted(found.values(), key=lambda inv: (LEVEL_RANK[inv.level], rank[inv.role]))


def _roles_of(rule, facts: Facts) -> list[str]:
    if rule.role is not None:
        return [rule.role]
    named = [facts.referrer] if rule.roles_from == "referrer" else sorted(facts.involved)
    return [
        r for r in named
        if r is not None and (rule.only is None or r in rule.only) and r not in rule.except_
    ]


def follow_ups(profile: Profile, cal: AreaCalendar, facts: Facts, decided_at: datetime,
               meeting_at: datetime) -> list[FollowUp]:
    out = []
    for rule in profile.follow_ups:
        if not holds(rule.when, facts):
            continue
        start = meeting_at if rule.counted_from == "meeting" else decided_at
        out.append(FollowUp(
            kind=rule.kind, due=cal.deadline(rule.timescale, start), rule=rule,
            counted_from=rule.counted_from, timescale=rule.timescale.describe(),
            applies_if=rule.applies_if, recipients=rule.recipients, raises_meeting=rule.raises_meeting,
            set_by_chair=rule.timescale.kind == "set_by_chair",
        ))
    return out


def make_plan(request: PlanRequest, profile: Profile, *, routed_out_of_hours: bool = False) -> Plan:
    """The plan. `routed_out_of_hours`: the bot routes the request to the out-of-hours team
    although it was decided in office hours (bot.core.routing), so the out-of-hours invitee
    and chair rules apply too; the contract fields (`out_of_hours`, the deadline) still
    describe the decision itself."""
    if request.area != profile.id:
        raise ValueError(f"request is for area {request.area!r}, profile is {profile.id!r}")
    cal = profile.area_calendar  # once: a pydantic private attribute costs microseconds each read
    facts = facts_of(request, cal)
    rule, deadline, matched = meeting_deadline(profile, cal, facts, request.decided_at)
    routed = replace(facts, out_of_hours=True) if routed_out_of_hours else facts
    meeting_at = None if request.meeting_at is None else cal.local(request.meeting_at)
    discussion = profile.discussion_for(routed)
    return Plan(
        area=profile.id,
        decided_at=cal.local(request.decided_at),
        meeting_at=meeting_at,
        out_of_hours=facts.out_of_hours,
        meeting_deadline=deadline,
        deadline_rule=rule,
        deadline_out_of_hours=not cal.allows_office_hours_meeting_by(deadline),
        matched_rules=tuple(matched),
        quorum=tuple(q.role for q in profile.quorum_for(routed).roles),
        invitees=tuple(invitees(profile, routed)),
        follow_ups=None if meeting_at is None else tuple(follow_ups(profile, cal, facts, request.decided_at, meeting_at)),
        chair=next((c for c in profile.chair if holds(c.when, routed)), None),
        meeting_target=meeting_target(cal, matched, request.decided_at, deadline),
        format=discussion.format if discussion else "meeting",
        format_rule=discussion,
        separate_meetings=tuple(r for r in profile.separate_meetings if holds(r.when, facts)),
    )
