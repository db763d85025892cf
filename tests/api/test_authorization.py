"""The authorization matrix: every API route × every role × a case in the user's own scope and one outside it.

"Let through" means the request passed role and scope checks: the answer is neither 401, 403 nor 404 (it may
still be refused for a domain reason, such as a failed guard, 409 or 422). Outside their scope a user is told
the case does not exist (404) or that the item is not theirs (403).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from services import demo
from services.models import AdminUnit, User
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE, OTHER_VILLAGE, register_in
from tests.import_files import csv_file, row_of

DENIED = (401, 403, 404)
DEPARTMENTS = [dept for dept, _ in demo.USERS]  # one officer of each of the 11 departments, named after it
ROLES = ["anonymous", *DEPARTMENTS, "supervisor", "province_supervisor", "auditor", "admin"]
SUPERVISORS = {"supervisor", "province_supervisor"}
READERS = {*DEPARTMENTS, *SUPERVISORS, "auditor"}
ADMINS = {"admin"}
REFERRAL_READERS = {"social_policy", "police", "auditor"} | SUPERVISORS
PLAN_READERS = {"social_policy", "auditor", "admin"} | SUPERVISORS


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {case}, {item}, {deadline}, {referral}, {user}, {unit}, {commune}: the case, work item, clock, referral, user, commune id and code
    allowed: frozenset[str]  # the roles let through on a case of their own scope
    body: Callable[[Any], Any] | None = None
    upload: Callable[[Any], bytes] | None = None  # a file sent as multipart `file` instead of a JSON body


def _routes() -> list[Route]:
    r = lambda method, path, allowed, body=None, upload=None: Route(method, path, frozenset(allowed), body, upload)  # noqa: E731
    return [
        r("GET", "/api/me", READERS | {"admin"}),
        # a new password too short: 422, past the checks, before the current one is checked (no failed login counted)
        r("POST", "/api/me/password", READERS | {"admin"}, lambda s: {"current_password": "not-it", "new_password": "short"}),
        r("GET", "/api/cases", READERS),
        r("POST", "/api/cases", {"social_policy"} | SUPERVISORS, lambda s: f.registration(s.today, 900, commune_code=s.commune, village_code=s.village)),
        r("GET", "/api/cases/{case}", READERS),
        r("POST", "/api/cases/{case}/transitions/counsel", {"social_policy", "enterprise"} | SUPERVISORS,
          lambda s: {"version": 1, "record": f.counselling(s.today, enterprise_licence=f.EXPIRED_LICENCE)}),
        r("PUT", "/api/cases/{case}/records/counselling", {"social_policy", "enterprise"} | SUPERVISORS,
          lambda s: {"version": 1, "record": f.counselling(s.today, enterprise_licence=f.EXPIRED_LICENCE)}),
        r("POST", "/api/cases/{case}/withdraw", {"social_policy", "enterprise"} | SUPERVISORS, lambda s: {"version": 99, "reason": "x"}),
        r("POST", "/api/cases/{case}/reopen", {"social_policy"} | SUPERVISORS, lambda s: {"version": 99, "reason": "x"}),
        r("GET", "/api/cases/{case}/history", READERS),
        r("GET", "/api/cases/{case}/verify", {"auditor"} | SUPERVISORS),
        r("GET", "/api/cases/{case}/deadlines", READERS),
        r("GET", "/api/inbox/social_policy", {"social_policy"} | SUPERVISORS),
        r("GET", "/api/work/counts", READERS),
        r("POST", "/api/work/{item}/claim", {"social_policy"} | SUPERVISORS),
        r("POST", "/api/work/{item}/release", {"social_policy"} | SUPERVISORS),
        r("POST", "/api/work/{item}/complete", {"social_policy"} | SUPERVISORS),  # a state's item: 409, past the checks
        r("POST", "/api/work/{item}/reassign", SUPERVISORS, lambda s: {"to": s.officer, "reason": "Nghỉ phép"}),
        r("POST", "/api/work/reassign", SUPERVISORS, lambda s: {"items": [s.item], "to": s.officer, "reason": "Nghỉ phép"}),
        r("GET", "/api/audit/personal-data-reads", {"auditor"} | SUPERVISORS),
        r("POST", "/api/cases/{case}/deadlines/{deadline}/extend", SUPERVISORS, lambda s: {"version": 99, "days": 3, "reason": "x"}),
        r("GET", "/api/admin/users", ADMINS),
        r("POST", "/api/admin/users", ADMINS, lambda s: {"username": f"new_{s.user}", "full_name": "Người Mới", "role": "officer",
          "department": "finance", "unit_code": s.commune, "password": "mat-khau-moi-2026"}),
        r("POST", "/api/admin/users/{user}/deactivate", ADMINS),
        r("POST", "/api/admin/users/{user}/reactivate", ADMINS),
        r("POST", "/api/admin/users/{user}/password", ADMINS, lambda s: {"password": "mat-khau-moi-2026"}),
        r("GET", "/api/admin/units", ADMINS),
        r("POST", "/api/admin/units/{unit}/villages", ADMINS, lambda s: {"code": f"{s.village}-NEW", "name": "Thôn Mới"}),
        r("PATCH", "/api/admin/units/{unit}", ADMINS, lambda s: {"name": "Tên mới"}),
        r("GET", "/api/admin/clocks", ADMINS),
        r("GET", "/api/admin/log", ADMINS),
        r("POST", "/api/imports/registrations", {"social_policy"} | SUPERVISORS, upload=lambda s: csv_file([row_of(
          f.registration(s.today, 902, commune_code=s.commune, village_code=s.village))])),
        r("GET", "/api/imports/registrations/template.xlsx", {"social_policy"} | SUPERVISORS),
        # military refers too (its body names police: 422, past the role check); it reads its own department's referrals only
        r("POST", "/api/referrals", {"police", "military"} | SUPERVISORS, lambda s: _referral_form(s.commune, s.village)),
        r("GET", "/api/referrals", REFERRAL_READERS | {"military"}),
        r("GET", "/api/referrals/{referral}", REFERRAL_READERS),
        r("POST", "/api/referrals/{referral}/convert", {"social_policy"} | SUPERVISORS, lambda s: {"sex": "male"}),  # 422: no ID
        r("POST", "/api/referrals/{referral}/decline", {"social_policy"} | SUPERVISORS, lambda s: {"reason": "Không muốn đi"}),
        r("GET", "/api/plans/{commune}/2026", PLAN_READERS),
        r("PUT", "/api/plans/{commune}/2026", ADMINS, lambda s: {"departures_more_than": 6, "language_orientation_percent": 100,
          "vocational_percent": 63, "in_depth_percent": 15}),
        r("POST", "/api/cases/{case}/support-payments", {"finance"},
          lambda s: {"item": "passport", "amount_vnd": 200_000, "paid_on": s.today.isoformat(), "invoice_number": "HD-1"}),
        r("GET", "/api/indicators/{commune}?start=2026-01-01&end=2026-12-31", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/api/reports/units/{commune}", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/api/reports/{report}", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/api/reports/{report}/export?format=xlsx", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/api/reports/{report}/export?format=pdf", SUPERVISORS | {"auditor", "social_policy"}),
        # the commune submits (the first one through submits it, the next get 409); the province returns it
        r("POST", "/api/reports/{report}/submit", {"social_policy", "supervisor"}, lambda s: {"version": 1}),
        r("POST", "/api/reports/{report}/return", {"province_supervisor"}, lambda s: {"version": 1, "reason": "Thiếu số liệu"}),
        r("GET", "/api/indicators/{commune}/export?start=2026-01-01&end=2026-12-31&format=xlsx", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/api/indicators/{commune}/export?start=2026-01-01&end=2026-12-31&format=pdf", SUPERVISORS | {"auditor", "social_policy"}),
    ]  # fmt: skip


def _referral_form(commune: str, village: str) -> dict[str, Any]:
    return {"full_name": "Trịnh Văn Hải", "date_of_birth": "2001-03-14", "phone": "0987654321", "service_ended_on": "2026-05-01",
            "village": village, "commune": commune, "department": "police"}  # fmt: skip


@dataclass(frozen=True)
class Scope:
    case: int
    item: int
    deadline: int
    referral: int
    commune: str
    village: str
    officer: str
    today: Any
    user: int  # an officer of the scope that nobody logs in as, for the admin routes to deactivate and reset
    unit: int  # the scope's commune
    report: int  # the commune's 6-month report, drafted


def _scope(rt, actor, referrer, commune, village, officer, serial) -> Scope:
    case_id = register_in(rt, actor, serial, commune, village)
    from services import deadlines, referrals, reports, work_queries

    [item] = [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now()) if i["case_id"] == case_id]
    [deadline] = deadlines.case_deadlines(rt, case_id)
    referral = referrals.refer(rt, referrer, {**_referral_form(commune, village), "department": "police"})
    with rt.unit_of_work() as conn:
        unit = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == commune))
        values = {"username": f"target_{serial}", "full_name": "Target", "role": "officer", "department_code": "finance", "unit_id": unit}
        user = conn.execute(insert(User).returning(User.id), {**values, "active": True}).scalar_one()
        report = reports.draft(conn, rt.reports.kinds["half_year"], rt.today().year, unit, rt.clock.now())
    return Scope(case_id, item["id"], deadline["id"], referral["id"], commune, village, officer, rt.today(), user, unit, report)


def _call(client, route: Route, scope: Scope, headers: dict[str, str]) -> Any:
    """Send the route's request for the scope; a bulk route's answer is reduced to its first item's status."""
    path = route.path.format(
        case=scope.case,
        item=scope.item,
        deadline=scope.deadline,
        referral=scope.referral,
        user=scope.user,
        unit=scope.unit,
        commune=scope.commune,
        report=scope.report,
    )
    if route.upload is not None:
        return client.request(route.method, path, files={"file": ("rows.csv", route.upload(scope))}, headers=headers)
    body = route.body(scope) if route.body else None
    return client.request(route.method, path, json=body, headers=headers)


