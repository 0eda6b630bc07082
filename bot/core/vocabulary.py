"""The closed vocabularies of the plan contract (shared/spec/plan.md).

They are `Literal` types so that pydantic rejects a typo in a request or a profile
with the list of accepted values, and tuples so that code can iterate them.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Iterable, Iterator, Literal, get_args

from pydantic import AfterValidator, WithJsonSchema

Role = Literal[
    "social_care", "police", "health", "paediatrician", "hospital_consultant",
    "ward_nurse", "mental_health_inpatient", "sarc", "lado", "education", "gp",
    "camhs", "health_visitor", "school_nurse", "midwife", "adult_mental_health",
    "substance_misuse", "domestic_abuse_service", "housing", "youth_justice",
    "probation", "adult_social_care", "contextual_safeguarding", "early_help",
    "other_local_authority", "edt",
]
Concern = Literal[
    "physical_abuse", "sexual_abuse", "emotional_abuse", "neglect",
    "extra_familial_harm", "domestic_abuse", "fabricated_induced_illness",
]
Flag = Literal[
    "emergency_protection", "immediate_action", "serious_harm", "recent_incident",
    "chronic_neglect", "historical_abuse", "penetrative_sexual_abuse",
    "forensic_window", "unexplained_injury", "allegation_against_professional",
    "organised_abuse", "new_referral",
    # Beyond the contract (README, "How the rules were read"): an allegation that a child has
    # abused another child (001 §3: separate strategy meetings for both children).
    "child_on_child_abuse",
]
Education = Literal["none", "nursery", "school", "college", "home_educated", "missing"]
Inpatient = Literal["none", "paediatric", "mental_health_tier4"]
Level = Literal["quorum", "must", "should"]

ROLES: tuple[str, ...] = get_args(Role)
CONCERNS: tuple[str, ...] = get_args(Concern)
FLAGS: tuple[str, ...] = get_args(Flag)
LEVELS: tuple[str, ...] = get_args(Level)

# Highest first: a role invited by several rules keeps the highest level.
LEVEL_RANK = {"quorum": 0, "must": 1, "should": 2}

# Human names, for cards and messages.
ROLE_NAMES = {
    "social_care": "Children's social care",
    "police": "Police",
    "health": "Health (safeguarding practitioner)",
    "paediatrician": "Paediatrician",
    "hospital_consultant": "Hospital consultant",
    "ward_nurse": "Senior ward nurse",
    "mental_health_inpatient": "Tier 4 mental health unit clinician",
    "sarc": "Sexual Assault Referral Centre (SARC)",
    "lado": "Local Authority Designated Officer (LADO)",
    "education": "Education (designated safeguarding lead)",
    "gp": "GP",
    "camhs": "CAMHS",
    "health_visitor": "Health visitor",
    "school_nurse": "School nurse",
    "midwife": "Midwife",
    "adult_mental_health": "Adult mental health",
    "substance_misuse": "Substance misuse service",
    "domestic_abuse_service": "Domestic abuse service",
    "housing": "Housing",
    "youth_justice": "Youth justice service",
    "probation": "Probation",
    "adult_social_care": "Adult social care",
    "contextual_safeguarding": "Contextual safeguarding / extra-familial harm team",
    "early_help": "Early help",
    "other_local_authority": "Other local authority",
    "edt": "Emergency Duty Team",
}
assert set(ROLE_NAMES) == set(ROLES)


# --- roles an area adds ------------------------------------------------------------
# A profile may declare roles of its own (a voluntary-sector agency its protocol names); they
# are valid in that profile and in requests for that area only. While a profile or a request
# is validated, `area_roles` holds the extra role ids in force, so that every role field
# (a profile's quorum, invitees, conditions; a request's referrer and services) checks the
# same list and reports the error at its own path.
ROLE_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_area_roles: ContextVar[frozenset[str]] = ContextVar("area_roles", default=frozenset())


@contextmanager
def area_roles(ids: Iterable[str]) -> Iterator[None]:
    """Within this block, role fields also accept `ids` (the roles one area declares)."""
    token = _area_roles.set(frozenset(ids))
    try:
        yield
    finally:
        _area_roles.reset(token)


def _known_role(v: str) -> str:
    extra = _area_roles.get()
    if v in ROLES or v in extra:
        return v
    expected = ", ".join(repr(r) for r in (*ROLES, *sorted(extra - set(ROLES))))
    raise ValueError(f"unknown role {v!r}; expected one of {expected}, or a role the area declares under 'roles'")


AreaRole = Annotated[
    str,
    AfterValidator(_known_role),
    WithJsonSchema({"anyOf": [
        {"enum": list(ROLES), "description": "a role of the plan contract (shared/spec/plan.md, Roles)"},
        {"type": "string", "pattern": ROLE_ID_PATTERN, "description": "a role this profile declares under 'roles'"},
    ]}),
]
