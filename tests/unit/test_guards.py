"""Every guard: a case it lets through and the cases it refuses, with the problem's code, field and key facts in both languages."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pytest

from tests import factories as f
from tests.unit.builders import (
    BOUNDED_LICENCE,
    EXPIRED_LICENCE,
    FUTURE_LICENCE,
    POLICY,
    SUSPENDED_FACILITY,
    TODAY,
    Whole,
    subject,
    with_market_health_months,
)
from workflows import case as wf
from workflows import guards as g
from workflows.errors import GuardFailed
from workflows.policy import Policy

DEPARTURE_DAY = date(2026, 4, 10)


@dataclass(frozen=True)
class Expect:
    """A problem the user must see: its code and field, and facts both messages must state."""

    code: str
    field: str
    en: tuple[str, ...]
    vi: tuple[str, ...]


@dataclass(frozen=True)
class GuardCase:
    """A case about to take the guard's transition, with every record valid and dated `today` except the overrides."""

    guard: str
    overrides: dict[str, Any] = field(default_factory=dict)
    today: date = TODAY
    policy: Policy = POLICY
    record_policy: Policy | None = None
    expect: tuple[Expect, ...] = ()


def case(guard: str, case_id: str, *expect: Expect, **options: Any) -> Any:
    return pytest.param(GuardCase(guard, expect=expect, **options), id=f"{guard}-{case_id}")


def departed(day: date, **contract: Any) -> dict[str, Any]:
    """Departure overrides: left on `day`, contract starting two days later, visa issued five days before."""
    return {
        "departed_on": day.isoformat(),
        "contract": {"starts_on": (day + timedelta(days=2)).isoformat(), **contract},
        "visa": {"issued_on": (day - timedelta(days=5)).isoformat()},
    }


def born(day: date) -> dict[str, Any]:
    """Registration overrides for a man born on `day`, with a personal ID that agrees."""
    return {"date_of_birth": day.isoformat(), "personal_id": f.personal_id(day, "male", 7)}


SHORT_JP_HEALTH = with_market_health_months(POLICY, "JP-TTS", 6)
LONG_JP_HEALTH = with_market_health_months(POLICY, "JP-TTS", 18)
SHORT_KR_HEALTH = with_market_health_months(POLICY, "KR-EPS", 6)
MIN_AGE_20 = replace(POLICY, min_age_years=20)

