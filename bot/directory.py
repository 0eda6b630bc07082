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
    organisations:                        # every tenant a contact is in, and whether it has the app
      - tenant_id: "…GUID…"
        name: "Avon and Somerset Police"
        teams_app: not_installed          # installed | not_installed (see docs/new-area.md)
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


TeamsApp = Literal["installed", "not_installed"]


class Organisation(Strict):
    """An organisation (one Entra tenant) contacts belong to, and whether it has installed the
    bot's Teams app for its people: only then can the bot message them in Teams. The bot's own
    tenant needs no installation when Microsoft Graph is configured (the bot installs itself)."""

    tenant_id: str
    name: str = Field(min_length=1, max_length=200)
    teams_app: TeamsApp

    @field_validator("tenant_id")
    @classmethod
    def _guid(cls, v: str) -> str:
        return Contact._guid(v)


class Directory(Strict):
    area: str = Field(pattern=AREA_ID.pattern)
    contacts: tuple[Contact, ...] = Field(min_length=1)
    # Optional for older directories (then every organisation is taken to have the app, and
    # check-config warns); when present, every contact's tenant must be listed.
    organisations: tuple[Organisation, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> "Directory":
        seen: set[str] = set()
        repeated = sorted({c.id for c in self.contacts if c.id in seen or seen.add(c.id)})
        if repeated:
            raise ValueError(f"contact ids must be unique; repeated: {', '.join(repeated)}")
        return self

    def organisation(self, tenant_id: str | None) -> Organisation | None:
        """The organisation of this tenant, if the directory lists it."""
        wanted = (tenant_id or "").lower()
        return next((o for o in self.organisations if o.tenant_id.lower() == wanted), None)

    def has_app(self, tenant_id: str | None) -> bool:
        """The organisation of `tenant_id` has installed the app for its people. A directory
        without an `organisations` section (written before it existed) is taken to mean every
        organisation has: the bot tries Teams as it always did (check-config warns)."""
        if not self.organisations:
            return True
        org = self.organisation(tenant_id)
        return org is not None and org.teams_app == "installed"

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
    problems += organisation_problems(directory, shown)
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


def organisation_problems(directory: Directory, shown: str) -> list[str]:
    """When the directory lists organisations: each tenant once, and every contact's tenant
    among them (else nobody can tell whether the bot can reach that contact in Teams)."""
    if not directory.organisations:
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for i, org in enumerate(directory.organisations):
        if org.tenant_id in seen:
            problems.append(f"{shown}: organisations[{i}].tenant_id: {org.tenant_id} is listed twice")
        seen.add(org.tenant_id)
    for i, c in enumerate(directory.contacts):
        if c.tenant_id not in seen:
            problems.append(
                f"{shown}: contacts[{i}].tenant_id: {c.tenant_id} ({c.name}) is not in 'organisations'; add its "
                "organisation with its name and teams_app: installed or not_installed")
    used = {c.tenant_id for c in directory.contacts}
    for i, org in enumerate(directory.organisations):
        if org.tenant_id not in used:
            problems.append(f"{shown}: organisations[{i}]: no contact is in {org.name} ({org.tenant_id}); "
                            "remove it or check the contacts' tenant_id")
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
