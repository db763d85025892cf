"""Who acts: users looked up by name, as the actor a command records."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from services.models import User
from workflows.errors import NotFound, problem


@dataclass(frozen=True)
class Actor:
    """The user a command acts for, with the role and department it acts in."""

    user_id: int | None
    username: str
    role: str
    department: str | None
    unit_id: int | None


SYSTEM = Actor(user_id=None, username="system", role="system", department=None, unit_id=None)


def load_actor(conn: Connection, username: str) -> Actor:
    """Return the active user of a name as an actor."""
    row = conn.execute(
        select(User.id, User.username, User.role, User.department_code, User.unit_id).where(User.username == username, User.active)
    ).first()
    if row is None:
        raise NotFound(
            [problem("user.unknown", f"Không có người dùng '{username}' đang hoạt động.", f"No active user '{username}'.", "user")]
        )
    return Actor(row.id, row.username, row.role, row.department_code, row.unit_id)


def officer_for(conn: Connection, departments: tuple[str, ...], unit_id: int | None = None) -> Actor:
    """Return the first active officer of the first department that has one (in a unit if given)."""
    query = select(User.department_code, User.username).where(User.active, User.role == "officer", User.department_code.in_(departments))
    if unit_id is not None:
        query = query.where(User.unit_id == unit_id)
    found = dict(reversed(conn.execute(query.order_by(User.id)).all()))
    username = next((found[dept] for dept in departments if dept in found), None)
    if username is None:
        names = ", ".join(departments)
        raise NotFound([problem("user.none", f"Không có cán bộ nào của bộ phận: {names}.", f"No officer of: {names}.", "user")])
    return load_actor(conn, username)
