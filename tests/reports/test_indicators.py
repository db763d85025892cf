"""The indicators on a seeded data set, against answers computed here from the seed's inputs (not from the database)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from services import indicators, plans, support
from services.models import Case, Deadline
from tests.reports import seed as s
from workflows.errors import Forbidden, NotFound, RecordInvalid
from workflows.plans import Targets
from workflows.support import Payment

START, END = date(2026, 6, 20), date(2026, 9, 30)
PROVINCE_COMMUNES = ("TH-CAMTAN", "TH-CAMTHUY")
PAYMENTS = [  # (serial, item, amount, paid_on)
    (3, "language", 3_000_000, date(2026, 7, 1)),
    (3, "health_check", 700_000, date(2026, 7, 2)),
    (6, "language", 4_000_000, date(2026, 6, 10)),  # before the period
    (9, "passport", 200_000, date(2026, 8, 15)),
]


def in_period(day: date | None) -> bool:
    return day is not None and START <= day <= END


@pytest.fixture
def seeded(rt, clock, actors):
    officers = s.add_communes(rt)
    people = s.workers()
    s.seed(rt, clock, officers, people)
    priority = {w.serial: w for w in people if any(w.priority.values())}
    for serial, item, amount, paid_on in PAYMENTS:
        worker = priority.get(serial) or next(w for w in people if any(w.priority.values()) and w.serial > serial)
        support.record_payment(rt, officers[worker.commune]["finance"], worker.case_id, Payment(item, amount, paid_on, f"HD-{serial}"))
        worker.paid.append((item, amount, paid_on))
    return people


def expected_departures(people):
    gone = [w for w in people if in_period(w.days.get("depart"))]
    poverty = lambda w: "poor" if w.priority["poor_household"] else "near_poor" if w.priority["near_poor_household"] else "neither"  # noqa: E731
    groups = Counter(name for w in gone for name, on in w.priority.items() if on)
    groups["any_group"] = sum(1 for w in gone if any(w.priority.values()))
    return gone, {
        "by_market": Counter(w.market for w in gone), "by_sex": Counter(w.sex for w in gone),
        "by_ethnicity": Counter(w.ethnicity for w in gone), "by_poverty": Counter(poverty(w) for w in gone),
        "by_priority_group": {name: n for name, n in groups.items() if n},
    }  # fmt: skip


def state_at_end(worker) -> str:
    """Return the state the worker's case was in at the end of the period, from the step days."""
    dest = {"register": "registered", "counsel": "counselled", "train": "trained", "certify_health": "health_checked",
            "approve_loan": "loan_approved", "depart": "departed", "return_home": "returned", "report_overstay": "overstayed",
            "report_death": "deceased"}  # fmt: skip
    done = [(day, list(dest).index(t), dest[t]) for t, day in worker.days.items() if t in dest and day <= END]
    return max(done)[2]


def test_province_indicators_match_the_seed(rt, actors, seeded):
    people = [w for w in seeded if w.commune in PROVINCE_COMMUNES]
    got = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    total = got["total"]
    gone, by = expected_departures(people)
    assert total["departures"]["total"] == len(gone) > 0
    for key, counts in by.items():
        assert {k: v for k, v in total["departures"][key].items() if v} == dict(counts), key
    programmes = {"JP-TTS": "Thực tập sinh kỹ năng (TITP)", "KR-EPS": "Chương trình EPS", "TW-LD": "Lao động hợp đồng"}
    assert total["departures"]["by_programme"] == dict(Counter(programmes[w.market] for w in gone))
    shares = {row["training"]: row for row in total["training"]}
    assert shares["language_orientation"]["trained"] == len(gone) and shares["language_orientation"]["met"] is True
    vocational = sum(w.vocational for w in gone)
    assert shares["vocational"]["percent"] == round(100 * vocational / len(gone), 1)
    assert shares["vocational"]["target_percent"] == 63  # 2026 on the straight line from 60 % (2025) to 75 % (2030)
    assert shares["in_depth"]["trained"] == sum(w.in_depth for w in gone)
    loans = [w for w in people if in_period(w.days.get("approve_loan"))]
    bank = [w for w in loans if w.financing == "bank_loan"]
    assert total["loans"] == {"bank_loans": len(bank), "amount_vnd": sum(w.amount for w in bank), "self_financed": len(loans) - len(bank)}
    outcomes = Counter(w.outcome[1] for w in people if w.outcome and in_period(w.days[w.outcome[0]]))
    assert total["outcomes"]["early_returns"] == outcomes["early"] and total["outcomes"]["completed"] == outcomes["completed"]
    assert total["outcomes"]["absconded"] == outcomes["absconded"] and total["outcomes"]["deceased"] == outcomes["deceased"]
    backlog = Counter(state_at_end(w) for w in people if w.days["register"] <= END)
    assert {k: v for k, v in total["backlog"].items() if v} == {k: v for k, v in backlog.items() if k != "deceased"}
    paid = [p for w in people for p in w.paid if in_period(p[2])]
    assert total["support"]["amount_vnd"] == sum(p[1] for p in paid) and total["support"]["payments"] == len(paid)
    assert [row["unit_code"] for row in got["communes"]] == sorted(PROVINCE_COMMUNES)
    assert sum(row["departures"]["total"] for row in got["communes"]) == len(gone)


