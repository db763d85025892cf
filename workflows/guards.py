"""Guards: pure checks over a case's records that say exactly what is missing or wrong."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from workflows.errors import Problem, problem
from workflows.identity import age_on
from workflows.policy import Market, add_months
from workflows.records import RECORD_LABELS, BankLoan, vi_date, vi_money
from workflows.subject import CaseSubject, Enterprise

Guard = Callable[[CaseSubject], list[Problem]]


def requires(kind: str) -> Guard:
    """Build the guard that a record of `kind` exists in the current application."""

    def guard(subject: CaseSubject) -> list[Problem]:
        if subject.record(kind) is not None:
            return []
        vi, en = RECORD_LABELS[kind]
        return [problem("record.missing", f"Còn thiếu: {vi.lower()}.", f"Missing record: {en.lower()}.", kind)]

    guard.__name__ = f"requires_{kind}"
    return guard


def _orientation_expiry(subject: CaseSubject) -> date | None:
    training = subject.record("training")
    if training is None:
        return None
    return add_months(training.orientation.issued_on, subject.policy.orientation_validity_months)


def _counselled_market(subject: CaseSubject) -> Market | None:
    """Return the market the case was counselled for, if the policy knows it."""
    counselling = subject.record("counselling")
    return subject.policy.markets.get(counselling.market_code) if counselling else None


def _health_expiry(subject: CaseSubject) -> date | None:
    health, counselling = subject.record("health"), subject.record("counselling")
    if health is None:
        return None
    market = counselling.market_code if counselling else None
    return add_months(health.examined_on, subject.policy.health_validity_for(market))


def enterprise_licensed(subject: CaseSubject) -> list[Problem]:
    """The counselling enterprise holds a licence on the counselling day."""
    counselling = subject.record("counselling")
    if counselling is None:
        return []
    number, day = counselling.enterprise_licence, counselling.counselled_on
    enterprise = subject.references.enterprises.get(number)
    field = "counselling.enterprise_licence"
    if enterprise is None:
        return [
            problem(
                "enterprise.unlicensed",
                f"Không có doanh nghiệp nào được cấp giấy phép số {number}.",
                f"No enterprise holds licence {number}.",
                field,
            )
        ]
    if not enterprise.licensed_on(day):
        ended_vi, ended_en = _licence_limit(enterprise, day)
        return [
            problem(
                "enterprise.licence_invalid",
                f"Giấy phép {number} của {enterprise.name} {ended_vi}; không có hiệu lực vào ngày tư vấn {vi_date(day)}.",
                f"Licence {number} of {enterprise.name} {ended_en}; it is not valid on the counselling day {day.isoformat()}.",
                field,
            )
        ]
    return []


def _licence_limit(enterprise: Enterprise, day: date) -> tuple[str, str]:
    """Say which end of the licence's validity a day falls outside of."""
    if day < enterprise.licensed_from:
        start = enterprise.licensed_from
        return f"chỉ có hiệu lực từ {vi_date(start)}", f"is valid only from {start.isoformat()}"
    until = enterprise.licensed_until
    assert until is not None
    return f"hết hiệu lực ngày {vi_date(until)}", f"expired on {until.isoformat()}"


def market_known(subject: CaseSubject) -> list[Problem]:
    """The counselled market is one the policy knows."""
    counselling = subject.record("counselling")
    if counselling is None or counselling.market_code in subject.policy.markets:
        return []
    known = ", ".join(sorted(subject.policy.markets))
    code = counselling.market_code
    return [
        problem(
            "market.unknown", f"Không có thị trường {code} (có: {known}).", f"No market {code} (known: {known}).", "counselling.market_code"
        )
    ]


def selection_free(subject: CaseSubject) -> list[Problem]:
    """The worker paid no fee for selection (law)."""
    counselling = subject.record("counselling")
    if counselling is None or counselling.selection_fee_vnd == 0:
        return []
    fee = counselling.selection_fee_vnd
    return [
        problem(
            "counselling.selection_fee",
            f"Người lao động không phải trả phí tuyển chọn (đã ghi {vi_money(fee)} đồng).",
            f"The worker pays no fee for selection (recorded: {fee:,} VND).",
            "counselling.selection_fee_vnd",
        )
    ]


def counselled_after_consent(subject: CaseSubject) -> list[Problem]:
    """Counselling comes after the worker consented to the processing of personal data."""
    counselling, registration = subject.record("counselling"), subject.record("registration")
    if counselling is None or registration is None or counselling.counselled_on >= registration.consent.given_on:
        return []
    day, consent = counselling.counselled_on, registration.consent.given_on
    return [
        problem(
            "counselling.before_consent",
            f"Ngày tư vấn {vi_date(day)} trước ngày đồng ý xử lý dữ liệu cá nhân {vi_date(consent)}.",
            f"The counselling day {day.isoformat()} is before the data-processing consent of {consent.isoformat()}.",
            "counselling.counselled_on",
        )
    ]


