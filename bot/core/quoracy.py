"""Is the meeting quorate? One accepted attendee for each quorum role, where a role may be
filled by any of the roles the area's quoracy rule allows (Bristol: a community
paediatrician, safeguarding nurse or SARC can fill health).

For each quorum role the answer is one of:
  accepted      someone who can fill it accepted;
  waiting       someone who can fill it has still to answer (a nomination counts as
                waiting until the nominee has an invitation of their own, which then decides);
  unreachable   the only people left to answer could not be reached in Teams;
  declined      everyone asked declined or will only send information in writing;
  not_invited   nobody who could fill it was invited.
The last three leave the role unfilled: the chair must escalate.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .profile import Quorum

Answer = Literal["none", "accepted", "declined", "nominated", "written"]
SlotState = Literal["accepted", "waiting", "unreachable", "declined", "not_invited"]
UNFILLED: frozenset[str] = frozenset({"unreachable", "declined", "not_invited"})


@dataclass(frozen=True)
class Answered:
    """One invitation's state, as quoracy needs it. `key` is the caller's handle on it."""

    role: str
    name: str
    answer: Answer
    delivery_failed: bool = False
    handed_over: bool = False  # nominated, and the nominee has an invitation of their own
    key: Any = None

    @property
    def pending(self) -> bool:
        return self.answer == "none" or (self.answer == "nominated" and not self.handed_over)


@dataclass(frozen=True)
class RoleStatus:
    role: str
    state: SlotState
    accepted_by: tuple[str, ...]
    by: Answered | None = None  # who decides the state: the acceptor, the one awaited, a decliner

    @property
    def unfilled(self) -> bool:
        return self.state in UNFILLED


@dataclass(frozen=True)
class QuorumStatus:
    roles: tuple[RoleStatus, ...]

    @property
    def quorate(self) -> bool:
        return all(r.state == "accepted" for r in self.roles)

    @property
    def unfilled(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.roles if r.unfilled)


def fillers(quorum: Quorum | Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Quorum role -> the roles whose acceptance fills it (always including itself)."""
    pairs = quorum.items() if isinstance(quorum, Mapping) else ((q.role, q.filled_by) for q in quorum.roles)
    return {role: frozenset(by) | {role} for role, by in pairs}


def role_status(role: str, filled_by: frozenset[str], invitations: Iterable[Answered]) -> RoleStatus:
    mine = [i for i in invitations if i.role in filled_by]
    accepted = [i for i in mine if i.answer == "accepted"]
    pending = [i for i in mine if i.pending]
    reachable = [i for i in pending if not i.delivery_failed]
    if accepted:
        return RoleStatus(role, "accepted", tuple(i.name for i in accepted), accepted[0])
    if reachable:
        return RoleStatus(role, "waiting", (), reachable[0])
    if pending:
        return RoleStatus(role, "unreachable", (), pending[0])
    if mine:  # the latest decline decides: the chair may have invited someone after the first
        return RoleStatus(role, "declined", (), next((i for i in reversed(mine) if i.answer == "declined"), mine[-1]))
    return RoleStatus(role, "not_invited", ())


def quorum_status(quorum: Quorum | Mapping[str, Iterable[str]], invitations: Iterable[Answered]) -> QuorumStatus:
    invitations = list(invitations)
    return QuorumStatus(tuple(role_status(role, by, invitations) for role, by in fillers(quorum).items()))