CASES = [
    # counsel: enterprise_licensed
    case("enterprise_licensed", "licensed-with-no-end"),
    case(
        "enterprise_licensed",
        "last-licensed-day",
        today=date(2025, 1, 9),
        overrides={"counselling": {"enterprise_licence": EXPIRED_LICENCE}},
    ),
    case(
        "enterprise_licensed",
        "expired-the-day-before",
        Expect(
            "enterprise.licence_invalid",
            "counselling.enterprise_licence",
            ("Licence 077/LĐTBXH-GP of Công ty Miền Trung expired on 2025-01-09", "not valid on the counselling day 2025-01-10"),
            ("Giấy phép 077/LĐTBXH-GP của Công ty Miền Trung hết hiệu lực ngày 09/01/2025", "không có hiệu lực vào ngày tư vấn 10/01/2025"),
        ),
        today=date(2025, 1, 10),
        overrides={"counselling": {"enterprise_licence": EXPIRED_LICENCE}},
    ),
    case(
        "enterprise_licensed",
        "expired-long-ago",
        Expect(
            "enterprise.licence_invalid",
            "counselling.enterprise_licence",
            ("expired on 2025-01-09", "counselling day 2026-06-01"),
            ("hết hiệu lực ngày 09/01/2025", "ngày tư vấn 01/06/2026"),
        ),
        overrides={"counselling": {"enterprise_licence": EXPIRED_LICENCE}},
    ),
    case(
        "enterprise_licensed",
        "not-yet-licensed",
        Expect(
            "enterprise.licence_invalid",
            "counselling.enterprise_licence",
            ("Licence 200/LĐTBXH-GP of Công ty Mới is valid only from 2026-07-01", "not valid on the counselling day 2026-06-01"),
            ("chỉ có hiệu lực từ 01/07/2026", "không có hiệu lực vào ngày tư vấn 01/06/2026"),
        ),
        overrides={"counselling": {"enterprise_licence": FUTURE_LICENCE}},
    ),
    case(
        "enterprise_licensed",
        "unknown-licence",
        Expect(
            "enterprise.unlicensed",
            "counselling.enterprise_licence",
            ("No enterprise holds licence 999/LĐTBXH-GP.",),
            ("Không có doanh nghiệp nào được cấp giấy phép số 999/LĐTBXH-GP.",),
        ),
        overrides={"counselling": {"enterprise_licence": "999/LĐTBXH-GP"}},
    ),
    # counsel: market_known
    case("market_known", "korea", overrides={"counselling": {"market_code": "KR-EPS"}}),
    case(
        "market_known",
        "unknown-market",
        Expect(
            "market.unknown",
            "counselling.market_code",
            ("No market XX-NONE (known: DE-NURSE, JP-SSW, JP-TTS, KR-EPS, TW-LD).",),
            ("Không có thị trường XX-NONE (có: DE-NURSE, JP-SSW, JP-TTS, KR-EPS, TW-LD).",),
        ),
        overrides={"counselling": {"market_code": "XX-NONE"}},
    ),
    # counsel: selection_free
    case("selection_free", "no-fee", overrides={"counselling": {"selection_fee_vnd": 0}}),
    case(
        "selection_free",
        "fee-charged",
        Expect(
            "counselling.selection_fee",
            "counselling.selection_fee_vnd",
            ("The worker pays no fee for selection", "recorded: 5,000,000 VND"),
            ("Người lao động không phải trả phí tuyển chọn", "đã ghi 5.000.000 đồng"),
        ),
        overrides={"counselling": {"selection_fee_vnd": 5_000_000}},
    ),
    # counsel: counselled_after_consent
    case("counselled_after_consent", "same-day"),
    case(
        "counselled_after_consent",
        "counselled-before-consent",
        Expect(
            "counselling.before_consent",
            "counselling.counselled_on",
            ("The counselling day 2026-05-20 is before the data-processing consent of 2026-06-01.",),
            ("Ngày tư vấn 20/05/2026 trước ngày đồng ý xử lý dữ liệu cá nhân 01/06/2026.",),
        ),
        overrides={"counselling": {"counselled_on": "2026-05-20"}},
    ),
    # train: orientation_complete
    case("orientation_complete", "74-periods", overrides={"training": {"orientation": {"periods": 74}}}),
    case(
        "orientation_complete",
        "73-periods",
        Expect(
            "orientation.periods",
            "training.orientation.periods",
            ("The orientation course had 73 periods; it needs 74.",),
            ("Khóa giáo dục định hướng có 73 tiết; phải đủ 74 tiết.",),
        ),
        overrides={"training": {"orientation": {"periods": 73}}},
    ),
    # train: orientation_valid_today
    case("orientation_valid_today", "expires-tomorrow", overrides={"training": {"orientation": {"issued_on": "2024-06-02"}}}),
    case(
        "orientation_valid_today",
        "expired-today",
        Expect(
            "orientation.expired",
            "training.orientation.issued_on",
            ("The orientation certificate expired on 2026-06-01; it must be valid today.",),
            ("Chứng chỉ giáo dục định hướng hết hạn ngày 01/06/2026; phải còn hiệu lực hôm nay.",),
        ),
        overrides={"training": {"orientation": {"issued_on": "2024-06-01"}}},
    ),
    # train: orientation_issuer_licensed
    case(
        "orientation_issuer_licensed",
        "licensed-issuer",
        overrides={"training": {"orientation": {"issued_by_licence": BOUNDED_LICENCE}}},
    ),
    case(
        "orientation_issuer_licensed",
        "unknown-issuer",
        Expect(
            "orientation.issuer",
            "training.orientation.issued_by_licence",
            ("No licensed enterprise holds licence 999/LĐTBXH-GP to issue the orientation certificate.",),
            ("Không có doanh nghiệp nào được cấp giấy phép số 999/LĐTBXH-GP để cấp chứng chỉ định hướng.",),
        ),
        overrides={"training": {"orientation": {"issued_by_licence": "999/LĐTBXH-GP"}}},
    ),
    # train: schools_known
    case("schools_known", "no-vocational-certificate", overrides={"training": {"vocational": None}}),
    case(
        "schools_known",
        "unknown-language-school",
        Expect("school.unknown", "training.language.school_code", ("No school with code NN-XX.",), ("Không có cơ sở đào tạo mã NN-XX.",)),
        overrides={"training": {"language": {"school_code": "NN-XX"}}},
    ),
    case(
        "schools_known",
        "both-schools-unknown",
        Expect("school.unknown", "training.language.school_code", ("No school with code NN-XX.",), ("Không có cơ sở đào tạo mã NN-XX.",)),
        Expect("school.unknown", "training.vocational.school_code", ("No school with code TC-XX.",), ("Không có cơ sở đào tạo mã TC-XX.",)),
        overrides={"training": {"language": {"school_code": "NN-XX"}, "vocational": {"school_code": "TC-XX"}}},
    ),
    # certify_health: health_fit
    case("health_fit", "fit"),
    case(
        "health_fit",
        "unfit",
        Expect(
            "health.unfit",
            "health.result",
            ("found the worker unfit", "'declare_ineligible'"),
            ("không đủ sức khỏe", "'declare_ineligible'"),
        ),
        overrides={"health": {"result": "unfit"}},
    ),
    # certify_health: facility_approved
    case(
        "facility_approved",
        "last-approved-day",
        overrides={"health": {"facility_code": SUSPENDED_FACILITY, "examined_on": "2026-03-31"}},
    ),
    case(
        "facility_approved",
        "unknown-facility",
        Expect(
            "facility.unknown",
            "health.facility_code",
            ("Facility BV-XX-99 is not on the approved list.",),
            ("Cơ sở khám BV-XX-99 không có trong danh sách được phép.",),
        ),
        overrides={"health": {"facility_code": "BV-XX-99"}},
    ),
    case(
        "facility_approved",
        "not-approved-on-exam-day",
        Expect(
            "facility.not_approved",
            "health.facility_code",
            ("Phòng khám Cũ was not approved for health checks on 2026-04-01.",),
            ("Phòng khám Cũ không được phép khám sức khỏe đi làm việc ở nước ngoài vào ngày 01/04/2026.",),
        ),
        overrides={"health": {"facility_code": SUSPENDED_FACILITY, "examined_on": "2026-04-01"}},
    ),
    # certify_health: health_valid_today (12 months, or the market's own rule)
    case("health_valid_today", "expires-tomorrow", overrides={"health": {"examined_on": "2025-06-02"}}),
    case(
        "health_valid_today",
        "12-months-expired-today",
        Expect(
            "health.expired",
            "health.examined_on",
            ("The health certificate expired on 2026-06-01; it must be valid today.",),
            ("Giấy chứng nhận sức khỏe hết hạn ngày 01/06/2026; phải còn hiệu lực hôm nay.",),
        ),
        overrides={"health": {"examined_on": "2025-06-01"}},
    ),
    case("health_valid_today", "6-months-old-under-general-rule", overrides={"health": {"examined_on": "2025-12-01"}}),
    case(
        "health_valid_today",
        "market-allows-6-months",
        Expect("health.expired", "health.examined_on", ("expired on 2026-06-01", "valid today"), ("hết hạn ngày 01/06/2026", "hôm nay")),
        overrides={"health": {"examined_on": "2025-12-01"}},
        policy=SHORT_JP_HEALTH,
    ),
    case(
        "health_valid_today",
        "other-market-rule-does-not-apply",
        overrides={"health": {"examined_on": "2025-12-01"}},
        policy=SHORT_KR_HEALTH,
    ),
    case(
        "health_valid_today",
        "market-allows-18-months",
        overrides={"health": {"examined_on": "2025-01-01"}},
        policy=LONG_JP_HEALTH,
    ),
    # approve_loan: loan_within_costs
    case(
        "loan_within_costs",
        "100-percent-of-costs",
        overrides={"loan": {"amount_vnd": 150_000_000, "pre_departure_costs_vnd": 150_000_000}},
    ),
    case(
        "loan_within_costs",
        "self-financed",
        overrides={"loan": Whole(financing="self_financed", declared_on="2026-05-30", note="Gia đình tự lo chi phí")},
    ),
    case(
        "loan_within_costs",
        "over-costs",
        Expect(
            "loan.over_costs",
            "loan.amount_vnd",
            ("The loan of 160,000,000 VND exceeds 100% of the pre-departure costs, 150,000,000 VND.",),
            ("Khoản vay 160.000.000 đồng vượt 100% chi phí trước xuất cảnh 150.000.000 đồng.",),
        ),
        overrides={"loan": {"amount_vnd": 160_000_000, "pre_departure_costs_vnd": 150_000_000}},
    ),
    case(
        "loan_within_costs",
        "collateral-needed-from-2026",
        Expect(
            "loan.collateral",
            "loan.collateral",
            ("A loan above 200,000,000 VND needs collateral.",),
            ("Khoản vay trên 200.000.000 đồng phải có tài sản bảo đảm.",),
        ),
        overrides={"loan": {"amount_vnd": 250_000_000, "pre_departure_costs_vnd": 300_000_000, "decided_on": "2026-01-01"}},
    ),
    case(
        "loan_within_costs",
        "no-collateral-needed-before-2026",
        overrides={"loan": {"amount_vnd": 250_000_000, "pre_departure_costs_vnd": 300_000_000, "decided_on": "2025-12-31"}},
    ),
    case(
        "loan_within_costs",
        "collateral-given",
        overrides={"loan": {"amount_vnd": 250_000_000, "pre_departure_costs_vnd": 300_000_000, "collateral": "Sổ đỏ thửa đất số 12"}},
    ),
    case(
        "loan_within_costs",
        "exactly-200M-needs-none",
        overrides={"loan": {"amount_vnd": 200_000_000, "pre_departure_costs_vnd": 300_000_000}},
    ),
    case(
        "loan_within_costs",
        "over-costs-and-no-collateral",
        Expect("loan.over_costs", "loan.amount_vnd", ("250,000,000 VND", "220,000,000 VND"), ("250.000.000 đồng", "220.000.000 đồng")),
        Expect("loan.collateral", "loan.collateral", ("above 200,000,000 VND",), ("trên 200.000.000 đồng",)),
        overrides={"loan": {"amount_vnd": 250_000_000, "pre_departure_costs_vnd": 220_000_000}},
    ),
    # depart: orientation_valid_on_departure
    case(
        "orientation_valid_on_departure",
        "expires-the-day-after",
        today=DEPARTURE_DAY,
        overrides={"training": {"orientation": {"issued_on": "2024-04-11"}}},
    ),
    case(
        "orientation_valid_on_departure",
        "expired-before-departure",
        Expect(
            "orientation.expired",
            "training.orientation.issued_on",
            ("The orientation certificate expired on 2026-03-01; it must be valid on the departure date 2026-04-10.",),
            ("Chứng chỉ giáo dục định hướng hết hạn ngày 01/03/2026; phải còn hiệu lực vào ngày xuất cảnh 10/04/2026.",),
        ),
        today=DEPARTURE_DAY,
        overrides={"training": {"orientation": {"issued_on": "2024-03-01"}}},
    ),
    case(
        "orientation_valid_on_departure",
        "recorded-after-it-expired-but-valid-when-leaving",
        overrides={
            "training": {"orientation": {"issued_on": "2024-05-30"}},
            "health": {"examined_on": "2026-05-20"},
            "departure": departed(date(2026, 5, 25)),
        },
    ),
    # depart: health_valid_on_departure
    case(
        "health_valid_on_departure",
        "expires-the-day-after",
        today=DEPARTURE_DAY,
        overrides={"health": {"examined_on": "2025-04-11"}},
    ),
    case(
        "health_valid_on_departure",
        "expired-on-departure-day",
        Expect(
            "health.expired",
            "health.examined_on",
            ("The health certificate expired on 2026-04-10; it must be valid on the departure date 2026-04-10.",),
            ("Giấy chứng nhận sức khỏe hết hạn ngày 10/04/2026; phải còn hiệu lực vào ngày xuất cảnh 10/04/2026.",),
        ),
        today=DEPARTURE_DAY,
        overrides={"health": {"examined_on": "2025-04-10"}},
    ),
    case(
        "health_valid_on_departure",
        "market-allows-6-months",
        Expect(
            "health.expired",
            "health.examined_on",
            ("expired on 2026-04-10", "departure date 2026-04-10"),
            ("hết hạn ngày 10/04/2026", "10/04/2026"),
        ),
        today=DEPARTURE_DAY,
        overrides={"health": {"examined_on": "2025-10-10"}},
        policy=SHORT_JP_HEALTH,
    ),
    # depart: contract_in_counselled_market
    case("contract_in_counselled_market", "same-country-other-programme", overrides={"counselling": {"market_code": "JP-SSW"}}),
    case(
        "contract_in_counselled_market",
        "contract-in-another-country",
        Expect(
            "contract.country",
            "departure.contract.country",
            ("The contract is in KR but the case was counselled for Japan (JP-TTS); correct the counselling record first.",),
            ("Hợp đồng ở nước KR nhưng hồ sơ được tư vấn cho thị trường Nhật Bản (JP-TTS); sửa biên bản tư vấn trước.",),
        ),
        overrides={"departure": {"contract": {"country": "KR"}}},
    ),
    # depart: deposit_allowed
    case(
        "deposit_allowed",
        "at-the-cap-after-the-visa",
        overrides={
            "counselling": {"market_code": "TW-LD"},
            "departure": {"contract": {"country": "TW"}, "deposit": {"amount_vnd": 12_000_000, "paid_on": TODAY.isoformat()}},
        },
    ),
    case(
        "deposit_allowed",
        "over-the-taiwan-cap-and-before-the-visa",
        Expect(
            "deposit.over_cap",
            "departure.deposit.amount_vnd",
            ("The deposit of 15,000,000 VND exceeds the Taiwan cap of 12,000,000 VND.",),
            ("Tiền ký quỹ 15.000.000 đồng vượt mức trần 12.000.000 đồng của thị trường Đài Loan.",),
        ),
        Expect(
            "deposit.before_visa",
            "departure.deposit.paid_on",
            ("The deposit was taken on 2026-05-01, before the visa was issued on",),
            ("Tiền ký quỹ thu ngày 01/05/2026, trước khi có thị thực",),
        ),
        overrides={
            "counselling": {"market_code": "TW-LD"},
            "departure": {"contract": {"country": "TW"}, "deposit": {"amount_vnd": 15_000_000, "paid_on": "2026-05-01"}},
        },
    ),
    # depart: visa_covers_departure
    case(
        "visa_covers_departure",
        "issued-and-ending-on-departure-day",
        overrides={"departure": {"visa": {"issued_on": TODAY.isoformat(), "valid_until": TODAY.isoformat()}}},
    ),
    case(
        "visa_covers_departure",
        "issued-after-departure",
        Expect(
            "visa.after_departure",
            "departure.visa.issued_on",
            ("The visa was issued on 2026-04-12, after the departure date 2026-04-10.",),
            ("Thị thực cấp ngày 12/04/2026, sau ngày xuất cảnh 10/04/2026.",),
        ),
        today=date(2026, 4, 12),
        overrides={
            "departure": {"departed_on": "2026-04-10", "visa": {"issued_on": "2026-04-12"}},
            "training": {"orientation": {"issued_on": "2026-04-01"}},
            "health": {"examined_on": "2026-04-01"},
        },
    ),
    case(
        "visa_covers_departure",
        "expired-before-departure",
        Expect(
            "visa.expired",
            "departure.visa.valid_until",
            ("The visa expired on 2026-04-09, before the departure date 2026-04-10.",),
            ("Thị thực hết hạn ngày 09/04/2026, trước ngày xuất cảnh 10/04/2026.",),
        ),
        today=DEPARTURE_DAY,
        overrides={"departure": {"visa": {"valid_until": "2026-04-09"}}},
    ),
    # return_home: returned_after_departure
    case("returned_after_departure", "back-the-same-day"),
    case(
        "returned_after_departure",
        "back-before-leaving",
        Expect(
            "return.before_departure",
            "return.returned_on",
            ("The return date 2026-05-31 is before the departure date 2026-06-01.",),
            ("Ngày về 31/05/2026 trước ngày xuất cảnh 01/06/2026.",),
        ),
        overrides={"return": {"returned_on": "2026-05-31"}},
    ),
    # reintegrate: referred_after_return
    case("referred_after_return", "referred-on-return-day"),
    case(
        "referred_after_return",
        "referred-before-return",
        Expect(
            "reintegration.before_return",
            "reintegration.referred_on",
            ("The referral date 2026-05-31 is before the return date 2026-06-01.",),
            ("Ngày giới thiệu việc làm 31/05/2026 trước ngày về nước 01/06/2026.",),
        ),
        overrides={"reintegration": {"referred_on": "2026-05-31"}},
    ),
    # report_overstay: overstay_after_contract_end (a 36-month contract from 2026-04-12 ends on 2029-04-12)
    case(
        "overstay_after_contract_end",
        "overstay-the-day-after-the-end",
        today=date(2029, 4, 13),
        overrides={"departure": departed(DEPARTURE_DAY), "overstay": {"kind": "overstayed", "reported_on": "2029-04-13"}},
    ),
    case(
        "overstay_after_contract_end",
        "absconding-any-time",
        today=date(2029, 4, 13),
        overrides={"departure": departed(DEPARTURE_DAY), "overstay": {"kind": "absconded", "reported_on": "2027-01-01"}},
    ),
    case(
        "overstay_after_contract_end",
        "overstay-on-the-last-contract-day",
        Expect(
            "overstay.before_end",
            "overstay.kind",
            ("The contract ends on 2029-04-12; before that it is absconding, not an overstay.",),
            ("Hợp đồng kết thúc ngày 12/04/2029", "bỏ trốn (absconded)"),
        ),
        today=date(2029, 4, 13),
        overrides={"departure": departed(DEPARTURE_DAY), "overstay": {"kind": "overstayed", "reported_on": "2029-04-12"}},
    ),
    # reopen: of_age_today (the minimum age was raised to 20 since the worker registered)
    case("of_age_today", "20-today", policy=MIN_AGE_20, record_policy=POLICY, overrides={"registration": born(date(2006, 6, 1))}),
    case(
        "of_age_today",
        "19-the-day-before-the-birthday",
        Expect(
            "age.minimum",
            "registration.date_of_birth",
            ("The worker is 19; the minimum age is 20.",),
            ("Người lao động mới 19 tuổi; phải đủ 20 tuổi.",),
        ),
        policy=MIN_AGE_20,
        record_policy=POLICY,
        overrides={"registration": born(date(2006, 6, 2))},
    ),
]


