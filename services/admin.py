"""Admins manage users (create with a role, deactivate, reactivate, reset a password) in their units; every action is logged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services import auth
from services.models import AdminAction, AdminUnit, AuthToken, Department, User
from services.runtime import Runtime
from services.users import Actor
from workflows.errors import Conflict, Forbidden, NotFound, Problem, RecordInvalid, problem

ROLES = ("officer", "supervisor", "auditor", "admin")
# The kinds of unit each role may belong to: an officer works in one commune; the others in a commune or a province.
UNIT_KINDS = {
    "officer": ("commune",),
    "supervisor": ("commune", "province"),
    "auditor": ("commune", "province"),
    "admin": ("commune", "province"),
}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,79}$")

# Every unit at or below one (provinces, historical districts, communes, villages).
_UNITS_UNDER = text(
    """WITH RECURSIVE under(id) AS (
        SELECT id FROM admin_units WHERE id = :unit_id
        UNION ALL SELECT a.id FROM admin_units a JOIN under u ON a.parent_id = u.id
    ) SELECT id FROM under"""
)
# A unit and every unit above it (its district, province): the admins of these manage it.
_UNITS_ABOVE = text(
    """WITH RECURSIVE above(id, parent_id) AS (
        SELECT id, parent_id FROM admin_units WHERE id = :unit_id
        UNION ALL SELECT a.id, a.parent_id FROM admin_units a JOIN above ON a.id = above.parent_id
    ) SELECT id FROM above"""
)
_RELEASE_CLAIMS = text(
    "UPDATE work_items SET status = 'open', assignee_id = NULL, claimed_at = NULL WHERE assignee_id = :id AND status = 'claimed'"
)


@dataclass(frozen=True)
class NewUser:
    """What an admin types to create a user (the password is hashed at once and never logged)."""

    username: str
    full_name: str
    role: str
    unit_code: str
    password: str
    department: str | None = None
    email: str | None = None


def refuse_nul(fields: dict[str, str | None]) -> None:
    """Refuse text with a NUL character (PostgreSQL cannot store it), naming each field."""
    problems = [
        problem("field.nul", "Có ký tự NUL (\\0) không hợp lệ.", "The text contains a NUL character (\\0).", name)
        for name, value in fields.items()
        if value and "\x00" in value
    ]
    if problems:
        raise RecordInvalid(problems)


def require_admin(actor: Actor) -> None:
    """Refuse anyone but an admin."""
    if actor.role != "admin":
        vi = f"Chỉ quản trị viên mới được làm việc này ({actor.username} là {actor.role})."
        en = f"Only an admin may do this ({actor.username} is {actor.role})."
        raise Forbidden([problem("admin.only", vi, en, "actor")])


def units_in_scope(conn: Connection, actor: Actor) -> frozenset[int]:
    """Return every unit at or below the admin's own."""
    return frozenset(conn.execute(_UNITS_UNDER, {"unit_id": actor.unit_id}).scalars())


def log_action(conn: Connection, actor: Actor, now: datetime, action: str, target: tuple[str, int, int], details: dict[str, Any]) -> None:
    """Append one admin action to the log: who, when, what, on which (kind, id, unit), with what details."""
    kind, target_id, unit_id = target
    values = {"at": now, "actor_id": actor.user_id, "actor": actor.username, "action": action, "target_kind": kind,
              "target_id": target_id, "unit_id": unit_id, "details": details}  # fmt: skip
    conn.execute(insert(AdminAction), values)


# --- users ------------------------------------------------------------------------------------------------------------


