"""A strategy-meeting request as the plan contract defines it (shared/spec/plan.md, Request)."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Collection, Mapping

from pydantic import Field, ValidationError, field_validator

from .conditions import ChildFacts, Strict
from .errors import describe_validation_error
from .privacy import DEFAULT_CASE_REFERENCE_DESCRIPTION, DEFAULT_CASE_REFERENCE_PATTERN, check_case_reference, screen
from .vocabulary import AreaRole, Concern, Education, Flag, Inpatient, area_roles

if TYPE_CHECKING:
    from .profile import Profile

OFFSET_HINT = "an ISO 8601 date-time with a UTC offset, e.g. 2026-11-25T10:00:00+00:00"
# A strategy meeting is decided and held now, not in 9999 (where adding a working day
# overflows Python's dates): a year outside these is a typing slip, refused by name.
YEARS = (2000, 2099)


def parse_instant(v: Any) -> datetime:
    if isinstance(v, datetime):
        parsed = v
    elif isinstance(v, str):
        try:
            parsed = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not {OFFSET_HINT}") from None
    else:
        raise ValueError(f"expected {OFFSET_HINT}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{v!r} has no UTC offset; expected {OFFSET_HINT}")
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise ValueError(f"the year {parsed.year} is out of range; expected {YEARS[0]} to {YEARS[1]}")
    return parsed


class Child(Strict):
    ref: str = Field(min_length=1, max_length=100)
    age: int | None = Field(default=None, ge=0)
    unborn: bool = False
    education: Education = "none"
    inpatient: Inpatient = "none"
    hospital_services: bool = False

    def facts(self) -> ChildFacts:
        return ChildFacts(self.age, self.unborn, self.education, self.inpatient, self.hospital_services)


class PlanRequest(Strict):
    area: str = Field(min_length=1)
    decided_at: datetime
    meeting_at: datetime | None = None
    children: tuple[Child, ...] = Field(min_length=1)
    concerns: tuple[Concern, ...] = ()
    flags: tuple[Flag, ...] = ()
    referrer: AreaRole | None = None  # the contract's roles, and those the area declares
    involved_services: tuple[AreaRole, ...] = ()
    # Accepted beyond the contract, for the chat flow: never a child's name.
    case_ref: str | None = Field(default=None, max_length=100)

    _instants = field_validator("decided_at", "meeting_at", mode="before")(
        lambda cls, v: v if v is None else parse_instant(v)
    )


class RequestInvalid(ValueError):
    """A request that cannot be planned; `problems` holds one line per problem, naming the field."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_request(data: Any, known_areas: Collection[str],
                  declared_roles: Mapping[str, Collection[str]] | None = None) -> PlanRequest:
    """Validate raw request data (as decoded from JSON); raise RequestInvalid listing every problem.
    `known_areas` may be the profiles by area, whose declared `roles` are then valid in requests
    for that area only; or give them as `declared_roles` (area -> role ids)."""
    if declared_roles is None and isinstance(known_areas, Mapping):
        declared_roles = {area: [r.id for r in getattr(p, "roles", ())] for area, p in known_areas.items()}
    if not isinstance(data, dict):
        raise RequestInvalid(["(top level): expected a JSON object with area, decided_at, children..."])
    problems: list[str] = []
    area = data.get("area")
    if isinstance(area, str) and area and area not in known_areas:
        problems.append(f"area: unknown area {area!r}; expected one of {', '.join(sorted(known_areas))}")
    extra = (declared_roles or {}).get(area, ()) if isinstance(area, str) else ()
    try:
        with area_roles(extra):
            request = PlanRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(problems + describe_validation_error(exc)) from None
    if problems:
        raise RequestInvalid(problems)
    return request


# A child's reference in a request is a position or an ID ("C1", "child2"), never words.
_WORDS = re.compile(r"[A-Za-z]{2,}[\s,]+[A-Za-z]{2,}")


def identifier_problems(data: Any, profiles: Mapping[str, "Profile"], today: date) -> list[str]:
    """What in a new request identifies a child beyond its case reference, one line per
    problem naming the field: a case reference not in the area's format (or carrying a date
    of birth, an NHS number...), a child's `ref` that is a name or an identifier."""
    if not isinstance(data, dict):
        return []
    problems = []
    ref = data.get("case_ref")
    profile = profiles.get(data.get("area")) if isinstance(data.get("area"), str) else None
    if isinstance(ref, str) and ref.strip():
        fmt = profile.case_reference if profile else None
        problem = check_case_reference(ref, fmt.pattern if fmt else DEFAULT_CASE_REFERENCE_PATTERN,
                                       fmt.description if fmt else DEFAULT_CASE_REFERENCE_DESCRIPTION, today=today)
        if problem:
            problems.append(f"case_ref: {problem}")
    children = data.get("children")
    for n, child in enumerate(children if isinstance(children, list) else []):
        child_ref = child.get("ref") if isinstance(child, dict) else None
        if not isinstance(child_ref, str):
            continue
        found = screen(child_ref, today=today)
        if found or _WORDS.search(child_ref):
            what = f"This looks like {found[0].kind}" if found else "This looks like a name"
            problems.append(f"children[{n}].ref: {what}; a child's ref is a position or an ID such as C1, never a name")
    return problems


def parse_new_request(data: Any, profiles: Mapping[str, "Profile"], today: date) -> PlanRequest:
    """A request typed by a person (the form, `python -m bot plan`): `parse_request`, and
    nothing in it identifies a child but a case reference in the area's format. Raises
    RequestInvalid listing every problem."""
    problems = identifier_problems(data, profiles, today)
    try:
        request = parse_request(data, profiles)
    except RequestInvalid as e:
        raise RequestInvalid(e.problems + problems) from None
    if problems:
        raise RequestInvalid(problems)
    return request