def orientation_complete(subject: CaseSubject) -> list[Problem]:
    """The orientation course had at least the required periods (74)."""
    training = subject.record("training")
    minimum = subject.policy.orientation_min_periods
    if training is None or training.orientation.periods >= minimum:
        return []
    periods = training.orientation.periods
    return [
        problem(
            "orientation.periods",
            f"Khóa giáo dục định hướng có {periods} tiết; phải đủ {minimum} tiết.",
            f"The orientation course had {periods} periods; it needs {minimum}.",
            "training.orientation.periods",
        )
    ]


def orientation_valid_today(subject: CaseSubject) -> list[Problem]:
    """The orientation certificate has not expired today."""
    return _orientation_valid_on(subject, subject.today, "hôm nay", "today")


def orientation_valid_on_departure(subject: CaseSubject) -> list[Problem]:
    """The orientation certificate is valid on the departure day (law)."""
    departure = subject.record("departure")
    if departure is None:
        return []
    day = departure.departed_on
    return _orientation_valid_on(subject, day, f"vào ngày xuất cảnh {vi_date(day)}", f"on the departure date {day.isoformat()}")


def _orientation_valid_on(subject: CaseSubject, day: date, when_vi: str, when_en: str) -> list[Problem]:
    training, expiry = subject.record("training"), _orientation_expiry(subject)
    if training is not None and training.orientation.issued_on > day:
        issued = training.orientation.issued_on
        return [
            problem(
                "orientation.not_yet_issued",
                f"Chứng chỉ giáo dục định hướng cấp ngày {vi_date(issued)}, chưa có {when_vi}.",
                f"The orientation certificate was issued on {issued.isoformat()}; it did not exist yet {when_en}.",
                "training.orientation.issued_on",
            )
        ]
    if expiry is None or day < expiry:
        return []
    return [
        problem(
            "orientation.expired",
            f"Chứng chỉ giáo dục định hướng hết hạn ngày {vi_date(expiry)}; phải còn hiệu lực {when_vi}.",
            f"The orientation certificate expired on {expiry.isoformat()}; it must be valid {when_en}.",
            "training.orientation.issued_on",
        )
    ]


def orientation_issuer_licensed(subject: CaseSubject) -> list[Problem]:
    """The enterprise that issued the orientation certificate was licensed on the issue day."""
    training = subject.record("training")
    if training is None:
        return []
    number, day = training.orientation.issued_by_licence, training.orientation.issued_on
    enterprise = subject.references.enterprises.get(number)
    if enterprise is not None and not enterprise.licensed_on(day):
        limit_vi, limit_en = _licence_limit(enterprise, day)
        return [
            problem(
                "orientation.issuer",
                f"Giấy phép {number} của {enterprise.name} {limit_vi}; không có hiệu lực vào ngày cấp chứng chỉ định hướng {vi_date(day)}.",
                f"Licence {number} of {enterprise.name} {limit_en}; it was not valid on the orientation certificate's issue day {day.isoformat()}.",
                "training.orientation.issued_by_licence",
            )
        ]
    if enterprise is not None:
        return []
    return [
        problem(
            "orientation.issuer",
            f"Không có doanh nghiệp nào được cấp giấy phép số {number} để cấp chứng chỉ định hướng.",
            f"No licensed enterprise holds licence {number} to issue the orientation certificate.",
            "training.orientation.issued_by_licence",
        )
    ]


def schools_known(subject: CaseSubject) -> list[Problem]:
    """The schools named on the certificates are on the list of schools."""
    training = subject.record("training")
    if training is None:
        return []
    named = [("training.language.school_code", training.language.school_code)]
    if training.vocational is not None:
        named.append(("training.vocational.school_code", training.vocational.school_code))
    return [
        problem("school.unknown", f"Không có cơ sở đào tạo mã {code}.", f"No school with code {code}.", field)
        for field, code in named
        if code not in subject.references.schools
    ]


def health_fit(subject: CaseSubject) -> list[Problem]:
    """The health check found the worker fit; an unfit result goes to `declare_ineligible`."""
    health = subject.record("health")
    if health is None or health.result == "fit":
        return []
    return [
        problem(
            "health.unfit",
            "Kết quả khám là không đủ sức khỏe: dùng bước 'declare_ineligible' (không đủ điều kiện).",
            "The health check found the worker unfit: use 'declare_ineligible' instead.",
            "health.result",
        )
    ]


