"""The admin's pages: users, administrative units, the clock policy in force, and the admin log (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services import admin, admin_units
from services.api.deps import Rt
from services.users import Actor
from services.web.pages import Number, User, render
from workflows.errors import DomainError

admin_pages = APIRouter(prefix="/admin", include_in_schema=False)
_USER_FIELDS = ("username", "full_name", "role", "unit_code", "department", "email")  # the password is never shown again


@admin_pages.get("")
def admin_home(me: User) -> Response:
    """Send an admin to the users."""
    admin.require_admin(me)
    return RedirectResponse("/admin/users", status_code=303)


def _users_page(request: Request, rt: Any, me: Actor, status_code: int = 200, **extra: Any) -> HTMLResponse:
    tree = admin_units.unit_tree(rt, me)
    units = [unit for unit in _flatten(tree) if unit["kind"] in ("commune", "province")]
    return render(
        request, "admin_users.html", me, status_code=status_code, users=admin.list_users(rt, me), units=units,
        departments=admin.departments(rt), roles=admin.ROLES, done=request.query_params.get("done"), **extra,
    )  # fmt: skip


def _flatten(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [node for root in tree for node in [root, *_flatten(root["children"])]]


@admin_pages.get("/users")
def users_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    return _users_page(request, rt, me)


@admin_pages.post("/users")
async def create_user(request: Request, rt: Rt, me: User) -> Response:
    """Create a user from the form; a refusal shows the form again with what was typed (but the password) and each problem."""
    form = await request.form()
    typed = {name: str(form.get(name) or "").strip() for name in _USER_FIELDS}
    new = admin.NewUser(
        username=typed["username"], full_name=typed["full_name"], role=typed["role"], unit_code=typed["unit_code"],
        password=str(form.get("password") or ""), department=typed["department"] or None, email=typed["email"] or None,
    )  # fmt: skip
    try:
        admin.create_user(rt, me, new)
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _users_page(request, rt, me, error.http_status, problems=error.problems, entered=typed)
    return RedirectResponse(f"/admin/users?done={typed['username']}", status_code=303)


@admin_pages.post("/users/{user_id}/{verb}")
async def user_action(request: Request, rt: Rt, me: User, user_id: Number, verb: str) -> Response:
    """Deactivate, reactivate or set a new password; a refusal shows the list again with the problem."""
    form = await request.form()
    try:
        if verb in ("deactivate", "reactivate"):
            admin.set_active(rt, me, user_id, verb == "reactivate")
        elif verb == "password":
            admin.reset_password(rt, me, user_id, str(form.get("password") or ""))
        else:
            raise HTTPException(status_code=404)
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _users_page(request, rt, me, error.http_status, problems=error.problems, failed_user=user_id)
    return RedirectResponse(f"/admin/users?done={verb}", status_code=303)


# --- units ------------------------------------------------------------------------------------------------------------


def _units_page(request: Request, rt: Any, me: Actor, status_code: int = 200, **extra: Any) -> HTMLResponse:
    tree = admin_units.unit_tree(rt, me)
    return render(request, "admin_units.html", me, status_code=status_code, tree=tree, done=request.query_params.get("done"), **extra)


@admin_pages.get("/units")
def units_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    return _units_page(request, rt, me)


@admin_pages.post("/units/{unit_id}/{verb}")
async def unit_action(request: Request, rt: Rt, me: User, unit_id: Number, verb: str) -> Response:
    """Add a village to a commune, or rename a unit; a refusal shows the tree again with what was typed and the problem."""
    form = await request.form()
    typed = {name: str(form.get(name) or "") for name in ("code", "name")}
    try:
        if verb == "villages":
            admin_units.add_village(rt, me, unit_id, typed["code"], typed["name"])
        elif verb == "name":
            admin_units.rename_unit(rt, me, unit_id, typed["name"])
        else:
            raise HTTPException(status_code=404)
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _units_page(request, rt, me, error.http_status, problems=error.problems, failed=(unit_id, verb), entered=typed)
    return RedirectResponse(f"/admin/units?done={verb}", status_code=303)


# --- clock policy, log ------------------------------------------------------------------------------------------------


@admin_pages.get("/clocks")
def clocks_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    return render(request, "admin_clocks.html", me, clocks=admin_units.clock_policy(rt, me, rt.today()))


@admin_pages.get("/log")
def log_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    # The newest first on screen: an admin looks for what just happened.
    return render(request, "admin_log.html", me, actions=admin.actions(rt, me, limit=200, newest_first=True))
