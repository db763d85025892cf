"""Checks of the 12-digit personal ID (CCCD) against the holder's date of birth and sex."""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date

from workflows.errors import Problem, problem

# Birth-registration province codes (Circular 07/2016/TT-BCA); merged provinces keep one of them.
PROVINCE_CODES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 "
    "035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 "
    "070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)


def century_sex_digit(date_of_birth: date, sex: str) -> int:
    """Return the 4th digit of the ID: century of birth (from 1900) times two, plus one if female."""
    century_index = (date_of_birth.year - 1900) // 100
    return century_index * 2 + (1 if sex == "female" else 0)


def personal_id_problems(personal_id: str, date_of_birth: date | None, sex: str | None) -> list[Problem]:
    """List what is wrong with a personal ID, given the birth date and sex it must agree with."""
    field = "personal_id"
    if not re.fullmatch(r"[0-9]{12}", personal_id):
        return [
            problem(
                "personal_id.format",
                f"Số định danh cá nhân phải gồm đúng 12 chữ số (đã nhập {len(personal_id)} ký tự).",
                f"The personal ID must be exactly 12 digits (got {len(personal_id)} characters).",
                field,
            )
        ]
    found: list[Problem] = []
    if personal_id[:3] not in PROVINCE_CODES:
        found.append(
            problem(
                "personal_id.province",
                f"Ba chữ số đầu {personal_id[:3]} không phải mã tỉnh nơi đăng ký khai sinh.",
                f"The first three digits {personal_id[:3]} are not a birth-registration province code.",
                field,
            )
        )
    if date_of_birth is None or sex is None:
        return found
    expected = century_sex_digit(date_of_birth, sex)
    if int(personal_id[3]) != expected:
        sex_vi = "nữ" if sex == "female" else "nam"
        found.append(
            problem(
                "personal_id.century_sex",
                f"Chữ số thứ 4 là {personal_id[3]} nhưng người {sex_vi} sinh năm {date_of_birth.year} phải có chữ số {expected}.",
                f"The 4th digit is {personal_id[3]}, but a {sex} born in {date_of_birth.year} has {expected} there.",
                field,
            )
        )
    if personal_id[4:6] != f"{date_of_birth.year % 100:02d}":
        found.append(
            problem(
                "personal_id.birth_year",
                f"Chữ số thứ 5–6 ({personal_id[4:6]}) phải là hai số cuối của năm sinh {date_of_birth.year}.",
                f"Digits 5–6 ({personal_id[4:6]}) must be the last two digits of the birth year {date_of_birth.year}.",
                field,
            )
        )
    return found


def age_on(date_of_birth: date, day: date) -> int:
    """Return the age in whole years on a day (born 29/2: a year is complete on 28/2, Civil Code art. 148)."""
    birthday = (date_of_birth.month, date_of_birth.day)
    if birthday == (2, 29) and not calendar.isleap(day.year):
        birthday = (2, 28)
    had_birthday = (day.month, day.day) >= birthday
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def fold_name(name: str) -> str:
    """Return a name without Vietnamese accents, lower case, single-spaced: "Nguyễn Văn An" -> "nguyen van an"."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return " ".join(bare.lower().split())