def _status(route: Route, answer: Any) -> int:
    if route.path in PER_ITEM and answer.status_code == 200:
        return int(answer.json()[0]["http_status"])  # a bulk route answers for each item
    return int(answer.status_code)


# The bulk endpoints whose answer carries a status per item.
PER_ITEM = {"/api/work/reassign"}
# The endpoints that list (cases, counts, the read log, /me, referrals, admin screens) are never out of scope: they show the
# scope's rows only; nor is the import template, which holds no data.
LISTS = {"/api/me", "/api/me/password", "/api/cases", "/api/work/counts", "/api/audit/personal-data-reads", "/api/inbox/social_policy", "/api/referrals",
         "/api/imports/registrations/template.xlsx", "/api/admin/users", "/api/admin/units", "/api/admin/clocks", "/api/admin/log"}  # fmt: skip
# The PDF exports check who reads before they draw (0.4 s a PDF): their refusals are asked here, and the roles they let
# through are those of the XLSX rows, the same route with the same checks (tests/reports draws the PDFs).
REFUSALS_ONLY = {path for path in (route.path for route in _routes()) if path.endswith("format=pdf")}
# An import is scoped row by row: a row of another commune is refused in the report, and nothing of it is written.
ROW_SCOPED = {"/api/imports/registrations"}


