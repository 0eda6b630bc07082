"""The earliest times everyone who must attend is free, before the deadline.

Why this exists: a strategy meeting must happen by a deadline (often the same working day),
and the chair should not have to compare calendars by hand. Given the busy times read from
the invitees' calendars (Microsoft Graph's getSchedule, see bot/adapters/graph/client.py),
this proposes the first few slots in which every person whose calendar could be read is
free. Pure: no I/O, no clock; the caller passes `start` (usually "now").

Rules (each is tested in tests/test_slots.py):

* Candidate starts lie on a grid of `step` on the area's local wall clock (15 minutes: :00,
  :15, :30, :45 in Europe/London). `start` is rounded *up* to that grid. `step` must divide an
  hour, so the grid survives a clock change (UK offsets differ by whole hours).
* A slot is `[s, s + duration)`, half-open like a busy block: a busy block ending at 10:00
  does not clash with a slot starting at 10:00, nor a block starting at 11:00 with a slot
  ending then. Durations are elapsed time, so a slot across a clock change is still exactly
  `duration` long.
* A slot must end no later than `deadline`.
* With `office_hours_only`, a slot lies within one working day's office hours
  (`AreaCalendar`: Monday to Friday less bank holidays and closures, 09:00 to 17:00 local
  time): it starts at or after opening and ends at or before closing of the same day.
* Slots are distinct options, not a sliding window: each one starts no earlier than the
  previous one ends (10:00, 11:00, 12:00 for an hour's meeting, not 10:00, 10:15, 10:30).
* People in `unknown` (calendars Graph could not read: other organisations, no mailbox) are
  not assumed free: every slot lists them as `unchecked` so the chair can ask them. Busy
  blocks given for someone also in `unknown` are still respected.
"""
from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .calendar import AreaCalendar

HOUR = timedelta(hours=1)
DEFAULT_STEP = timedelta(minutes=15)


@dataclass(frozen=True)
class Slot:
    """One proposed meeting time. `start`/`end` are in the area's local time zone.

    `free`: everyone whose calendar was read (all of them are free then), sorted.
    `unchecked`: people whose calendars could not be read, sorted; empty when all were.
    """

    start: datetime
    end: datetime
    free: tuple[str, ...]
    unchecked: tuple[str, ...] = ()

    @property
    def fully_checked(self) -> bool:
        return not self.unchecked


def _aware(name: str, t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset")


def _merge(busy: Mapping[str, Sequence[tuple[datetime, datetime]]]) -> list[tuple[datetime, datetime]]:
    """Everyone's busy blocks as one sorted list of disjoint UTC intervals (touching ones joined)."""
    blocks: list[tuple[datetime, datetime]] = []
    for person, items in busy.items():
        for pair in items:
            try:
                b_start, b_end = pair
            except (TypeError, ValueError):
                raise ValueError(f"busy[{person!r}]: a busy block is a (start, end) pair") from None
            _aware(f"busy[{person!r}] start", b_start)
            _aware(f"busy[{person!r}] end", b_end)
            if b_end < b_start:
                raise ValueError(f"busy[{person!r}]: a block ends ({b_end.isoformat()}) before it starts "
                                 f"({b_start.isoformat()})")
            if b_end > b_start:  # an empty block blocks nothing
                blocks.append((b_start.astimezone(timezone.utc), b_end.astimezone(timezone.utc)))
    blocks.sort()
    merged: list[tuple[datetime, datetime]] = []
    for b_start, b_end in blocks:
        if merged and b_start <= merged[-1][1]:
            if b_end > merged[-1][1]:
                merged[-1] = (merged[-1][0], b_end)
        else:
            merged.append((b_start, b_end))
    return merged


class _Grid:
    """Instants on the local wall-clock grid of `step` (a divisor of an hour)."""

    def __init__(self, calendar: AreaCalendar, step: timedelta) -> None:
        if step <= timedelta(0) or HOUR % step != timedelta(0) or step % timedelta(seconds=1):
            raise ValueError("step must be a whole number of seconds that divides an hour (e.g. 5, 15, 30 minutes)")
        self.calendar = calendar
        self.step_s = int(step.total_seconds())

    def ceil(self, t: datetime) -> datetime:
        """The first grid instant at or after t (in UTC)."""
        local = self.calendar.local(t)
        # Time since the local hour began: local offsets are whole or half hours in practice,
        # and a step dividing an hour keeps the grid aligned to the wall clock.
        into_hour = (local.minute * 60 + local.second) * 1_000_000 + local.microsecond  # microseconds
        step = self.step_s * 1_000_000
        remainder = into_hour % step
        t_utc = t.astimezone(timezone.utc)
        if remainder == 0:
            return t_utc
        return t_utc + timedelta(microseconds=step - remainder)


def earliest_slots(busy: Mapping[str, Sequence[tuple[datetime, datetime]]], unknown: set[str] | frozenset[str], *,
                   start: datetime, deadline: datetime, duration: timedelta, calendar: AreaCalendar,
                   office_hours_only: bool, step: timedelta = DEFAULT_STEP, count: int = 3) -> list[Slot]:
    """The earliest `count` slots of `duration` from `start` (rounded up to `step`) ending by
    `deadline`, in which every person in `busy` is free. See the module docstring for the rules.

    `busy` maps each person whose calendar was read to their busy blocks (aware datetimes; an
    empty list means free throughout). Returns fewer than `count` slots (possibly none) when
    the deadline leaves no more room.
    """
    _aware("start", start)
    _aware("deadline", deadline)
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if count < 1:
        raise ValueError("count must be at least 1")
    grid = _Grid(calendar, step)
    blocks = _merge(busy)
    ends = [b_end for _, b_end in blocks]
    unchecked = tuple(sorted(unknown))
    free = tuple(sorted(p for p in busy if p not in unknown))

    deadline_utc = deadline.astimezone(timezone.utc)
    t = grid.ceil(start)
    slots: list[Slot] = []
    open_t, close_t = calendar.office_open, calendar.office_close
    day_cache: dict[date, tuple[datetime, datetime] | None] = {}

    def office_day(d: date) -> tuple[datetime, datetime] | None:
        if d not in day_cache:
            day_cache[d] = ((calendar.at(d, open_t).astimezone(timezone.utc),
                             calendar.at(d, close_t).astimezone(timezone.utc))
                            if calendar.is_working_day(d) else None)
        return day_cache[d]

    while len(slots) < count and t + duration <= deadline_utc:
        end = t + duration
        if office_hours_only:
            d = calendar.local(t).date()
            hours = office_day(d)
            if hours is None or t >= hours[1] or end > hours[1]:
                # Not a working day, or too late today: the next working day's opening.
                nxt = calendar.next_working_day(d)
                t = grid.ceil(office_day(nxt)[0])  # type: ignore[index]
                continue
            if t < hours[0]:
                t = grid.ceil(hours[0])
                continue
        # The first merged block ending after t is the only one that can overlap [t, end).
        i = bisect.bisect_right(ends, t)
        if i < len(blocks) and blocks[i][0] < end:
            t = grid.ceil(blocks[i][1])
            continue
        slots.append(Slot(calendar.local(t), calendar.local(end), free, unchecked))
        t = grid.ceil(end)
    return slots


__all__ = ["DEFAULT_STEP", "Slot", "earliest_slots"]
