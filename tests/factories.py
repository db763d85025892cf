"""Valid records for each step, dated relative to a given day, and helpers to walk a case."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from services import cases
from services.runtime import Runtime
from services.users import Actor
from workflows.identity import century_sex_digit

LICENCE = "123/LĐTBXH-GP"
EXPIRED_LICENCE = "077/LĐTBXH-GP"
FACILITY = "BV-TH-01"
COMMUNE = "TH-CAMTAN"
VILLAGE = "TH-CAMTAN-01"


def personal_id(born: date, sex: str, serial: int) -> str:
    """Return a valid personal ID for a birth date and sex (Thanh Hóa province code)."""
    return f"038{century_sex_digit(born, sex)}{born.year % 100:02d}{serial % 1_000_000:06d}"


def registration(today: date, serial: int = 1, **overrides: Any) -> dict[str, Any]:
    """Return a valid registration record for a 25-year-old."""
    born = date(today.year - 25, 3, 14)
    sex = overrides.pop("sex", "male")
    data = {
        "full_name": "Nguyễn Văn An",
        "date_of_birth": born.isoformat(),
        "sex": sex,
        "personal_id": personal_id(born, sex, serial),
        "ethnicity": "Kinh",
        "commune_code": COMMUNE,
        "village_code": VILLAGE,
        "phone": "0912345678",
        "priority": {"poor_household": True},
        "consent": {"given": True, "given_on": today.isoformat(), "method": "signed_form"},
        "source": "walk_in",
    }
    data.update(overrides)
    return data


def counselling(today: date, **overrides: Any) -> dict[str, Any]:
    return {
        "counselled_on": today.isoformat(),
        "enterprise_licence": LICENCE,
        "market_code": "JP-TTS",
        "job": "Chế biến thực phẩm",
        **overrides,
    }


def training(today: date, **overrides: Any) -> dict[str, Any]:
    return {
        "language": {"number": "NN-1", "school_code": "NN-SAKURA", "language": "Tiếng Nhật", "level": "N4", "issued_on": today.isoformat()},
        "orientation": {"number": "GDĐH-1", "issued_on": today.isoformat(), "periods": 74, "issued_by_licence": LICENCE},
        "vocational": {"number": "N-1", "school_code": "TC-NGHE-TH", "trade": "Hàn", "issued_on": today.isoformat()},
        **overrides,
    }


def health(today: date, **overrides: Any) -> dict[str, Any]:
    return {"facility_code": FACILITY, "examined_on": today.isoformat(), "certificate_number": "SK-1", "result": "fit", **overrides}


def loan(today: date, **overrides: Any) -> dict[str, Any]:
    return {
        "financing": "bank_loan",
        "decision_number": "QĐ-1",
        "branch": "PGD Cẩm Thủy",
        "decided_on": today.isoformat(),
        "amount_vnd": 100_000_000,
        "pre_departure_costs_vnd": 150_000_000,
        **overrides,
    }


def departure(today: date, **overrides: Any) -> dict[str, Any]:
    return {
        "contract": {
            "number": "HĐ-1",
            "employer": "Employer Co.",
            "country": "JP",
            "starts_on": (today + timedelta(days=2)).isoformat(),
            "duration_months": 36,
        },
        "visa": {"number": "V1", "issued_on": (today - timedelta(days=5)).isoformat()},
        "departed_on": today.isoformat(),
        **overrides,
    }


def return_home(today: date, **overrides: Any) -> dict[str, Any]:
    return {"returned_on": today.isoformat(), "reason": "completed", **overrides}


RECORDS = {
    "counsel": counselling,
    "train": training,
    "certify_health": health,
    "approve_loan": loan,
    "depart": departure,
    "return_home": return_home,
    "reintegrate": lambda d, **o: {"referred_on": d.isoformat(), "referral_to": "Trung tâm DVVL", "job": "Thợ hàn", **o},
    "close": lambda d, **o: {"closed_on": d.isoformat(), "reason": "Ổn định", **o},
    "withdraw": lambda d, **o: {"withdrawn_on": d.isoformat(), "reason": "Không đi nữa", **o},
    "declare_ineligible": lambda d, **o: {"decided_on": d.isoformat(), "reason": "health_unfit", **o},
    "refuse_visa": lambda d, **o: {"refused_on": d.isoformat(), "country": "JP", "reason": "Thiếu giấy tờ", **o},
    "report_overstay": lambda d, **o: {"reported_on": d.isoformat(), "kind": "absconded", "details": "Bỏ nơi làm việc", **o},
    "report_death": lambda d, **o: {"reported_on": d.isoformat(), "kind": "deceased", **o},
    "reopen": lambda d, **o: {"reopened_on": d.isoformat(), "reason": "Đăng ký lại", **o},
}
MAIN_PATH = ["counsel", "train", "certify_health", "approve_loan", "depart", "return_home"]
DEPARTMENT = {
    "counsel": "enterprise",
    "train": "training",
    "certify_health": "office",
    "approve_loan": "bank",
    "depart": "enterprise",
    "return_home": "social_policy",
    "reintegrate": "social_policy",
    "close": "social_policy",
    "withdraw": "social_policy",
    "declare_ineligible": "office",
    "refuse_visa": "enterprise",
    "report_overstay": "police",
    "report_death": "police",
    "reopen": "social_policy",
}


def step(rt: Runtime, actors: dict[str, Actor], case_id: int, trigger: str, **overrides: Any) -> cases.CaseRef:
    """Fire one step with a valid record dated today, as the department that owns it."""
    return cases.fire(rt, actors[DEPARTMENT[trigger]], case_id, trigger, RECORDS[trigger](rt.today(), **overrides))


def walk(rt: Runtime, actors: dict[str, Actor], case_id: int, triggers: list[str]) -> cases.CaseRef:
    """Fire several steps in order; return where the last left the case."""
    ref = None
    for trigger in triggers:
        ref = step(rt, actors, case_id, trigger)
    assert ref is not None
    return ref