def _refused_by_scope(route: Route, answer: Any) -> bool:
    """Tell whether an answer refused the request, or (an import) every row for being outside the user's communes."""
    if _status(route, answer) in DENIED:
        return True
    rows = answer.json().get("rows") if route.path in ROW_SCOPED and answer.status_code == 200 else None
    return bool(rows) and all(row["status"] == "refused" and row["problems"][0]["code"] == "unit.commune" for row in rows)


def test_every_route_checks_role_and_scope(client, token, rt, actors, other_commune):
    own = _scope(rt, actors["social_policy"], actors["police"], f.COMMUNE, f.VILLAGE, "social_policy", 800)
    other = _scope(
        rt, other_commune["b_social_policy"], other_commune["b_supervisor"], OTHER_COMMUNE, OTHER_VILLAGE, "b_social_policy", 801
    )
    wrong: list[str] = []
    for route in _routes():
        for role in ROLES:
            headers = {} if role == "anonymous" else token(role)
            expected_through = role in route.allowed
            got = None if expected_through and route.path in REFUSALS_ONLY else _status(route, _call(client, route, own, headers))
            if got is not None and (got not in DENIED) != expected_through:
                wrong.append(f"own   {route.method} {route.path} as {role}: {got}, expected {'through' if expected_through else 'denied'}")
            if route.path in LISTS:
                continue
            answer = _call(client, route, other, headers)
            if not _refused_by_scope(route, answer):
                wrong.append(f"other {route.method} {route.path} as {role}: {answer.status_code}, expected denied")
    assert not wrong, "\n".join(wrong)