def facility_approved(subject: CaseSubject) -> list[Problem]:
    """The health check was done at a facility approved on the exam day."""
    health = subject.record("health")
    if health is None:
        return []
    facility = subject.references.facilities.get(health.facility_code)
    code, day = health.facility_code, health.examined_on
    if facility is None:
        return [
            problem(
                "facility.unknown",
                f"Cơ sở khám {code} không có trong danh sách được phép.",
                f"Facility {code} is not on the approved list.",
                "health.facility_code",
            )
        ]
    if not facility.approved_on(day):
        return [
            problem(
                "facility.not_approved",
                f"{facility.name} không được phép khám sức khỏe đi làm việc ở nước ngoài vào ngày {vi_date(day)}.",
                f"{facility.name} was not approved for health checks on {day.isoformat()}.",
                "health.facility_code",
            )
        ]
    return []


def health_valid_today(subject: CaseSubject) -> list[Problem]:
    """The health certificate has not expired today."""
    return _health_valid_on(subject, subject.today, "hôm nay", "today")


def health_valid_on_departure(subject: CaseSubject) -> list[Problem]:
    """The health certificate is valid on the departure day."""
    departure = subject.record("departure")
    if departure is None:
        return []
    day = departure.departed_on
    return _health_valid_on(subject, day, f"vào ngày xuất cảnh {vi_date(day)}", f"on the departure date {day.isoformat()}")


def _health_valid_on(subject: CaseSubject, day: date, when_vi: str, when_en: str) -> list[Problem]:
    health, expiry = subject.record("health"), _health_expiry(subject)
    if health is not None and health.examined_on > day:
        return [
            problem(
                "health.not_yet_issued",
                f"Khám sức khỏe ngày {vi_date(health.examined_on)}, chưa có giấy chứng nhận {when_vi}.",
                f"The health check was on {health.examined_on.isoformat()}; there was no certificate yet {when_en}.",
                "health.examined_on",
            )
        ]
    if expiry is None or day < expiry:
        return []
    return [
        problem(
            "health.expired",
            f"Giấy chứng nhận sức khỏe hết hạn ngày {vi_date(expiry)}; phải còn hiệu lực {when_vi}.",
            f"The health certificate expired on {expiry.isoformat()}; it must be valid {when_en}.",
            "health.examined_on",
        )
    ]


def loan_within_costs(subject: CaseSubject) -> list[Problem]:
    """A loan covers at most 100% of the pre-departure costs, with collateral above the threshold."""
    loan = subject.record("loan")
    if not isinstance(loan, BankLoan):
        return []
    found = []
    if loan.amount_vnd > loan.pre_departure_costs_vnd:
        found.append(
            problem(
                "loan.over_costs",
                f"Khoản vay {vi_money(loan.amount_vnd)} đồng vượt 100% chi phí trước xuất cảnh {vi_money(loan.pre_departure_costs_vnd)} đồng.",
                f"The loan of {loan.amount_vnd:,} VND exceeds 100% of the pre-departure costs, {loan.pre_departure_costs_vnd:,} VND.",
                "loan.amount_vnd",
            )
        )
    policy = subject.policy
    if loan.amount_vnd > policy.loan_collateral_threshold_vnd and loan.decided_on >= policy.loan_collateral_from and not loan.collateral:
        found.append(
            problem(
                "loan.collateral",
                f"Khoản vay trên {vi_money(policy.loan_collateral_threshold_vnd)} đồng phải có tài sản bảo đảm.",
                f"A loan above {policy.loan_collateral_threshold_vnd:,} VND needs collateral.",
                "loan.collateral",
            )
        )
    return found


def contract_in_counselled_market(subject: CaseSubject) -> list[Problem]:
    """The contract's country is the country of the counselled market."""
    departure, market = subject.record("departure"), _counselled_market(subject)
    if departure is None or market is None or market.country == departure.contract.country:
        return []
    country = departure.contract.country
    return [
        problem(
            "contract.country",
            f"Hợp đồng ở nước {country} nhưng hồ sơ được tư vấn cho thị trường {market.country_name_vi} ({market.code}); sửa biên bản tư vấn trước.",
            f"The contract is in {country} but the case was counselled for {market.country_name_en} ({market.code}); correct the counselling record first.",
            "departure.contract.country",
        )
    ]


