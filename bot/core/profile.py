"""An area profile: one local protocol written as data (one YAML file under config/).

Every rule carries `id`, `summary` and `source` ("<document> §<section>"); the source must
name a document the profile declares, so a citation can always be traced to its text.
Loading the YAML and reporting errors with file names is the adapter's job
(bot/config_loader.py); this module only says what a valid profile is.
"""
from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .calendar import AreaCalendar, Timescale
from .conditions import Condition, Strict
from .privacy import DEFAULT_CASE_REFERENCE_DESCRIPTION, DEFAULT_CASE_REFERENCE_PATTERN
from .vocabulary import Level, Role

SOURCE_PATTERN = re.compile(r"^(?P<doc>\S+) §(?P<section>\S.*)$")
SLUG_PATTERN = r"^[a-z][a-z0-9_]*$"
PROFILE_ID_PATTERN = r"^[a-z][a-z0-9-]*$"


class Cited(Strict):
    """Anything the bot shows as a reason: what it says and where the protocol says it."""

    id: str = Field(pattern=SLUG_PATTERN)
    summary: str = Field(min_length=1)
    source: str

    @field_validator("source")
    @classmethod
    def _source_shape(cls, v: str) -> str:
        if not SOURCE_PATTERN.match(v):
            raise ValueError("a citation must look like '<document file> §<section>', e.g. '003_2d544eb75ad81283.txt §3.2'")
        return v

    def citation(self) -> dict[str, str]:
        return {"id": self.id, "summary": self.summary, "source": self.source}


def parse_timescale(v: object) -> Timescale:
    """YAML form: `same_day` (a name) or `{hours: 4}` / `{working_days: 3}` (a counted kind)."""
    if isinstance(v, Timescale):
        return v
    if isinstance(v, str):
        if v in ("hours", "working_days"):
            raise ValueError(f"'{v}' needs a count, e.g. {{{v}: 3}}")
        if v not in ("same_day", "same_working_day", "next_working_day_start", "next_office_opening",
                     "as_soon_as_practicable"):
            raise ValueError(
                f"unknown timescale '{v}'; expected same_day, same_working_day, next_working_day_start, next_office_opening, "
                "as_soon_as_practicable, {hours: H} or {working_days: N}"
            )
        return Timescale(v)
    if isinstance(v, dict) and len(v) == 1:
        ((kind, n),) = v.items()
        if kind in ("hours", "working_days") and isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return Timescale(kind, n)
    raise ValueError("expected a timescale: same_day, same_working_day, next_working_day_start, "
                     "as_soon_as_practicable, {hours: H} or {working_days: N} with a whole number of at least 1")


class TimescaleRule(Cited):
    timescale: Timescale
    when: Condition | None = None

    _parse = field_validator("timescale", mode="before")(lambda cls, v: parse_timescale(v))


class DefaultTimescale(Cited):
    timescale: Timescale

    _parse = field_validator("timescale", mode="before")(lambda cls, v: parse_timescale(v))


class Timescales(Strict):
    default: DefaultTimescale
    rules: tuple[TimescaleRule, ...] = ()

    @model_validator(mode="after")
    def _meetings_have_deadlines(self) -> "Timescales":
        # "As soon as practicable" suits minutes; a meeting about a child at risk needs a date.
        for rule in (self.default, *self.rules):
            if rule.timescale.kind == "as_soon_as_practicable":
                raise ValueError(f"rule '{rule.id}': a meeting timescale needs a deadline, not as_soon_as_practicable")
        return self


class QuorumRole(Strict):
    role: Role
    filled_by: tuple[Role, ...] = ()
    summary: str | None = None
    source: str | None = None

    _shape = field_validator("source")(lambda cls, v: v if v is None else Cited._source_shape(v))

    @model_validator(mode="after")
    def _role_fills_itself(self) -> "QuorumRole":
        if self.role not in self.filled_by:
            object.__setattr__(self, "filled_by", (self.role, *self.filled_by))
        return self


