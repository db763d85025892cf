"""Who acts: users looked up by name, as the actor a command records, with the communes they may work on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, TextClause, select, text

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
    password_change_required: bool = False  # an admin chose the password: the user must choose their own first

    def covers(self, commune_id: int) -> bool:
        """Tell whether the commune is in this user's scope."""
        return self.communes is None or commune_id in self.communes


SYSTEM = Actor(user_id=None, username="system", role="system", department=None, unit_id=None, communes=None)

# A user and, one row each, the communes at or below their unit (the hierarchy is data, admin_units.parent_id, of
# any depth), in one statement; `who` is the query that finds the user, so a login check can be the same statement.
_ACTOR = """WITH RECURSIVE who AS ({who}),
    under(id, kind) AS (
        SELECT a.id, a.kind FROM admin_units a JOIN who ON a.id = who.unit_id
        UNION ALL SELECT a.id, a.kind FROM admin_units a JOIN under u ON a.parent_id = u.id WHERE u.kind <> 'commune'
    )
    SELECT who.id, who.username, who.role, who.department_code, who.unit_id, who.password_change_required, under.id AS commune_id
    FROM who LEFT JOIN under ON under.kind = 'commune'"""
USER_COLUMNS = "u.id, u.username, u.role, u.department_code, u.unit_id, u.password_change_required"
_BY_NAME = text(_ACTOR.format(who=f"SELECT {USER_COLUMNS} FROM users u WHERE u.username = :username AND u.active"))


_COMMUNES_UNDER = text(
    _ACTOR.format(
        who="SELECT NULL AS id, NULL AS username, NULL AS role, NULL AS department_code, :unit_id AS unit_id, 0 AS password_change_required"
    )
)


def communes_under(conn: Connection, unit_id: int) -> frozenset[int]:
    """Return the communes at or below a unit (the same walk of the hierarchy as an actor's scope)."""
    return frozenset(row.commune_id for row in conn.execute(_COMMUNES_UNDER, {"unit_id": unit_id}) if row.commune_id is not None)


def actor_query(who: str) -> TextClause:
    """Return the statement that reads an actor: `who` selects the user (with USER_COLUMNS), the rest adds the communes."""
    return text(_ACTOR.format(who=who))


def actor_of(rows: Sequence[Row[Any]]) -> Actor | None:
    """Return the actor the rows of an actor query describe, or None if the query found no user."""
    if not rows:
        return None
    row = rows[0]
    communes = frozenset(r.commune_id for r in rows if r.commune_id is not None)
    return Actor(row.id, row.username, row.role, row.department_code, row.unit_id, communes, bool(row.password_change_required))


def load_actor(conn: Connection, username: str) -> Actor:
    """Return the active user of a name as an actor."""
    actor = actor_of(conn.execute(_BY_NAME, {"username": username}).all())
    if actor is None:
        raise NotFound(
            [problem("user.unknown", f"Không có người dùng '{username}' đang hoạt động.", f"No active user '{username}'.", "user")]
        )
    return actor


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
