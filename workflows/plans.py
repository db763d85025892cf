"""Plan targets as data: the four figures of a unit's year, and the defaults a unit without a plan of its own gets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workflows.errors import Problem, problem

PLAN_KINDS = ("commune", "province")


@dataclass(frozen=True)
class Targets:
    """A unit's targets for a year: departures to exceed, and the percent of departures with each training."""

    departures_more_than: int
    language_orientation_percent: int
    vocational_percent: int
    in_depth_percent: int


@dataclass(frozen=True)
class PlanDefaults:
    """The default targets per unit kind, and the vocational share's figures by year with the rule between them."""

    by_kind: dict[str, dict[str, int]]
    vocational_by_year: dict[int, int]
    vocational_rule: str  # "linear" or "step"

    def targets(self, kind: str, year: int) -> Targets:
        """Return the default targets of a unit kind for a year."""
        figures = self.by_kind[kind]
        return Targets(
            departures_more_than=figures["departures_more_than"],
            language_orientation_percent=figures["language_orientation_percent"],
            vocational_percent=self.vocational_percent(year),
            in_depth_percent=figures["in_depth_percent"],
        )

    def vocational_percent(self, year: int) -> int:
        """Return the vocational share for a year: a given year's figure, else between the years around it by the rule."""
        years = sorted(self.vocational_by_year)
        if year <= years[0]:
            return self.vocational_by_year[years[0]]
        if year >= years[-1]:
            return self.vocational_by_year[years[-1]]
        before = max(y for y in years if y <= year)
        after = min(y for y in years if y > year)
        low, high = self.vocational_by_year[before], self.vocational_by_year[after]
        if self.vocational_rule == "step":
            return low
        return math.ceil(low + (high - low) * (year - before) / (after - before))


def build_plan_defaults(data: dict[str, Any]) -> PlanDefaults:
    """Build the defaults from config/plans.toml's data, refusing a missing kind or figure, or an unknown rule."""
    fields = ("departures_more_than", "language_orientation_percent", "in_depth_percent")
    by_kind = {kind: {name: int(data["kind"][kind][name]) for name in fields} for kind in PLAN_KINDS}
    vocational = data["vocational_percent"]
    rule = vocational.get("rule", "linear")
    if rule not in ("linear", "step"):
        raise ValueError(f"plans: vocational_percent.rule must be 'linear' or 'step', not {rule!r}")
    by_year = {int(year): int(percent) for year, percent in vocational["by_year"].items()}
    if not by_year:
        raise ValueError("plans: vocational_percent.by_year needs at least one year")
    return PlanDefaults(by_kind=by_kind, vocational_by_year=by_year, vocational_rule=rule)


def target_problems(targets: Targets) -> list[Problem]:
    """Return what is wrong with targets an admin typed: a negative count, a share outside 0–100 %."""
    found = []
    if not 0 <= targets.departures_more_than <= 1_000_000:
        vi, en = "Chỉ tiêu xuất cảnh phải từ 0 đến 1.000.000.", "The departures target must be between 0 and 1,000,000."
        found.append(problem("plan.departures", vi, en, "departures_more_than"))
    for name in ("language_orientation_percent", "vocational_percent", "in_depth_percent"):
        if not 0 <= getattr(targets, name) <= 100:
            found.append(problem("plan.percent", "Tỷ lệ phải từ 0 đến 100 (%).", "A share must be between 0 and 100 (%).", name))
    return found
