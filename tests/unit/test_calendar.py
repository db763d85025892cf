"""Business time: working days skip weekends and Vietnamese holidays (Tết included); dates are Vietnam's; months clamp."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from workflows.calendar import add_working_days, holiday_name, is_working_day, local_date, working_days_between
from workflows.policy import Market, Policy, add_months

TET_2027 = [date(2027, 2, 4) + timedelta(days=n) for n in range(7)]  # 29 Tết .. 5th day, Thursday to Wednesday


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 6, 1), True),  # Monday
        (date(2026, 6, 5), True),  # Friday
        (date(2026, 6, 6), False),  # Saturday
        (date(2026, 6, 7), False),  # Sunday
        (date(2026, 1, 1), False),  # New Year's Day
        (date(2026, 2, 16), False),  # Tết 2026 (Lunar New Year's Eve)
        (date(2026, 2, 20), False),
        (date(2026, 2, 23), True),  # back to work after Tết 2026
        (date(2026, 4, 27), False),  # Hùng Kings' day observed (26/4 is a Sunday)
        (date(2026, 4, 30), False),  # Reunification Day
        (date(2026, 5, 1), False),  # Labour Day
        (date(2026, 9, 1), False),  # National Day holiday
        (date(2026, 9, 2), False),  # National Day
        (date(2026, 9, 3), True),
        *[(day, False) for day in TET_2027],
        (date(2027, 2, 3), True),
        (date(2027, 2, 11), True),
        (date(2027, 5, 3), False),  # Labour Day observed (1/5 is a Saturday)
    ],
)
def test_working_days_skip_weekends_and_public_holidays(day, working):
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "name"),
    [(date(2027, 2, 6), "Lunar New Year"), (date(2026, 4, 30), "Liberation Day/Reunification Day"), (date(2026, 9, 2), "National Day")],
)
def test_a_holiday_is_named(day, name):
    assert name in holiday_name(day)


@pytest.mark.parametrize("day", [date(2026, 6, 1), date(2026, 6, 6)])
def test_an_ordinary_day_has_no_holiday_name(day):
    assert holiday_name(day) is None


@pytest.mark.parametrize(
    ("start", "count", "end"),
    [
        (date(2026, 6, 1), 0, date(2026, 6, 1)),
        (date(2026, 6, 1), 1, date(2026, 6, 2)),
        (date(2026, 6, 1), 5, date(2026, 6, 8)),  # a whole week
        (date(2026, 6, 5), 1, date(2026, 6, 8)),  # Friday + 1 → Monday, across the weekend
        (date(2026, 6, 6), 1, date(2026, 6, 8)),  # from a Saturday
        (date(2026, 6, 1), 7, date(2026, 6, 10)),  # the bank's 7 working days
        (date(2027, 2, 3), 1, date(2027, 2, 11)),  # across Tết 2027 (4–10 February)
        (date(2027, 2, 3), 7, date(2027, 2, 19)),
        (date(2027, 2, 1), 7, date(2027, 2, 17)),  # a loan asked on Mon 1/2: 2, 3, (Tết), 11, 12, 15, 16, 17
        (date(2026, 4, 29), 1, date(2026, 5, 4)),  # across 30/4 and 1/5 and a weekend
        (date(2027, 4, 29), 1, date(2027, 5, 4)),  # 30/4 Friday, 1/5 Saturday observed on Monday 3/5
        (date(2026, 4, 24), 1, date(2026, 4, 28)),  # Hùng Kings' day observed on Monday 27/4
        (date(2026, 8, 28), 1, date(2026, 9, 3)),  # 2/9 2026: 31/8, 1/9 and 2/9 off
        (date(2027, 9, 1), 1, date(2027, 9, 6)),  # 2/9 2027: Thursday and Friday off
        (date(2026, 6, 8), -1, date(2026, 6, 5)),  # backwards across the weekend
        (date(2027, 2, 11), -1, date(2027, 2, 3)),  # backwards across Tết
        (date(2026, 5, 4), -1, date(2026, 4, 29)),
        (date(2026, 6, 10), -7, date(2026, 6, 1)),
    ],
)
def test_add_working_days(start, count, end):
    assert add_working_days(start, count) == end


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (date(2026, 6, 1), date(2026, 6, 1), 0),
        (date(2026, 6, 5), date(2026, 6, 8), 1),  # Friday → Monday
        (date(2026, 6, 1), date(2026, 6, 8), 5),
        (date(2026, 6, 6), date(2026, 6, 7), 0),  # a weekend
        (date(2027, 2, 3), date(2027, 2, 11), 1),  # Tết
        (date(2027, 2, 3), date(2027, 2, 10), 0),
        (date(2026, 4, 29), date(2026, 5, 4), 1),
        (date(2026, 6, 8), date(2026, 6, 1), 0),  # end before start
    ],
)
def test_working_days_between_counts_after_start_up_to_end(start, end, count):
    assert working_days_between(start, end) == count


@pytest.mark.parametrize("start", [date(2026, 4, 24), date(2026, 8, 28), date(2026, 12, 30), date(2027, 1, 29), date(2027, 2, 6)])
@pytest.mark.parametrize("count", [1, 5, 7, 15])
def test_adding_then_counting_working_days_agree(start, count):
    end = add_working_days(start, count)
    assert working_days_between(start, end) == count
    assert is_working_day(end)
    assert add_working_days(end, -count) <= start  # going back lands on the first working day not after start


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 5, 31, 16, 59, 59, tzinfo=UTC), date(2026, 5, 31)),  # 23:59:59 in Hà Nội
        (datetime(2026, 5, 31, 17, 0, 0, tzinfo=UTC), date(2026, 6, 1)),  # midnight in Hà Nội
        (datetime(2026, 6, 1, 16, 59, 59, tzinfo=UTC), date(2026, 6, 1)),
        (datetime(2026, 6, 1, 17, 0, 0, tzinfo=UTC), date(2026, 6, 2)),
        (datetime(2026, 12, 31, 17, 0, 0, tzinfo=UTC), date(2027, 1, 1)),  # the year changes in Vietnam first
        (datetime(2026, 5, 31, 17, 0, 0), date(2026, 6, 1)),  # a naive moment is taken as UTC
        (datetime(2026, 6, 1, 0, 0, 0, tzinfo=VIETNAM), date(2026, 6, 1)),
        (datetime(2026, 6, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=9))), date(2026, 5, 31)),  # 01:00 in Tokyo is 23:00 in Hà Nội
    ],
)
def test_local_date_is_the_date_in_vietnam(moment, day):
    assert local_date(moment) == day


@pytest.mark.parametrize(
    ("day", "months", "result"),
    [
        (date(2026, 6, 1), 0, date(2026, 6, 1)),
        (date(2026, 6, 1), 24, date(2028, 6, 1)),  # the orientation certificate's validity
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # clamped to the month's last day
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2100, 1, 31), 1, date(2100, 2, 28)),  # not a leap year (divisible by 100)
        (date(2000, 1, 31), 1, date(2000, 2, 29)),  # a leap year (divisible by 400)
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # across the year end
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),  # backwards
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 4, 12), 36, date(2029, 4, 12)),  # a 36-month contract
    ],
)
def test_add_months_keeps_the_day_or_clamps_it(day, months, result):
    assert add_months(day, months) == result


def _market(code: str, months: int | None) -> Market:
    return Market(
        code=code, country="JP", country_name_vi="Nhật Bản", country_name_en="Japan", programme="TITP", health_validity_months=months
    )


@pytest.mark.parametrize(
    ("market", "months"),
    [("JP-6", 6), ("JP-18", 18), ("JP-DEFAULT", 12), ("XX-UNKNOWN", 12), (None, 12), ("", 12)],
)
def test_health_validity_is_the_market_rule_or_the_general_12_months(market, months):
    policy = Policy(markets={"JP-6": _market("JP-6", 6), "JP-18": _market("JP-18", 18), "JP-DEFAULT": _market("JP-DEFAULT", None)})
    assert policy.health_validity_for(market) == months


def test_the_default_policy_carries_the_legal_defaults():
    policy = Policy()
    assert (policy.min_age_years, policy.orientation_min_periods, policy.orientation_validity_months) == (18, 74, 24)
    assert (policy.health_validity_months, policy.departure_within_days) == (12, 180)
    assert (policy.loan_collateral_threshold_vnd, policy.loan_collateral_from) == (200_000_000, date(2026, 1, 1))
