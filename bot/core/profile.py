"""An area profile: one local protocol written as data (one YAML file under config/).

Every rule carries `id`, `summary` and `source` ("<document> §<section>"); the source must
name a document the profile declares, so a citation can always be traced to its text.
Loading the YAML and reporting errors with file names is the adapter's job
(bot/config_loader.py); this module only says what a valid profile is. The JSON Schema that
editors and the README use is generated from these models (bot/schema.py).
"""
from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal, Mapping, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

from .calendar import COUNTED_KINDS, UNDATED_KINDS, AreaCalendar, Timescale, TimescaleKind
from .conditions import Condition, Facts, Strict, holds
from .privacy import DEFAULT_CASE_REFERENCE_DESCRIPTION, DEFAULT_CASE_REFERENCE_PATTERN
from .vocabulary import ROLE_ID_PATTERN, ROLES, AreaRole, Level, area_roles

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


NAMED_TIMESCALES: tuple[str, ...] = tuple(k for k in get_args(TimescaleKind) if k not in COUNTED_KINDS)
_TIMESCALE_HELP = ", ".join(NAMED_TIMESCALES) + ", " + ", ".join(f"{{{k}: N}}" for k in COUNTED_KINDS)


def parse_timescale(v: object) -> Timescale:
    """YAML form: `same_day` (a name) or `{hours: 4}` / `{working_days: 3}` (a counted kind)."""
    if isinstance(v, Timescale):
        return v
    if isinstance(v, str):
        if v in COUNTED_KINDS:
            raise ValueError(f"'{v}' needs a count, e.g. {{{v}: 3}}")
        if v not in NAMED_TIMESCALES:
            raise ValueError(f"unknown timescale '{v}'; expected one of {_TIMESCALE_HELP}")
        return Timescale(v)
    if isinstance(v, dict) and len(v) == 1:
        ((kind, n),) = v.items()
        if kind in COUNTED_KINDS and isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return Timescale(kind, n)
    raise ValueError(f"expected a timescale: one of {_TIMESCALE_HELP}, N a whole number of at least 1")


TIMESCALE_JSON_SCHEMA: dict[str, Any] = {
    "description": "a timescale (shared/spec/plan.md, Time; bot/core/calendar.py)",
    "anyOf": [
        {"enum": list(NAMED_TIMESCALES)},
        *({"type": "object", "properties": {k: {"type": "integer", "minimum": 1}}, "required": [k],
           "additionalProperties": False} for k in COUNTED_KINDS),
    ],
}
TimescaleField = Annotated[Timescale, BeforeValidator(parse_timescale), WithJsonSchema(TIMESCALE_JSON_SCHEMA)]


class _Timed(Cited):
    """A rule with a limit (`timescale`) and, optionally, the time the protocol usually aims
    for within it (`target`: "usually within one working day, at most three")."""

    timescale: TimescaleField
    target: TimescaleField | None = None

    @model_validator(mode="after")
    def _dated(self) -> "_Timed":
        # "As soon as practicable" or a chair's date suits minutes; a meeting about a child at risk
        # needs a date.
        for name, ts in (("timescale", self.timescale), ("target", self.target)):
            if ts is not None and ts.kind in UNDATED_KINDS:
                raise ValueError(f"rule '{self.id}': a meeting {name} needs a deadline, not {ts.kind}")
        return self


class TimescaleRule(_Timed):
    when: Condition | None = None


class DefaultTimescale(_Timed):
    pass


class Timescales(Strict):
    default: DefaultTimescale
    rules: tuple[TimescaleRule, ...] = ()


class DiscussionRule(Cited):
    """How the strategy discussion may be held when `when` holds (the first matching rule
    wins; none: a meeting). Working Together 2023 allows a meeting or phone calls."""

    format: Literal["meeting", "meeting_or_calls"]
    when: Condition | None = None


class QuorumRole(Strict):
    role: AreaRole
    filled_by: tuple[AreaRole, ...] = ()
    summary: str | None = None
    source: str | None = None

    _shape = field_validator("source")(lambda cls, v: v if v is None else Cited._source_shape(v))

    @model_validator(mode="after")
    def _role_fills_itself(self) -> "QuorumRole":
        if self.role not in self.filled_by:
            object.__setattr__(self, "filled_by", (self.role, *self.filled_by))
        return self


