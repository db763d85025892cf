"""The admin API: users, administrative units, the clock policy in force, and the log of admin actions (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from services import admin, admin_units
from services.api import admin_schemas as shapes
from services.api.deps import Me, Rt
from services.api.routes import REFUSALS

admin_api = APIRouter(prefix="/api/admin", responses=REFUSALS, tags=["admin"])

UserId = Annotated[int, Path(ge=1, le=2**62, description="The user's id.")]
UnitId = Annotated[int, Path(ge=1, le=2**62, description="The unit's id.")]


@admin_api.get("/users", response_model=list[shapes.UserOut])
def list_users(rt: Rt, me: Me) -> list[dict[str, Any]]:
    """List the users of your units."""
    return admin.list_users(rt, me)


@admin_api.post("/users", response_model=shapes.CreatedOut, status_code=status.HTTP_201_CREATED)
def create_user(rt: Rt, me: Me, body: shapes.NewUserIn) -> shapes.CreatedOut:
    """Create a user with a role (an officer needs a department and a commune)."""
    return shapes.CreatedOut(id=admin.create_user(rt, me, admin.NewUser(**body.model_dump())))


@admin_api.post("/users/{user_id}/deactivate", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_user(rt: Rt, me: Me, user_id: UserId) -> Response:
    """Deactivate a user: their sessions and tokens end, their claimed items go back to the inbox (never the last admin)."""
    admin.set_active(rt, me, user_id, False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_api.post("/users/{user_id}/reactivate", status_code=status.HTTP_204_NO_CONTENT)
def reactivate_user(rt: Rt, me: Me, user_id: UserId) -> Response:
    """Let a deactivated user log in again."""
    admin.set_active(rt, me, user_id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_api.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
def reset_password(rt: Rt, me: Me, user_id: UserId, body: shapes.PasswordIn) -> Response:
    """Set a new password for a user; their sessions and tokens end."""
    admin.reset_password(rt, me, user_id, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_api.get("/units", response_model=list[shapes.UnitOut])
def unit_tree(rt: Rt, me: Me) -> list[dict[str, Any]]:
    """Return your unit and every unit under it, as a tree."""
    return admin_units.unit_tree(rt, me)


@admin_api.post("/units/{unit_id}/villages", response_model=shapes.CreatedOut, status_code=status.HTTP_201_CREATED)
def add_village(rt: Rt, me: Me, unit_id: UnitId, body: shapes.VillageIn) -> shapes.CreatedOut:
    """Add a village to a commune."""
    return shapes.CreatedOut(id=admin_units.add_village(rt, me, unit_id, body.code, body.name))


@admin_api.patch("/units/{unit_id}", status_code=status.HTTP_204_NO_CONTENT)
def rename_unit(rt: Rt, me: Me, unit_id: UnitId, body: shapes.RenameIn) -> Response:
    """Rename a unit (its code stays)."""
    admin_units.rename_unit(rt, me, unit_id, body.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_api.get("/clocks", response_model=list[shapes.ClockOut])
def clock_policy(rt: Rt, me: Me) -> list[dict[str, Any]]:
    """Return the clocks in force (config/clocks.toml) with their ladders and the days they would give if started today."""
    return admin_units.clock_policy(rt, me, rt.today())


@admin_api.get("/log", response_model=list[shapes.ActionOut])
def admin_log(
    rt: Rt, me: Me, after: Annotated[int, Query(ge=0, le=2**62)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 100
) -> list[dict[str, Any]]:
    """Return the admin actions on your units (who, when, what), oldest first; pass the last id as `after`."""
    return admin.actions(rt, me, after_id=after, limit=limit)