# Each guard belongs to one transition: the one a case with a problem would be refused.
TRIGGER_OF = {guard.__name__: spec.trigger for spec in wf.TRANSITIONS for guard in spec.guards}


def build(guard_case: GuardCase):
    spec = wf.TRANSITION_BY_TRIGGER[TRIGGER_OF[guard_case.guard]]
    return spec, subject(
        spec.sources[0],
        today=guard_case.today,
        overrides=guard_case.overrides,
        policy=guard_case.policy,
        record_policy=guard_case.record_policy,
    )


def assert_problems(problems, expected):
    assert [(p.code, p.field) for p in problems] == [(e.code, e.field) for e in expected]
    for found, wanted in zip(problems, expected, strict=True):
        for fact in wanted.en:
            assert fact in found.en
        for fact in wanted.vi:
            assert fact in found.vi


@pytest.mark.parametrize("guard_case", CASES)
def test_guard(guard_case: GuardCase):
    spec, case_subject = build(guard_case)

    assert_problems(getattr(g, guard_case.guard)(case_subject), guard_case.expect)

    if guard_case.expect:
        with pytest.raises(GuardFailed) as refused:
            wf.fire(case_subject, spec.trigger)
        assert_problems(refused.value.problems, guard_case.expect)  # nothing else in the case is wrong
        assert (case_subject.state, case_subject.changes) == (spec.sources[0], [])
    else:
        assert wf.fire(case_subject, spec.trigger).dest == spec.dest


