"""The bot's one sense of "now", shared by the service and the repository."""
from __future__ import annotations

from datetime import datetime, timezone


class Clock:
    """Real UTC time, unless `now` is set: then that instant, for tests and rehearsals that
    walk a meeting through its days (set it before or during a run; None returns to real time)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now if self.now is not None else datetime.now(timezone.utc)