def list_users(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    """List the users of the admin's units, with their role, department, unit and whether they are active."""
    require_admin(actor)
    with rt.unit_of_work(writes=False) as conn:
        scope = units_in_scope(conn, actor)
        rows = conn.execute(
            select(User.id, User.username, User.full_name, User.role, User.department_code.label("department"), User.email, User.active,
                   AdminUnit.code.label("unit_code"), AdminUnit.name.label("unit_name"))
            .join(AdminUnit, AdminUnit.id == User.unit_id).where(User.unit_id.in_(sorted(scope))).order_by(User.username)
        ).all()  # fmt: skip
    return [dict(row._mapping) for row in rows]


def create_user(rt: Runtime, actor: Actor, new: NewUser) -> int:
    """Create a user with a role in one of the admin's units; every wrong field is named, in both languages."""
    require_admin(actor)
    refuse_nul({"username": new.username, "full_name": new.full_name, "role": new.role, "unit_code": new.unit_code,
                "department": new.department, "email": new.email})  # fmt: skip
    now = rt.clock.now()
    try:
        with rt.unit_of_work() as conn:
            unit: Any = conn.execute(select(AdminUnit.id, AdminUnit.kind).where(AdminUnit.code == new.unit_code.strip())).first()
            scope = units_in_scope(conn, actor)
            if unit is not None and unit.id not in scope:
                vi, en = (
                    f"Đơn vị '{new.unit_code}' nằm ngoài phạm vi của {actor.username}.",
                    f"Unit '{new.unit_code}' is outside {actor.username}'s scope.",
                )
                raise Forbidden([problem("unit.out_of_scope", vi, en, "unit_code")])
            problems = _user_problems(conn, new, unit)
            if problems:
                raise RecordInvalid(problems)
            if conn.scalar(select(User.id).where(User.username == new.username.strip())) is not None:
                raise _taken(new.username.strip())
            values = {
                "username": new.username.strip(), "full_name": new.full_name.strip(), "role": new.role, "unit_id": unit.id,
                "department_code": new.department if new.role == "officer" else None, "email": (new.email or "").strip() or None,
                "active": True, "password_hash": auth.hash_password(new.password), "password_change_required": True,
            }  # fmt: skip
            user_id = int(conn.execute(insert(User).returning(User.id), values).scalar_one())
            details = {key: values[key] for key in ("username", "full_name", "role", "department_code", "email")}
            log_action(conn, actor, now, "user.create", ("user", user_id, unit.id), {**details, "unit_code": new.unit_code.strip()})
    except IntegrityError as error:  # a user of that name was created meanwhile
        raise _taken(new.username.strip()) from error
    return user_id


def _user_problems(conn: Connection, new: NewUser, unit: Any) -> list[Problem]:
    """Return one problem per wrong field of a new user."""
    found = []
    if not _USERNAME.match(new.username.strip()):
        vi = "Tên đăng nhập gồm 3–80 ký tự: chữ thường không dấu, số, '_', '.', '-'."
        found.append(problem("user.username", vi, "A user name has 3–80 characters: a–z, digits, '_', '.', '-'.", "username"))
    if not new.full_name.strip() or len(new.full_name.strip()) > 200:
        found.append(
            problem("user.full_name", "Hãy nhập họ tên (tối đa 200 ký tự).", "Give the full name (at most 200 characters).", "full_name")
        )
    if new.role not in ROLES:
        vi, en = f"Vai trò phải là một trong: {', '.join(ROLES)}.", f"The role must be one of: {', '.join(ROLES)}."
        return [*found, problem("user.role", vi, en, "role")]
    found += _department_problems(conn, new)
    if unit is None:
        vi, en = f"Không có đơn vị mã '{new.unit_code}'.", f"No unit with code '{new.unit_code}'."
        found.append(problem("user.unit", vi, en, "unit_code"))
    elif unit.kind not in UNIT_KINDS[new.role]:
        kinds = " / ".join(UNIT_KINDS[new.role])
        vi, en = f"Vai trò {new.role} phải thuộc một đơn vị cấp {kinds}.", f"A {new.role} belongs to a {kinds}."
        found.append(problem("user.unit_kind", vi, en, "unit_code"))
    email = (new.email or "").strip()
    if email and ("@" not in email or len(email) > 200 or any(c.isspace() for c in email)):
        found.append(problem("user.email", "Địa chỉ e-mail không hợp lệ.", "The e-mail address is not valid.", "email"))
    found += auth.password_problems(new.password, new.username.strip())
    return found


def _department_problems(conn: Connection, new: NewUser) -> list[Problem]:
    if new.role != "officer":
        if new.department:
            vi, en = "Chỉ cán bộ (officer) mới thuộc một bộ phận.", "Only an officer belongs to a department."
            return [problem("user.department", vi, en, "department")]
        return []
    if not new.department or conn.scalar(select(Department.code).where(Department.code == new.department)) is None:
        vi, en = "Cán bộ phải thuộc một bộ phận có trong danh mục.", "An officer needs one of the known departments."
        return [problem("user.department", vi, en, "department")]
    return []


def set_active(rt: Runtime, actor: Actor, user_id: int, active: bool) -> None:
    """Deactivate (their logins end, their claimed items go back to the inbox) or reactivate a user; never a unit's last admin."""
    require_admin(actor)
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        user = _user_in_scope(conn, actor, user_id)
        if user.active == active:
            vi = f"{user.username} đã {'đang hoạt động' if active else 'bị khóa'} rồi."
            en = f"{user.username} is already {'active' if active else 'inactive'}."
            raise Conflict([problem("user.already", vi, en, "active")])
        released = 0
        if not active:
            if user.role == "admin":
                _keep_an_admin(conn, user)
            conn.execute(update(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None)).values(revoked_at=now))
            released = conn.execute(_RELEASE_CLAIMS, {"id": user_id}).rowcount
        conn.execute(update(User).where(User.id == user_id).values(active=active))
        details = {"username": user.username} | ({} if active else {"released_items": released})
        log_action(conn, actor, now, "user.reactivate" if active else "user.deactivate", ("user", user_id, user.unit_id), details)


