"""Who to contact for each role in an area: config/directory/<area-id>.yaml.

A directory lists contacts (Teams identity, email, phone) by role and availability; the
resolver picks the one to invite for a role, in or out of office hours. Loading reports every
problem with the file and the path to the bad value, like the profile loader. A directory is
part of its area: `check-config` and `serve` refuse an area whose directory is missing, names a
role the area does not know, or leaves a quorum role without an office-hours or an on-call
contact (`directory_problems`). The format is documented in docs/new-area.md and as a JSON
Schema in config/schema/directory.schema.json.

    area: north-somerset
    contacts:
      - id: ns-police-office
        role: police                      # a role id (shared/spec/plan.md, Roles, or the area's `roles`)
        name: "DC Sample Fictional"
        aad_object_id: "…GUID…"            # the person's Entra ID object id
        tenant_id: "…GUID…"                # their organisation's tenant
        email: dc.fictional@police.example
        phone: "01632 960101"
        availability: office_hours        # office_hours | on_call | always
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Mapping
from uuid import UUID

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from .config_loader import ConfigError, _read_yaml, _validated, config_dir
from .core.conditions import Strict
from .core.vocabulary import ROLE_ID_PATTERN, ROLES

if TYPE_CHECKING:
    from .core.profile import Profile

Availability = Literal["office_hours", "on_call", "always"]
AREA_ID = re.compile(r"^[a-z][a-z0-9-]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ]{8,16}[0-9]$")

# Preference order of availabilities: in hours the office contacts, out of hours the on-call
# rota. The last entry is a fallback: someone who will see the invitation later.
PREFERENCE = {
    False: ("office_hours", "always", "on_call"),
    True: ("on_call", "always", "office_hours"),
}


class DirectoryError(ConfigError):
    """A directory file that is missing or invalid; `problems` has one line per problem."""


# A contact's role is checked against its area's profile (directory_problems), which may
# declare roles of its own; the schema offers the contract's roles for completion.
def _role_id(v: str) -> str:
    if not re.match(ROLE_ID_PATTERN, v):
        raise ValueError("expected a role id such as 'police' or 'social_care' (lower case, digits, underscores)")
    return v


ContactRole = Annotated[str, AfterValidator(_role_id), WithJsonSchema({"anyOf": [
    {"enum": list(ROLES)}, {"type": "string", "pattern": ROLE_ID_PATTERN, "description": "a role the area declares"}]})]
# In hours an office-hours contact serves; out of hours an on-call one; `always` serves both.
SERVES = {False: ("office_hours", "always"), True: ("on_call", "always")}


class Contact(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    role: ContactRole
    name: str = Field(min_length=1, max_length=200)
    aad_object_id: str
    tenant_id: str
    email: str
    phone: str
    availability: Availability
    team: str | None = None  # e.g. "MASH duty desk", shown to the chair

    @field_validator("aad_object_id", "tenant_id")
    @classmethod
    def _guid(cls, v: str) -> str:
        try:
            return str(UUID(v))
        except (ValueError, AttributeError, TypeError):
            raise ValueError("expected a GUID such as 00000000-0000-4000-8000-000000000000") from None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError("expected an email address such as name@agency.example")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not PHONE.match(v) or not 10 <= len(re.sub(r"\D", "", v)) <= 13:
            raise ValueError("expected a phone number such as '01632 960123'")
        return v


class Directory(Strict):
    area: str = Field(pattern=AREA_ID.pattern)
    contacts: tuple[Contact, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Directory":
        seen: set[str] = set()
        repeated = sorted({c.id for c in self.contacts if c.id in seen or seen.add(c.id)})
        if repeated:
            raise ValueError(f"contact ids must be unique; repeated: {', '.join(repeated)}")
        return self

    def for_role(self, role: str) -> list[Contact]:
        return [c for c in self.contacts if c.role == role]

    def by_email(self, email: str) -> Contact | None:
        """The contact with this email address (case-insensitive), if listed."""
        wanted = email.strip().casefold()
        return next((c for c in self.contacts if c.email.casefold() == wanted), None)

    def missing_roles(self) -> list[str]:
        covered = {c.role for c in self.contacts}
        return [r for r in ROLES if r not in covered]


def directory_problems(directory: Directory, profile: "Profile", shown: str) -> list[str]:
    """What makes a directory unusable for its area, one line per problem naming file and path:
    a contact whose role the area does not know, and a quorum role (in any of the profile's
    quorums) that no contact can fill in office hours or out of hours. A quorum role is filled
    by its own contacts or those of the roles listed in its `filled_by` (out of hours, the EDT
    for social care)."""
    known = set(ROLES) | {r.id for r in profile.roles}
    problems = [
        f"{shown}: contacts[{i}].role: '{c.role}' is not a role of {profile.id}; expected a role of the "
        "contract or one the profile declares under 'roles'"
        for i, c in enumerate(directory.contacts) if c.role not in known
    ]
    seen: set[str] = set()
    for quorum_role in profile.quorum.all_roles():
        if quorum_role.role in seen:
            continue
        seen.add(quorum_role.role)
        fillers = set(quorum_role.filled_by) | {quorum_role.role}
        for out_of_hours, when in ((False, "office-hours"), (True, "on-call")):
            if not any(c.role in fillers and c.availability in SERVES[out_of_hours] for c in directory.contacts):
                problems.append(
                    f"{shown}: contacts: no {when} contact for the quorum role '{quorum_role.role}' "
                    f"(a contact with role {' or '.join(sorted(fillers))} and availability "
                    f"{' or '.join(SERVES[out_of_hours])})")
    return problems


def load_directories(profiles: Mapping[str, "Profile"], root: Path | None = None) -> dict[str, Directory]:
    """The directory of every area, checked against its profile; DirectoryError lists every
    problem of every area (a missing directory included)."""
    directories, problems = {}, []
    for area, profile in profiles.items():
        try:
            directory = load_directory(area, root)
        except DirectoryError as e:
            problems += e.problems
            continue
        found = directory_problems(directory, profile, _shown(directory_path(area, root)))
        if found:
            problems += found
        else:
            directories[area] = directory
    if problems:
        raise DirectoryError(problems)
    return directories


def _shown(path: Path) -> str:
    return f"{path.parent.parent.name}/directory/{path.name}"


def directory_path(area_id: str, root: Path | None = None) -> Path:
    if not AREA_ID.match(area_id):
        raise DirectoryError([f"directory: {area_id!r} is not an area id (e.g. 'north-somerset')"])
    return (root or config_dir()) / "directory" / f"{area_id}.yaml"


def load_directory(area_id: str, root: Path | None = None) -> Directory:
    """The contacts of `area_id` from <root>/directory/<area_id>.yaml (root: the config dir)."""
    path = directory_path(area_id, root)
    shown = _shown(path)
    if not path.is_file():
        raise DirectoryError([f"{shown}: no directory for this area (expected {path})"])
    try:
        directory = _validated(Directory, _read_yaml(path, shown), shown)
    except ConfigError as e:
        raise DirectoryError(e.problems) from None
    if directory.area != area_id:
        raise DirectoryError([f"{shown}: area: '{directory.area}' must match the file name ('{area_id}')"])
    return directory


def resolve(directory: Directory, role: str, out_of_hours: bool) -> Contact | None:
    """The contact to invite for `role`: in hours an office-hours contact (else one available
    always, else on call); out of hours the on-call contact (else always, else an office-hours
    contact, who will see it when the office opens). Ties: the first listed. None: nobody."""
    candidates = directory.for_role(role)
    for availability in PREFERENCE[bool(out_of_hours)]:
        for contact in candidates:
            if contact.availability == availability:
                return contact
    return None
