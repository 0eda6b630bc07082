"""An area's working calendar and the timescales counted on it.

The exact meaning of each timescale is a contract (shared/spec/plan.md, "Time"):

    hours: H                t + H hours of elapsed time (real hours across a clock change)
    same_day                23:59:59 of t's local calendar day
    same_working_day        office close on t's day if it is a working day and t is before
                            office close; otherwise 23:59:59 of t's day (the EDT's time)
    working_days: N         office close on the N-th working day after t's local day
                            (t's own day is never counted)
    next_working_day_start  office opening on the first working day after t's local day
    next_office_opening     the first office opening after t (a meeting at 02:00 on a Wednesday:
                            09:00 that Wednesday); "before the start of the next working day"
    immediate               t itself: the discussion starts now (an "immediate" strategy discussion)
    as_soon_as_practicable  no fixed deadline (the protocol sets none); `deadline` is None
    next_office_day_close   office close on the day of the first office opening after t: "the
                            next working day" after an out-of-hours discussion (at 02:00 on a
                            Wednesday: 17:00 that Wednesday; at 20:00 on a Wednesday: Thursday)
    set_by_chair            no date in the protocol: the chair sets one; `deadline` is None

Office hours are the half-open interval [open, close): 17:00:00 itself is out of hours.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

TimescaleKind = Literal[
    "hours", "same_day", "same_working_day", "working_days",
    "next_working_day_start", "next_office_opening", "immediate", "as_soon_as_practicable",
    "next_office_day_close", "set_by_chair",
]
COUNTED_KINDS = ("hours", "working_days")
# Kinds with no date of their own: fine for a follow-up, never for a meeting deadline.
UNDATED_KINDS = ("as_soon_as_practicable", "set_by_chair")
END_OF_DAY = time(23, 59, 59)
_MAX_SEARCH_DAYS = 366  # a calendar with a year of closures is a config error, not a loop


@dataclass(frozen=True)
class Timescale:
    kind: TimescaleKind
    n: int | None = None  # hours or working days, for the counted kinds

    def __post_init__(self) -> None:
        if (self.kind in COUNTED_KINDS) != (self.n is not None):
            raise ValueError(f"timescale {self.kind} {'needs' if self.kind in COUNTED_KINDS else 'takes no'} count")
        if self.n is not None and self.n < 1:
            raise ValueError("a timescale count must be at least 1")

    def describe(self) -> str:
        if self.kind == "hours":
            return f"within {self.n} hour{'s' if self.n != 1 else ''}"
        if self.kind == "working_days":
            return f"within {self.n} working day{'s' if self.n != 1 else ''}"
        return {
            "same_day": "the same day",
            "same_working_day": "the same working day",
            "next_working_day_start": "by the start of the next working day",
            "next_office_opening": "before the next working day starts",
            "immediate": "immediately",
            "as_soon_as_practicable": "as soon as practicable",
            "next_office_day_close": "by the end of the next working day",
            "set_by_chair": "on a date the chair sets (the protocol gives none)",
        }[self.kind]


@lru_cache(maxsize=256)
def _bank_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year).keys())


@dataclass(frozen=True)
class AreaCalendar:
    """Working days are Monday to Friday, less bank holidays, less the area's closures."""

    timezone: str = "Europe/London"
    office_open: time = time(9, 0)
    office_close: time = time(17, 0)
    holiday_country: str = "GB"
    holiday_subdiv: str | None = "ENG"
    closures: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.office_open < self.office_close:
            raise ValueError("office hours must open before they close")
        object.__setattr__(self, "tz", ZoneInfo(self.timezone))

    # --- days -------------------------------------------------------------
    def is_bank_holiday(self, d: date) -> bool:
        return d in _bank_holidays(self.holiday_country, self.holiday_subdiv, d.year)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and not self.is_bank_holiday(d) and d not in self.closures

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        return self.add_working_days(d, 1)

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after d; d itself is never counted."""
        remaining, day = n, d
        for _ in range(n * 7 + _MAX_SEARCH_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
                if remaining == 0:
                    return day
        raise ValueError(f"no {n} working days found after {d}: check the area's closures")

    # --- instants ---------------------------------------------------------
    def local(self, t: datetime) -> datetime:
        if t.tzinfo is None:
            raise ValueError("instants must carry a UTC offset")
        return t.astimezone(self.tz)

    def at(self, d: date, clock: time) -> datetime:
        return datetime.combine(d, clock, tzinfo=self.tz)

    def is_out_of_hours(self, t: datetime) -> bool:
        lt = self.local(t)
        return not (self.is_working_day(lt.date()) and self.office_open <= lt.time() < self.office_close)

    def next_office_time(self, t: datetime) -> datetime:
        """t itself when it is in office hours, else the next office opening."""
        if not self.is_out_of_hours(t):
            return t
        return self.deadline(Timescale("next_office_opening"), t)  # type: ignore[return-value]

    def allows_office_hours_meeting_by(self, deadline: datetime) -> bool:
        """True when the deadline falls in (open, close] of a working day, i.e. a meeting in
        office hours can end by then. A deadline of exactly office close is in hours."""
        lt = self.local(deadline)
        return self.is_working_day(lt.date()) and self.office_open < lt.time() <= self.office_close

    # --- timescales ---------------------------------------------------------
    def deadline(self, timescale: Timescale, t: datetime) -> datetime | None:
        lt = self.local(t)
        kind = timescale.kind
        if kind == "hours":
            return (t.astimezone(timezone.utc) + timedelta(hours=timescale.n)).astimezone(self.tz)
        if kind == "same_day":
            return self.at(lt.date(), END_OF_DAY)
        if kind == "same_working_day":
            if self.is_working_day(lt.date()) and lt.time() < self.office_close:
                return self.at(lt.date(), self.office_close)
            return self.at(lt.date(), END_OF_DAY)
        if kind == "working_days":
            return self.at(self.add_working_days(lt.date(), timescale.n), self.office_close)
        if kind == "next_working_day_start":
            return self.at(self.next_working_day(lt.date()), self.office_open)
        if kind == "next_office_opening":
            today = lt.date()
            if self.is_working_day(today) and lt.time() < self.office_open:
                return self.at(today, self.office_open)
            return self.at(self.next_working_day(today), self.office_open)
        if kind == "immediate":
            return lt
        if kind == "next_office_day_close":
            opening = self.deadline(Timescale("next_office_opening"), t)
            return self.at(opening.date(), self.office_close)  # type: ignore[union-attr]
        if kind in UNDATED_KINDS:
            return None
        raise ValueError(f"unknown timescale kind {kind!r}")