def _keep_an_admin(conn: Connection, user: Any) -> None:
    """Refuse to deactivate the last active admin who manages a unit (an admin of it or of a unit above it).

    Every active admin's row is locked, in one order, so two admins deactivating each other wait for one another
    (and the second then counts without the first) instead of each leaving the unit to the other.
    """
    admins = conn.execute(select(User.id, User.unit_id).where(User.role == "admin", User.active).order_by(User.id).with_for_update()).all()
    above = set(conn.scalars(_UNITS_ABOVE, {"unit_id": user.unit_id}))
    if not any(admin.id != user.id and admin.unit_id in above for admin in admins):
        vi = f"{user.username} là quản trị viên cuối cùng còn hoạt động của đơn vị mình; hãy tạo quản trị viên khác trước khi khóa."
        en = f"{user.username} is the last active admin of their unit; create another admin there (or above it) before deactivating this one."
        raise Conflict([problem("user.last_admin", vi, en, "active")])


def reset_password(rt: Runtime, actor: Actor, user_id: int, password: str) -> None:
    """Give a user a new password; their open sessions and tokens end (the password is never logged)."""
    require_admin(actor)
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        user = _user_in_scope(conn, actor, user_id)
        problems = auth.password_problems(password, user.username)
        if problems:
            raise RecordInvalid(problems)
        conn.execute(
            update(User).where(User.id == user_id).values(password_hash=auth.hash_password(password), password_change_required=True)
        )
        conn.execute(update(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None)).values(revoked_at=now))
        log_action(conn, actor, now, "user.password", ("user", user_id, user.unit_id), {"username": user.username})


def _user_in_scope(conn: Connection, actor: Actor, user_id: int) -> Any:
    """Return a user of the admin's units; one elsewhere does not exist for this admin."""
    user = conn.execute(select(User.id, User.username, User.role, User.unit_id, User.active).where(User.id == user_id)).first()
    if user is None or user.unit_id not in units_in_scope(conn, actor):
        raise NotFound([problem("user.unknown", f"Không có người dùng số {user_id}.", f"No user {user_id}.", "user_id")])
    return user


def _taken(username: str) -> Conflict:
    vi, en = f"Tên đăng nhập '{username}' đã có người dùng.", f"The user name '{username}' is taken."
    return Conflict([problem("user.taken", vi, en, "username")])


# --- the log ----------------------------------------------------------------------------------------------------------


def actions(rt: Runtime, actor: Actor, *, after_id: int = 0, limit: int = 100, newest_first: bool = False) -> list[dict[str, Any]]:
    """Return the admin actions on the admin's units, oldest first (a page at a time) or the latest ones newest first."""
    require_admin(actor)
    with rt.unit_of_work(writes=False) as conn:
        scope = units_in_scope(conn, actor)
        query = (
            select(AdminAction.id, AdminAction.at, AdminAction.actor, AdminAction.action, AdminAction.target_kind, AdminAction.target_id,
                   AdminAction.details)
            .where(AdminAction.unit_id.in_(sorted(scope)), AdminAction.id > after_id)
            .order_by(AdminAction.id.desc() if newest_first else AdminAction.id).limit(limit)
        )  # fmt: skip
        return [dict(row._mapping) for row in conn.execute(query)]


def departments(rt: Runtime) -> list[dict[str, Any]]:
    """Return the departments an officer may belong to (code and names)."""
    with rt.unit_of_work(writes=False) as conn:
        return [dict(row._mapping) for row in conn.execute(select(Department.code, Department.name_vi, Department.name_en))]
