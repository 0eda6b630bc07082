"""Is the meeting quorate? One accepted attendee for each quorum role, where a role may be
filled by any of the roles the area's quoracy rule allows (Bristol: a community
paediatrician, safeguarding nurse or SARC can fill health)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from .profile import Quorum

Answer = Literal["none", "accepted", "declined", "nominated", "written"]


@dataclass(frozen=True)
class Answered:
    """One invitation's state, as quoracy needs it."""

    role: str
    name: str
    answer: Answer
    delivery_failed: bool = False


@dataclass(frozen=True)
class RoleStatus:
    role: str
    state: Literal["accepted", "waiting", "unfilled"]
    accepted_by: tuple[str, ...]
    # 'unfilled': nobody who could fill the role is still to answer, and nobody accepted:
    # the chair must escalate (speak to the agency's representative, manager or lead).


@dataclass(frozen=True)
class QuorumStatus:
    roles: tuple[RoleStatus, ...]

    @property
    def quorate(self) -> bool:
        return all(r.state == "accepted" for r in self.roles)

    @property
    def unfilled(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.roles if r.state == "unfilled")


def quorum_status(quorum: Quorum, invitations: Iterable[Answered]) -> QuorumStatus:
    invitations = list(invitations)
    statuses = []
    for q in quorum.roles:
        candidates = [i for i in invitations if i.role in q.filled_by]
        accepted = tuple(i.name for i in candidates if i.answer == "accepted")
        pending = [i for i in candidates if i.answer == "none" and not i.delivery_failed]
        if accepted:
            state = "accepted"
        elif pending:
            state = "waiting"
        else:
            state = "unfilled"
        statuses.append(RoleStatus(q.role, state, accepted))
    return QuorumStatus(tuple(statuses))
