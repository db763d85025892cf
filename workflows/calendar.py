"""Business time: calendar and working days in Asia/Ho_Chi_Minh, skipping Vietnamese holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def local_date(moment: datetime) -> date:
    """Return the calendar date in Vietnam at an aware moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM).date()


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=year)


def is_working_day(day: date) -> bool:
    """Tell whether a day is a working day: not Saturday, Sunday or a public holiday (Tết included)."""
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def holiday_name(day: date) -> str | None:
    """Return the name of the public holiday on a day, if any."""
    name = _holidays_of(day.year).get(day)
    return str(name) if name else None


def add_working_days(day: date, count: int) -> date:
    """Return the day `count` working days after (or before, if negative) a day."""
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    current = day
    while remaining:
        current += timedelta(days=step)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Count working days after `start` up to and including `end`."""
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        count += is_working_day(current)
    return count