def test_every_guard_has_a_passing_and_a_failing_case():
    named = {guard.__name__ for spec in wf.TRANSITIONS for guard in spec.guards if not guard.__name__.startswith("requires_")}
    assert len(TRIGGER_OF) == sum(len(spec.guards) for spec in wf.TRANSITIONS), "a guard shared by two transitions needs a trigger here"
    passing = {p.values[0].guard for p in CASES if not p.values[0].expect}
    failing = {p.values[0].guard for p in CASES if p.values[0].expect}
    assert named == passing == failing


@pytest.mark.parametrize(
    ("trigger", "today", "overrides", "expected"),
    [
        pytest.param(
            "counsel",
            TODAY,
            {
                "counselling": {
                    "enterprise_licence": EXPIRED_LICENCE,
                    "market_code": "XX-NONE",
                    "selection_fee_vnd": 1_000_000,
                    "counselled_on": "2026-05-20",
                }
            },
            [
                ("enterprise.licence_invalid", "counselling.enterprise_licence"),
                ("market.unknown", "counselling.market_code"),
                ("counselling.selection_fee", "counselling.selection_fee_vnd"),
                ("counselling.before_consent", "counselling.counselled_on"),
            ],
            id="counsel",
        ),
        pytest.param(
            "train",
            TODAY,
            {
                "training": {
                    "orientation": {"periods": 40, "issued_on": "2024-01-01", "issued_by_licence": "999/X"},
                    "language": {"school_code": "NN-XX"},
                }
            },
            [
                ("orientation.periods", "training.orientation.periods"),
                ("orientation.expired", "training.orientation.issued_on"),
                ("orientation.issuer", "training.orientation.issued_by_licence"),
                ("school.unknown", "training.language.school_code"),
            ],
            id="train",
        ),
        pytest.param(
            "certify_health",
            TODAY,
            {"health": {"result": "unfit", "facility_code": "BV-XX-99", "examined_on": "2025-05-01"}},
            [("health.unfit", "health.result"), ("facility.unknown", "health.facility_code"), ("health.expired", "health.examined_on")],
            id="certify_health",
        ),
        pytest.param(
            "depart",
            DEPARTURE_DAY,
            {
                "training": {"orientation": {"issued_on": "2024-03-01"}},
                "health": {"examined_on": "2025-04-01"},
                "departure": {"contract": {"country": "KR"}, "visa": {"issued_on": "2026-04-10", "valid_until": "2026-04-09"}},
            },
            [
                ("orientation.expired", "training.orientation.issued_on"),
                ("health.expired", "health.examined_on"),
                ("contract.country", "departure.contract.country"),
                ("visa.expired", "departure.visa.valid_until"),
            ],
            id="depart",
        ),
    ],
)
def test_all_problems_of_a_transition_are_reported_together(trigger, today, overrides, expected):
    spec = wf.TRANSITION_BY_TRIGGER[trigger]
    case_subject = subject(spec.sources[0], today=today, overrides=overrides)

    with pytest.raises(GuardFailed) as refused:
        wf.fire(case_subject, trigger)

    assert [(p.code, p.field) for p in refused.value.problems] == expected
    message = str(refused.value)
    assert all(f"{p.field}: {p.en} / {p.vi}" in message for p in refused.value.problems)
    assert wf.check(case_subject, trigger) == refused.value.problems