def test_lists_show_only_the_users_scope(client, token, rt, actors, other_commune):
    mine = register_in(rt, actors["social_policy"], 810)
    theirs = register_in(rt, other_commune["b_social_policy"], 811, OTHER_COMMUNE, OTHER_VILLAGE)
    ids = lambda user: [row["id"] for row in client.get("/api/cases", headers=token(user)).json()["items"]]  # noqa: E731
    assert ids("social_policy") == [mine] and ids("province_supervisor") == [mine]
    assert ids("b_social_policy") == [theirs] and ids("b_supervisor") == [theirs]
    inbox = client.get("/api/inbox/social_policy", headers=token("province_supervisor")).json()
    assert [i["case_id"] for i in inbox] == [mine]


@pytest.mark.parametrize(
    "path",
    ["/inbox", "/search", "/cases/1", "/dashboard", "/dashboard/charts", "/audit", "/admin/users", "/admin/units", "/admin/clocks",
     "/admin/log", "/imports", "/referrals", "/referrals/1", "/plans", "/cases/1/support",
     "/reports/print?unit=TH-CAMTAN&start=2026-01-01&end=2026-12-31", "/reports/1/print"],
)  # fmt: skip
def test_pages_send_a_stranger_to_the_login(client, path):
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_nothing_outside_the_scope_is_named_or_moved(client, token, rt, actors, other_commune):
    theirs = register_in(rt, other_commune["b_social_policy"], 820, OTHER_COMMUNE, OTHER_VILLAGE)
    mine = register_in(rt, actors["social_policy"], 821)
    # A correction may not move my case into a commune outside my scope.
    moved = f.registration(rt.today(), 821, commune_code=OTHER_COMMUNE, village_code=OTHER_VILLAGE)
    answer = client.put(
        f"/api/cases/{mine}/records/registration", json={"version": 1, "record": moved, "reason": "x"}, headers=token("social_policy")
    )
    assert answer.status_code == 403
    assert client.get(f"/api/cases/{mine}", headers=token("social_policy")).json()["village"] == "Thôn Tân Lập"
    # Registering a person who has a case elsewhere is refused without naming that case.
    again = client.post("/api/cases", json=f.registration(rt.today(), 820), headers=token("social_policy"))
    assert again.status_code == 409 and f"case {theirs}" not in again.json()["problems"][0]["en"]
    # Another commune's work item does not exist for me.
    from services import work_queries

    [item] = [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now()) if i["case_id"] == theirs]
    for verb in ("claim", "release", "complete"):
        refused = client.post(f"/api/work/{item['id']}/{verb}", headers=token("social_policy"))
        assert refused.status_code == 404 and refused.json()["problems"][0]["code"] == "work.unknown"


def test_a_masked_personal_id_cannot_be_confirmed_by_search(client, token, rt, actors):
    register_in(rt, actors["social_policy"], 830)
    wanted = f.registration(rt.today(), 830)["personal_id"]
    assert client.get("/api/cases", params={"q": wanted}, headers=token("office")).status_code == 403
    assert len(client.get("/api/cases", params={"q": wanted}, headers=token("police")).json()["items"]) == 1


# --- the pages: the same matrix through a browser session (cookie, same-origin form posts) ---------------------------

