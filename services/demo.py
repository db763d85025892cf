"""The demo commune: units, departments' users, reference data and about 50 cases in every state."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select

from services import audit, auth, cases
from services.clock import FixedClock
from services.models import AdminUnit, Case, Enterprise, HealthFacility, TrainingSchool, User
from services.runtime import Runtime
from services.users import Actor, load_actor
from workflows.calendar import local_date
from workflows.case import STATES
from workflows.identity import century_sex_digit

# Every demo user logs in with this password (a demo only: real users get their own).
DEMO_PASSWORD = "demo-camtan"
PROVINCE = ("38", "Tỉnh Thanh Hóa")
COMMUNE = ("TH-CAMTAN", "Xã Cẩm Tân")
VILLAGES = [
    ("TH-CAMTAN-01", "Thôn Tân Lập"),
    ("TH-CAMTAN-02", "Thôn Đồng Tâm"),
    ("TH-CAMTAN-03", "Thôn Liên Sơn"),
    ("TH-CAMTAN-04", "Thôn Kim Tân"),
    ("TH-CAMTAN-05", "Thôn Bái Ao"),
    ("TH-CAMTAN-06", "Thôn Trung Tâm"),
]
ENTERPRISES = [
    ("123/LĐTBXH-GP", "Công ty CP Hợp tác Lao động Quốc tế Sông Hồng", date(2022, 3, 1), None),
    ("045/LĐTBXH-GP", "Công ty TNHH Nhân lực Thanh Hóa", date(2021, 6, 15), date(2031, 6, 14)),
    ("077/LĐTBXH-GP", "Công ty CP Xuất khẩu Lao động Miền Trung (giấy phép đã hết hạn)", date(2018, 1, 10), date(2025, 1, 9)),
]
FACILITIES = [
    ("BV-TH-01", "Bệnh viện Đa khoa tỉnh Thanh Hóa", date(2020, 1, 1), None),
    ("BV-HN-02", "Bệnh viện Giao thông vận tải", date(2020, 1, 1), None),
]
SCHOOLS = [
    ("TC-NGHE-TH", "Trường Trung cấp nghề Thanh Hóa"),
    ("NN-SAKURA", "Trung tâm Ngoại ngữ Sakura"),
    ("NN-HANKOOK", "Trung tâm tiếng Hàn Hankook"),
]
USERS = [
    (dept, name)
    for dept, name in [
        ("social_policy", "Lê Thị Hồng"),
        ("finance", "Nguyễn Văn Thành"),
        ("office", "Phạm Thị Mai"),
        ("police", "Trịnh Văn Dũng"),
        ("military", "Hoàng Văn Quân"),
        ("justice", "Đỗ Thị Lan"),
        ("culture_info", "Vũ Minh Tuấn"),
        ("front", "Bùi Thị Nga"),
        ("bank", "Ngô Thị Phương"),
        ("enterprise", "Đặng Quốc Huy"),
        ("training", "Lý Thị Thu"),
    ]
]
SURNAMES = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Trịnh Lương".split()
MALE = [
    ("Văn", "An"),
    ("Văn", "Bình"),
    ("Đức", "Cường"),
    ("Văn", "Dũng"),
    ("Minh", "Hiếu"),
    ("Quang", "Hùng"),
    ("Hữu", "Long"),
    ("Văn", "Nam"),
    ("Hoàng", "Phúc"),
    ("Minh", "Quân"),
    ("Thanh", "Sơn"),
    ("Đức", "Thắng"),
    ("Anh", "Tuấn"),
    ("Văn", "Khánh"),
]
FEMALE = [
    ("Thị", "Giang"),
    ("Thị", "Hà"),
    ("Thị", "Hạnh"),
    ("Thị", "Hoa"),
    ("Thu", "Hương"),
    ("Ngọc", "Lan"),
    ("Thùy", "Linh"),
    ("Thị", "Mai"),
    ("Thị", "Nga"),
    ("Minh", "Phương"),
    ("Thanh", "Tâm"),
    ("Phương", "Thảo"),
    ("Thu", "Trang"),
    ("Hải", "Yến"),
]
# How many demo cases end in each state (reopened cases are registered again, application 2).
PLAN = {
    "registered": 5,
    "counselled": 4,
    "trained": 4,
    "health_checked": 3,
    "loan_approved": 3,
    "departed": 10,
    "returned": 3,
    "reintegrated": 3,
    "closed": 2,
    "withdrawn": 3,
    "ineligible": 2,
    "visa_refused": 2,
    "overstayed": 2,
    "deceased": 2,
    "reopened": 2,
}
MAIN_PATH = ["counsel", "train", "certify_health", "approve_loan", "depart"]


def is_empty(rt: Runtime) -> bool:
    """Tell whether the database holds no cases yet."""
    with rt.unit_of_work() as conn:
        return not conn.scalar(select(func.count()).select_from(Case))


def seed(rt: Runtime, *, seed_value: int = 2023) -> int:
    """Seed the demo commune and walk about 50 cases through the real commands; return the count."""
    with rt.unit_of_work() as conn:
        seed_reference(conn)
    end = rt.clock.now()
    clock = FixedClock(end - timedelta(days=720))
    demo_rt = dataclasses.replace(rt, clock=clock)
    rng = random.Random(seed_value)
    with rt.unit_of_work() as conn:
        actors = {dept: load_actor(conn, dept) for dept, _ in USERS} | {"supervisor": load_actor(conn, "supervisor")}
    targets = [state for state, count in PLAN.items() for _ in range(count)]
    rng.shuffle(targets)
    for number, target in enumerate(targets):
        long_story = target in ("returned", "reintegrated", "closed", "reopened")
        clock.moment = end - timedelta(days=(720 if long_story else 460) - number * 2)
        _walk(demo_rt, clock, actors, rng, number, target)
    with rt.unit_of_work() as conn:
        audit.seal(conn, end)
    return len(targets)


def seed_reference(conn: Connection) -> None:
    """Insert the demo province, commune, villages, reference lists and one user per department."""
    province = conn.execute(
        insert(AdminUnit).returning(AdminUnit.id), {"code": PROVINCE[0], "name": PROVINCE[1], "kind": "province"}
    ).scalar_one()
    commune = conn.execute(
        insert(AdminUnit).returning(AdminUnit.id), {"code": COMMUNE[0], "name": COMMUNE[1], "kind": "commune", "parent_id": province}
    ).scalar_one()
    conn.execute(insert(AdminUnit), [{"code": c, "name": n, "kind": "village", "parent_id": commune} for c, n in VILLAGES])
    conn.execute(
        insert(Enterprise), [dict(zip(("licence_number", "name", "licensed_from", "licensed_until"), e, strict=True)) for e in ENTERPRISES]
    )
    conn.execute(
        insert(HealthFacility), [dict(zip(("code", "name", "approved_from", "approved_until"), f, strict=True)) for f in FACILITIES]
    )
    conn.execute(insert(TrainingSchool), [{"code": c, "name": n} for c, n in SCHOOLS])
    people = [{"username": dept, "full_name": name, "role": "officer", "department_code": dept, "unit_id": commune} for dept, name in USERS]
    people += [
        {
            "username": "supervisor",
            "full_name": "Lê Văn Hải (Phó Chủ tịch UBND xã)",
            "role": "supervisor",
            "department_code": None,
            "unit_id": commune,
        },
        {
            "username": "province_supervisor",
            "full_name": "Nguyễn Thị Bình (Sở Nội vụ)",
            "role": "supervisor",
            "department_code": None,
            "unit_id": province,
        },
        {"username": "auditor", "full_name": "Trần Thị Kiểm", "role": "auditor", "department_code": None, "unit_id": province},
        {"username": "admin", "full_name": "Quản trị hệ thống", "role": "admin", "department_code": None, "unit_id": province},
    ]
    # Reminders go to these addresses when an SMTP server is configured (example.org never delivers).
    password_hash = auth.hash_password(DEMO_PASSWORD)
    rows = [
        {**person, "active": True, "email": f"{person['username']}@camtan.example.org", "password_hash": password_hash} for person in people
    ]
    conn.execute(insert(User), rows)


def _walk(rt: Runtime, clock: FixedClock, actors: dict[str, Actor], rng: random.Random, number: int, target: str) -> None:
    def day() -> date:
        return local_date(clock.now())

    def step(days: int, trigger: str, record: Callable[[date], dict[str, Any]], dept: str) -> None:
        clock.advance(days=days, hours=rng.randint(0, 6))
        cases.fire(rt, actors[dept], case.id, trigger, record(day()))

    case = cases.register(rt, actors["social_policy"], _registration(rng, number, day()))
    market = rng.choice(["JP-TTS", "JP-SSW", "TW-LD", "KR-EPS"])
    path = {"registered": 0, "counselled": 1, "trained": 2, "health_checked": 3, "loan_approved": 4, "visa_refused": 4}.get(target, 5)
    if target in ("withdrawn", "ineligible"):
        path = rng.randint(0, 3)
    records = _main_records(rng, market)
    for trigger in MAIN_PATH[:path]:
        dept = {"counsel": "enterprise", "train": "training", "certify_health": "office", "approve_loan": "bank", "depart": "enterprise"}[
            trigger
        ]
        step(rng.randint(6, 20), trigger, records[trigger], dept)
    ending = _ENDINGS.get(target)
    if ending:
        for days, trigger, record, dept in ending:
            step(days, trigger, record, dept)


def _registration(rng: random.Random, number: int, today: date) -> dict[str, Any]:
    sex = rng.choice(["male", "female"])
    middle, given = rng.choice(MALE if sex == "male" else FEMALE)
    born = today - timedelta(days=rng.randint(19 * 365, 38 * 365))
    personal_id = f"038{century_sex_digit(born, sex)}{born.year % 100:02d}{100000 + number * 7919 % 900000:06d}"
    return {
        "full_name": f"{rng.choice(SURNAMES)} {middle} {given}",
        "date_of_birth": born.isoformat(),
        "sex": sex,
        "personal_id": personal_id,
        "ethnicity": rng.choice(["Kinh"] * 8 + ["Mường", "Thái"]),
        "commune_code": COMMUNE[0],
        "village_code": rng.choice(VILLAGES)[0],
        "phone": f"09{rng.randint(10_000_000, 99_999_999)}",
        "priority": {
            "poor_household": rng.random() < 0.2,
            "near_poor_household": rng.random() < 0.15,
            "ethnic_minority": rng.random() < 0.15,
            "military_service_done": sex == "male" and rng.random() < 0.2,
        },
        "consent": {"given": True, "given_on": today.isoformat(), "method": "signed_form"},
        "source": rng.choice(["walk_in", "walk_in", "village_outreach", "referral", "enterprise"]),
    }


def _main_records(rng: random.Random, market: str) -> dict[str, Callable[[date], dict[str, Any]]]:
    country = market[:2]
    licence = rng.choice(ENTERPRISES[:2])[0]
    language = {
        "JP": ("Tiếng Nhật", "N4", "NN-SAKURA"),
        "KR": ("Tiếng Hàn", "TOPIK 2", "NN-HANKOOK"),
        "TW": ("Tiếng Trung", "A2", "NN-SAKURA"),
    }[country]
    return {
        "counsel": lambda d: {
            "counselled_on": d.isoformat(),
            "enterprise_licence": licence,
            "market_code": market,
            "job": rng.choice(["Chế biến thực phẩm", "Xây dựng", "Điều dưỡng", "Cơ khí", "Nông nghiệp", "Điện tử"]),
        },
        "train": lambda d: {
            "language": {
                "number": f"NN-{rng.randint(1000, 9999)}",
                "school_code": language[2],
                "language": language[0],
                "level": language[1],
                "issued_on": (d - timedelta(days=3)).isoformat(),
            },
            "orientation": {
                "number": f"GDĐH-{rng.randint(1000, 9999)}",
                "issued_on": (d - timedelta(days=2)).isoformat(),
                "periods": 74,
                "issued_by_licence": licence,
            },
            **(
                {
                    "vocational": {
                        "number": f"N-{rng.randint(1000, 9999)}",
                        "school_code": "TC-NGHE-TH",
                        "trade": "Hàn",
                        "issued_on": (d - timedelta(days=5)).isoformat(),
                    }
                }
                if rng.random() < 0.7
                else {}
            ),
        },
        "certify_health": lambda d: {
            "facility_code": rng.choice(FACILITIES)[0],
            "examined_on": (d - timedelta(days=1)).isoformat(),
            "certificate_number": f"SK-{rng.randint(10000, 99999)}",
            "result": "fit",
        },
        "approve_loan": lambda d: (
            {
                "financing": "bank_loan",
                "decision_number": f"QĐ-{rng.randint(100, 999)}/NHCSXH",
                "branch": "Phòng giao dịch NHCSXH huyện Cẩm Thủy",
                "decided_on": d.isoformat(),
                "amount_vnd": 100_000_000,
                "pre_departure_costs_vnd": 150_000_000,
            }
            if rng.random() < 0.7
            else {"financing": "self_financed", "declared_on": d.isoformat(), "note": "Gia đình tự lo chi phí"}
        ),
        "depart": lambda d: {
            "contract": {
                "number": f"HĐ-{rng.randint(1000, 9999)}",
                "employer": "Employer Co., Ltd.",
                "country": country,
                "starts_on": (d + timedelta(days=3)).isoformat(),
                "duration_months": 12,
            },
            "visa": {"number": f"V{rng.randint(100000, 999999)}", "issued_on": (d - timedelta(days=10)).isoformat()},
            "departed_on": d.isoformat(),
        },
    }


_RETURN = (400, "return_home", lambda d: {"returned_on": d.isoformat(), "reason": "completed"}, "social_policy")
_REINTEGRATE = (
    20,
    "reintegrate",
    lambda d: {"referred_on": d.isoformat(), "referral_to": "Trung tâm Dịch vụ việc làm tỉnh", "job": "Tổ trưởng sản xuất"},
    "social_policy",
)
_ENDINGS: dict[str, list[tuple[int, str, Callable[[date], dict[str, Any]], str]]] = {
    "returned": [_RETURN],
    "reintegrated": [_RETURN, _REINTEGRATE],
    "closed": [
        _RETURN,
        _REINTEGRATE,
        (10, "close", lambda d: {"closed_on": d.isoformat(), "reason": "Đã ổn định việc làm"}, "social_policy"),
    ],
    "withdrawn": [(5, "withdraw", lambda d: {"withdrawn_on": d.isoformat(), "reason": "Gia đình không đồng ý"}, "social_policy")],
    "ineligible": [
        (5, "declare_ineligible", lambda d: {"decided_on": d.isoformat(), "reason": "health_unfit", "details": "Viêm gan B"}, "office")
    ],
    "visa_refused": [
        (15, "refuse_visa", lambda d: {"refused_on": d.isoformat(), "country": "JP", "reason": "Hồ sơ thiếu giấy tờ"}, "enterprise")
    ],
    "overstayed": [
        (120, "report_overstay", lambda d: {"reported_on": d.isoformat(), "kind": "absconded", "details": "Bỏ nơi làm việc"}, "police")
    ],
    "deceased": [
        (200, "report_death", lambda d: {"reported_on": d.isoformat(), "kind": "deceased", "place": "Tai nạn lao động"}, "social_policy")
    ],
    "reopened": [_RETURN, (30, "reopen", lambda d: {"reopened_on": d.isoformat(), "reason": "Đăng ký đi lần hai"}, "social_policy")],
}
assert set(PLAN) - {"reopened"} == {state.name for state in STATES}
