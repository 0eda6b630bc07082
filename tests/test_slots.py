"""`earliest_slots`: the first times everyone who could be checked is free, before the deadline.

Why these tests: a proposed time that clashes, falls on a bank holiday, lands an hour out
across a clock change or ends after the protocol's deadline would mislead the chair of a
child-protection meeting. Each rule in bot/core/slots.py's docstring has a case here, and a
property test compares the fast search (which jumps over busy blocks and closed days) with a
plain walk along the grid.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.calendar import AreaCalendar
from bot.core.slots import Slot, earliest_slots

UK = ZoneInfo("Europe/London")
UTC = timezone.utc
CAL = AreaCalendar()
H = timedelta(hours=1)
M = timedelta(minutes=1)


def uk(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=UK)


def utc(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def starts(slots: list[Slot]) -> list[datetime]:
    return [s.start for s in slots]


def find(busy=None, unknown=frozenset(), *, start, deadline=None, duration=H, office=True, calendar=CAL, **kw):
    return earliest_slots(busy or {}, set(unknown), start=start, deadline=deadline or start + timedelta(days=14),
                          duration=duration, calendar=calendar, office_hours_only=office, **kw)


# --- the grid and the basics -----------------------------------------------------------


def test_free_morning_gives_three_distinct_hours_from_opening():
    slots = find({"a": [], "b": []}, start=uk(2026, 11, 23, 9))  # a Monday
    assert starts(slots) == [uk(2026, 11, 23, 9), uk(2026, 11, 23, 10), uk(2026, 11, 23, 11)]
    assert all(s.end - s.start == H for s in slots)
    assert slots[0].free == ("a", "b") and slots[0].unchecked == () and slots[0].fully_checked


def test_slots_are_in_the_areas_local_time():
    slot = find({"a": []}, start=uk(2026, 7, 1, 9))[0]
    assert slot.start.tzinfo == UK and slot.start.utcoffset() == H  # BST


def test_start_is_rounded_up_to_the_step():
    assert find(start=uk(2026, 11, 23, 9, 7))[0].start == uk(2026, 11, 23, 9, 15)
    assert find(start=uk(2026, 11, 23, 9, 15))[0].start == uk(2026, 11, 23, 9, 15)
    assert find(start=uk(2026, 11, 23, 9, 15) + timedelta(seconds=1))[0].start == uk(2026, 11, 23, 9, 30)
    assert find(start=uk(2026, 11, 23, 9, 7), step=timedelta(minutes=5))[0].start == uk(2026, 11, 23, 9, 10)
    assert find(start=uk(2026, 11, 23, 9, 7), step=timedelta(minutes=30))[0].start == uk(2026, 11, 23, 9, 30)


def test_count_and_a_shorter_meeting():
    slots = find(start=uk(2026, 11, 23, 9), duration=timedelta(minutes=45), count=5)
    assert [s.start.strftime("%H:%M") for s in slots] == ["09:00", "09:45", "10:30", "11:15", "12:00"]


def test_a_start_given_in_utc_is_read_in_local_time():
    # 08:00 UTC is 09:00 BST in July: the office is open.
    assert find(start=utc(2026, 7, 1, 8))[0].start == uk(2026, 7, 1, 9)


# --- busy blocks -------------------------------------------------------------------------


def test_busy_block_touching_the_slot_start_does_not_clash():
    busy = {"a": [(uk(2026, 11, 23, 9), uk(2026, 11, 23, 10))]}
    assert find(busy, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 23, 10)


def test_busy_block_touching_the_slot_end_does_not_clash():
    busy = {"a": [(uk(2026, 11, 23, 10), uk(2026, 11, 23, 11))]}
    assert starts(find(busy, start=uk(2026, 11, 23, 9)))[:2] == [uk(2026, 11, 23, 9), uk(2026, 11, 23, 11)]


def test_one_minute_of_overlap_clashes():
    busy = {"a": [(uk(2026, 11, 23, 9, 59), uk(2026, 11, 23, 10, 1))]}
    slots = find(busy, start=uk(2026, 11, 23, 9))
    assert slots[0].start == uk(2026, 11, 23, 10, 15)  # 10:01 rounded up to the grid


def test_overlapping_blocks_of_different_people_are_joined():
    busy = {
        "police@x": [(uk(2026, 11, 23, 9), uk(2026, 11, 23, 10, 30))],
        "health@x": [(uk(2026, 11, 23, 10), uk(2026, 11, 23, 11, 10))],
        "sc@x": [(uk(2026, 11, 23, 11, 10), uk(2026, 11, 23, 11, 20))],  # touches the previous one
    }
    slots = find(busy, start=uk(2026, 11, 23, 9))
    assert slots[0].start == uk(2026, 11, 23, 11, 30)
    assert slots[0].free == ("health@x", "police@x", "sc@x")


def test_nested_and_duplicate_blocks():
    block = (uk(2026, 11, 23, 9), uk(2026, 11, 23, 12))
    busy = {"a": [block, block, (uk(2026, 11, 23, 10), uk(2026, 11, 23, 11))]}
    assert find(busy, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 23, 12)


def test_a_gap_too_short_for_the_meeting_is_skipped():
    busy = {"a": [(uk(2026, 11, 23, 9), uk(2026, 11, 23, 10)), (uk(2026, 11, 23, 10, 45), uk(2026, 11, 23, 12))]}
    assert find(busy, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 23, 12)
    assert find(busy, start=uk(2026, 11, 23, 9), duration=timedelta(minutes=45))[0].start == uk(2026, 11, 23, 10)


def test_empty_block_blocks_nothing_and_unsorted_input_is_fine():
    busy = {"a": [(uk(2026, 11, 23, 13), uk(2026, 11, 23, 14)), (uk(2026, 11, 23, 9), uk(2026, 11, 23, 9))]}
    assert starts(find(busy, start=uk(2026, 11, 23, 9))) == [uk(2026, 11, 23, 9), uk(2026, 11, 23, 10),
                                                              uk(2026, 11, 23, 11)]


def test_busy_all_day_moves_to_the_next_working_day():
    busy = {"a": [(uk(2026, 11, 23, 8), uk(2026, 11, 23, 18))]}
    assert find(busy, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 24, 9)


def test_busy_blocks_in_other_offsets_are_compared_as_instants():
    busy = {"a": [(datetime(2026, 11, 23, 4, 0, tzinfo=timezone(timedelta(hours=-5))),
                   datetime(2026, 11, 23, 5, 0, tzinfo=timezone(timedelta(hours=-5))))]}  # 09:00-10:00 UK
    assert find(busy, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 23, 10)


# --- unknown calendars -------------------------------------------------------------------


def test_unknown_people_are_listed_as_unchecked_not_assumed_free():
    slots = find({"a@x": []}, {"ext@other.org", "b@x"}, start=uk(2026, 11, 23, 9))
    assert slots[0].free == ("a@x",)
    assert slots[0].unchecked == ("b@x", "ext@other.org") and not slots[0].fully_checked


def test_busy_blocks_of_someone_unknown_are_still_respected():
    busy = {"a@x": [(uk(2026, 11, 23, 9), uk(2026, 11, 23, 10))]}
    slots = find(busy, {"a@x"}, start=uk(2026, 11, 23, 9))
    assert slots[0].start == uk(2026, 11, 23, 10) and slots[0].free == () and slots[0].unchecked == ("a@x",)


def test_nobody_known_still_gives_office_hours_slots():
    assert find({}, {"ext@other.org"}, start=uk(2026, 11, 23, 9))[0].start == uk(2026, 11, 23, 9)


# --- the deadline --------------------------------------------------------------------------


def test_deadline_before_any_slot_gives_nothing():
    assert find(start=uk(2026, 11, 23, 16, 30), deadline=uk(2026, 11, 23, 17)) == []  # 30 minutes left
    assert find(start=uk(2026, 11, 23, 12), deadline=uk(2026, 11, 23, 11)) == []     # already past


def test_slot_may_end_exactly_at_the_deadline():
    slots = find(start=uk(2026, 11, 23, 15), deadline=uk(2026, 11, 23, 17))
    assert starts(slots) == [uk(2026, 11, 23, 15), uk(2026, 11, 23, 16)]


def test_deadline_out_of_hours_needs_office_hours_off():
    # A decision at 18:30 with a same-day deadline (23:59:59): only an evening meeting fits.
    start, deadline = uk(2026, 11, 25, 18, 30), uk(2026, 11, 25, 23, 59) + timedelta(seconds=59)
    assert find(start=start, deadline=deadline) == []
    slots = find({"edt@x": [(uk(2026, 11, 25, 19), uk(2026, 11, 25, 20))]}, start=start, deadline=deadline,
                 office=False)
    assert starts(slots) == [uk(2026, 11, 25, 20), uk(2026, 11, 25, 21), uk(2026, 11, 25, 22)]


def test_busy_up_to_the_deadline_gives_nothing():
    busy = {"a": [(uk(2026, 11, 23, 9), uk(2026, 11, 23, 16, 15))]}
    assert find(busy, start=uk(2026, 11, 23, 9), deadline=uk(2026, 11, 23, 17)) == []


# --- office hours, weekends, bank holidays, closures -------------------------------------


def test_slot_must_end_by_office_close_of_the_same_day():
    slots = find(start=uk(2026, 11, 23, 15, 30), count=2)
    assert starts(slots) == [uk(2026, 11, 23, 15, 30), uk(2026, 11, 24, 9)]  # 16:30-17:30 would overrun


def test_slot_ending_at_office_close_is_in_hours():
    assert find(start=uk(2026, 11, 23, 16))[0].start == uk(2026, 11, 23, 16)


def test_before_opening_waits_for_opening():
    assert find(start=uk(2026, 11, 23, 6, 40))[0].start == uk(2026, 11, 23, 9)


def test_friday_evening_goes_to_monday():
    assert find(start=uk(2026, 11, 27, 16, 30))[0].start == uk(2026, 11, 30, 9)


def test_christmas_bank_holidays_are_skipped():
    # Thu 24 Dec 2026 at 16:30: Fri 25 Dec, the weekend and Mon 28 Dec (Boxing Day observed) are closed.
    assert find(start=uk(2026, 12, 24, 16, 30))[0].start == uk(2026, 12, 29, 9)


def test_easter_is_skipped():
    assert find(start=uk(2026, 4, 2, 17))[0].start == uk(2026, 4, 7, 9)  # Good Friday .. Easter Monday


def test_area_closures_are_skipped():
    cal = AreaCalendar(closures=frozenset({date(2026, 11, 24)}))
    assert find(start=uk(2026, 11, 23, 17), calendar=cal)[0].start == uk(2026, 11, 25, 9)


def test_a_meeting_longer_than_the_office_day_never_fits():
    assert find(start=uk(2026, 11, 23, 9), duration=timedelta(hours=9)) == []
    assert find(start=uk(2026, 11, 23, 9), duration=timedelta(hours=8))[0].start == uk(2026, 11, 23, 9)


def test_without_office_hours_weekends_and_nights_are_fine():
    slots = find(start=uk(2026, 11, 28, 2, 10), office=False)  # a Saturday night
    assert starts(slots) == [uk(2026, 11, 28, 2, 15), uk(2026, 11, 28, 3, 15), uk(2026, 11, 28, 4, 15)]


def test_other_office_hours():
    from datetime import time
    cal = AreaCalendar(office_open=time(8, 30), office_close=time(16, 0))
    assert starts(find(start=uk(2026, 11, 23, 14, 30), calendar=cal, count=2)) == [uk(2026, 11, 23, 14, 30),
                                                                                    uk(2026, 11, 24, 8, 30)]


# --- clock changes ---------------------------------------------------------------------------


def test_spring_forward_office_hours_are_local():
    # Clocks go forward on Sunday 29 March 2026; Monday 09:00 is 08:00 UTC.
    slot = find(start=uk(2026, 3, 27, 17))[0]
    assert slot.start == uk(2026, 3, 30, 9) and slot.start.astimezone(UTC).hour == 8


def test_fall_back_office_hours_are_local():
    # Clocks go back on Sunday 25 October 2026; Monday 09:00 is 09:00 UTC again.
    slot = find(start=uk(2026, 10, 23, 17))[0]
    assert slot.start == uk(2026, 10, 26, 9) and slot.start.astimezone(UTC).hour == 9


def test_a_slot_across_spring_forward_lasts_its_real_duration():
    # 00:30 GMT + 2 h of elapsed time ends at 03:30 BST (02:30 UTC).
    slot = find(start=utc(2026, 3, 29, 0, 30), duration=2 * H, office=False)[0]
    assert slot.start == utc(2026, 3, 29, 0, 30) and slot.end == utc(2026, 3, 29, 2, 30)
    assert slot.end.hour == 3 and slot.end.utcoffset() == H


def test_grid_stays_on_the_quarter_hour_across_spring_forward():
    slots = find(start=utc(2026, 3, 29, 0, 50), duration=timedelta(minutes=30), office=False)
    # 00:50 GMT rounds up to 01:00 UTC, which is already 02:00 BST.
    assert [s.start.strftime("%H:%M%z") for s in slots] == ["02:00+0100", "02:30+0100", "03:00+0100"]


def test_the_repeated_hour_at_fall_back_gives_distinct_instants():
    slots = find(start=utc(2026, 10, 25, 0), duration=timedelta(minutes=30), office=False, count=4,
                 step=timedelta(minutes=30))
    assert [s.start.astimezone(UTC) for s in slots] == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30),
                                                        utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30)]
    assert [s.start.strftime("%H:%M%z") for s in slots] == ["01:00+0100", "01:30+0100", "01:00+0000", "01:30+0000"]


def test_busy_block_across_fall_back():
    # Busy 00:30-01:30 UTC (01:30 BST to 01:30 GMT): the first free half hour is 01:30 GMT.
    busy = {"a": [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))]}
    slot = find(busy, start=utc(2026, 10, 25, 0, 30), duration=timedelta(minutes=30), office=False)[0]
    assert slot.start.astimezone(UTC) == utc(2026, 10, 25, 1, 30)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"start": datetime(2026, 11, 23, 9)}, "start must carry a UTC offset"),
    ({"deadline": datetime(2026, 11, 24, 9)}, "deadline must carry a UTC offset"),
    ({"duration": timedelta(0)}, "duration must be positive"),
    ({"count": 0}, "count must be at least 1"),
    ({"step": timedelta(minutes=7)}, "step must be"),
    ({"step": timedelta(minutes=90)}, "step must be"),
    ({"busy": {"a": [(uk(2026, 11, 23, 10), uk(2026, 11, 23, 9))]}}, "ends"),
    ({"busy": {"a": [(datetime(2026, 11, 23, 9), uk(2026, 11, 23, 10))]}}, "UTC offset"),
    ({"busy": {"a": [(uk(2026, 11, 23, 9),)]}}, "pair"),
])
def test_bad_input_is_a_value_error(kwargs, message):
    args = {"busy": {}, "start": uk(2026, 11, 23, 9), "deadline": uk(2026, 11, 30, 9), "duration": H,
            "count": 3, "step": timedelta(minutes=15)}
    args.update(kwargs)
    busy = args.pop("busy")
    with pytest.raises(ValueError, match=message):
        earliest_slots(busy, set(), calendar=CAL, office_hours_only=True, **args)


# --- against a plain walk along the grid ------------------------------------------------------


def _plain_walk(busy, unknown, start, deadline, duration, calendar, office, step, count):
    """Try every grid instant in turn (no jumps): slow and obviously right."""
    def on_grid(t):
        t = t.astimezone(UTC)
        u = t.replace(second=0, microsecond=0)
        if u < t:
            u += M
        while u.minute % (step // M):  # UK offsets are whole hours: the UTC grid is the local grid
            u += M
        return u

    t = on_grid(start)
    blocks = [(s, e) for items in busy.values() for s, e in items if s < e]  # an empty block blocks nothing
    out = []
    while t + duration <= deadline and len(out) < count:
        end = t + duration
        ok = not any(s < end and e > t for s, e in blocks)
        if ok and office:
            lt = calendar.local(t)
            d = lt.date()
            ok = (calendar.is_working_day(d) and calendar.at(d, calendar.office_open) <= t
                  and end <= calendar.at(d, calendar.office_close))
        if ok:
            out.append((t, end))
            t = on_grid(end)  # options do not overlap, and start on the grid
        else:
            t += step
    return out


_BASE = utc(2026, 3, 26, 6)  # a window that crosses the spring clock change and a weekend


@st.composite
def _scenarios(draw):
    people = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
    busy = {}
    for p in people:
        blocks = []
        for _ in range(draw(st.integers(0, 6))):
            s = _BASE + draw(st.integers(0, 6 * 24 * 60 // 5)) * 5 * M
            blocks.append((s, s + draw(st.integers(0, 48)) * 5 * M))
        busy[p] = blocks
    start = _BASE + draw(st.integers(0, 4 * 24 * 60)) * M
    deadline = start + draw(st.integers(0, 5 * 24 * 60)) * M
    duration = draw(st.sampled_from([15, 30, 45, 60, 90, 120])) * M
    step = draw(st.sampled_from([5, 15, 30, 60])) * M
    office = draw(st.booleans())
    count = draw(st.integers(1, 4))
    return busy, start, deadline, duration, step, office, count


@settings(max_examples=300, deadline=None)
@given(_scenarios())
def test_matches_a_plain_walk_along_the_grid(scenario):
    busy, start, deadline, duration, step, office, count = scenario
    got = earliest_slots(busy, set(), start=start, deadline=deadline, duration=duration, calendar=CAL,
                         office_hours_only=office, step=step, count=count)
    expected = _plain_walk(busy, set(), start, deadline, duration, CAL, office, step, count)
    assert [(s.start, s.end) for s in got] == expected
