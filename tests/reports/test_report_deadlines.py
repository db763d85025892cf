"""The periodic reports' clocks count in their commune's share of deadlines met, as the cases' clocks do."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services import indicators, reports
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE  # the second province's commune (fixture other_commune)

HALF_YEAR_DRAFT, HALF_YEAR_DUE = date(2026, 6, 16), date(2026, 6, 30)


def _at(day: date, hour: int = 9) -> datetime:
    """Return a Vietnam-local hour of a day as a UTC moment."""
    return datetime(day.year, day.month, day.day, hour - 7, tzinfo=UTC)


def _social_policy(rt, actor, code: str, end: date = HALF_YEAR_DUE) -> tuple[int, int]:
    got = indicators.indicators(rt, actor, code, date(2026, 6, 1), end)
    [row] = [d for d in got["total"]["departments"] if d["department"] == "social_policy"]
    return row["deadlines_due"], row["deadlines_met"]


def test_a_report_submitted_in_time_is_a_deadline_met_and_a_late_or_missing_one_is_not(rt, actors, other_commune):
    rt.clock.moment = _at(HALF_YEAR_DRAFT, 7)
    ours, theirs = sorted(reports.draft_due(rt))  # Xã Cẩm Tân's, then Xã Nam Tuấn's half-year report
    assert reports.get(rt, actors["supervisor"], ours)["state"] == "drafted"
    rt.clock.moment = _at(date(2026, 6, 22))
    reports.submit(rt, actors["social_policy"], ours, version=1)
    # Xã Nam Tuấn has not submitted by its due day: its clock fell due and is not met; Cẩm Tân's is met.
    assert _social_policy(rt, actors["supervisor"], f.COMMUNE) == (1, 1)
    assert _social_policy(rt, other_commune["b_supervisor"], OTHER_COMMUNE) == (1, 0)
    rt.clock.moment = _at(date(2026, 7, 2))
    reports.submit(rt, other_commune["b_social_policy"], theirs, version=1)  # closed, but after its due time
    assert _social_policy(rt, other_commune["b_supervisor"], OTHER_COMMUNE) == (1, 0)
    # A period the due day is not in counts neither.
    assert _social_policy(rt, actors["supervisor"], f.COMMUNE, end=date(2026, 6, 29)) == (0, 0)
