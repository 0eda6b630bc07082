"""When a rule applies: a small, declarative condition language used by every profile.

A `when:` mapping ANDs its keys; `any_of` ORs nested conditions and `not` negates one.
Conditions read only `Facts`, which the planner derives once from the request.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from .vocabulary import AreaRole, Concern, Education, Flag, Inpatient


class Strict(BaseModel):
    """Profiles and requests reject unknown keys: a typo must never silently drop a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildCondition(Strict):
    """True when at least one child satisfies every given key."""

    education: frozenset[Education] | None = None
    inpatient: frozenset[Inpatient] | None = None
    hospital_services: bool | None = None
    unborn: bool | None = None
    age_at_least: int | None = Field(default=None, ge=0)
    age_below: int | None = Field(default=None, ge=0)

    def holds_for(self, child: "ChildFacts") -> bool:
        if self.education is not None and child.education not in self.education:
            return False
        if self.inpatient is not None and child.inpatient not in self.inpatient:
            return False
        if self.hospital_services is not None and child.hospital_services != self.hospital_services:
            return False
        if self.unborn is not None and child.unborn != self.unborn:
            return False
        if self.age_at_least is not None and (child.age is None or child.age < self.age_at_least):
            return False
        if self.age_below is not None and (child.age is None or child.age >= self.age_below):
            return False
        return True


class Condition(Strict):
    concerns_any: frozenset[Concern] | None = None
    flags_any: frozenset[Flag] | None = None
    flags_all: frozenset[Flag] | None = None
    children_any: ChildCondition | None = None
    min_children: int | None = Field(default=None, ge=1)
    referrer_in: frozenset[AreaRole] | None = None
    involved_any: frozenset[AreaRole] | None = None
    out_of_hours: bool | None = None
    meeting_out_of_hours: bool | None = None
    any_of: tuple["Condition", ...] | None = Field(default=None, min_length=1)
    not_: "Condition | None" = Field(default=None, alias="not")

    def holds(self, facts: "Facts") -> bool:
        if self.concerns_any is not None and facts.concerns.isdisjoint(self.concerns_any):
            return False
        if self.flags_any is not None and facts.flags.isdisjoint(self.flags_any):
            return False
        if self.flags_all is not None and not self.flags_all <= facts.flags:
            return False
        if self.children_any is not None and not any(map(self.children_any.holds_for, facts.children)):
            return False
        if self.min_children is not None and len(facts.children) < self.min_children:
            return False
        if self.referrer_in is not None and facts.referrer not in self.referrer_in:
            return False
        if self.involved_any is not None and facts.involved.isdisjoint(self.involved_any):
            return False
        if self.out_of_hours is not None and facts.out_of_hours != self.out_of_hours:
            return False
        if self.meeting_out_of_hours is not None and facts.meeting_out_of_hours != self.meeting_out_of_hours:
            return False
        if self.any_of is not None and not any(c.holds(facts) for c in self.any_of):
            return False
        if self.not_ is not None and self.not_.holds(facts):
            return False
        return True


@dataclass(frozen=True, slots=True)
class ChildFacts:
    age: int | None
    unborn: bool
    education: str
    inpatient: str
    hospital_services: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """What rules may look at, derived once per request."""

    concerns: frozenset[str]
    flags: frozenset[str]
    children: tuple[ChildFacts, ...]
    referrer: str | None
    involved: frozenset[str]
    out_of_hours: bool
    meeting_out_of_hours: bool | None  # None when no meeting time is known


def holds(condition: Condition | None, facts: Facts) -> bool:
    return condition is None or condition.holds(facts)
