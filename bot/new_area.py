"""`python -m bot new-area ID`: a commented skeleton profile and directory for a new area.

The skeleton is valid in shape; every value only the protocol can give reads TODO, and
`check-config` refuses a file that still holds one, naming each path. docs/new-area.md walks
through filling it in.
"""
from __future__ import annotations

import re
from pathlib import Path

from .core.profile import PROFILE_ID_PATTERN

PROFILE = '''\
# yaml-language-server: $schema=schema/profile.schema.json
# Area profile: {area}. One local protocol written as data; the guide is docs/new-area.md.
# Every rule has an `id` (lower_case_with_underscores, unique in this file), a `summary` (what the
# protocol says, in words the chair will recognise: it is shown on the cards) and a `source`:
# "<document> §<section>", the document being a key under `documents`.
# Replace every TODO; `python -m bot check-config` names each one still left.
id: {area}
name: "TODO the area's name as people say it"

documents:
  # The protocol's file name (or any short name without spaces) -> its title, shown with each
  # citation ("Somerset strategy discussion procedure §3.2"), and where it is published.
  TODO-protocol.pdf:
    title: "TODO the protocol's title"
    # link: https://...

# The 004 "Top tips" agency checklist (config/shared/top-tips.yaml) adds preparation prompts
# and three invitations citing its own document. Include it only if your partnership uses it.
# include: [shared/top-tips.yaml]

# Roles your protocol names that the contract's list (docs/new-area.md) does not have.
# roles:
#   - id: barnardos_service          # lower_case_with_underscores
#     name: "Barnardo's family support"
#     fills: health                   # optional: the quorum role it may fill
#     source: "TODO-protocol.pdf §TODO"

calendar:
  timezone: Europe/London
  office_hours: {{open: "09:00", close: "17:00"}}   # quoted: YAML reads 17:00 as a number
  bank_holidays: {{country: GB, subdiv: ENG}}
  closures: []                                      # e.g. [{{date: 2026-12-24, reason: "Office closed"}}]

timescales:
  # How soon the strategy discussion must happen, counted from the decision that one is needed.
  # Kinds: immediate, same_day, same_working_day, next_working_day_start, next_office_opening,
  # {{hours: H}}, {{working_days: N}}. `target:` (optional) is the usual aim within the limit
  # ("usually within one working day, at most three": timescale {{working_days: 3}}, target {{working_days: 1}}).
  default:                                          # when no rule below matches
    id: {prefix}_default
    timescale: {{working_days: 3}}                    # CHECK against the protocol
    summary: "TODO the protocol's usual timescale, in its words"
    source: "TODO-protocol.pdf §TODO"
  rules:                                            # the earliest deadline among matching rules wins
    - id: {prefix}_emergency_protection
      when: {{flags_any: [emergency_protection, immediate_action]}}
      timescale: same_working_day
      summary: "TODO what the protocol says for an emergency"
      source: "TODO-protocol.pdf §TODO"

# How the discussion may be held (first matching rule wins; none: a meeting).
# discussion:
#   - id: {prefix}_calls_allowed
#     format: meeting_or_calls
#     when: {{flags_any: [emergency_protection]}}
#     summary: "TODO"
#     source: "TODO-protocol.pdf §TODO"

quorum:
  # Who must attend for the meeting to be quorate (Working Together 2023: social care, police
  # and health). `filled_by`: other roles that may stand in. `variants`: a different quorum
  # for some discussions (first whose `when` holds).
  id: {prefix}_quorum
  summary: "TODO the protocol's quoracy rule"
  source: "TODO-protocol.pdf §TODO"
  roles:
    - role: social_care
      filled_by: [edt]                # the Emergency Duty Team out of hours: CHECK your protocol says so
    - role: health
    - role: police

invitees:
  # level: quorum | must | should. One `role`, or `roles_from: referrer | involved_services`
  # (with `only:` / `except:` lists). `when:` conditions are listed in docs/new-area.md.
  - id: {prefix}_referrer
    roles_from: referrer
    level: should
    summary: "TODO who the protocol says to invite"
    source: "TODO-protocol.pdf §TODO"

follow_ups:
  # What follows the meeting: kind (minutes_due, icpc_due, ...), from: meeting | decision.
  - id: {prefix}_minutes
    kind: minutes_due
    from: meeting
    timescale: {{working_days: 5}}                    # CHECK against the protocol
    summary: "TODO when the minutes are due and to whom"
    source: "TODO-protocol.pdf §TODO"

chair:
  - id: {prefix}_chair
    summary: "TODO who chairs"
    source: "TODO-protocol.pdf §TODO"

escalation:
  id: {prefix}_escalation
  summary: "TODO how disagreements are escalated"
  source: "TODO-protocol.pdf §TODO"

out_of_hours:
  chair_role: edt                     # who convenes out of hours
  min_office_minutes: 60              # less office time than this before the deadline: out of hours

# What each agency should bring (shown on its invitation), and the agenda.
# preparation:
#   - applies_to: [police]            # or: others
#     source: "TODO-protocol.pdf §TODO"
#     items: ["TODO"]
# agenda:
#   - {{item: "TODO", source: "TODO-protocol.pdf §TODO"}}
'''

DIRECTORY = '''\
# yaml-language-server: $schema=../schema/directory.schema.json
# Contact directory for {area}: who the bot invites for each role. Format: docs/new-area.md.
# Every quorum role needs a contact in office hours (availability office_hours or always) and
# one out of hours (on_call or always); a role listed under the quorum's `filled_by` counts.
area: {area}
contacts:
{contacts}'''

CONTACT = '''\
  - id: {cid}
    role: {role}
    name: "TODO name"
    aad_object_id: "TODO Entra object id (a GUID)"
    tenant_id: "TODO Entra tenant id (a GUID)"
    email: "TODO-name@agency.example"
    phone: "TODO 01632 960000"
    availability: {availability}      # office_hours | on_call | always
    team: "TODO team, e.g. MASH duty desk"
'''

SKELETON_CONTACTS = (
    ("social_care", "office_hours"), ("edt", "on_call"), ("police", "office_hours"),
    ("police", "on_call"), ("health", "office_hours"), ("health", "on_call"),
)


class AreaExists(Exception):
    pass


def skeleton_profile(area: str) -> str:
    return PROFILE.format(area=area, prefix=area.replace("-", "_"))


def skeleton_directory(area: str) -> str:
    contacts = "".join(CONTACT.format(cid=f"{role.replace('_', '-')}-{avail.replace('_', '-')}", role=role,
                                      availability=avail) for role, avail in SKELETON_CONTACTS)
    return DIRECTORY.format(area=area, contacts=contacts)


def write_new_area(config: Path, area: str) -> list[Path]:
    """Write config/<area>.yaml and config/directory/<area>.yaml; never overwrite."""
    if not re.match(PROFILE_ID_PATTERN, area):
        raise ValueError(f"area id {area!r}: expected lower-case letters, digits and hyphens, starting with a "
                         "letter (e.g. 'somerset')")
    profile, directory = config / f"{area}.yaml", config / "directory" / f"{area}.yaml"
    existing = [p for p in (profile, directory) if p.exists()]
    if existing:
        raise AreaExists(f"{', '.join(map(str, existing))} already exist(s): nothing written")
    directory.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(skeleton_profile(area), encoding="utf-8")
    directory.write_text(skeleton_directory(area), encoding="utf-8")
    return [profile, directory]