PAGE_READERS = READERS
PAGE_WRITERS = {*DEPARTMENTS, *SUPERVISORS}


def _page_routes() -> list[Route]:
    r = lambda method, path, allowed, body=None, upload=None: Route(method, path, frozenset(allowed), body, upload)  # noqa: E731
    return [
        r("GET", "/inbox", PAGE_WRITERS),
        r("GET", "/account/password", set(ROLES) - {"anonymous"}),
        r("POST", "/account/password", set(ROLES) - {"anonymous"}, lambda s: {"current_password": "not-it", "new_password": "short"}),
        r("GET", "/search", PAGE_READERS),
        r("GET", "/cases/{case}", PAGE_READERS),
        r("POST", "/work/{item}/claim", {"social_policy"} | SUPERVISORS),
        r("POST", "/cases/{case}/steps/counsel", {"social_policy", "enterprise"} | SUPERVISORS, lambda s: {"version": "1"}),
        r("POST", "/cases/{case}/deadlines/{deadline}/extend", SUPERVISORS, lambda s: {"version": "1", "days": "5", "reason": "Chờ giấy tờ"}),
        r("GET", "/dashboard", SUPERVISORS),
        r("GET", "/dashboard/charts", SUPERVISORS),
        r("POST", "/dashboard/reassign", SUPERVISORS, lambda s: {"item": str(s.item), "to": s.officer, "reason": "Nghỉ phép"}),
        r("GET", "/audit?case={case}", {"auditor"} | SUPERVISORS),
        r("GET", "/audit/{case}.csv", {"auditor"} | SUPERVISORS),
        r("GET", "/imports", {"social_policy"} | SUPERVISORS),
        r("GET", "/imports/template.csv", {"social_policy"} | SUPERVISORS),
        r("POST", "/imports", {"social_policy"} | SUPERVISORS, None, lambda s: csv_file([row_of(
          f.registration(s.today, 903, commune_code=s.commune, village_code=s.village))])),
        r("GET", "/referrals", REFERRAL_READERS | {"military"}),
        r("POST", "/referrals", {"police", "military"} | SUPERVISORS, lambda s: {**_referral_form(s.commune, s.village), "department": ""}),
        r("GET", "/referrals/panel", set(ROLES) - {"anonymous"}),  # empty for whoever does not convert referrals
        r("GET", "/referrals/{referral}", REFERRAL_READERS),
        r("POST", "/referrals/{referral}/decline", {"social_policy"} | SUPERVISORS, lambda s: {"reason": "Không muốn đi"}),
        r("POST", "/referrals/{referral}/convert", {"social_policy"} | SUPERVISORS, lambda s: {"sex": "male"}),
        r("GET", "/admin", ADMINS),
        r("POST", "/admin/users", ADMINS, lambda s: {"username": f"page_{s.user}", "full_name": "Người Mới", "role": "officer",
          "department": "finance", "unit_code": s.commune, "password": "mat-khau-moi-2026"}),
        r("POST", "/admin/users/{user}/password", ADMINS, lambda s: {"password": "mat-khau-moi-2026"}),
        r("POST", "/admin/units/{unit}/name", ADMINS, lambda s: {"name": "Tên mới"}),
        r("GET", "/admin/users", ADMINS),
        r("GET", "/admin/units", ADMINS),
        r("GET", "/admin/clocks", ADMINS),
        r("GET", "/admin/log", ADMINS),
        r("GET", "/plans?unit={commune}&year=2026", PLAN_READERS),
        r("POST", "/plans/{commune}/2026", ADMINS, lambda s: {"departures_more_than": "6", "language_orientation_percent": "100",
          "vocational_percent": "63", "in_depth_percent": "15"}),
        r("GET", "/cases/{case}/support", PAGE_READERS),  # empty for whoever does not see the loan figures (tests/reports)
        r("POST", "/cases/{case}/support-payments", {"finance"},
          lambda s: {"item": "passport", "amount_vnd": "200000", "paid_on": s.today.isoformat(), "invoice_number": "HD-1"}),
        r("GET", "/reports", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/reports/{report}", SUPERVISORS | {"auditor", "social_policy"}),
        r("GET", "/reports/{report}/print", SUPERVISORS | {"auditor", "social_policy"}),
        r("POST", "/reports/{report}/submit", {"social_policy", "supervisor"}, lambda s: {"version": "1"}),
        r("POST", "/reports/{report}/return", {"province_supervisor"}, lambda s: {"version": "1", "reason": "Thiếu số liệu"}),
        r("GET", "/reports/print?unit={commune}&start=2026-01-01&end=2026-12-31", SUPERVISORS | {"auditor", "social_policy"}),
    ]  # fmt: skip


# Pages that list (or fill a form from a list) show the scope's rows only: they have no "other scope" to refuse.
PAGE_LISTS = {
    "/inbox",
    "/account/password",
    "/search",
    "/dashboard",
    "/dashboard/charts",
    "/imports",
    "/imports/template.csv",
    "/referrals",
    "/referrals/panel",
    "/admin",
    "/admin/users",
    "/admin/units",
    "/admin/clocks",
    "/admin/log",
    "/reports",
}


def _page_call(client, route: Route, scope: Scope, cookie: dict[str, str]) -> str:
    """Return 'through' or 'denied' (a refusal page, or the login page for a stranger)."""
    path = route.path.format(**{name: getattr(scope, name) for name in _ANY})
    data = route.body(scope) if route.body else None
    files = {"file": ("rows.csv", route.upload(scope))} if route.upload else None
    headers = {"Origin": "http://testserver", "Accept": "text/html", **cookie}
    answer = client.request(route.method, path, data=data, files=files, headers=headers, follow_redirects=False)
    if answer.status_code in (403, 404) or answer.headers.get("location", "").startswith("/login"):
        return "denied"
    assert answer.status_code < 500, f"{route.method} {path}: {answer.status_code}"
    return "through"


def test_every_page_checks_role_and_scope(rt, actors, other_commune):
    from fastapi.testclient import TestClient

    from services.api.app import create_app

    client = TestClient(create_app(rt))
    own = _scope(rt, actors["social_policy"], actors["police"], f.COMMUNE, f.VILLAGE, "social_policy", 850)
    other = _scope(
        rt, other_commune["b_social_policy"], other_commune["b_supervisor"], OTHER_COMMUNE, OTHER_VILLAGE, "b_social_policy", 851
    )
    cookies: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES[1:]:
        form = {"username": role, "password": demo.DEMO_PASSWORD}
        login = client.post("/login", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False)
        assert login.status_code == 303, (role, login.status_code)
        cookies[role] = {"Cookie": f"gw_session={login.cookies['gw_session']}"}
        client.cookies.clear()  # each request carries only the session it names
    wrong: list[str] = []
    for route in _page_routes():
        for role in ROLES:
            got = _page_call(client, route, own, cookies[role])
            expected = "through" if role in route.allowed else "denied"
            if got != expected:
                wrong.append(f"own   {route.method} {route.path} as {role}: {got}, expected {expected}")
            if route.path not in PAGE_LISTS and _page_call(client, route, other, cookies[role]) != "denied":
                wrong.append(f"other {route.method} {route.path} as {role}: through, expected denied")
    assert not wrong, "\n".join(wrong)


# What a user whose password an admin chose may still reach: who they are, and the change of the password.
ACCOUNT = {"/api/me", "/api/me/password", "/account/password"}


def test_a_user_with_an_admins_password_reaches_nothing_but_their_account(client, token, rt, actors):
    own = _scope(rt, actors["social_policy"], actors["police"], f.COMMUNE, f.VILLAGE, "social_policy", 860)
    flagged = ["social_policy", "supervisor", "admin"]
    headers = {role: token(role) for role in flagged}  # they may log in
    cookies = {}
    for role in flagged:
        login = client.post("/login", data={"username": role, "password": demo.DEMO_PASSWORD}, follow_redirects=False)
        cookies[role] = {"Cookie": f"gw_session={login.cookies['gw_session']}"}
        client.cookies.clear()
    with rt.unit_of_work() as conn:
        conn.execute(update(User).where(User.username.in_(flagged)).values(password_change_required=True))
    wrong: list[str] = []
    for role in flagged:
        for route in (r for r in _routes() if r.path not in ACCOUNT):
            answer = _call(client, route, own, headers[role])
            code = answer.json()["problems"][0]["code"] if answer.status_code == 403 else None
            if code != "auth.password_change_required":
                wrong.append(f"{route.method} {route.path} as {role}: {answer.status_code} {code}")
        for route in (r for r in _page_routes() if r.path not in ACCOUNT):
            path = route.path.format(**{name: getattr(own, name) for name in _ANY})
            data = route.body(own) if route.body else None
            answer = client.request(route.method, path, data=data, headers={"Origin": "http://testserver", **cookies[role]},
                                    follow_redirects=False)  # fmt: skip
            if answer.headers.get("location") != "/account/password":
                wrong.append(f"page {route.method} {route.path} as {role}: {answer.status_code} {answer.headers.get('location')}")
    assert not wrong, "\n".join(wrong)
    assert client.get("/api/me", headers=headers["admin"]).json()["password_change_required"] is True
    assert client.get("/account/password", headers=cookies["admin"]).status_code == 200


# Routes that are not in the matrices because anyone may call them (or they only end the caller's own session).
PUBLIC = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/api/auth/token"),
          ("POST", "/api/auth/logout"), ("GET", "/")}  # fmt: skip


