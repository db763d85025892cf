"""Clock arithmetic: working days across Tết and weekends, midnight in Asia/Ho_Chi_Minh, lengths from the policy."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from config.policy import load_clocks, load_policy
from config.settings import Settings
from workflows.calendar import VIETNAM, local_date
from workflows.clocks import Length, build_clock_policy, plan

SETTINGS = Settings()
CLOCKS = load_clocks(SETTINGS.clocks_file, SETTINGS.departments_file)
POLICY = load_policy(SETTINGS.policy_file)


@pytest.mark.parametrize(
    ("start", "length", "due"),
    [
        # Thu 12/2/2026 + 7 working days: Fri 13/2, then Tết (16–20/2) and two weekends are skipped.
        (date(2026, 2, 12), "7wd", date(2026, 3, 2)),
        # Tết 2027 spans 4–10/2, a Thursday to a Wednesday.
        (date(2027, 2, 3), "1wd", date(2027, 2, 11)),
        (date(2026, 6, 5), "1wd", date(2026, 6, 8)),  # Friday + 1 working day = Monday
        (date(2026, 3, 2), "-3wd", date(2026, 2, 25)),  # backwards, Tết not crossed
        (date(2026, 2, 23), "-1wd", date(2026, 2, 13)),  # backwards across Tết
        (date(2026, 8, 28), "+1wd", date(2026, 9, 3)),  # National Day 31/8–2/9 (a substituted day off)
        (date(2026, 6, 1), "30d", date(2026, 7, 1)),  # calendar days count weekends
        (date(2024, 2, 29), "24m", date(2026, 2, 28)),  # months clamp to the month's end
        (date(2026, 1, 31), "1m", date(2026, 2, 28)),
    ],
)
def test_lengths_count_working_days_calendar_days_and_months(start, length, due):
    assert Length.parse(length).after(start) == due


def test_a_step_just_after_midnight_in_vietnam_counts_from_the_vietnamese_day():
    # 17:30 UTC on 12/2 is 00:30 on 13/2 in Hà Nội: the bank's 7 working days start on the 13th.
    step = datetime(2026, 2, 12, 17, 30, tzinfo=UTC)
    assert local_date(step) == date(2026, 2, 13)
    planned = plan(CLOCKS.rules["loan_answer"], local_date(step), {}, POLICY, None)
    assert planned is not None
    assert planned.due_at == datetime(2026, 3, 3, 23, 59, 59, tzinfo=VIETNAM)
    assert planned.due_at.tzinfo is UTC and planned.due_at.hour == 16  # 23:59:59 in Vietnam is 16:59:59 UTC
    # Reminders fire at 08:00 in Vietnam: three working days before, on the day, then the escalations.
    assert [(rung.number, rung.fires_at.astimezone(VIETNAM).date(), rung.to) for rung in planned.rungs] == [
        (1, date(2026, 2, 26), "owner"),
        (2, date(2026, 3, 3), "owner"),
        (3, date(2026, 3, 4), "commune_supervisor"),
        (4, date(2026, 3, 12), "province_supervisor"),
    ]
    assert all(rung.fires_at.astimezone(VIETNAM).hour == 8 for rung in planned.rungs)


def test_a_clock_counting_from_a_recorded_date_is_due_from_that_date_even_if_it_opens_late():
    returned = SimpleNamespace(returned_on=date(2026, 5, 10))
    planned = plan(CLOCKS.rules["return_notice"], date(2026, 6, 1), {"return": returned}, POLICY, None)  # recorded three weeks late
    assert planned is not None and planned.counted_from == date(2026, 5, 10) and local_date(planned.due_at) == date(2026, 5, 25)
    # Every rung is planned, past ones too: the sweep fires only the latest passed rung to each recipient.
    assert [(rung.number, local_date(rung.fires_at)) for rung in planned.rungs] == [
        (1, date(2026, 5, 20)),
        (2, date(2026, 5, 25)),
        (3, date(2026, 5, 26)),
        (4, date(2026, 6, 3)),
    ]


def test_a_clock_counting_from_a_missing_record_date_does_not_open():
    assert plan(CLOCKS.rules["health_certificate"], date(2026, 6, 1), {}, POLICY, None) is None


def test_policy_lengths_follow_the_rule_values_and_the_market():
    health = CLOCKS.rules["health_certificate"]
    assert health.length_for(POLICY, "JP-TTS") == Length(POLICY.health_validity_for("JP-TTS"), "m")
    assert CLOCKS.rules["departure"].length_for(POLICY, None) == Length(180, "d")
    assert CLOCKS.rules["orientation_certificate"].length_for(POLICY, None) == Length(24, "m")


def test_which_clocks_a_step_starts_and_a_state_stops():
    assert [rule.name for rule in CLOCKS.started_by("certify_health")] == ["health_certificate", "loan_answer"]
    assert [rule.name for rule in CLOCKS.started_by("reopen")] == ["counselling"]  # a new application is counselled again
    assert set(CLOCKS.stopped_by("departed")) == {
        "counselling",
        "departure",
        "orientation_certificate",
        "health_certificate",
        "loan_answer",
    }
    assert "national_database" not in CLOCKS.stopped_by("closed")  # it stops when its work item is done


@pytest.mark.parametrize(
    ("clock", "message"),
    [
        ({"starts_on": "fly"}, "unknown trigger 'fly'"),
        ({"department": "army"}, "unknown department 'army'"),
        ({"while_in": ["abroad"]}, "unknown state 'abroad'"),
        ({"while_in": [], "until_done": False}, "give either while_in or until_done"),
        ({"length": "3 weeks"}, "not a length"),
    ],
)
def test_a_wrong_clock_policy_is_refused_with_the_reason(clock, message):
    spec = {"label_vi": "x", "label_en": "x", "starts_on": "register", "length": "3d", "department": "bank", "while_in": ["registered"]}
    data = {"ladder": {"standard": {"rungs": [{"at": "0d", "action": "remind", "to": "owner"}]}}, "clock": {"c": {**spec, **clock}}}
    with pytest.raises(ValueError, match=message):
        build_clock_policy(data, {"bank"}, {"registered"}, {"register"})