def test_a_missing_record_is_reported_with_the_problems_of_the_others():
    case_subject = subject(
        "loan_approved", today=DEPARTURE_DAY, overrides={"departure": None, "training": {"orientation": {"issued_on": "2024-03-01"}}}
    )
    with pytest.raises(GuardFailed) as refused:
        wf.fire(case_subject, "depart")
    # The orientation is checked against the departure date, which is missing: only the missing record is reported.
    assert [(p.code, p.field) for p in refused.value.problems] == [("record.missing", "departure")]


def test_licence_used_before_it_starts_says_so_even_when_it_has_an_end_date():
    # Licence 045 runs 2021-06-15 .. 2031-06-14; counselling on 2021-06-01 is before it starts.
    case_subject = subject("registered", today=date(2021, 6, 1), overrides={"counselling": {"enterprise_licence": BOUNDED_LICENCE}})
    [found] = g.enterprise_licensed(case_subject)
    assert "valid only from 2021-06-15" in found.en
    assert "chỉ có hiệu lực từ 15/06/2021" in found.vi
    assert "expired" not in found.en


def test_orientation_issued_by_an_enterprise_whose_licence_had_expired_is_refused():
    # Licence 077 expired on 2025-01-09; the certificate is dated 2026-06-01.
    case_subject = subject("counselled", overrides={"training": {"orientation": {"issued_by_licence": EXPIRED_LICENCE}}})
    problems = g.orientation_issuer_licensed(case_subject)
    assert [(p.code, p.field) for p in problems] == [("orientation.issuer", "training.orientation.issued_by_licence")]


def test_orientation_certificate_issued_after_departure_was_not_valid_on_departure():
    case_subject = subject(
        "loan_approved",
        today=date(2026, 4, 12),
        overrides={"departure": {"departed_on": "2026-04-10"}, "training": {"orientation": {"issued_on": "2026-04-12"}}},
    )
    problems = g.orientation_valid_on_departure(case_subject)
    assert [p.field for p in problems] == ["training.orientation.issued_on"]
    assert "2026-04-10" in problems[0].en
