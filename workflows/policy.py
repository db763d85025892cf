"""The rule values a workflow version runs with (ages, validities, caps), passed in as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Market:
    """A destination market: a country and a programme, with its deposit cap and health rule."""

    code: str
    country: str
    country_name_vi: str
    country_name_en: str
    programme: str
    deposit_cap_vnd: int | None = None
    health_validity_months: int | None = None


@dataclass(frozen=True)
class Policy:
    """Rule values for one workflow version; every number here is configuration, not code."""

    workflow_version: str = "case-v1"
    min_age_years: int = 18
    orientation_min_periods: int = 74
    orientation_validity_months: int = 24
    health_validity_months: int = 12
    departure_within_days: int = 180
    loan_collateral_threshold_vnd: int = 200_000_000
    loan_collateral_from: date = date(2026, 1, 1)
    markets: dict[str, Market] = field(default_factory=dict)

    def health_validity_for(self, market_code: str | None) -> int:
        """Return the months a health certificate stays valid for a market."""
        market = self.markets.get(market_code or "")
        if market and market.health_validity_months:
            return market.health_validity_months
        return self.health_validity_months


def add_months(day: date, months: int) -> date:
    """Return the same day `months` later, clamped to the month's last day (31/1 + 1 → 28/2)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last_day = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, last_day))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
