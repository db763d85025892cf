"""The 12-digit personal ID (CCCD) agrees with the holder's birth date and sex; ages are counted in whole years."""

from __future__ import annotations

from datetime import date

import pytest

from workflows.identity import age_on, century_sex_digit, personal_id_problems


@pytest.mark.parametrize(
    ("born", "sex", "digit"),
    [
        (date(1900, 1, 1), "male", 0),
        (date(1975, 4, 30), "female", 1),
        (date(1999, 12, 31), "male", 0),
        (date(1999, 12, 31), "female", 1),
        (date(2000, 1, 1), "male", 2),
        (date(2000, 1, 1), "female", 3),
        (date(2008, 2, 29), "female", 3),
        (date(2099, 12, 31), "male", 2),
        (date(2100, 1, 1), "male", 4),
        (date(2100, 1, 1), "female", 5),
    ],
)
def test_the_fourth_digit_encodes_century_and_sex(born, sex, digit):
    assert century_sex_digit(born, sex) == digit


@pytest.mark.parametrize(
    ("personal_id", "born", "sex"),
    [
        ("038090001234", date(1990, 5, 17), "male"),
        ("038190001234", date(1990, 5, 17), "female"),
        ("001201000001", date(2001, 1, 1), "male"),  # Hà Nội
        ("079301999999", date(2001, 12, 31), "female"),  # TP Hồ Chí Minh
        ("096099000000", date(1999, 7, 1), "male"),  # Cà Mau
        ("004300123456", date(2000, 2, 29), "female"),  # Cao Bằng
    ],
)
def test_a_personal_id_that_agrees_with_birth_and_sex_has_no_problem(personal_id, born, sex):
    assert personal_id_problems(personal_id, born, sex) == []


@pytest.mark.parametrize("personal_id", ["03809000123", "0380900012345", "03809000123A", "038 90001234", "", "+84038090001"])
def test_a_personal_id_must_be_exactly_12_digits(personal_id):
    [found] = personal_id_problems(personal_id, date(1990, 5, 17), "male")
    assert (found.code, found.field) == ("personal_id.format", "personal_id")
    assert found.en == f"The personal ID must be exactly 12 digits (got {len(personal_id)} characters)."  # the typed ID is not echoed
    assert found.vi == f"Số định danh cá nhân phải gồm đúng 12 chữ số (đã nhập {len(personal_id)} ký tự)."


@pytest.mark.parametrize(
    "personal_id", ["０３８０９０００１２３４", "038²90001234", "038٠90001234"], ids=["full-width", "superscript", "arabic-indic"]
)
def test_a_personal_id_of_non_ascii_digits_is_a_format_problem(personal_id):
    [found] = personal_id_problems(personal_id, date(1990, 5, 17), "male")
    assert found.code == "personal_id.format"


@pytest.mark.parametrize("province", ["000", "003", "005", "039", "097", "999"])
def test_the_first_three_digits_are_a_province_code(province):
    [found] = personal_id_problems(f"{province}090001234", date(1990, 5, 17), "male")
    assert (found.code, found.field) == ("personal_id.province", "personal_id")
    assert found.en == f"The first three digits {province} are not a birth-registration province code."
    assert found.vi == f"Ba chữ số đầu {province} không phải mã tỉnh nơi đăng ký khai sinh."


@pytest.mark.parametrize(
    ("personal_id", "born", "sex", "en", "vi"),
    [
        (
            "038090001234",
            date(1990, 5, 17),
            "female",
            "The 4th digit is 0, but a female born in 1990 has 1 there.",
            "Chữ số thứ 4 là 0 nhưng người nữ sinh năm 1990 phải có chữ số 1.",
        ),
        (
            "038190001234",
            date(1990, 5, 17),
            "male",
            "The 4th digit is 1, but a male born in 1990 has 0 there.",
            "Chữ số thứ 4 là 1 nhưng người nam sinh năm 1990 phải có chữ số 0.",
        ),
        (
            "038001001234",
            date(2001, 5, 17),
            "male",
            "The 4th digit is 0, but a male born in 2001 has 2 there.",
            "Chữ số thứ 4 là 0 nhưng người nam sinh năm 2001 phải có chữ số 2.",
        ),
        (
            "038201001234",
            date(2001, 5, 17),
            "female",
            "The 4th digit is 2, but a female born in 2001 has 3 there.",
            "Chữ số thứ 4 là 2 nhưng người nữ sinh năm 2001 phải có chữ số 3.",
        ),
    ],
)
def test_the_fourth_digit_must_match_century_and_sex(personal_id, born, sex, en, vi):
    [found] = personal_id_problems(personal_id, born, sex)
    assert (found.code, found.field, found.en, found.vi) == ("personal_id.century_sex", "personal_id", en, vi)


@pytest.mark.parametrize(
    ("personal_id", "born", "digits"),
    [("038091001234", date(1990, 5, 17), "91"), ("038200001234", date(2001, 5, 17), "00"), ("038209001234", date(2000, 1, 1), "09")],
)
def test_digits_5_and_6_are_the_birth_year(personal_id, born, digits):
    [found] = personal_id_problems(personal_id, born, "male")
    assert (found.code, found.field) == ("personal_id.birth_year", "personal_id")
    assert found.en == f"Digits 5–6 ({digits}) must be the last two digits of the birth year {born.year}."
    assert found.vi == f"Chữ số thứ 5–6 ({digits}) phải là hai số cuối của năm sinh {born.year}."


def test_every_disagreement_is_reported_at_once():
    problems = personal_id_problems("999391001234", date(2001, 5, 17), "male")
    assert [p.code for p in problems] == ["personal_id.province", "personal_id.century_sex", "personal_id.birth_year"]


@pytest.mark.parametrize(("born", "sex"), [(None, "male"), (date(1990, 5, 17), None), (None, None)])
def test_without_birth_date_or_sex_only_the_format_and_province_are_checked(born, sex):
    assert personal_id_problems("038390001234", born, sex) == []
    assert [p.code for p in personal_id_problems("003390001234", born, sex)] == ["personal_id.province"]


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2008, 6, 1), date(2026, 5, 31), 17),  # the day before the 18th birthday
        (date(2008, 6, 1), date(2026, 6, 1), 18),  # on the birthday
        (date(2008, 6, 1), date(2026, 6, 2), 18),
        (date(2008, 12, 31), date(2026, 12, 30), 17),
        (date(2008, 12, 31), date(2026, 12, 31), 18),
        (date(2008, 1, 1), date(2025, 12, 31), 17),  # New Year's Eve before the birthday year
        (date(2008, 1, 1), date(2026, 1, 1), 18),
        (date(1990, 5, 17), date(1990, 5, 17), 0),  # the day of birth
        (date(1990, 5, 17), date(2026, 6, 1), 36),
        (date(2008, 2, 29), date(2026, 2, 27), 17),  # born on 29 February
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(2008, 2, 29), date(2028, 2, 28), 19),  # a leap year: the birthday exists
        (date(2008, 2, 29), date(2028, 2, 29), 20),
        (date(2007, 3, 1), date(2025, 2, 28), 17),  # born 1 March, not a leap day
        (date(2007, 3, 1), date(2025, 3, 1), 18),
    ],
)
def test_age_on_a_day_counts_whole_years(born, day, age):
    assert age_on(born, day) == age


def test_born_on_29_february_turns_18_on_28_february_of_a_common_year():
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 18
