"""Who may do what on which case: roles, the communes in a user's scope, separation of duties, and the personal-data read log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, text

from services.models import PersonalDataRead
from services.users import Actor
from workflows.access import AccessPolicy
from workflows.errors import Forbidden, NotFound, problem

# Roles that read cases (histories included); admins manage users and units, not cases.
CASE_READERS = ("officer", "supervisor", "auditor", "system")
# Roles that change cases or work items (each step further limited to its departments).
CASE_WRITERS = ("officer", "supervisor", "system")


def require_role(actor: Actor, roles: tuple[str, ...], action_vi: str, action_en: str) -> None:
    """Refuse a user whose role may not do this."""
    if actor.role not in roles:
        raise Forbidden(
            [
                problem(
                    "role.forbidden",
                    f"Vai trò '{actor.role}' của {actor.username} không được {action_vi}.",
                    f"{actor.username}'s role '{actor.role}' may not {action_en}.",
                    "actor",
                )
            ]
        )


def require_commune(actor: Actor, commune_id: int, case_id: int | None = None) -> None:
    """Refuse a case (or a commune) outside the user's scope; say it as "no such case" so nothing leaks."""
    if actor.covers(commune_id):
        return
    if case_id is not None:
        raise NotFound([problem("case.unknown", f"Không có hồ sơ số {case_id}.", f"No case {case_id}.", "case_id")])
    raise Forbidden(
        [
            problem(
                "unit.out_of_scope",
                f"Xã này nằm ngoài phạm vi của {actor.username}.",
                f"This commune is outside {actor.username}'s scope.",
                "unit",
            )
        ]
    )


_RECORDED_BY = text(
    "SELECT 1 FROM events WHERE case_id = :case_id AND application_no = :application_no AND record_kind = :kind AND actor_id = :actor_id LIMIT 1"
)


def check_separation(conn: Connection, policy: AccessPolicy, actor: Actor, case_id: int, application_no: int, kind: str) -> None:
    """Refuse a record that the separation-of-duties rules forbid this user to write on this application."""
    if actor.user_id is None:
        return
    for rule in policy.separations_for(kind):
        params = {"case_id": case_id, "application_no": application_no, "kind": rule.first, "actor_id": actor.user_id}
        if conn.execute(_RECORDED_BY, params).first() is not None:
            raise Forbidden([problem(f"separation.{rule.code}", rule.vi, rule.en, "actor")])


def unmasked_categories(policy: AccessPolicy, actor: Actor) -> list[str]:
    """Return the sensitive categories this user sees in clear."""
    if actor.role == "system":
        return [category.name for category in policy.sensitive]
    return [category.name for category in policy.sensitive if category.visible_to(actor.role, actor.department)]


def hidden_fields(policy: AccessPolicy, actor: Actor) -> dict[str, set[str]]:
    """Return, per record kind, the fields this user sees masked (none for the system)."""
    return {} if actor.role == "system" else policy.hidden(actor.role, actor.department)


def log_read(conn: Connection, policy: AccessPolicy, actor: Actor, case_id: int, view: str, now: datetime) -> None:
    """Record that a user read a case's personal data, and which categories they saw in clear."""
    values = {
        "case_id": case_id, "user_id": actor.user_id, "username": actor.username, "at": now, "view": view,
        "unmasked": ",".join(unmasked_categories(policy, actor)),
    }  # fmt: skip
    conn.execute(insert(PersonalDataRead), values)
