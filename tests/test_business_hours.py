"""Business hours: read from SUPPORT_BUSINESS_HOURS, kept on the shop's wall clock, and
skipping holidays and vacation days. Pure: no database, no models.

November 2026 in Berlin is winter time (UTC+1); 2026-11-27 is a Friday. Summer time
starts on Sunday 2026-03-29 and ends on Sunday 2026-10-25.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from desk.hours import parse, schedule_for
from settings import ConfigError, load_settings

BERLIN = "Mon-Fri 09:00-17:00 Europe/Berlin"
FRIDAY = date(2026, 11, 27)
MONDAY = date(2026, 11, 30)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    """A naive UTC time, as the store keeps them."""
    return datetime(day.year, day.month, day.day, hour, minute)


@pytest.mark.parametrize(
    ("text", "open_days"),
    [
        (BERLIN, {0, 1, 2, 3, 4}),
        ("Mon-Fri 09:00-17:00, Sat 10:00-14:00 Europe/Berlin", {0, 1, 2, 3, 4, 5}),
        ("Sun-Thu 08:00-16:00 Asia/Jerusalem", {6, 0, 1, 2, 3}),  # a range that wraps
        ("Fri-Mon 10:00-18:00 UTC", {4, 5, 6, 0}),
        ("mon - wed 09:00 – 12:00 13:00-17:00, Friday 09:00-12:00 UTC", {0, 1, 2, 4}),
    ],
)
def test_days_hours_and_time_zone_are_read_from_the_setting(text, open_days):
    schedule = parse(text)
    assert {span.weekday for span in schedule.spans} == open_days
    assert schedule.timezone == text.split()[-1]


def test_several_time_ranges_a_day_leave_the_lunch_break_closed():
    schedule = parse("Mon-Fri 09:00-12:00 13:00-17:00 UTC")
    assert schedule.is_open(utc(FRIDAY, 11, 59))
    assert not schedule.is_open(utc(FRIDAY, 12, 30))
    assert schedule.next_opening(utc(FRIDAY, 12, 30)) == utc(FRIDAY, 13)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected days, hours and a time zone, e.g. Mon-Fri 09:00-17:00 Europe/Berlin"),
        ("Mon-Fri 09:00-17:00", "expected days, hours and a time zone"),
        ("Mon-Fri 09:00-17:00, Sat 10:00-14:00", "no time zone at the end"),
        ("Mon-Fri 09:00-17:00 Berlin", "unknown time zone 'Berlin'"),
        ("Mon-Fri 09:00-17:00 ../../etc/passwd", "unknown time zone '../../etc/passwd'"),
        ("Mnd-Fri 09:00-17:00 UTC", "unknown day 'Mnd-Fri'"),
        ("Mon- 09:00-17:00 UTC", "unknown day 'Mon-'"),
        ("Mon-Fri 9-17 UTC", "bad hours 9-17: write HH:MM-HH:MM"),
        ("Mon-Fri 09:00-25:00 UTC", "bad hours 09:00-25:00: times run from 00:00 to 24:00"),
        ("Mon-Fri 09:60-17:00 UTC", "bad hours 09:60-17:00"),
        ("Mon-Fri 09:00-09:00 UTC", "opens and closes at the same time"),
        ("09:00-17:00 Sat 10:00-12:00 UTC", "hours 09:00-17:00 need days before them"),
        ("Mon-Fri 09:00-17:00 Sat UTC", "Sat has no hours after it"),
    ],
)
def test_a_bad_value_is_refused_with_one_line_saying_what_is_wrong(text, message):
    with pytest.raises(ValueError) as error:
        parse(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_value_stops_the_program_at_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("SUPPORT_BUSINESS_HOURS", "Mon-Fri 09:00-17:00 Berlin")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value).startswith("SUPPORT_BUSINESS_HOURS: unknown time zone 'Berlin'")


def test_a_desk_without_business_hours_is_always_open(monkeypatch):
    monkeypatch.setenv("SUPPORT_BUSINESS_HOURS", "")
    schedule = schedule_for(load_settings().business_hours)
    sunday_night = utc(date(2026, 11, 29), 23, 30)
    assert schedule.is_open(sunday_night)
    assert schedule.next_opening(sunday_night) == sunday_night
    assert schedule.business_minutes_between(utc(FRIDAY, 12), utc(MONDAY, 12)) == 3 * 24 * 60
    # A holiday of the owner's still closes it, for the whole (UTC) day.
    assert schedule.next_opening(utc(FRIDAY, 12), {FRIDAY}) == utc(FRIDAY + timedelta(1), 0)


def test_the_desk_is_open_from_its_opening_until_just_before_closing():
    schedule = parse(BERLIN)
    assert not schedule.is_open(utc(FRIDAY, 7, 59))  # 08:59 in Berlin
    assert schedule.is_open(utc(FRIDAY, 8))  # 09:00
    assert schedule.is_open(utc(FRIDAY, 15, 59))  # 16:59
    assert not schedule.is_open(utc(FRIDAY, 16))  # 17:00
    assert not schedule.is_open(utc(FRIDAY + timedelta(1), 10))  # Saturday
    assert not schedule.is_open(utc(FRIDAY, 10), {FRIDAY})  # a holiday


def test_a_message_on_friday_evening_waits_for_monday_morning():
    schedule = parse(BERLIN)
    assert schedule.next_opening(utc(FRIDAY, 16, 30)) == utc(MONDAY, 8)
    assert schedule.next_opening(utc(date(2026, 11, 29), 12)) == utc(MONDAY, 8)  # Sunday
    assert schedule.next_opening(utc(FRIDAY, 10)) == utc(FRIDAY, 10)  # open: now


def test_a_holiday_on_monday_moves_the_opening_to_tuesday():
    schedule = parse(BERLIN)
    assert schedule.next_opening(utc(FRIDAY, 16, 30), {MONDAY}) == utc(MONDAY + timedelta(1), 8)


def test_a_vacation_week_is_skipped_whole():
    schedule = parse(BERLIN)
    vacation = {MONDAY + timedelta(days=n) for n in range(5)}
    assert schedule.next_opening(utc(FRIDAY, 16, 30), vacation) == utc(date(2026, 12, 7), 8)


def test_opening_time_stays_on_the_wall_clock_when_summer_time_starts_and_ends():
    schedule = parse(BERLIN)
    # Before the last Sunday of March 09:00 in Berlin is 08:00 UTC; after it, 07:00 UTC.
    assert schedule.next_opening(utc(date(2026, 3, 27), 6)) == utc(date(2026, 3, 27), 8)
    assert schedule.next_opening(utc(date(2026, 3, 28), 12)) == utc(date(2026, 3, 30), 7)
    # And back after the last Sunday of October.
    assert schedule.next_opening(utc(date(2026, 10, 23), 5)) == utc(date(2026, 10, 23), 7)
    assert schedule.next_opening(utc(date(2026, 10, 24), 12)) == utc(date(2026, 10, 26), 8)
    # The Sundays themselves last 23 and 25 hours.
    sundays = parse("Sun 00:00-24:00 Europe/Berlin")
    march = sundays.business_minutes_between(utc(date(2026, 3, 28), 0), utc(date(2026, 3, 30), 0))
    october = sundays.business_minutes_between(
        utc(date(2026, 10, 24), 0), utc(date(2026, 10, 26), 0)
    )
    assert (march, october) == (23 * 60, 25 * 60)


def test_business_minutes_count_only_the_hours_the_desk_was_open():
    schedule = parse(BERLIN)
    # Friday 16:00 to Monday 10:00 in Berlin: the last hour of Friday, the first of Monday.
    assert schedule.business_minutes_between(utc(FRIDAY, 15), utc(MONDAY, 9)) == 120
    assert schedule.business_minutes_between(utc(FRIDAY, 9), utc(FRIDAY, 10)) == 60
    # Across the start of summer time the same two hours.
    friday, monday = date(2026, 3, 27), date(2026, 3, 30)
    assert schedule.business_minutes_between(utc(friday, 15), utc(monday, 8)) == 120
    # A holiday on Monday: Tuesday's first hour instead.
    tuesday = MONDAY + timedelta(1)
    assert schedule.business_minutes_between(utc(FRIDAY, 15), utc(tuesday, 9), {MONDAY}) == 120
    assert schedule.business_minutes_between(utc(MONDAY, 9), utc(FRIDAY, 15)) == 0
    # Overlapping ranges count once.
    overlapping = parse("Fri 09:00-17:00, Fri 16:00-18:00 Europe/Berlin")
    assert overlapping.business_minutes_between(utc(FRIDAY, 0), utc(MONDAY, 0)) == 9 * 60


def test_minutes_of_work_left_on_friday_evening_carry_over_to_monday():
    schedule = parse(BERLIN)
    assert schedule.after_business_minutes(utc(FRIDAY, 15, 30), 60) == utc(MONDAY, 8, 30)
    assert schedule.after_business_minutes(utc(FRIDAY, 10), 30) == utc(FRIDAY, 10, 30)


def test_night_hours_belong_to_the_day_they_start_on():
    schedule = parse("Fri 22:00-02:00 UTC")
    saturday = FRIDAY + timedelta(1)
    assert schedule.is_open(utc(saturday, 1, 59))
    assert not schedule.is_open(utc(saturday, 2))
    assert schedule.next_opening(utc(FRIDAY, 12)) == utc(FRIDAY, 22)
    assert not schedule.is_open(utc(saturday, 1), {FRIDAY})  # Friday's holiday: its night too
