"""Plans: the defaults per unit kind and year, an admin's edit (logged), and who may read or set them."""

from __future__ import annotations

import pytest

from config.settings import CONFIG_DIR
from config.targets import load_plan_defaults
from services import admin, plans
from workflows.errors import Forbidden, NotFound, RecordInvalid
from workflows.plans import PlanDefaults, Targets


def test_the_defaults_follow_the_plans():
    defaults = load_plan_defaults(CONFIG_DIR / "plans.toml")
    assert defaults.targets("commune", 2025) == Targets(5, 100, 60, 15)
    assert defaults.targets("province", 2030) == Targets(150, 100, 75, 15)
    assert [defaults.vocational_percent(year) for year in range(2023, 2032)] == [60, 60, 60, 63, 66, 69, 72, 75, 75]
    step = PlanDefaults(defaults.by_kind, {2025: 60, 2030: 75}, "step")
    assert [step.vocational_percent(year) for year in (2025, 2029, 2030)] == [60, 60, 75]


def test_a_unit_without_a_plan_gets_its_kinds_defaults(rt, actors):
    got = plans.get_plan(rt, actors["supervisor"], "TH-CAMTAN", 2027)
    assert (got["source"], got["departures_more_than"], got["vocational_percent"]) == ("default", 5, 66)
    assert plans.get_plan(rt, actors["admin"], "38", 2027)["departures_more_than"] == 150


def test_an_admin_sets_a_plan_and_the_log_says_so(rt, actors):
    got = plans.set_plan(rt, actors["admin"], "TH-CAMTAN", 2026, Targets(8, 100, 70, 20))
    assert (got["source"], got["updated_by"], got["departures_more_than"]) == ("unit", "admin", 8)
    again = plans.set_plan(rt, actors["admin"], "TH-CAMTAN", 2026, Targets(9, 100, 70, 20))
    assert again["departures_more_than"] == 9
    assert plans.get_plan(rt, actors["social_policy"], "TH-CAMTAN", 2026)["departures_more_than"] == 9
    assert plans.get_plan(rt, actors["social_policy"], "TH-CAMTAN", 2027)["source"] == "default"
    logged = [a for a in admin.actions(rt, actors["admin"]) if a["action"] == "plan.set"]
    assert [a["details"]["after"]["departures_more_than"] for a in logged] == [8, 9]
    assert logged[0]["details"]["before"]["departures_more_than"] == 5


def test_only_an_admin_sets_a_plan(rt, actors):
    for name in ("supervisor", "province_supervisor", "social_policy", "finance", "auditor"):
        with pytest.raises(Forbidden):
            plans.set_plan(rt, actors[name], "TH-CAMTAN", 2026, Targets(8, 100, 70, 20))
    assert plans.get_plan(rt, actors["supervisor"], "TH-CAMTAN", 2026)["source"] == "default"


def test_bad_targets_and_units_are_refused(rt, actors, other_commune):
    with pytest.raises(RecordInvalid) as refused:
        plans.set_plan(rt, actors["admin"], "TH-CAMTAN", 2026, Targets(-1, 101, 70, 20))
    assert {p.field for p in refused.value.problems} == {"departures_more_than", "language_orientation_percent"}
    for unit in ("CB-NAMTUAN", "04", "TH-CAMTAN-01"):  # another province's units, a village
        with pytest.raises(NotFound):
            plans.set_plan(rt, actors["admin"], unit, 2026, Targets(8, 100, 70, 20))
    with pytest.raises(RecordInvalid):
        plans.get_plan(rt, actors["admin"], "TH-CAMTAN", 1999)
    with pytest.raises(Forbidden):
        plans.get_plan(rt, actors["finance"], "TH-CAMTAN", 2026)