def visa_covers_departure(subject: CaseSubject) -> list[Problem]:
    """The visa was issued before, and is still valid on, the departure day."""
    departure = subject.record("departure")
    if departure is None:
        return []
    visa, day = departure.visa, departure.departed_on
    found = []
    if visa.issued_on > day:
        found.append(
            problem(
                "visa.after_departure",
                f"Thị thực cấp ngày {vi_date(visa.issued_on)}, sau ngày xuất cảnh {vi_date(day)}.",
                f"The visa was issued on {visa.issued_on.isoformat()}, after the departure date {day.isoformat()}.",
                "departure.visa.issued_on",
            )
        )
    if visa.valid_until is not None and visa.valid_until < day:
        found.append(
            problem(
                "visa.expired",
                f"Thị thực hết hạn ngày {vi_date(visa.valid_until)}, trước ngày xuất cảnh {vi_date(day)}.",
                f"The visa expired on {visa.valid_until.isoformat()}, before the departure date {day.isoformat()}.",
                "departure.visa.valid_until",
            )
        )
    return found


def deposit_allowed(subject: CaseSubject) -> list[Problem]:
    """A deposit stays within the market's cap and is taken only once the visa was issued (law)."""
    departure, market = subject.record("departure"), _counselled_market(subject)
    if departure is None or departure.deposit is None:
        return []
    deposit, visa, found = departure.deposit, departure.visa, []
    if market is not None and market.deposit_cap_vnd is not None and deposit.amount_vnd > market.deposit_cap_vnd:
        cap = market.deposit_cap_vnd
        found.append(
            problem(
                "deposit.over_cap",
                f"Tiền ký quỹ {vi_money(deposit.amount_vnd)} đồng vượt mức trần {vi_money(cap)} đồng của thị trường {market.country_name_vi}.",
                f"The deposit of {deposit.amount_vnd:,} VND exceeds the {market.country_name_en} cap of {cap:,} VND.",
                "departure.deposit.amount_vnd",
            )
        )
    if deposit.paid_on < visa.issued_on:
        found.append(
            problem(
                "deposit.before_visa",
                f"Tiền ký quỹ thu ngày {vi_date(deposit.paid_on)}, trước khi có thị thực (cấp ngày {vi_date(visa.issued_on)}).",
                f"The deposit was taken on {deposit.paid_on.isoformat()}, before the visa was issued on {visa.issued_on.isoformat()}.",
                "departure.deposit.paid_on",
            )
        )
    return found


def returned_after_departure(subject: CaseSubject) -> list[Problem]:
    """The return day is not before the departure day."""
    back, departure = subject.record("return"), subject.record("departure")
    if back is None or departure is None or back.returned_on >= departure.departed_on:
        return []
    return [
        problem(
            "return.before_departure",
            f"Ngày về {vi_date(back.returned_on)} trước ngày xuất cảnh {vi_date(departure.departed_on)}.",
            f"The return date {back.returned_on.isoformat()} is before the departure date {departure.departed_on.isoformat()}.",
            "return.returned_on",
        )
    ]


def overstay_after_contract_end(subject: CaseSubject) -> list[Problem]:
    """An overstay (not an absconding) is reported only after the contract ended."""
    report, departure = subject.record("overstay"), subject.record("departure")
    if report is None or departure is None or report.kind != "overstayed":
        return []
    end = departure.expected_return_on
    if report.reported_on > end:
        return []
    return [
        problem(
            "overstay.before_end",
            f"Hợp đồng kết thúc ngày {vi_date(end)}; trước đó chỉ có thể báo bỏ trốn (absconded), chưa phải cư trú quá hạn.",
            f"The contract ends on {end.isoformat()}; before that it is absconding, not an overstay.",
            "overstay.kind",
        )
    ]


def referred_after_return(subject: CaseSubject) -> list[Problem]:
    """A reintegration referral comes after the return."""
    referral, back = subject.record("reintegration"), subject.record("return")
    if referral is None or back is None or referral.referred_on >= back.returned_on:
        return []
    return [
        problem(
            "reintegration.before_return",
            f"Ngày giới thiệu việc làm {vi_date(referral.referred_on)} trước ngày về nước {vi_date(back.returned_on)}.",
            f"The referral date {referral.referred_on.isoformat()} is before the return date {back.returned_on.isoformat()}.",
            "reintegration.referred_on",
        )
    ]


def of_age_today(subject: CaseSubject) -> list[Problem]:
    """The worker has reached the minimum age today (for a reopened application)."""
    registration = subject.record("registration")
    if registration is None:
        return []
    age = age_on(registration.date_of_birth, subject.today)
    if age >= subject.policy.min_age_years:
        return []
    return [
        problem(
            "age.minimum",
            f"Người lao động mới {age} tuổi; phải đủ {subject.policy.min_age_years} tuổi.",
            f"The worker is {age}; the minimum age is {subject.policy.min_age_years}.",
            "registration.date_of_birth",
        )
    ]