class Quorum(Cited):
    roles: tuple[QuorumRole, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> "Quorum":
        seen = [r.role for r in self.roles]
        if len(seen) != len(set(seen)):
            raise ValueError("each quorum role may be listed once")
        return self


class InviteeRule(Cited):
    """Invites one role, or the roles named by the request (`referrer`, `involved_services`)."""

    level: Level
    role: Role | None = None
    roles_from: Literal["referrer", "involved_services"] | None = None
    only: frozenset[Role] | None = None
    except_: frozenset[Role] = Field(default=frozenset(), alias="except")
    when: Condition | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "InviteeRule":
        if (self.role is None) == (self.roles_from is None):
            raise ValueError("an invitee rule needs exactly one of 'role' or 'roles_from'")
        if self.role is not None and (self.only is not None or self.except_):
            raise ValueError("'only' and 'except' go with 'roles_from', not with 'role'")
        return self


class FollowUpRule(Cited):
    kind: str = Field(pattern=SLUG_PATTERN)
    counted_from: Literal["meeting", "decision"] = Field(default="meeting", alias="from")
    timescale: Timescale
    when: Condition | None = None
    applies_if: str | None = None  # an outcome the plan cannot know yet, e.g. "s47_enquiry"
    recipients: tuple[str, ...] = ()
    # The follow-up is a further strategy meeting (a review, a quorate meeting the next working
    # day): its reminders offer to raise that meeting's request to the daytime team.
    raises_meeting: bool = False

    _parse = field_validator("timescale", mode="before")(lambda cls, v: parse_timescale(v))


class ChairRule(Cited):
    when: Condition | None = None


class FollowOn(Cited):
    """A quorate meeting raised to the daytime team after an out-of-hours discussion."""

    # always: the protocol requires it; chair_decides: the chair records whether it is needed.
    mode: Literal["always", "chair_decides"] = "always"
    # Counted from the discussion; None: the area's own timescales, from the next office opening.
    timescale: Timescale | None = None
    chaired_by: str = Field(min_length=1)  # in the protocol's words

    _parse = field_validator("timescale", mode="before")(lambda cls, v: None if v is None else parse_timescale(v))


class ProfessionalDiscussion(Cited):
    """The protocol's fallback when a quorate meeting cannot be held in time out of hours."""

    with_role: Role | None = "police"  # None: separate conversations with the partner agencies
    rationale_required: bool = False
    follow_on: FollowOn | None = None


class OutOfHours(Strict):
    """How the area works outside office hours (the EDT's time)."""

    chair_role: Role = "edt"
    # A request whose deadline leaves less office time than this to convene and hold the
    # meeting is routed out of hours too (e.g. a same-day concern raised at 16:30).
    min_office_minutes: int = Field(default=60, ge=0, le=480)
    professional_discussion: ProfessionalDiscussion | None = None


class Preparation(Strict):
    """What an agency must check and bring (000 'Agency Information', 004 'Top tips')."""

    applies_to: tuple[Role, ...] | Literal["others"]
    items: tuple[str, ...] = Field(min_length=1)
    source: str

    _shape = field_validator("source")(lambda cls, v: Cited._source_shape(v))


class AgendaItem(Strict):
    item: str = Field(min_length=1)
    detail: str | None = None
    source: str

    _shape = field_validator("source")(lambda cls, v: Cited._source_shape(v))


class Closure(Strict):
    date: date
    reason: str = Field(min_length=1)


class OfficeHours(Strict):
    open: time = time(9, 0)
    close: time = time(17, 0)

    @field_validator("open", "close", mode="before")
    @classmethod
    def _quoted_clock(cls, v: object) -> object:
        # YAML 1.1 reads an unquoted 17:00 as the number 1020 (base 60): insist on "HH:MM".
        if not isinstance(v, str | time):
            raise ValueError('expected a quoted clock time such as "09:00"')
        return v

    @model_validator(mode="after")
    def _order(self) -> "OfficeHours":
        if not self.open < self.close:
            raise ValueError("office hours must open before they close")
        return self


class BankHolidays(Strict):
    country: str = "GB"
    subdiv: str | None = "ENG"


class CalendarConfig(Strict):
    timezone: str = "Europe/London"
    office_hours: OfficeHours = OfficeHours()
    bank_holidays: BankHolidays = BankHolidays()
    closures: tuple[Closure, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}' (expected an IANA name such as Europe/London)") from None
        return v

    @model_validator(mode="after")
    def _known_holidays(self) -> "CalendarConfig":
        import holidays

        try:
            holidays.country_holidays(self.bank_holidays.country, subdiv=self.bank_holidays.subdiv)
        except NotImplementedError as e:
            raise ValueError(f"bank_holidays: {e}") from None
        return self

    def build(self) -> AreaCalendar:
        return AreaCalendar(
            timezone=self.timezone,
            office_open=self.office_hours.open,
            office_close=self.office_hours.close,
            holiday_country=self.bank_holidays.country,
            holiday_subdiv=self.bank_holidays.subdiv,
            closures=frozenset(c.date for c in self.closures),
        )


class CaseReference(Strict):
    """What identifies a child to the bot (and nothing else does): the format of the area's
    case reference, and where invitees get the child's details instead."""

    pattern: str = DEFAULT_CASE_REFERENCE_PATTERN  # a regular expression the whole reference must match
    description: str = Field(default=DEFAULT_CASE_REFERENCE_DESCRIPTION, min_length=1)  # shown when it does not
    details_from: str = Field(default="from the chair, by secure email", min_length=1)  # "by secure email from the MASH"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return v


class Fragment(Strict):
    """Rules shared by several profiles (e.g. 004's agency preparation), pulled in by `include`."""

    documents: dict[str, str] = {}
    invitees: tuple[InviteeRule, ...] = ()
    preparation: tuple[Preparation, ...] = ()


class Profile(Strict):
    id: str = Field(pattern=PROFILE_ID_PATTERN)
    name: str = Field(min_length=1)
    documents: dict[str, str] = Field(min_length=1)  # file name -> title
    include: tuple[str, ...] = ()
    calendar: CalendarConfig = CalendarConfig()
    timescales: Timescales
    quorum: Quorum
    invitees: tuple[InviteeRule, ...] = ()
    follow_ups: tuple[FollowUpRule, ...] = ()
    chair: tuple[ChairRule, ...] = ()
    escalation: Cited
    out_of_hours: OutOfHours = OutOfHours()
    preparation: tuple[Preparation, ...] = ()
    agenda: tuple[AgendaItem, ...] = ()
    case_reference: CaseReference = CaseReference()

    _calendar: AreaCalendar = PrivateAttr()

    def model_post_init(self, _context: object) -> None:
        self._calendar = self.calendar.build()

    @property
    def area_calendar(self) -> AreaCalendar:
        return self._calendar

    @model_validator(mode="after")
    def _integrity(self) -> "Profile":
        problems: list[str] = []
        ids: dict[str, int] = {}
        for rule in self.cited_rules():
            ids[rule.id] = ids.get(rule.id, 0) + 1
        problems += [f"rule id '{i}' is used {n} times; ids must be unique" for i, n in ids.items() if n > 1]
        for where, source in self.citations():
            doc = SOURCE_PATTERN.match(source)["doc"]
            if doc not in self.documents:
                problems.append(f"{where} cites '{doc}', which is not listed under 'documents'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def cited_rules(self) -> list[Cited]:
        return [
            self.timescales.default, *self.timescales.rules, self.quorum, *self.invitees,
            *self.follow_ups, *self.chair, self.escalation, *self._fallback_rules(),
        ]

    def _fallback_rules(self) -> list[Cited]:
        discussion = self.out_of_hours.professional_discussion
        if discussion is None:
            return []
        return [discussion, *([discussion.follow_on] if discussion.follow_on else [])]

    def citations(self) -> list[tuple[str, str]]:
        out = [(f"rule '{r.id}'", r.source) for r in self.cited_rules()]
        out += [(f"quorum role '{q.role}'", q.source) for q in self.quorum.roles if q.source]
        out += [(f"preparation for {p.applies_to}", p.source) for p in self.preparation]
        out += [(f"agenda item '{a.item}'", a.source) for a in self.agenda]
        return out

    def preparation_for(self, role: str) -> list[Preparation]:
        """What this role must bring: the groups naming it, else the 'others' groups."""
        named = [p for p in self.preparation if p.applies_to != "others" and role in p.applies_to]
        return named or [p for p in self.preparation if p.applies_to == "others"]
