"""Tests of bot/core/calendar.py against the "Time" section of shared/spec/plan.md.

Two kinds of test:

* property tests (hypothesis) check the timescale rules for arbitrary instants between 2024
  and 2030, given in UTC, in odd fixed offsets and in Europe/London itself. They use an
  oracle written here independently of the code under test: working days come straight from
  the `holidays` package (GB/ENG, as the spec says) and London local time from the UK rule
  (BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
  October), not from zoneinfo;
* example tests whose expected values were worked out by hand from a calendar.

Deadlines are always compared as UTC instants: subtracting or comparing two datetimes that
share a tzinfo object uses their wall clocks and ignores the fold, which is wrong around the
October clock change.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import holidays
import pytest
from hypothesis import given, settings, strategies as st
from zoneinfo import ZoneInfo

from bot.core.calendar import AreaCalendar, Timescale

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
CAL = AreaCalendar()  # the defaults are the contract: Europe/London, 09:00-17:00, GB/ENG
PROPERTY = settings(max_examples=200, deadline=None)

# --- the oracle -------------------------------------------------------------------------

ENGLAND = holidays.country_holidays("GB", subdiv="ENG", years=range(2023, 2033))


def working(d: date, closures: frozenset[date] = frozenset()) -> bool:
    return d.weekday() < 5 and d not in ENGLAND and d not in closures


def first_working_after(d: date, closures: frozenset[date] = frozenset()) -> date:
    d += timedelta(days=1)
    while not working(d, closures):
        d += timedelta(days=1)
    return d


def working_days_in(after: date, upto: date, closures: frozenset[date] = frozenset()) -> int:
    """How many working days lie in (after, upto]."""
    return sum(working(after + timedelta(days=i), closures) for i in range(1, (upto - after).days + 1))


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)  # March and October both have 31 days
    return d - timedelta(days=(d.weekday() - 6) % 7)


def is_bst(t: datetime) -> bool:
    u = t.astimezone(UTC)
    start = datetime.combine(_last_sunday(u.year, 3), time(1), UTC)
    end = datetime.combine(_last_sunday(u.year, 10), time(1), UTC)
    return start <= u < end


def london_wall(t: datetime) -> datetime:
    """London wall-clock time of instant t, as a naive datetime."""
    u = t.astimezone(UTC)
    return (u + timedelta(hours=1 if is_bst(u) else 0)).replace(tzinfo=None)


def utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def assert_printed_in_london(t: datetime) -> None:
    """t prints as its London wall time with the right offset (+00:00 winter, +01:00 summer)."""
    text = t.isoformat(timespec="seconds")
    assert text[-6:] == ("+01:00" if is_bst(t) else "+00:00"), text
    assert datetime.fromisoformat(text[:-6]) == london_wall(t).replace(microsecond=0), text


def test_oracle_knows_the_clock_changes() -> None:
    assert _last_sunday(2026, 3) == date(2026, 3, 29) and _last_sunday(2026, 10) == date(2026, 10, 25)
    assert _last_sunday(2027, 3) == date(2027, 3, 28) and _last_sunday(2027, 10) == date(2027, 10, 31)


# --- strategies ---------------------------------------------------------------------------

MIN, MAX = datetime(2024, 1, 1), datetime(2030, 12, 31, 23, 59, 59)
ODD_OFFSETS = [
    timedelta(0), timedelta(hours=1), timedelta(hours=5, minutes=30), timedelta(hours=-8),
    timedelta(hours=5, minutes=45), timedelta(hours=-3, minutes=-30), timedelta(hours=14),
    timedelta(hours=-12),
]
CLOCK_CHANGES = [
    datetime.combine(_last_sunday(y, m), time(1), UTC) for y in range(2024, 2031) for m in (3, 10)
]
BOUNDARY_CLOCKS = [
    time(0, 0), time(8, 59, 59), time(9, 0), time(12, 0), time(16, 59, 59),
    time(17, 0), time(17, 0, 1), time(23, 59, 59),
]

naive = st.datetimes(min_value=MIN, max_value=MAX)
utc_instants = naive.map(lambda d: d.replace(tzinfo=UTC))
offset_instants = st.builds(lambda d, off: d.replace(tzinfo=timezone(off)), naive, st.sampled_from(ODD_OFFSETS))
london_instants = st.datetimes(min_value=MIN, max_value=MAX, timezones=st.just(LONDON), allow_imaginary=False)
# Around the clock changes, within two days either side, to the second.
near_clock_change = st.builds(
    lambda change, s, tz: (change + timedelta(seconds=s)).astimezone(tz),
    st.sampled_from(CLOCK_CHANGES), st.integers(-2 * 86400, 2 * 86400),
    st.sampled_from([UTC, LONDON, *(timezone(off) for off in ODD_OFFSETS)]),
)
# London wall-clock times on the office-hours boundaries.
at_boundaries = st.builds(
    lambda d, clock: datetime.combine(d, clock, LONDON),
    st.dates(min_value=MIN.date(), max_value=MAX.date()), st.sampled_from(BOUNDARY_CLOCKS),
)
instants = st.one_of(utc_instants, offset_instants, london_instants, near_clock_change, at_boundaries)
counts = st.integers(min_value=1, max_value=30)


# --- properties: working days ------------------------------------------------------------

@PROPERTY
@given(t=instants, n=counts)
def test_working_days_deadline_is_office_close_on_a_later_working_day(t: datetime, n: int) -> None:
    deadline = CAL.deadline(Timescale("working_days", n), t)
    wall, start = london_wall(deadline), london_wall(t).date()
    assert wall.time() == time(17, 0)
    assert working(wall.date())
    assert wall.date() > start
    assert working_days_in(start, wall.date()) == n
    assert_printed_in_london(deadline)


@PROPERTY
@given(t=instants, n=st.integers(min_value=1, max_value=29))
def test_working_days_deadline_strictly_increases_with_n(t: datetime, n: int) -> None:
    assert utc(CAL.deadline(Timescale("working_days", n), t)) < utc(CAL.deadline(Timescale("working_days", n + 1), t))


@PROPERTY
@given(t=instants)
def test_next_working_day_start_is_opening_on_the_first_working_day_after(t: datetime) -> None:
    start = CAL.deadline(Timescale("next_working_day_start"), t)
    wall = london_wall(start)
    assert wall.time() == time(9, 0)
    assert wall.date() == first_working_after(london_wall(t).date())
    assert wall.date() == london_wall(CAL.deadline(Timescale("working_days", 1), t)).date()
    assert CAL.next_working_day(london_wall(t).date()) == wall.date()
    assert_printed_in_london(start)


# --- properties: hours and same-day kinds --------------------------------------------------

@PROPERTY
@given(t=st.one_of(instants, near_clock_change), h=st.integers(min_value=1, max_value=100))
def test_hours_deadline_is_elapsed_time(t: datetime, h: int) -> None:
    deadline = CAL.deadline(Timescale("hours", h), t)
    assert utc(deadline) - utc(t) == timedelta(hours=h)
    assert_printed_in_london(deadline)


@PROPERTY
@given(t=near_clock_change, h=st.integers(min_value=1, max_value=72))
def test_hours_across_a_clock_change_move_the_wall_clock_by_h_plus_or_minus_one(t: datetime, h: int) -> None:
    deadline = CAL.deadline(Timescale("hours", h), t)
    wall_gap = london_wall(deadline) - london_wall(t)
    shift = timedelta(hours=int(is_bst(deadline)) - int(is_bst(t)))
    assert wall_gap == timedelta(hours=h) + shift


@PROPERTY
@given(t=instants)
def test_same_day_is_the_last_second_of_the_local_day(t: datetime) -> None:
    deadline = CAL.deadline(Timescale("same_day"), t)
    assert london_wall(deadline) == datetime.combine(london_wall(t).date(), time(23, 59, 59))
    assert utc(deadline) >= utc(t).replace(microsecond=0)
    assert_printed_in_london(deadline)


@PROPERTY
@given(t=instants)
def test_same_working_day(t: datetime) -> None:
    deadline = CAL.deadline(Timescale("same_working_day"), t)
    wall = london_wall(t)
    if working(wall.date()) and wall.time() < time(17, 0):
        expected = datetime.combine(wall.date(), time(17, 0))
    else:
        expected = datetime.combine(wall.date(), time(23, 59, 59))
    assert london_wall(deadline) == expected
    assert_printed_in_london(deadline)


@PROPERTY
@given(t=instants)
def test_out_of_hours_is_outside_a_working_days_office_hours(t: datetime) -> None:
    wall = london_wall(t)
    in_hours = working(wall.date()) and time(9, 0) <= wall.time() < time(17, 0)
    assert CAL.is_out_of_hours(t) is (not in_hours)


@PROPERTY
@given(t=instants)
def test_local_is_london_wall_time_with_the_right_offset(t: datetime) -> None:
    local = CAL.local(t)
    assert utc(local) == utc(t)
    assert local.replace(tzinfo=None) == london_wall(t)
    assert_printed_in_london(local)


# --- properties: an area with closures and other office hours ------------------------------

closure_sets = st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 3, 31)), max_size=40)


@PROPERTY
@given(t=instants, n=counts, closures=closure_sets)
def test_closures_are_never_working_days(t: datetime, n: int, closures: frozenset[date]) -> None:
    cal = AreaCalendar(closures=closures, office_open=time(8, 30), office_close=time(17, 30))
    deadline = cal.deadline(Timescale("working_days", n), t)
    wall, start = london_wall(deadline), london_wall(t).date()
    assert wall.time() == time(17, 30)
    assert working(wall.date(), closures) and wall.date() not in closures
    assert working_days_in(start, wall.date(), closures) == n
    nwd = london_wall(cal.deadline(Timescale("next_working_day_start"), t))
    assert nwd == datetime.combine(first_working_after(start, closures), time(8, 30))
    tw = london_wall(t)
    in_hours = working(tw.date(), closures) and time(8, 30) <= tw.time() < time(17, 30)
    assert cal.is_out_of_hours(t) is (not in_hours)


# --- examples, worked out by hand ----------------------------------------------------------

def deadline(kind: str, t: str, n: int | None = None, cal: AreaCalendar = CAL) -> str:
    out = cal.deadline(Timescale(kind, n), datetime.fromisoformat(t))
    return out.isoformat(timespec="seconds")


def ooh(t: str, cal: AreaCalendar = CAL) -> bool:
    return cal.is_out_of_hours(datetime.fromisoformat(t))


ENGLAND_BANK_HOLIDAYS_2026_2027 = {
    date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 4), date(2026, 5, 25),
    date(2026, 8, 31), date(2026, 12, 25), date(2026, 12, 28),  # Boxing Day Sat 26: substitute Mon 28
    date(2027, 1, 1), date(2027, 3, 26), date(2027, 3, 29), date(2027, 5, 3), date(2027, 5, 31),
    date(2027, 8, 30), date(2027, 12, 27), date(2027, 12, 28),  # 25-26 Dec 2027 fall on Sat-Sun
}


def test_working_days_of_2026_and_2027_exclude_exactly_the_england_bank_holidays() -> None:
    d = date(2026, 1, 1)
    while d.year < 2028:
        expected = d.weekday() < 5 and d not in ENGLAND_BANK_HOLIDAYS_2026_2027
        assert CAL.is_working_day(d) is expected, d
        d += timedelta(days=1)
    assert CAL.is_bank_holiday(date(2026, 12, 26))  # a bank holiday, on a Saturday
    assert not CAL.is_working_day(date(2028, 1, 3))  # New Year's Day 2028 is a Saturday: substitute Mon 3 Jan


@pytest.mark.parametrize("kind, t, n, expected", [
    # Christmas 2026: Thu 24 working; Fri 25, Sat 26, Sun 27, Mon 28 (substitute) off; Fri 1 Jan off.
    ("working_days", "2026-12-24T10:00:00+00:00", 1, "2026-12-29T17:00:00+00:00"),
    ("working_days", "2026-12-24T10:00:00+00:00", 3, "2026-12-31T17:00:00+00:00"),
    ("working_days", "2026-12-24T10:00:00+00:00", 4, "2027-01-04T17:00:00+00:00"),
    ("next_working_day_start", "2026-12-24T18:00:00+00:00", None, "2026-12-29T09:00:00+00:00"),
    ("same_working_day", "2026-12-24T10:00:00+00:00", None, "2026-12-24T17:00:00+00:00"),
    ("same_working_day", "2026-12-25T10:00:00+00:00", None, "2026-12-25T23:59:59+00:00"),
    ("same_working_day", "2026-12-28T10:00:00+00:00", None, "2026-12-28T23:59:59+00:00"),
    ("working_days", "2026-12-25T10:00:00+00:00", 1, "2026-12-29T17:00:00+00:00"),
    ("working_days", "2026-12-28T10:00:00+00:00", 1, "2026-12-29T17:00:00+00:00"),
    ("working_days", "2026-12-31T16:00:00+00:00", 1, "2027-01-04T17:00:00+00:00"),
    # Christmas 2027: Fri 24 working; Sat 25 to Tue 28 off (Mon 27, Tue 28 substitutes);
    # New Year's Day 2028 a Saturday, substitute Mon 3 Jan.
    ("working_days", "2027-12-24T16:00:00+00:00", 1, "2027-12-29T17:00:00+00:00"),
    ("working_days", "2027-12-24T16:00:00+00:00", 3, "2027-12-31T17:00:00+00:00"),
    ("working_days", "2027-12-24T16:00:00+00:00", 4, "2028-01-04T17:00:00+00:00"),
    ("next_working_day_start", "2027-12-24T17:00:00+00:00", None, "2027-12-29T09:00:00+00:00"),
    ("same_working_day", "2027-12-27T11:00:00+00:00", None, "2027-12-27T23:59:59+00:00"),
    ("same_working_day", "2027-12-29T11:00:00+00:00", None, "2027-12-29T17:00:00+00:00"),
    # Easter 2026 (in BST): Good Friday 3 April, Easter Monday 6 April.
    ("working_days", "2026-04-02T10:00:00+01:00", 1, "2026-04-07T17:00:00+01:00"),
    ("working_days", "2026-04-02T10:00:00+01:00", 2, "2026-04-08T17:00:00+01:00"),
    ("next_working_day_start", "2026-04-02T10:00:00+01:00", None, "2026-04-07T09:00:00+01:00"),
    ("same_working_day", "2026-04-03T11:00:00+01:00", None, "2026-04-03T23:59:59+01:00"),
    ("same_working_day", "2026-04-06T11:00:00+01:00", None, "2026-04-06T23:59:59+01:00"),
    ("working_days", "2026-04-06T11:00:00+01:00", 1, "2026-04-07T17:00:00+01:00"),
    # Easter 2027: Good Friday 26 March, Easter Monday 29 March; the clocks go forward on
    # Easter Sunday 28 March, so the deadline is in BST when the decision was in GMT.
    ("working_days", "2027-03-25T12:00:00+00:00", 1, "2027-03-30T17:00:00+01:00"),
    ("next_working_day_start", "2027-03-25T12:00:00+00:00", None, "2027-03-30T09:00:00+01:00"),
    ("hours", "2027-03-25T12:00:00+00:00", 72, "2027-03-28T13:00:00+01:00"),
    ("same_working_day", "2027-03-26T10:00:00+00:00", None, "2027-03-26T23:59:59+00:00"),
])
def test_bank_holidays(kind: str, t: str, n: int | None, expected: str) -> None:
    assert deadline(kind, t, n) == expected


@pytest.mark.parametrize("t, expected", [
    ("2026-12-24T10:00:00+00:00", False),
    ("2026-12-25T10:00:00+00:00", True),   # Christmas Day
    ("2026-12-28T10:00:00+00:00", True),   # Boxing Day substitute
    ("2026-12-29T10:00:00+00:00", False),
    ("2027-01-01T10:00:00+00:00", True),   # New Year's Day, a Friday
    ("2027-12-27T10:00:00+00:00", True),
    ("2027-12-28T10:00:00+00:00", True),
    ("2026-04-03T10:00:00+01:00", True),   # Good Friday
    ("2026-04-06T10:00:00+01:00", True),   # Easter Monday
    ("2027-03-26T10:00:00+00:00", True),   # Good Friday 2027 (still GMT)
    ("2027-03-29T10:00:00+01:00", True),   # Easter Monday 2027 (BST)
    ("2027-03-30T10:00:00+01:00", False),
])
def test_bank_holidays_are_out_of_hours(t: str, expected: bool) -> None:
    assert ooh(t) is expected


@pytest.mark.parametrize("kind, t, n, expected", [
    # 2026: clocks go forward at 01:00 UTC on Sunday 29 March, back at 01:00 UTC on Sunday 25 October.
    ("hours", "2026-03-28T12:00:00+00:00", 24, "2026-03-29T13:00:00+01:00"),
    ("hours", "2026-03-29T00:30:00+00:00", 1, "2026-03-29T02:30:00+01:00"),  # 01:30 local never happens
    ("hours", "2026-03-29T00:59:59+00:00", 4, "2026-03-29T05:59:59+01:00"),
    ("hours", "2026-10-24T12:00:00+01:00", 24, "2026-10-25T11:00:00+00:00"),
    ("hours", "2026-10-25T00:30:00+01:00", 1, "2026-10-25T01:30:00+01:00"),  # first 01:30 (BST)
    ("hours", "2026-10-25T00:30:00+01:00", 2, "2026-10-25T01:30:00+00:00"),  # second 01:30 (GMT)
    ("hours", "2026-10-25T01:30:00+01:00", 1, "2026-10-25T01:30:00+00:00"),
    ("same_day", "2026-03-29T00:30:00+00:00", None, "2026-03-29T23:59:59+01:00"),  # a 23-hour day
    ("same_day", "2026-10-25T00:30:00+01:00", None, "2026-10-25T23:59:59+00:00"),  # a 25-hour day
    ("same_day", "2026-10-25T01:30:00+00:00", None, "2026-10-25T23:59:59+00:00"),
    ("working_days", "2026-03-27T15:00:00+00:00", 1, "2026-03-30T17:00:00+01:00"),
    ("working_days", "2026-10-23T15:00:00+01:00", 1, "2026-10-26T17:00:00+00:00"),
    ("next_working_day_start", "2026-10-23T20:00:00+01:00", None, "2026-10-26T09:00:00+00:00"),
    # 2027: forward on Sunday 28 March, back on Sunday 31 October.
    ("hours", "2027-03-27T09:00:00+00:00", 24, "2027-03-28T10:00:00+01:00"),
    ("hours", "2027-10-30T09:00:00+01:00", 24, "2027-10-31T08:00:00+00:00"),
    ("hours", "2027-10-30T18:00:00+01:00", 4, "2027-10-30T22:00:00+01:00"),
    ("working_days", "2027-10-29T16:00:00+01:00", 1, "2027-11-01T17:00:00+00:00"),
    ("same_day", "2027-10-31T00:30:00+01:00", None, "2027-10-31T23:59:59+00:00"),
])
def test_clock_changes(kind: str, t: str, n: int | None, expected: str) -> None:
    assert deadline(kind, t, n) == expected


def test_a_24_hour_deadline_over_the_spring_change_is_23_hours_on_the_wall_clock() -> None:
    t = datetime.fromisoformat("2026-03-28T12:00:00+00:00")
    d = CAL.deadline(Timescale("hours", 24), t)
    assert utc(d) - utc(t) == timedelta(hours=24)
    assert d.replace(tzinfo=None) - datetime(2026, 3, 28, 12) == timedelta(hours=25)


@pytest.mark.parametrize("t, out_of_hours, same_working_day", [
    # Wednesday 25 November 2026 (GMT).
    ("2026-11-25T08:59:00+00:00", True, "2026-11-25T17:00:00+00:00"),  # before opening: still today's close
    ("2026-11-25T08:59:59+00:00", True, "2026-11-25T17:00:00+00:00"),
    ("2026-11-25T09:00:00+00:00", False, "2026-11-25T17:00:00+00:00"),
    ("2026-11-25T16:59:59+00:00", False, "2026-11-25T17:00:00+00:00"),
    ("2026-11-25T17:00:00+00:00", True, "2026-11-25T23:59:59+00:00"),  # 17:00 itself is out of hours
    ("2026-11-25T17:00:01+00:00", True, "2026-11-25T23:59:59+00:00"),
    ("2026-11-25T23:59:59+00:00", True, "2026-11-25T23:59:59+00:00"),
    ("2026-11-25T00:00:00+00:00", True, "2026-11-25T17:00:00+00:00"),
    # Wednesday 15 July 2026 (BST).
    ("2026-07-15T08:59:00+01:00", True, "2026-07-15T17:00:00+01:00"),
    ("2026-07-15T16:59:59+01:00", False, "2026-07-15T17:00:00+01:00"),
    ("2026-07-15T17:00:00+01:00", True, "2026-07-15T23:59:59+01:00"),
    ("2026-07-15T16:30:00+00:00", True, "2026-07-15T23:59:59+01:00"),  # 17:30 in London
    ("2026-07-15T08:30:00+00:00", False, "2026-07-15T17:00:00+01:00"),  # 09:30 in London
    ("2026-07-15T15:59:59+00:00", False, "2026-07-15T17:00:00+01:00"),  # 16:59:59 in London
    ("2026-07-15T16:00:00+00:00", True, "2026-07-15T23:59:59+01:00"),   # 17:00 in London
])
def test_office_hours_boundaries(t: str, out_of_hours: bool, same_working_day: str) -> None:
    assert ooh(t) is out_of_hours
    assert deadline("same_working_day", t) == same_working_day


@pytest.mark.parametrize("kind, t, n, expected", [
    # Friday 27 November 2026, evening.
    ("same_working_day", "2026-11-27T18:30:00+00:00", None, "2026-11-27T23:59:59+00:00"),
    ("same_day", "2026-11-27T18:30:00+00:00", None, "2026-11-27T23:59:59+00:00"),
    ("working_days", "2026-11-27T18:30:00+00:00", 1, "2026-11-30T17:00:00+00:00"),
    ("working_days", "2026-11-27T18:30:00+00:00", 5, "2026-12-04T17:00:00+00:00"),
    ("next_working_day_start", "2026-11-27T18:30:00+00:00", None, "2026-11-30T09:00:00+00:00"),
    ("hours", "2026-11-27T18:30:00+00:00", 24, "2026-11-28T18:30:00+00:00"),
    ("hours", "2026-11-27T18:30:00+00:00", 4, "2026-11-27T22:30:00+00:00"),
    # Friday in office hours: Friday is t's own day and never counted.
    ("working_days", "2026-11-27T10:00:00+00:00", 1, "2026-11-30T17:00:00+00:00"),
    # Saturday 28 and Sunday 29 November 2026.
    ("same_working_day", "2026-11-28T11:00:00+00:00", None, "2026-11-28T23:59:59+00:00"),
    ("working_days", "2026-11-28T11:00:00+00:00", 1, "2026-11-30T17:00:00+00:00"),
    ("working_days", "2026-11-28T11:00:00+00:00", 3, "2026-12-02T17:00:00+00:00"),
    ("next_working_day_start", "2026-11-29T23:30:00+00:00", None, "2026-11-30T09:00:00+00:00"),
    ("working_days", "2026-11-29T23:30:00+00:00", 1, "2026-11-30T17:00:00+00:00"),
    # Sunday 23:30 at -01:00 is already Monday 00:30 in London: Monday is t's day.
    ("working_days", "2026-11-29T23:30:00-01:00", 1, "2026-12-01T17:00:00+00:00"),
    ("next_working_day_start", "2026-11-29T23:30:00-01:00", None, "2026-12-01T09:00:00+00:00"),
    ("same_working_day", "2026-11-29T23:30:00-01:00", None, "2026-11-30T17:00:00+00:00"),
    # A summer weekend: Friday 17 July 2026, 17:30 BST.
    ("working_days", "2026-07-17T17:30:00+01:00", 1, "2026-07-20T17:00:00+01:00"),
    ("next_working_day_start", "2026-07-18T10:00:00+01:00", None, "2026-07-20T09:00:00+01:00"),
])
def test_friday_evening_and_weekends(kind: str, t: str, n: int | None, expected: str) -> None:
    assert deadline(kind, t, n) == expected


@pytest.mark.parametrize("t", ["2026-11-27T17:00:00+00:00", "2026-11-28T11:00:00+00:00", "2026-11-29T08:00:00+00:00"])
def test_friday_evening_and_weekends_are_out_of_hours(t: str) -> None:
    assert ooh(t)


@pytest.mark.parametrize("kind, t, n, expected", [
    # Wednesday 25 Nov 23:30 at -08:00 is Thursday 26 Nov 07:30 in London.
    ("same_day", "2026-11-25T23:30:00-08:00", None, "2026-11-26T23:59:59+00:00"),
    ("same_working_day", "2026-11-25T23:30:00-08:00", None, "2026-11-26T17:00:00+00:00"),
    ("working_days", "2026-11-25T23:30:00-08:00", 1, "2026-11-27T17:00:00+00:00"),
    ("hours", "2026-11-25T23:30:00-08:00", 4, "2026-11-26T11:30:00+00:00"),
    # Thursday 26 Nov 03:00 at +05:30 is Wednesday 25 Nov 21:30 in London.
    ("same_day", "2026-11-26T03:00:00+05:30", None, "2026-11-25T23:59:59+00:00"),
    ("same_working_day", "2026-11-26T03:00:00+05:30", None, "2026-11-25T23:59:59+00:00"),
    ("working_days", "2026-11-26T03:00:00+05:30", 1, "2026-11-26T17:00:00+00:00"),
    ("next_working_day_start", "2026-11-26T03:00:00+05:30", None, "2026-11-26T09:00:00+00:00"),
    # Summer: 14:00 at +05:30 is 09:30 BST, printed back in London time.
    ("hours", "2026-07-15T14:00:00+05:30", 24, "2026-07-16T09:30:00+01:00"),
    ("same_working_day", "2026-07-15T14:00:00+05:30", None, "2026-07-15T17:00:00+01:00"),
])
def test_instants_with_a_non_london_offset(kind: str, t: str, n: int | None, expected: str) -> None:
    assert deadline(kind, t, n) == expected


def test_non_london_offsets_are_judged_on_london_time() -> None:
    assert ooh("2026-11-25T23:30:00-08:00")      # 07:30 Thursday in London
    assert not ooh("2026-11-26T15:00:00+05:30")  # 09:30 Thursday in London
    assert ooh("2026-07-15T12:00:00-05:00")      # 18:00 BST
    assert not ooh("2026-07-15T10:59:59-05:00")  # 16:59:59 BST
    local = CAL.local(datetime.fromisoformat("2026-07-15T14:00:00+05:30"))
    assert local.isoformat() == "2026-07-15T09:30:00+01:00"


CLOSED_MONDAY = AreaCalendar(closures=frozenset({date(2026, 11, 30)}))
CLOSED_CHRISTMAS_EVE = AreaCalendar(closures=frozenset({date(2026, 12, 24), date(2026, 12, 31)}))


@pytest.mark.parametrize("cal, kind, t, n, expected", [
    (CLOSED_MONDAY, "working_days", "2026-11-27T18:30:00+00:00", 1, "2026-12-01T17:00:00+00:00"),
    (CLOSED_MONDAY, "working_days", "2026-11-27T10:00:00+00:00", 2, "2026-12-02T17:00:00+00:00"),
    (CLOSED_MONDAY, "next_working_day_start", "2026-11-27T18:30:00+00:00", None, "2026-12-01T09:00:00+00:00"),
    (CLOSED_MONDAY, "same_working_day", "2026-11-30T10:00:00+00:00", None, "2026-11-30T23:59:59+00:00"),
    (CLOSED_MONDAY, "hours", "2026-11-27T18:30:00+00:00", 72, "2026-11-30T18:30:00+00:00"),  # hours ignore closures
    (CLOSED_MONDAY, "working_days", "2026-11-30T10:00:00+00:00", 1, "2026-12-01T17:00:00+00:00"),
    (CLOSED_CHRISTMAS_EVE, "working_days", "2026-12-23T10:00:00+00:00", 1, "2026-12-29T17:00:00+00:00"),
    (CLOSED_CHRISTMAS_EVE, "working_days", "2026-12-23T10:00:00+00:00", 3, "2027-01-04T17:00:00+00:00"),
    (CLOSED_CHRISTMAS_EVE, "next_working_day_start", "2026-12-23T10:00:00+00:00", None, "2026-12-29T09:00:00+00:00"),
])
def test_area_closures(cal: AreaCalendar, kind: str, t: str, n: int | None, expected: str) -> None:
    assert deadline(kind, t, n, cal) == expected


def test_a_closure_day_is_out_of_hours_only_in_that_area() -> None:
    assert ooh("2026-11-30T10:00:00+00:00", CLOSED_MONDAY)
    assert not ooh("2026-11-30T10:00:00+00:00")
    assert not CLOSED_MONDAY.is_working_day(date(2026, 11, 30))
    assert not CLOSED_MONDAY.is_bank_holiday(date(2026, 11, 30))
    assert CLOSED_MONDAY.next_working_day(date(2026, 11, 27)) == date(2026, 12, 1)
    assert CLOSED_MONDAY.add_working_days(date(2026, 11, 27), 3) == date(2026, 12, 3)


def test_other_office_hours() -> None:
    cal = AreaCalendar(office_open=time(8, 30), office_close=time(17, 30))
    assert not ooh("2026-11-25T08:30:00+00:00", cal)
    assert ooh("2026-11-25T08:29:59+00:00", cal)
    assert not ooh("2026-11-25T17:15:00+00:00", cal)
    assert ooh("2026-11-25T17:30:00+00:00", cal)
    assert deadline("same_working_day", "2026-11-25T17:15:00+00:00", cal=cal) == "2026-11-25T17:30:00+00:00"
    assert deadline("working_days", "2026-11-25T17:15:00+00:00", 1, cal) == "2026-11-26T17:30:00+00:00"
    assert deadline("next_working_day_start", "2026-11-25T17:15:00+00:00", cal=cal) == "2026-11-26T08:30:00+00:00"


def test_a_deadline_of_exactly_office_close_allows_an_office_hours_meeting() -> None:
    at = datetime.fromisoformat
    assert CAL.allows_office_hours_meeting_by(at("2026-11-25T17:00:00+00:00"))
    assert CAL.allows_office_hours_meeting_by(at("2026-07-15T16:00:00+00:00"))  # 17:00 BST
    assert not CAL.allows_office_hours_meeting_by(at("2026-11-25T09:00:00+00:00"))
    assert not CAL.allows_office_hours_meeting_by(at("2026-11-25T23:59:59+00:00"))
    assert not CAL.allows_office_hours_meeting_by(at("2026-12-25T12:00:00+00:00"))


def test_as_soon_as_practicable_has_no_deadline() -> None:
    assert CAL.deadline(Timescale("as_soon_as_practicable"), datetime(2026, 11, 25, 10, tzinfo=UTC)) is None


def test_an_instant_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        CAL.deadline(Timescale("hours", 4), datetime(2026, 11, 25, 10))
    with pytest.raises(ValueError, match="UTC offset"):
        CAL.is_out_of_hours(datetime(2026, 11, 25, 10))


@pytest.mark.parametrize("kind, n", [("hours", None), ("working_days", None), ("same_day", 1), ("hours", 0), ("working_days", -1)])
def test_malformed_timescales_are_refused(kind: str, n: int | None) -> None:
    with pytest.raises(ValueError):
        Timescale(kind, n)


def test_office_hours_must_open_before_they_close() -> None:
    with pytest.raises(ValueError):
        AreaCalendar(office_open=time(17, 0), office_close=time(9, 0))


def test_a_calendar_with_no_working_days_left_is_an_error_not_a_hang() -> None:
    start = date(2026, 1, 1)
    cal = AreaCalendar(closures=frozenset(start + timedelta(days=i) for i in range(800)))
    with pytest.raises(ValueError, match="closures"):
        cal.add_working_days(start, 1)


@pytest.mark.parametrize("timescale, text", [
    (Timescale("hours", 1), "within 1 hour"),
    (Timescale("hours", 24), "within 24 hours"),
    (Timescale("working_days", 1), "within 1 working day"),
    (Timescale("working_days", 3), "within 3 working days"),
    (Timescale("same_working_day"), "the same working day"),
])
def test_describe(timescale: Timescale, text: str) -> None:
    assert timescale.describe() == text


def test_next_office_opening_is_the_first_opening_after_the_instant():
    """Bristol's out-of-hours record is due 'before the start of the next working day'."""
    from bot.core.calendar import AreaCalendar as _Cal, Timescale as _Ts
    cal, ts = _Cal(), _Ts("next_office_opening")
    iso_ = lambda s: datetime.fromisoformat(s)
    assert cal.deadline(ts, iso_("2026-11-25T02:00:00+00:00")).isoformat() == "2026-11-25T09:00:00+00:00"  # Wed small hours
    assert cal.deadline(ts, iso_("2026-11-24T20:00:00+00:00")).isoformat() == "2026-11-25T09:00:00+00:00"  # Tue evening
    assert cal.deadline(ts, iso_("2026-11-25T09:00:00+00:00")).isoformat() == "2026-11-26T09:00:00+00:00"  # at opening: the next
    assert cal.deadline(ts, iso_("2026-12-24T18:00:00+00:00")).isoformat() == "2026-12-29T09:00:00+00:00"  # Christmas
    assert cal.deadline(ts, iso_("2026-03-28T23:00:00+00:00")).isoformat() == "2026-03-30T09:00:00+01:00"  # clocks go forward
