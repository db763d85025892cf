"""A seeded data set for the report tests: workers in two communes of one province and one of another, walked by the real commands.

Each worker is described by plain inputs (who, which market, which training, which steps on which days); the tests
compute the expected indicators from these inputs, never from the database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from services import cases
from services.clock import FixedClock
from services.models import AdminUnit, User
from services.runtime import Runtime
from services.users import Actor, load_actor
from tests import factories as f

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
DEPARTMENTS = ("social_policy", "enterprise", "training", "office", "bank", "police", "finance")
# The demo commune, a second commune of the same province (Thanh Hóa, "38") and one of Cao Bằng.
COMMUNES = {"TH-CAMTAN": "38", "TH-CAMTHUY": "38", "CB-HOAAN": "04"}
MARKETS = {"JP-TTS": "JP", "KR-EPS": "KR", "TW-LD": "TW"}
STEPS = ("counsel", "train", "certify_health", "approve_loan", "depart")
FIRST_DAY = date(2026, 6, 1)


@dataclass
class Worker:
    """One seeded worker: the facts the records carry and the days of each step (and its outcome, if any)."""

    serial: int
    commune: str
    sex: str
    ethnicity: str
    priority: dict[str, bool]
    market: str
    vocational: bool
    in_depth: bool
    financing: str  # bank_loan, self_financed
    amount: int
    days: dict[str, date] = field(default_factory=dict)  # trigger -> day ("register" included)
    outcome: tuple[str, str] | None = None  # ("return_home", "early") / ("report_overstay", "absconded") / ("report_death", "deceased")
    case_id: int = 0
    paid: list[tuple[str, int, date]] = field(default_factory=list)  # support paid: (item, amount, day)


def moment_of(day: date) -> datetime:
    """Return 09:00 in Vietnam on a day, the moment every seeded step happens."""
    return datetime.combine(day, time(9), tzinfo=VIETNAM).astimezone(UTC)


def workers(seed: int = 5, count: int = 36) -> list[Worker]:
    """Return the seeded workers, their facts and step days drawn from a fixed seed."""
    rng = random.Random(seed)
    found = []
    for serial in range(1, count + 1):
        flags = {name: rng.random() < 0.3 for name in ("poor_household", "ethnic_minority", "military_service_done")}
        flags["near_poor_household"] = not flags["poor_household"] and rng.random() < 0.3
        vocational = rng.random() < 0.7
        worker = Worker(
            serial=serial, commune=list(COMMUNES)[serial % 3], sex=rng.choice(["male", "female"]),
            ethnicity=rng.choice(["Kinh", "Kinh", "Tày", "Mường"]), priority=flags, market=rng.choice(list(MARKETS)),
            vocational=vocational, in_depth=vocational and rng.random() < 0.4, financing=rng.choice(["bank_loan", "self_financed"]),
            amount=rng.randrange(50, 150) * 1_000_000,
        )  # fmt: skip
        day = FIRST_DAY + timedelta(days=rng.randrange(0, 60))
        worker.days["register"] = day
        for trigger in STEPS[: rng.choice([0, 1, 3, 5, 5, 5, 5])]:
            day += timedelta(days=rng.randrange(1, 25))
            worker.days[trigger] = day
        if "depart" in worker.days and rng.random() < 0.5:
            worker.outcome = rng.choice([("return_home", "early"), ("return_home", "completed"), ("report_overstay", "absconded"),
                                         ("report_death", "deceased")])  # fmt: skip
            worker.days[worker.outcome[0]] = day + timedelta(days=rng.randrange(5, 90))
        found.append(worker)
    return found


def add_communes(rt: Runtime) -> dict[str, dict[str, Actor]]:
    """Add the second Thanh Hóa commune and the Cao Bằng one with their officers; return every commune's officers by department."""
    with rt.unit_of_work() as conn:
        province_th = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == "38"))
        province_cb = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id), {"code": "04", "name": "Tỉnh Cao Bằng", "kind": "province"}
        ).scalar_one()
        for code, parent in (("TH-CAMTHUY", province_th), ("CB-HOAAN", province_cb)):
            commune = conn.execute(
                insert(AdminUnit).returning(AdminUnit.id), {"code": code, "name": code, "kind": "commune", "parent_id": parent}
            ).scalar_one()
            conn.execute(insert(AdminUnit), {"code": f"{code}-01", "name": "Thôn 1", "kind": "village", "parent_id": commune})
            conn.execute(insert(User), [{"username": f"{code.lower()}_{dept}", "full_name": dept, "role": "officer", "department_code": dept,
                                         "unit_id": commune, "active": True} for dept in DEPARTMENTS])  # fmt: skip
        conn.execute(
            insert(User), {"username": "cb_supervisor", "full_name": "CB", "role": "supervisor", "unit_id": province_cb, "active": True}
        )
        officers = {code: {dept: load_actor(conn, f"{code.lower()}_{dept}") for dept in DEPARTMENTS} for code in ("TH-CAMTHUY", "CB-HOAAN")}
        officers["TH-CAMTAN"] = {dept: load_actor(conn, dept) for dept in DEPARTMENTS}
    return officers  # fmt: skip


def village(commune: str) -> str:
    """Return the seeded village of a commune."""
    return f.VILLAGE if commune == f.COMMUNE else f"{commune}-01"


def _record(worker: Worker, trigger: str, today: date) -> dict[str, Any]:
    if trigger == "counsel":
        return f.counselling(today, market_code=worker.market)
    if trigger == "train":
        vocational = {
            "number": "N-1",
            "school_code": "TC-NGHE-TH",
            "trade": "Hàn",
            "issued_on": today.isoformat(),
            "in_depth": worker.in_depth,
        }
        return f.training(today, vocational=vocational if worker.vocational else None)
    if trigger == "approve_loan":
        if worker.financing == "self_financed":
            return {"financing": "self_financed", "declared_on": today.isoformat(), "note": "Gia đình tự lo"}
        return f.loan(today, amount_vnd=worker.amount, pre_departure_costs_vnd=worker.amount)
    if trigger == "depart":
        departure = f.departure(today)
        return {**departure, "contract": {**departure["contract"], "country": MARKETS[worker.market]}}
    if trigger == "return_home":
        reason = worker.outcome[1] if worker.outcome else "completed"
        return f.return_home(today, reason=reason, **({"cause": "Ốm"} if reason != "completed" else {}))
    return f.RECORDS[trigger](today)


OWNER = {"counsel": "enterprise", "train": "training", "certify_health": "office", "approve_loan": "bank", "depart": "enterprise",
         "return_home": "social_policy", "report_overstay": "police", "report_death": "police"}  # fmt: skip


def seed(rt: Runtime, clock: FixedClock, officers: dict[str, dict[str, Actor]], people: list[Worker]) -> None:
    """Walk every worker's steps through services.cases, day by day in time order, with the clock set to each day."""
    actions = sorted(
        ((day, worker.serial, trigger, worker) for worker in people for trigger, day in worker.days.items()), key=lambda a: a[:2]
    )
    for day, _, trigger, worker in actions:
        clock.advance(seconds=(moment_of(day) - clock.now()).total_seconds())
        staff = officers[worker.commune]
        if trigger == "register":
            data = f.registration(day, worker.serial, commune_code=worker.commune, village_code=village(worker.commune), sex=worker.sex,
                                  ethnicity=worker.ethnicity, priority=worker.priority)  # fmt: skip
            worker.case_id = cases.register(rt, staff["social_policy"], data).id
        else:
            cases.fire(rt, staff[OWNER[trigger]], worker.case_id, trigger, _record(worker, trigger, day))
