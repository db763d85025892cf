"""Records: each kind accepts a good example and refuses bad data with the field's path and a message in both languages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests import factories as f
from tests.unit.builders import POLICY, TODAY, merge, valid_data
from workflows.errors import RecordInvalid
from workflows.records import (
    BankLoan,
    Closure,
    Counselling,
    Death,
    Departure,
    Health,
    Ineligibility,
    Overstay,
    Registration,
    Reintegration,
    Reopening,
    Return,
    SelfFinancing,
    Training,
    VisaRefusal,
    Withdrawal,
    load_record,
    record_data,
    references_of,
    validate_record,
    vi_date,
)

GOOD = valid_data(TODAY)
SELF_FINANCED = {"financing": "self_financed", "declared_on": "2026-05-30", "note": "Gia đình tự lo chi phí"}

EXPECTED_TYPES = {
    "registration": Registration,
    "counselling": Counselling,
    "training": Training,
    "health": Health,
    "loan": BankLoan,
    "departure": Departure,
    "return": Return,
    "withdrawal": Withdrawal,
    "ineligibility": Ineligibility,
    "visa_refusal": VisaRefusal,
    "overstay": Overstay,
    "death": Death,
    "reintegration": Reintegration,
    "closure": Closure,
    "reopening": Reopening,
}


def validate(kind: str, data: Any, today: date = TODAY) -> Any:
    return validate_record(kind, data, today, POLICY)


def refused(kind: str, data: Any, today: date = TODAY) -> list:
    with pytest.raises(RecordInvalid) as error:
        validate(kind, data, today)
    assert error.value.http_status == 422
    return error.value.problems


def without(data: dict[str, Any], path: str) -> dict[str, Any]:
    """Return a copy of nested data with the field at a dotted path removed."""
    head, _, rest = path.partition(".")
    out = dict(data)
    if rest:
        out[head] = without(out[head], rest)
    else:
        del out[head]
    return out


def test_every_kind_has_a_good_example():
    assert set(GOOD) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("kind", sorted(EXPECTED_TYPES))
def test_a_good_record_of_each_kind_validates_and_survives_a_round_trip(kind):
    record = validate(kind, GOOD[kind])

    assert type(record) is EXPECTED_TYPES[kind]
    assert load_record(kind, record_data(record)) == record  # what is stored rebuilds the same record


def test_text_is_trimmed_and_country_codes_kept_upper_case():
    registration = validate("registration", f.registration(TODAY, full_name="  Trần Thị Bình ", phone=" +84912345678 ", sex="female"))
    departure = validate("departure", merge(GOOD["departure"], {"contract": {"country": " KR "}}))
    assert (registration.full_name, registration.phone, registration.sex) == ("Trần Thị Bình", "+84912345678", "female")
    assert departure.contract.country == "KR"


# (kind, data, code, field, English message, Vietnamese message)
INVALID = [
    pytest.param(
        "registration",
        without(GOOD["registration"], "phone"),
        "field.missing",
        "phone",
        "This field is required.",
        "Thiếu trường bắt buộc.",
        id="missing-field",
    ),
    pytest.param(
        "training",
        without(GOOD["training"], "orientation"),
        "field.missing",
        "orientation",
        "This field is required.",
        "Thiếu trường bắt buộc.",
        id="missing-certificate",
    ),
    pytest.param(
        "training",
        without(GOOD["training"], "orientation.periods"),
        "field.missing",
        "orientation.periods",
        "This field is required.",
        "Thiếu trường bắt buộc.",
        id="missing-nested-field",
    ),
    pytest.param(
        "registration",
        without(GOOD["registration"], "consent.given_on"),
        "field.missing",
        "consent.given_on",
        "This field is required.",
        "Thiếu trường bắt buộc.",
        id="missing-consent-date",
    ),
    pytest.param(
        "training",
        merge(GOOD["training"], {"orientation": {"periods": "many"}}),
        "field.int_parsing",
        "orientation.periods",
        "Must be a whole number.",
        "Phải là số nguyên.",
        id="text-for-a-number",
    ),
    pytest.param(
        "counselling",
        {**GOOD["counselling"], "selection_fee_vnd": 1.5},
        "field.int_from_float",
        "selection_fee_vnd",
        "Must be a whole number.",
        "Phải là số nguyên.",
        id="fraction-for-a-number",
    ),
    pytest.param(
        "registration",
        {**GOOD["registration"], "full_name": 123},
        "field.string_type",
        "full_name",
        "Must be text.",
        "Phải là chuỗi ký tự.",
        id="number-for-text",
    ),
    pytest.param(
        "health",
        {**GOOD["health"], "examined_on": "yesterday"},
        "field.date_from_datetime_parsing",
        "examined_on",
        "Not a valid date; use YYYY-MM-DD.",
        "Ngày không hợp lệ; dùng dạng YYYY-MM-DD.",
        id="not-a-date",
    ),
    pytest.param(
        "health",
        {**GOOD["health"], "examined_on": "2026-02-30"},
        "field.date_from_datetime_parsing",
        "examined_on",
        "Not a valid date; use YYYY-MM-DD.",
        "Ngày không hợp lệ; dùng dạng YYYY-MM-DD.",
        id="no-such-day",
    ),
    pytest.param(
        "health",
        {**GOOD["health"], "examined_on": "2026-05-01T10:00:00"},
        "field.date_from_datetime_inexact",
        "examined_on",
        "Give a date without a time.",
        "Chỉ nhập ngày, không nhập giờ.",
        id="date-with-a-time",
    ),
    pytest.param(
        "training",
        merge(GOOD["training"], {"vocational": {"in_depth": "perhaps"}}),
        "field.bool_parsing",
        "vocational.in_depth",
        "Must be true or false.",
        "Phải là đúng/sai (true/false).",
        id="not-a-yes-no",
    ),
    pytest.param(
        "counselling",
        "JP-TTS",
        "field.model_type",
        None,
        "Must be an object of fields.",
        "Phải là một nhóm trường (đối tượng).",
        id="not-an-object",
    ),
    pytest.param(
        "counselling",
        {**GOOD["counselling"], "broker_fee_vnd": 1},
        "field.extra_forbidden",
        "broker_fee_vnd",
        "This field is not part of the record.",
        "Trường này không có trong mẫu hồ sơ.",
        id="unknown-field",
    ),
    pytest.param(
        "registration",
        merge(GOOD["registration"], {"priority": {"rich": True}}),
        "field.extra_forbidden",
        "priority.rich",
        "This field is not part of the record.",
        "Trường này không có trong mẫu hồ sơ.",
        id="unknown-nested-field",
    ),
    pytest.param(
        "health",
        {**GOOD["health"], "examined_on": "2026-06-02"},
        "field.date_in_future",
        "examined_on",
        "2026-06-02 is in the future (today is 2026-06-01).",
        "Ngày 02/06/2026 chưa tới (hôm nay là 01/06/2026).",
        id="future-date",
    ),
    pytest.param(
        "training",
        merge(GOOD["training"], {"orientation": {"issued_on": "2026-07-01"}}),
        "field.date_in_future",
        "orientation.issued_on",
        "2026-07-01 is in the future (today is 2026-06-01).",
        "Ngày 01/07/2026 chưa tới (hôm nay là 01/06/2026).",
        id="future-nested-date",
    ),
    pytest.param(
        "registration",
        merge(GOOD["registration"], {"consent": {"given_on": "2026-06-02"}}),
        "field.date_in_future",
        "consent.given_on",
        "2026-06-02 is in the future (today is 2026-06-01).",
        "Ngày 02/06/2026 chưa tới (hôm nay là 01/06/2026).",
        id="future-consent",
    ),
    pytest.param(
        "death",
        {**GOOD["death"], "occurred_on": "2026-06-05"},
        "field.date_in_future",
        "occurred_on",
        "2026-06-05 is in the future (today is 2026-06-01).",
        "Ngày 05/06/2026 chưa tới (hôm nay là 01/06/2026).",
        id="future-optional-date",
    ),
    pytest.param(
        "registration",
        {**GOOD["registration"], "sex": "other"},
        "field.literal_error",
        "sex",
        "Must be one of: 'male' or 'female'.",
        "Giá trị phải là một trong: 'male'",
        id="bad-sex",
    ),
    pytest.param(
        "health",
        {**GOOD["health"], "result": "maybe"},
        "field.literal_error",
        "result",
        "Must be one of: 'fit' or 'unfit'.",
        "Giá trị phải là một trong: 'fit'",
        id="bad-health-result",
    ),
    pytest.param(
        "return",
        {**GOOD["return"], "reason": "holiday"},
        "field.literal_error",
        "reason",
        "Must be one of: 'completed', 'early' or 'deported'.",
        "Giá trị phải là một trong: 'completed', 'early'",
        id="bad-return-reason",
    ),
    pytest.param(
        "registration",
        {**GOOD["registration"], "source": "facebook"},
        "field.literal_error",
        "source",
        "'walk_in', 'village_outreach', 'referral' or 'enterprise'",
        "'walk_in', 'village_outreach', 'referral'",
        id="bad-source",
    ),
    pytest.param(
        "overstay",
        {**GOOD["overstay"], "kind": "on_holiday"},
        "field.literal_error",
        "kind",
        "'absconded' or 'overstayed'",
        "'absconded'",
        id="bad-overstay-kind",
    ),
    pytest.param(
        "registration",
        merge(GOOD["registration"], {"consent": {"given": False}}),
        "field.consent_required",
        "consent.given",
        "must consent to the processing of personal data",
        "phải đồng ý cho xử lý dữ liệu cá nhân",
        id="consent-not-given",
    ),
    pytest.param(
        "counselling",
        {**GOOD["counselling"], "job": "   "},
        "field.string_too_short",
        "job",
        "Must not be empty",
        "Không được để trống",
        id="blank-text",
    ),
    pytest.param(
        "closure",
        {**GOOD["closure"], "reason": "x" * 501},
        "field.string_too_long",
        "reason",
        "Too long (at most 500 characters).",
        "Quá dài (tối đa 500 ký tự).",
        id="text-too-long",
    ),
    pytest.param(
        "registration",
        {**GOOD["registration"], "phone": "12345"},
        "field.string_pattern_mismatch",
        "phone",
        "Wrong format",
        "Sai định dạng",
        id="bad-phone",
    ),
    pytest.param(
        "counselling",
        {**GOOD["counselling"], "selection_fee_vnd": -1},
        "field.greater_than_equal",
        "selection_fee_vnd",
        "Must be at least 0.",
        "Phải từ 0 trở lên.",
        id="negative-fee",
    ),
    pytest.param(
        "departure",
        merge(GOOD["departure"], {"contract": {"duration_months": 121}}),
        "field.less_than_equal",
        "contract.duration_months",
        "Must be at most 120.",
        "Phải không quá 120.",
        id="contract-too-long",
    ),
    pytest.param(
        "registration",
        f.registration(TODAY, date_of_birth="2008-06-02", personal_id=f.personal_id(date(2008, 6, 2), "male", 1)),
        "age.minimum",
        "date_of_birth",
        "The worker is 17; the minimum age is 18.",
        "Người lao động mới 17 tuổi; phải đủ 18 tuổi.",
        id="under-age-the-day-before-18",
    ),
    pytest.param(
        "nonsense",
        {},
        "record.kind",
        "kind",
        "No record kind 'nonsense' (known: closure, counselling, death, ",
        "Không có loại hồ sơ 'nonsense' (có: closure, ",
        id="unknown-kind",
    ),
]


@pytest.mark.parametrize(("kind", "data", "code", "field", "en", "vi"), INVALID)
def test_a_bad_record_is_refused_naming_the_field_in_both_languages(kind, data, code, field, en, vi):
    [found] = refused(kind, data)
    assert (found.code, found.field) == (code, field)
    assert en in found.en
    assert vi in found.vi


def test_a_worker_who_turns_18_today_may_register():
    born = date(2008, 6, 1)
    record = validate("registration", f.registration(TODAY, date_of_birth=born.isoformat(), personal_id=f.personal_id(born, "male", 1)))
    assert record.date_of_birth == born


def test_a_personal_id_that_disagrees_with_birth_and_sex_is_refused():
    problems = refused("registration", {**GOOD["registration"], "personal_id": "038099000001"})  # a man born in 2001
    assert [(p.code, p.field) for p in problems] == [("personal_id.century_sex", "personal_id"), ("personal_id.birth_year", "personal_id")]
    assert "a male born in 2001 has 2 there" in problems[0].en
    assert "người nam sinh năm 2001 phải có chữ số 2" in problems[0].vi


def test_every_problem_of_a_record_is_reported_at_once():
    data = {**without(GOOD["registration"], "phone"), "sex": "other", "nickname": "An"}
    problems = refused("registration", data)
    assert sorted((p.code, p.field) for p in problems) == [
        ("field.extra_forbidden", "nickname"),
        ("field.literal_error", "sex"),
        ("field.missing", "phone"),
    ]


@pytest.mark.parametrize(
    ("data", "expected"), [(GOOD["loan"], BankLoan), (SELF_FINANCED, SelfFinancing)], ids=["bank_loan", "self_financed"]
)
def test_a_loan_record_is_either_a_bank_decision_or_a_self_financing_declaration(data, expected):
    record = validate("loan", data)
    assert type(record) is expected
    assert record.financing == data["financing"]


def test_a_loan_of_an_unknown_financing_kind_names_the_two_kinds():
    [found] = refused("loan", {**GOOD["loan"], "financing": "cash"})
    assert found.code == "field.union_tag_invalid"
    assert found.en == "'cash' is not valid; use one of: 'bank_loan', 'self_financed'."
    assert found.vi == "Giá trị 'cash' không hợp lệ; phải là một trong: 'bank_loan', 'self_financed'."


def test_a_self_financing_declaration_does_not_take_bank_fields():
    problems = refused("loan", {**SELF_FINANCED, "amount_vnd": 1})
    assert [p.code for p in problems] == ["field.extra_forbidden"]


def test_a_bad_loan_field_is_named_as_the_user_wrote_it():
    [found] = refused("loan", {**GOOD["loan"], "amount_vnd": 0})
    assert (found.code, found.en, found.vi) == ("field.greater_than", "Must be greater than 0.", "Phải lớn hơn 0.")
    assert found.field == "amount_vnd"


def test_a_loan_without_its_financing_kind_names_that_field():
    [found] = refused("loan", without(GOOD["loan"], "financing"))
    assert found.code == "field.union_tag_not_found"
    assert found.field == "financing"
    assert found.en == "The field 'financing' is missing."
    assert found.vi == "Thiếu trường 'financing'."


def test_the_vietnamese_message_for_a_bad_choice_has_no_english():
    [found] = refused("registration", {**GOOD["registration"], "sex": "other"})
    assert " or " not in found.vi


@pytest.mark.parametrize(
    ("kind", "data", "read", "expected"),
    [
        ("departure", merge(GOOD["departure"], {"contract": {"country": "jp"}}), lambda record: record.contract.country, "JP"),
        ("visa_refusal", {**GOOD["visa_refusal"], "country": "kr"}, lambda record: record.country, "KR"),
    ],
    ids=["contract", "visa_refusal"],
)
def test_a_lower_case_country_code_is_accepted_in_upper_case(kind, data, read, expected):
    assert read(validate(kind, data)) == expected


@pytest.mark.parametrize(
    ("reason", "cause", "problem"),
    [
        ("completed", None, None),
        ("early", "Công ty phá sản", None),
        ("deported", "Vi phạm luật cư trú", None),
        ("early", None, "field.required"),
        ("deported", None, "field.required"),
        ("early", "   ", "field.string_too_short"),
    ],
)
def test_a_return_needs_its_cause_unless_the_contract_was_completed(reason, cause, problem):
    data = {"returned_on": "2026-05-01", "reason": reason, **({"cause": cause} if cause is not None else {})}
    if problem is None:
        assert validate("return", data).reason == reason
        return
    [found] = refused("return", data)
    assert (found.code, found.field) == (problem, "cause")
    if problem == "field.required":
        assert found.en == "An early return or a deportation needs its cause."
        assert found.vi == "Về nước trước hạn hoặc bị trục xuất: cần ghi rõ nguyên nhân."


def test_contract_start_and_visa_end_may_lie_in_the_future():
    data = merge(GOOD["departure"], {"contract": {"starts_on": "2026-09-01"}, "visa": {"valid_until": "2029-01-01"}})
    record = validate("departure", data)
    assert (record.contract.starts_on, record.visa.valid_until) == (date(2026, 9, 1), date(2029, 1, 1))
    assert record.expected_return_on == date(2029, 9, 1)


def test_a_stored_record_reloads_without_being_checked_against_today():
    stored = {**GOOD["health"], "examined_on": "2030-01-01"}  # fine when reloading, refused when written today
    assert load_record("health", stored).examined_on == date(2030, 1, 1)
    assert refused("health", stored)[0].code == "field.date_in_future"


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("counselling", {"enterprises": {f.LICENCE}, "facilities": set(), "schools": set()}),
        ("training", {"enterprises": {f.LICENCE}, "facilities": set(), "schools": {"NN-SAKURA", "TC-NGHE-TH"}}),
        ("health", {"enterprises": set(), "facilities": {f.FACILITY}, "schools": set()}),
        ("departure", {"enterprises": set(), "facilities": set(), "schools": set()}),
    ],
)
def test_a_record_names_the_references_its_guards_look_up(kind, named):
    assert references_of(validate(kind, GOOD[kind])) == named


@pytest.mark.parametrize(("day", "text"), [(date(2026, 4, 10), "10/04/2026"), (date(2027, 12, 1), "01/12/2027")])
def test_vietnamese_dates_read_day_month_year(day, text):
    assert vi_date(day) == text
