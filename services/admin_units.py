"""Admins keep the administrative units (the tree province → commune → village: add a village, rename a unit) and read the clock policy."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.admin import log_action, refuse_nul, require_admin, units_in_scope
from services.models import AdminUnit
from services.runtime import Runtime
from services.users import Actor
from workflows.clocks import ClockRule, ladder_for
from workflows.errors import Conflict, NotFound, RecordInvalid, problem

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")


def unit_tree(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    """Return the admin's unit and everything under it as a tree (children in code order)."""
    require_admin(actor)
    with rt.unit_of_work(writes=False) as conn:
        scope = units_in_scope(conn, actor)
        rows = conn.execute(
            select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.kind, AdminUnit.parent_id, AdminUnit.valid_from,
                   AdminUnit.valid_until).where(AdminUnit.id.in_(sorted(scope))).order_by(AdminUnit.code)
        ).all()  # fmt: skip
    nodes = {row.id: {**row._mapping, "children": []} for row in rows}
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node["parent_id"])
        (parent["children"] if parent is not None else roots).append(node)
    return roots


def communes(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the communes of a unit tree, in tree order."""
    found = []
    for node in tree:
        found += ([node] if node["kind"] == "commune" else []) + communes(node["children"])
    return found


def add_village(rt: Runtime, actor: Actor, commune_id: int, code: str, name: str) -> int:
    """Add a village to a commune of the admin's units; return its id (cases can be filed under it at once)."""
    require_admin(actor)
    refuse_nul({"code": code, "name": name})
    code, name = code.strip().upper(), name.strip()
    problems = _name_problems(name)
    if not _CODE.match(code):
        vi = "Mã thôn gồm 1–40 ký tự: chữ in hoa không dấu, số, '-', '_' (ví dụ TH-CAMTAN-05)."
        en = "A village code has 1–40 characters: A–Z, digits, '-', '_' (e.g. TH-CAMTAN-05)."
        problems.append(problem("unit.code", vi, en, "code"))
    try:
        with rt.unit_of_work() as conn:
            commune = _unit_in_scope(conn, actor, commune_id)
            if commune.kind != "commune":
                vi, en = (
                    f"{commune.name} không phải là xã/phường: thôn chỉ thêm vào xã.",
                    f"{commune.name} is not a commune: villages belong to communes.",
                )
                problems.append(problem("unit.not_commune", vi, en, "commune_id"))
            if problems:
                raise RecordInvalid(problems)
            if conn.scalar(select(AdminUnit.id).where(AdminUnit.code == code)) is not None:
                raise _code_taken(code)
            values = {"code": code, "name": name, "kind": "village", "parent_id": commune_id}
            village_id = int(conn.execute(insert(AdminUnit).returning(AdminUnit.id), values).scalar_one())
            details = {"code": code, "name": name, "commune_code": commune.code}
            log_action(conn, actor, rt.clock.now(), "unit.add_village", ("unit", village_id, village_id), details)
    except IntegrityError as error:  # the same code was added meanwhile
        raise _code_taken(code) from error
    return village_id


def rename_unit(rt: Runtime, actor: Actor, unit_id: int, name: str) -> None:
    """Rename a unit of the admin's (its code, which records and histories name, stays)."""
    require_admin(actor)
    refuse_nul({"name": name})
    name = name.strip()
    problems = _name_problems(name)
    if problems:
        raise RecordInvalid(problems)
    with rt.unit_of_work() as conn:
        unit = _unit_in_scope(conn, actor, unit_id)
        if unit.name == name:
            raise RecordInvalid([problem("unit.same_name", f"Đơn vị đã có tên '{name}'.", f"The unit is already named '{name}'.", "name")])
        conn.execute(update(AdminUnit).where(AdminUnit.id == unit_id).values(name=name))
        log_action(
            conn, actor, rt.clock.now(), "unit.rename", ("unit", unit_id, unit_id), {"code": unit.code, "from": unit.name, "to": name}
        )


def _unit_in_scope(conn: Connection, actor: Actor, unit_id: int) -> Any:
    unit = conn.execute(select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.kind).where(AdminUnit.id == unit_id)).first()
    if unit is None or unit_id not in units_in_scope(conn, actor):
        raise NotFound([problem("unit.unknown", f"Không có đơn vị số {unit_id}.", f"No unit {unit_id}.", "unit_id")])
    return unit


def _name_problems(name: str) -> list[Any]:
    if not name or len(name) > 200:
        return [problem("unit.name", "Hãy nhập tên đơn vị (tối đa 200 ký tự).", "Give the unit's name (at most 200 characters).", "name")]
    return []


def _code_taken(code: str) -> Conflict:
    return Conflict([problem("unit.code_taken", f"Mã đơn vị '{code}' đã có.", f"The unit code '{code}' is taken.", "code")])


# --- the clock policy -------------------------------------------------------------------------------------------------


def clock_policy(rt: Runtime, actor: Actor, today: date) -> list[dict[str, Any]]:
    """Describe every clock in force: what starts and stops it, its length, its ladder, and the days it would give if it started today."""
    require_admin(actor)
    return [_clock(rt, rule, today) for rule in rt.clocks.rules.values()]


def _clock(rt: Runtime, rule: ClockRule, today: date) -> dict[str, Any]:
    length = rule.length_for(rt.policy, None)  # a policy length (@name) resolved for the general rule; markets may differ
    due_day = length.after(today)
    return {
        "name": rule.name, "label_vi": rule.label_vi, "label_en": rule.label_en, "starts_on": list(rule.starts_on),
        "counts_from": rule.counts_from, "length": rule.length, "resolved_length": str(length), "department": rule.department,
        "while_in": list(rule.while_in), "until_done": rule.until_done,
        "ladder": [{"rung": rung.number, "at": str(rung.at), "action": rung.action, "to": rung.to} for rung in rule.ladder],
        "example": {"from": today, "due_on": due_day, "rungs_on": [rung.fires_at for rung in ladder_for(rule, due_day)]},
    }  # fmt: skip