class _QuorumRoles(Cited):
    roles: tuple[QuorumRole, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> "_QuorumRoles":
        seen = [r.role for r in self.roles]
        if len(seen) != len(set(seen)):
            raise ValueError("each quorum role may be listed once")
        return self


class QuorumVariant(_QuorumRoles):
    """A quorum the protocol sets for some discussions only (e.g. the urgent one)."""

    when: Condition


class Quorum(_QuorumRoles):
    # The first variant whose `when` holds replaces `roles` for that request.
    variants: tuple[QuorumVariant, ...] = ()

    def all_roles(self) -> list[QuorumRole]:
        return [*self.roles, *(q for v in self.variants for q in v.roles)]


class InviteeRule(Cited):
    """Invites one role, or the roles named by the request (`referrer`, `involved_services`)."""

    level: Level
    role: AreaRole | None = None
    roles_from: Literal["referrer", "involved_services"] | None = None
    only: frozenset[AreaRole] | None = None
    except_: frozenset[AreaRole] = Field(default=frozenset(), alias="except")
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
    timescale: TimescaleField
    when: Condition | None = None
    applies_if: str | None = None  # an outcome the plan cannot know yet, e.g. "s47_enquiry"
    recipients: tuple[str, ...] = ()
    # The follow-up is a further strategy meeting (a review, a quorate meeting the next working
    # day): its reminders offer to raise that meeting's request to the daytime team.
    raises_meeting: bool = False


class ChairRule(Cited):
    when: Condition | None = None


class SeparateMeetingRule(Cited):
    """A further strategy meeting the protocol requires alongside this one (001 §3: for an
    allegation that a child abused another child, separate meetings for both children)."""

    when: Condition | None = None


class FollowOn(Cited):
    """A quorate meeting raised to the daytime team after an out-of-hours discussion."""

    # always: the protocol requires it; chair_decides: the chair records whether it is needed.
    mode: Literal["always", "chair_decides"] = "always"
    # Counted from the discussion; None: the area's own timescales, from the next office opening.
    timescale: TimescaleField | None = None
    chaired_by: str = Field(min_length=1)  # in the protocol's words


class ProfessionalDiscussion(Cited):
    """The protocol's fallback when a quorate meeting cannot be held in time out of hours."""

    with_role: AreaRole | None = "police"  # None: separate conversations with the partner agencies
    rationale_required: bool = False
    follow_on: FollowOn | None = None


class OutOfHours(Strict):
    """How the area works outside office hours (the EDT's time)."""

    chair_role: AreaRole = "edt"
    # A request whose deadline leaves less office time than this to convene and hold the
    # meeting is routed out of hours too (e.g. a same-day concern raised at 16:30).
    min_office_minutes: int = Field(default=60, ge=0, le=480)
    professional_discussion: ProfessionalDiscussion | None = None


class Preparation(Strict):
    """What an agency must check and bring (000 'Agency Information', 004 'Top tips')."""

    # "others": roles no other group names; "all": every role, beside their own groups.
    applies_to: tuple[AreaRole, ...] | Literal["others", "all"]
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


class Document(Strict):
    """A protocol the profile cites, keyed by its file name (shared/protocols/ for the four
    areas): a human title, shown with each citation on cards, and where it is published."""

    title: str = Field(min_length=1)
    link: str | None = Field(default=None, pattern=r"^https?://\S+$")


DocumentKey = Annotated[str, Field(pattern=r"^\S+$")]


def readable_source(source: str, documents: Mapping[str, Document]) -> str:
    """'003_2d544eb75ad81283.txt §3.2' -> 'Bristol strategy meeting guidance §3.2', for people;
    a source naming no listed document is returned as it is."""
    m = SOURCE_PATTERN.match(source)
    doc = documents.get(m["doc"]) if m else None
    return f"{doc.title} §{m['section']}" if doc else source


class DeclaredRole(Strict):
    """A role the area's protocol names beyond the contract's list (e.g. a voluntary-sector
    agency). Requests for this area may name it; `fills` is the quorum role it may fill."""

    id: str = Field(pattern=ROLE_ID_PATTERN)
    name: str = Field(min_length=1)
    fills: str | None = None
    source: str

    _shape = field_validator("source")(lambda cls, v: Cited._source_shape(v))

    @field_validator("id")
    @classmethod
    def _new(cls, v: str) -> str:
        if v in ROLES:
            raise ValueError(f"'{v}' is already a role of the contract; declare only roles it does not list")
        return v


class Fragment(Strict):
    """Rules shared by several profiles (e.g. 004's agency preparation), pulled in by `include`."""

    documents: dict[DocumentKey, Document] = {}
    invitees: tuple[InviteeRule, ...] = ()
    preparation: tuple[Preparation, ...] = ()


def _declared_role_ids(data: Any) -> set[str]:
    roles = data.get("roles") if isinstance(data, dict) else None
    if not isinstance(roles, list | tuple):
        return set()
    return {r["id"] for r in roles if isinstance(r, dict) and isinstance(r.get("id"), str)}


class Profile(Strict):
    """One area's protocol. Required: id, name, documents, timescales, quorum, escalation."""

    # The descriptions are the README's table of sections (tests/test_schema.py) and the
    # editor's hover text (config/schema/profile.schema.json).
    id: str = Field(pattern=PROFILE_ID_PATTERN,
                    description="the area id, the file's name (`bristol` for `bristol.yaml`)")
    name: str = Field(min_length=1, description="the area's name for people")
    documents: dict[DocumentKey, Document] = Field(
        min_length=1, description="`<file name>: {title: ..., link: ...}`, every document a rule cites")
    include: tuple[str, ...] = Field((), description="shared fragments under `config/`, e.g. `[shared/top-tips.yaml]`")
    roles: tuple[DeclaredRole, ...] = Field((), description=(
        "roles the protocol names beyond the contract's list: `{id, name, fills, source}`; "
        "`fills` is the quorum role it may stand in for"))
    calendar: CalendarConfig = Field(CalendarConfig(), description=(
        'time zone, office hours (quoted `"09:00"`), bank holidays (`holidays` package, GB/ENG), extra `closures`'))
    timescales: Timescales = Field(description=(
        "`default` (when no rule matches) and `rules` (`when` + `timescale`, optional `target`): "
        "the earliest matching deadline wins"))
    discussion: tuple[DiscussionRule, ...] = Field((), description=(
        "rules `{format: meeting | meeting_or_calls, when}`: the first matching says whether phone calls "
        "may replace the meeting"))
    quorum: Quorum = Field(description=(
        "`roles` (`role`, `filled_by`) and optional `variants` (`when` + `roles`): a different quorum "
        "for some discussions"))
    invitees: tuple[InviteeRule, ...] = Field((), description=(
        "`role` or `roles_from: referrer | involved_services` (`only`, `except`), "
        "`level: quorum | must | should`, `when`"))
    follow_ups: tuple[FollowUpRule, ...] = Field((), description=(
        "`kind`, `from: meeting | decision`, `timescale`, `when`, `applies_if`, `recipients`, `raises_meeting`"))
    chair: tuple[ChairRule, ...] = Field((), description="who chairs; the first rule whose `when` holds")
    separate_meetings: tuple[SeparateMeetingRule, ...] = Field((), description=(
        "further strategy meetings the protocol requires beside this one (`when`), e.g. one for each child "
        "in child-on-child abuse"))
    escalation: Cited = Field(description="how disagreements are escalated")
    out_of_hours: OutOfHours = Field(OutOfHours(), description=(
        "`chair_role` (default `edt`), `min_office_minutes`, `professional_discussion` "
        "(the fallback, with its `follow_on`)"))
    preparation: tuple[Preparation, ...] = Field((), description=(
        "what each agency brings: `applies_to` (roles, `others` or `all`), `items`"))
    agenda: tuple[AgendaItem, ...] = Field((), description="agenda items with their source")
    case_reference: CaseReference = Field(CaseReference(), description=(
        "`pattern` (a regular expression), `description` (what a reference looks like, shown when one is "
        "refused), `details_from` (where invitees get the child's details, for the calendar invitation)"))

    _calendar: AreaCalendar = PrivateAttr()

    def model_post_init(self, _context: object) -> None:
        self._calendar = self.calendar.build()

    @property
    def area_calendar(self) -> AreaCalendar:
        return self._calendar

    @model_validator(mode="wrap")
    @classmethod
    def _with_declared_roles(cls, data: Any, handler):
        # Every role field of this profile accepts the roles it declares (and only this one's).
        with area_roles(_declared_role_ids(data)):
            return handler(data)

    @model_validator(mode="after")
    def _integrity(self) -> "Profile":
        problems: list[str] = []
        ids: dict[str, int] = {}
        for rule in self.cited_rules():
            ids[rule.id] = ids.get(rule.id, 0) + 1
        problems += [f"(top level): rule id '{i}' is used {n} times; ids must be unique" for i, n in ids.items() if n > 1]
        for path, source in self.citations():
            doc = SOURCE_PATTERN.match(source)["doc"]
            if doc not in self.documents:
                problems.append(f"{path}: cites '{doc}', which is not listed under 'documents'")
        quorum_roles = {q.role for q in self.quorum.all_roles()}
        seen: set[str] = set()
        for i, declared in enumerate(self.roles):
            if declared.id in seen:
                problems.append(f"roles[{i}].id: '{declared.id}' is declared twice")
            seen.add(declared.id)
            if declared.fills is not None and declared.fills not in quorum_roles:
                problems.append(f"roles[{i}].fills: '{declared.fills}' is not a quorum role of this profile; "
                                f"expected one of {', '.join(sorted(quorum_roles))}")
        if problems:
            # One line per problem, each naming its own path (bot/core/errors.py splits them).
            raise ValueError("\n".join(problems))
        self._add_declared_fillers()
        return self

    def _add_declared_fillers(self) -> None:
        for q in self.quorum.all_roles():
            extra = tuple(r.id for r in self.roles if r.fills == q.role and r.id not in q.filled_by)
            if extra:
                object.__setattr__(q, "filled_by", (*q.filled_by, *extra))

    def cited_rules(self) -> list[Cited]:
        return [
            self.timescales.default, *self.timescales.rules, *self.discussion, self.quorum, *self.quorum.variants,
            *self.invitees, *self.follow_ups, *self.chair, *self.separate_meetings, self.escalation,
            *self._fallback_rules(),
        ]

    def _fallback_rules(self) -> list[Cited]:
        discussion = self.out_of_hours.professional_discussion
        if discussion is None:
            return []
        return [discussion, *([discussion.follow_on] if discussion.follow_on else [])]

    def citations(self) -> list[tuple[str, str]]:
        """(path in the profile, source) of every citation."""
        out = [("timescales.default.source", self.timescales.default.source)]
        out += [(f"timescales.rules[{i}].source", r.source) for i, r in enumerate(self.timescales.rules)]
        out += [(f"discussion[{i}].source", r.source) for i, r in enumerate(self.discussion)]
        out += [("quorum.source", self.quorum.source)]
        out += [(f"quorum.roles[{i}].source", q.source) for i, q in enumerate(self.quorum.roles) if q.source]
        for v, variant in enumerate(self.quorum.variants):
            out += [(f"quorum.variants[{v}].source", variant.source)]
            out += [(f"quorum.variants[{v}].roles[{i}].source", q.source) for i, q in enumerate(variant.roles) if q.source]
        out += [(f"roles[{i}].source", r.source) for i, r in enumerate(self.roles)]
        for key in ("invitees", "follow_ups", "chair", "preparation", "agenda"):
            out += [(f"{key}[{i}].source", r.source) for i, r in enumerate(getattr(self, key))]
        out += [("escalation.source", self.escalation.source)]
        discussion = self.out_of_hours.professional_discussion
        if discussion is not None:
            out += [("out_of_hours.professional_discussion.source", discussion.source)]
            if discussion.follow_on:
                out += [("out_of_hours.professional_discussion.follow_on.source", discussion.follow_on.source)]
        return out

    def readable_source(self, source: str) -> str:
        """A citation with the document's title in place of its file name."""
        return readable_source(source, self.documents)

    def quorum_for(self, facts: Facts) -> _QuorumRoles:
        """The quorum that applies: the first variant whose condition holds, else the usual one."""
        return next((v for v in self.quorum.variants if holds(v.when, facts)), self.quorum)

    def discussion_for(self, facts: Facts) -> DiscussionRule | None:
        return next((d for d in self.discussion if holds(d.when, facts)), None)

    def preparation_for(self, role: str) -> list[Preparation]:
        """What this role must bring: the groups naming it, else the 'others' groups; and the
        groups for 'all'."""
        named = [p for p in self.preparation if p.applies_to not in ("others", "all") and role in p.applies_to]
        own = named or [p for p in self.preparation if p.applies_to == "others"]
        return own + [p for p in self.preparation if p.applies_to == "all"]
