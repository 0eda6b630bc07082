"""When the database or Microsoft Graph stops answering: what the person pressing is told,
how the workers back off, and the two log lines an operator sees (one when an outage
starts, one when it ends), instead of a traceback every poll.

`Outages` is shared by the web edge, the workers and /healthz (one per process).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .adapters.db.availability import database_unavailable
from .adapters.graph.errors import GraphUnavailable

log = logging.getLogger("bot.outage")

BUSY_TEXT = "The service is busy; nothing was lost. Please try again in a minute."


def dependency_of(error: BaseException) -> str | None:
    """Which dependency an error says is unavailable ("database", "graph"), or None when it
    is not an outage (a bug, or a refusal that retrying cannot fix)."""
    if database_unavailable(error):
        return "database"
    if isinstance(error, GraphUnavailable):
        return "graph"
    return None


@dataclass
class Outage:
    """One dependency's state. `failed()` counts a failure and gives how long to wait before
    trying again: 0.5 s doubling to at most `cap` seconds, with a little jitter so replicas
    do not retry in step. `recovered()` ends the outage."""

    name: str
    cap: float = 60.0
    clock: Callable[[], float] = time.monotonic
    since: float | None = None
    failures: int = 0
    last_error: str = ""
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _retry_at: float = 0.0

    @property
    def down(self) -> bool:
        return self.since is not None

    def is_outage(self, error: BaseException) -> bool:
        """Whether `error` says this dependency is unavailable (else it is a fault to log in full)."""
        return dependency_of(error) == self.name

    def due(self) -> bool:
        """Whether a retry is due: always outside an outage, after the backoff within one."""
        return self.since is None or self.clock() >= self._retry_at

    def failed(self, error: BaseException) -> float:
        self.failures += 1
        self.last_error = type(error).__name__
        if self.since is None:
            self.since = self.clock()
            log.warning("%s unavailable (%s); retrying with backoff, logging again when it is back",
                        self.name, self.last_error)
        wait = self.backoff()
        self._retry_at = self.clock() + wait
        return wait

    def backoff(self) -> float:
        base = min(self.cap, 0.5 * 2 ** min(self.failures - 1, 16))
        return base * self._rng.uniform(0.8, 1.0)

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("%s available again after %.0f s (%d failed attempts)", self.name,
                        self.clock() - self.since, self.failures)
        self.since, self.failures = None, 0


class Outages:
    """The outages of one process, by dependency name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_name: dict[str, Outage] = {}

    def __getitem__(self, name: str) -> Outage:
        if name not in self._by_name:
            self._by_name[name] = Outage(name, clock=self._clock)
        return self._by_name[name]

    def report(self, error: BaseException) -> str | None:
        """Record `error` if it is an outage; returns the dependency's name (None: not one)."""
        name = dependency_of(error)
        if name is not None:
            self[name].failed(error)
        return name

    def down(self) -> list[str]:
        return sorted(name for name, o in self._by_name.items() if o.down)
