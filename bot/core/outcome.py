"""What the chair records after the meeting, and which follow-ups it settles.

Stored as JSON on the meeting (`Outcome.to_json` / `Outcome.from_json`). The chair may
record it in steps: first whether the meeting was held, who attended and the section 47
decision; later that the minutes were circulated, when and to whom.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

Decision = Literal["no_enquiry", "single_agency", "joint"]
DECISIONS: dict[str, str] = {
    "no_enquiry": "No section 47 enquiry",
    "single_agency": "Single-agency section 47 enquiry (children's social care)",
    "joint": "Joint section 47 enquiry (children's social care and police)",
}


@dataclass(frozen=True)
class Outcome:
    held: bool
    recorded_by: str                      # the chair's Entra ID object id
    recorded_at: datetime
    held_at: datetime | None = None
    quorate: bool | None = None           # as the chair judged it in the meeting
    attended: tuple[str, ...] = ()        # invitation ids of those who attended
    others_attended: str = ""             # anyone else, free text (no children's names)
    decision: Decision | None = None
    minutes_circulated_at: datetime | None = None
    minutes_to: tuple[str, ...] = ()      # who the minutes went to

    @property
    def enquiry(self) -> bool | None:
        """Does a section 47 enquiry go ahead? None while undecided."""
        return None if self.decision is None else self.decision != "no_enquiry"

    @property
    def minutes_circulated(self) -> bool:
        return self.minutes_circulated_at is not None

    def with_minutes(self, at: datetime, to: tuple[str, ...]) -> "Outcome":
        return replace(self, minutes_circulated_at=at, minutes_to=to)

    def to_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return None if d is None else d.isoformat()
        return {
            "held": self.held, "recorded_by": self.recorded_by, "recorded_at": iso(self.recorded_at),
            "held_at": iso(self.held_at), "quorate": self.quorate, "attended": list(self.attended),
            "others_attended": self.others_attended, "decision": self.decision,
            "minutes_circulated_at": iso(self.minutes_circulated_at), "minutes_to": list(self.minutes_to),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Outcome | None":
        if not data:
            return None
        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None
        return cls(
            held=bool(data["held"]), recorded_by=data["recorded_by"], recorded_at=when("recorded_at"),  # type: ignore[arg-type]
            held_at=when("held_at"), quorate=data.get("quorate"), attended=tuple(data.get("attended") or ()),
            others_attended=data.get("others_attended") or "", decision=data.get("decision"),
            minutes_circulated_at=when("minutes_circulated_at"), minutes_to=tuple(data.get("minutes_to") or ()),
        )
