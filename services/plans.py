"""A unit's plan for a year (departures to exceed, training shares): the row an admin set, else the defaults for its kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.admin import log_action, require_admin
from services.models import AdminUnit, Plan, User
from services.runtime import Runtime
from services.users import Actor, communes_under
from workflows.errors import Forbidden, NotFound, RecordInvalid, problem
from workflows.plans import PLAN_KINDS, PlanDefaults, Targets, target_problems

# Who reads plans and indicators: supervisors and auditors over the unit, social-policy officers of their commune.
REPORT_READERS = ("supervisor", "auditor")
REPORTING_DEPARTMENT = "social_policy"
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True)
class Unit:
    """A commune or province a plan or a report is about, with the communes it covers."""

    id: int
    code: str
    name: str
    kind: str
    communes: frozenset[int]


def require_report_reader(actor: Actor, *, admins: bool = False) -> None:
    """Refuse a user who may not read a unit's reports (admins read plans too)."""
    if actor.role in REPORT_READERS or (admins and actor.role == "admin"):
        return
    if actor.role == "officer" and actor.department == REPORTING_DEPARTMENT:
        return
    vi = f"Vai trò của {actor.username} không được xem kế hoạch và báo cáo (chỉ lãnh đạo, kiểm tra, cán bộ Lao động – Chính sách xã hội)."
    en = f"{actor.username} may not read plans and reports (supervisors, auditors and social-policy officers only)."
    raise Forbidden([problem("report.role", vi, en, "actor")])


def unit_in_scope(conn: Connection, actor: Actor, unit_code: str) -> Unit:
    """Return a commune or province whose communes all lie in the user's scope; any other unit does not exist for them."""
    if "\x00" in unit_code:  # no code holds one, and PostgreSQL cannot compare text with it
        unit_code = ""
    row: Any = conn.execute(select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.kind).where(AdminUnit.code == unit_code)).first()
    communes = communes_under(conn, row.id) if row is not None and row.kind in PLAN_KINDS else frozenset()
    officer_elsewhere = actor.role == "officer" and (row is None or row.kind != "commune")
    scope = communes_under(conn, actor.unit_id) if actor.unit_id is not None else actor.communes  # as the tree stands now
    if not communes or officer_elsewhere or (scope is not None and not communes <= scope):
        vi, en = f"Không có xã hoặc tỉnh mã '{unit_code}'.", f"No commune or province with code '{unit_code}'."
        raise NotFound([problem("unit.unknown", vi, en, "unit_code")])
    return Unit(row.id, row.code, row.name, row.kind, communes)


def check_year(year: int) -> None:
    """Refuse a year no plan can be about."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        vi, en = f"Năm phải từ {MIN_YEAR} đến {MAX_YEAR}.", f"The year must be between {MIN_YEAR} and {MAX_YEAR}."
        raise RecordInvalid([problem("plan.year", vi, en, "year")])


def targets_of(conn: Connection, defaults: PlanDefaults, units: list[tuple[int, str]], year: int) -> dict[int, Targets]:
    """Return each unit's targets for a year, by unit id: its own plan row, else the defaults for its kind."""
    found = {unit_id: defaults.targets(kind, year) for unit_id, kind in units}
    rows = conn.execute(select(Plan).where(Plan.unit_id.in_([unit_id for unit_id, _ in units]), Plan.year == year))
    for row in rows:
        found[row.unit_id] = Targets(
            row.departures_more_than, row.language_orientation_percent, row.vocational_percent, row.in_depth_percent
        )
    return found


def get_plan(rt: Runtime, actor: Actor, unit_code: str, year: int) -> dict[str, Any]:
    """Return a unit's plan for a year, saying whether it is the unit's own or the defaults."""
    require_report_reader(actor, admins=True)
    check_year(year)
    with rt.unit_of_work(writes=False) as conn:
        unit = unit_in_scope(conn, actor, unit_code)
        return _plan_view(conn, rt.plan_defaults, unit, year)


def _plan_view(conn: Connection, defaults: PlanDefaults, unit: Unit, year: int) -> dict[str, Any]:
    row = conn.execute(
        select(Plan.updated_at, User.username).join(User, User.id == Plan.updated_by).where(Plan.unit_id == unit.id, Plan.year == year)
    ).first()
    targets = targets_of(conn, defaults, [(unit.id, unit.kind)], year)[unit.id]
    own = {"source": "unit", "updated_at": row.updated_at, "updated_by": row.username} if row else {"source": "default"}
    return {"unit_code": unit.code, "unit_name": unit.name, "unit_kind": unit.kind, "year": year, **asdict(targets), **own}


def set_plan(rt: Runtime, actor: Actor, unit_code: str, year: int, targets: Targets) -> dict[str, Any]:
    """Set a unit's targets for a year (admins of the unit or above); the change goes into the admin log."""
    require_admin(actor)
    check_year(year)
    problems = target_problems(targets)
    if problems:
        raise RecordInvalid(problems)
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        unit = unit_in_scope(conn, actor, unit_code)
        before = targets_of(conn, rt.plan_defaults, [(unit.id, unit.kind)], year)[unit.id]
        plan_id = _upsert(conn, actor, unit.id, year, targets, now)
        details = {"unit_code": unit.code, "year": year, "before": asdict(before), "after": asdict(targets)}
        log_action(conn, actor, now, "plan.set", ("plan", plan_id, unit.id), details)
        return _plan_view(conn, rt.plan_defaults, unit, year)


def _upsert(conn: Connection, actor: Actor, unit_id: int, year: int, targets: Targets, now: datetime) -> int:
    # The admin's scope is checked and logged in this transaction; two admins saving at once: the unique key makes one wait or fail.
    values = {**asdict(targets), "updated_at": now, "updated_by": actor.user_id}
    existing = conn.scalar(select(Plan.id).where(Plan.unit_id == unit_id, Plan.year == year))
    if existing is not None:
        conn.execute(update(Plan).where(Plan.id == existing).values(**values))
        return int(existing)
    return int(conn.execute(insert(Plan).returning(Plan.id), {"unit_id": unit_id, "year": year, **values}).scalar_one())


def plan_units(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    """Return the communes and provinces whose plans a user may open: their own unit and the communes of their scope."""
    require_report_reader(actor, admins=True)
    with rt.unit_of_work(writes=False) as conn:
        wanted = {actor.unit_id, *communes_under(conn, actor.unit_id)} if actor.unit_id is not None else set()
        rows = conn.execute(
            select(AdminUnit.code, AdminUnit.name, AdminUnit.kind)
            .where(AdminUnit.id.in_(sorted(wanted)), AdminUnit.kind.in_(PLAN_KINDS))
            .order_by(AdminUnit.kind.desc(), AdminUnit.code)  # the province first, then its communes
        )
        return [dict(row._mapping) for row in rows]


def own_unit_code(rt: Runtime, actor: Actor) -> str | None:
    """Return the code of the user's own unit when it is a commune or province (what their dashboard reports on)."""
    if actor.unit_id is None:
        return None
    with rt.unit_of_work(writes=False) as conn:
        row = conn.execute(select(AdminUnit.code, AdminUnit.kind).where(AdminUnit.id == actor.unit_id)).first()
    return str(row.code) if row is not None and row.kind in PLAN_KINDS else None