def test_stage_medians_are_over_the_unit_and_per_commune(rt, actors, seeded):
    got = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    people = [w for w in seeded if w.commune in PROVINCE_COMMUNES]
    pairs = [("register", "counsel", "social_policy"), ("counsel", "train", "training"), ("train", "certify_health", "office"),
             ("certify_health", "approve_loan", "bank"), ("approve_loan", "depart", "enterprise")]  # fmt: skip

    def medians(group):
        found = {}
        for first, then, department in pairs:
            spans = [(w.days[then] - w.days[first]).days for w in group if in_period(w.days.get(then))]
            found[(department, first)] = (len(spans), statistics.median(spans) if spans else None)
        return found

    def reported(figures):
        rows = {(d["department"], st["from_state"]): (st["cases"], st["median_days"]) for d in figures["departments"] for st in d["stages"]}
        names = {
            "register": "registered",
            "counsel": "counselled",
            "train": "trained",
            "certify_health": "health_checked",
            "approve_loan": "loan_approved",
        }
        return {(dep, first): rows[(dep, names[first])] for dep, first in medians([])}

    assert reported(got["total"]) == medians(people)
    for row in got["communes"]:
        assert reported(row) == medians([w for w in people if w.commune == row["unit_code"]])


def test_deadlines_met_count_the_clocks_due_in_the_period(rt, actors, seeded):
    got = indicators.indicators(rt, actors["supervisor"], "TH-CAMTAN", START, END)
    mine = {w.case_id for w in seeded if w.commune == "TH-CAMTAN"}
    with rt.unit_of_work(writes=False) as conn:
        clocks = conn.execute(select(Deadline.case_id, Deadline.department, Deadline.due_at, Deadline.closed_at)).all()
    expected = Counter()
    met = Counter()
    start_at = datetime.combine(START, time(0), tzinfo=s.VIETNAM)
    end_at = datetime.combine(END + timedelta(days=1), time(0), tzinfo=s.VIETNAM)
    for clock in clocks:
        if clock.case_id in mine and start_at <= clock.due_at < end_at:
            expected[clock.department] += 1
            met[clock.department] += clock.closed_at is not None and clock.closed_at <= clock.due_at
    reported = {d["department"]: (d["deadlines_due"], d["deadlines_met"]) for d in got["total"]["departments"] if d["deadlines_due"]}
    assert reported == {dept: (n, met[dept]) for dept, n in expected.items()}
    assert reported, "the seed has clocks due in the period"


def test_a_commune_plan_of_its_own_is_the_target(rt, actors, seeded):
    plans.set_plan(rt, actors["admin"], "TH-CAMTAN", 2026, Targets(3, 100, 80, 20))
    got = indicators.indicators(rt, actors["supervisor"], "TH-CAMTAN", START, END)
    assert {row["training"]: row["target_percent"] for row in got["total"]["training"]} == {
        "language_orientation": 100,
        "vocational": 80,
        "in_depth": 20,
    }
    province = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    assert {row["training"]: row["target_percent"] for row in province["total"]["training"]}["vocational"] == 63


def test_a_whole_year_says_whether_the_departures_target_was_met(rt, actors, seeded):
    year = indicators.indicators(rt, actors["supervisor"], "TH-CAMTAN", date(2026, 1, 1), date(2026, 12, 31))
    gone = sum(1 for w in seeded if w.commune == "TH-CAMTAN" and "depart" in w.days and w.days["depart"].year == 2026)
    assert year["total"]["departures"]["total"] == gone
    assert year["total"]["plan"]["departures_target_met"] is (gone > 5)


def test_who_may_read_the_indicators(rt, actors, seeded):
    assert indicators.indicators(rt, actors["social_policy"], "TH-CAMTAN", START, END)["unit_code"] == "TH-CAMTAN"
    assert indicators.indicators(rt, actors["auditor"], "38", START, END)["unit_kind"] == "province"
    for name in ("finance", "enterprise", "admin"):
        with pytest.raises(Forbidden):
            indicators.indicators(rt, actors[name], "TH-CAMTAN", START, END)
    for unit in ("38", "CB-HOAAN", "04", "TH-CAMTAN-01", "NOPE"):  # a commune supervisor: not the province, nor elsewhere, nor a village
        with pytest.raises(NotFound):
            indicators.indicators(rt, actors["supervisor"], unit, START, END)
    with pytest.raises(NotFound):
        indicators.indicators(rt, actors["social_policy"], "38", START, END)
    with pytest.raises(RecordInvalid):
        indicators.indicators(rt, actors["supervisor"], "TH-CAMTAN", END, START)


def test_the_other_province_sees_its_own_commune_only(rt, seeded):
    from services.users import load_actor

    with rt.unit_of_work(writes=False) as conn:
        boss = load_actor(conn, "cb_supervisor")
        assert conn.scalar(select(Case.id).limit(1)) is not None
    got = indicators.indicators(rt, boss, "04", START, END)
    gone, _ = expected_departures([w for w in seeded if w.commune == "CB-HOAAN"])
    assert [row["unit_code"] for row in got["communes"]] == ["CB-HOAAN"] and got["total"]["departures"]["total"] == len(gone)


def test_departures_per_month_count_each_departure_in_its_month(rt, actors, seeded):
    got = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    people = [w for w in seeded if w.commune in PROVINCE_COMMUNES and in_period(w.days.get("depart"))]
    assert got["total"]["departures"]["by_month"] == dict(Counter(w.days["depart"].strftime("%Y-%m") for w in people))
    assert len(got["total"]["departures"]["by_month"]) > 1, "the seed departs in more than one month"
    for row in got["communes"]:
        mine = Counter(w.days["depart"].strftime("%Y-%m") for w in people if w.commune == row["unit_code"])
        assert row["departures"]["by_month"] == dict(mine)
