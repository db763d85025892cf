"""Who acts: users looked up by name, as the actor a command records, with the communes they may work on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, text

from services.models import User
from workflows.errors import NotFound, problem


@dataclass(frozen=True)
class Actor:
    """The user a command acts for, with the role and department it acts in.

    `communes` is the scope: the communes at or below the user's unit (a commune, or a province and
    everything under it, historical districts included); None means every commune (the system).
    """

    user_id: int | None
    username: str
    role: str
    department: str | None
    unit_id: int | None
    communes: frozenset[int] | None = frozenset()

    def covers(self, commune_id: int) -> bool:
        """Tell whether the commune is in this user's scope."""
        return self.communes is None or commune_id in self.communes


SYSTEM = Actor(user_id=None, username="system", role="system", department=None, unit_id=None, communes=None)

# The communes at or below a unit: the hierarchy is data (admin_units.parent_id), of any depth.
_COMMUNES_UNDER = text(
    """WITH RECURSIVE under(id, kind) AS (
        SELECT id, kind FROM admin_units WHERE id = :unit_id
        UNION ALL SELECT a.id, a.kind FROM admin_units a JOIN under u ON a.parent_id = u.id WHERE u.kind <> 'commune'
    ) SELECT id FROM under WHERE kind = 'commune'"""
)


def communes_under(conn: Connection, unit_id: int) -> frozenset[int]:
    """Return the communes at or below a unit."""
    return frozenset(conn.execute(_COMMUNES_UNDER, {"unit_id": unit_id}).scalars())


def load_actor(conn: Connection, username: str) -> Actor:
    """Return the active user of a name as an actor."""
    row = conn.execute(
        select(User.id, User.username, User.role, User.department_code, User.unit_id).where(User.username == username, User.active)
    ).first()
    if row is None:
        raise NotFound(
            [problem("user.unknown", f"Không có người dùng '{username}' đang hoạt động.", f"No active user '{username}'.", "user")]
        )
    return Actor(row.id, row.username, row.role, row.department_code, row.unit_id, communes_under(conn, row.unit_id))


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