def test_the_matrices_cover_every_route_of_the_application(rt):
    import re

    from fastapi.routing import APIRoute

    from services.api.app import create_app

    declared = [(route.method, route.path.split("?")[0].format(**_ANY)) for route in (*_routes(), *_page_routes())]
    missing = []
    for route in _flattened(create_app(rt).routes):
        if not isinstance(route, APIRoute):
            continue
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", route.path) + "$")
        for method in sorted(route.methods - {"HEAD"}):
            if (method, route.path) in PUBLIC:
                continue
            if not any(m == method and pattern.match(path) for m, path in declared):
                missing.append(f"{method} {route.path}")
    assert not missing, "routes outside the authorization matrices:\n" + "\n".join(missing)


def _flattened(routes: list[Any]) -> list[Any]:
    """Return the routes with the included routers opened (FastAPI keeps an included router as one entry)."""
    flat: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat += _flattened(included.routes) if included is not None else [route]
    return flat


_ANY = {name: 1 for name in ("case", "item", "deadline", "referral", "user", "unit", "commune", "report")}


def test_a_sibling_commune_of_the_same_province_is_outside_a_commune_users_scope_but_not_the_provinces(client, token, rt, actors):
    from services import auth, work_queries
    from services.users import load_actor

    with rt.unit_of_work() as conn:
        province = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == "38"))
        sibling = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id),
            {"code": "TH-CAMTHACH", "name": "Xã Cẩm Thạch", "kind": "commune", "parent_id": province},
        ).scalar_one()
        conn.execute(insert(AdminUnit), {"code": "TH-CAMTHACH-01", "name": "Thôn Một", "kind": "village", "parent_id": sibling})
        values = {"full_name": "Cán bộ Cẩm Thạch", "role": "officer", "department_code": "social_policy", "unit_id": sibling}
        conn.execute(insert(User), {"username": "c_social_policy", **values, "active": True, "password_hash": auth.hash_password("x")})
        officer = load_actor(conn, "c_social_policy")
    case_id = register_in(rt, officer, 880, "TH-CAMTHACH", "TH-CAMTHACH-01")
    [item] = [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now()) if i["case_id"] == case_id]
    for user in ("supervisor", "social_policy", "enterprise"):  # they belong to Xã Cẩm Tân
        assert client.get(f"/api/cases/{case_id}", headers=token(user)).status_code == 404, user
    assert client.post(f"/api/work/{item['id']}/claim", headers=token("supervisor")).status_code == 404
    for user in ("province_supervisor", "auditor"):  # they belong to the province
        assert client.get(f"/api/cases/{case_id}", headers=token(user)).status_code == 200, user
