"""The admin API as an admin uses it: users with roles, deactivation that ends logins, the last admin, villages, the log."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services import work_queries
from services.api.deps import SESSION_COOKIE
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE, register_in

PASSWORD = "mat-khau-moi-2026"  # what the admin chose
OWN_PASSWORD = "mat-khau-cua-rieng-toi"  # what the user then chooses


def _officer(**overrides) -> dict:
    return {"username": "le_van_moi", "full_name": "Lê Văn Mới", "role": "officer", "department": "finance", "unit_code": f.COMMUNE,
            "password": PASSWORD, "email": "moi@camtan.example.org", **overrides}  # fmt: skip


def _login(client, username: str, password: str = PASSWORD):
    return client.post("/api/auth/token", json={"username": username, "password": password})


def _bearer(answer) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _working(client, username: str) -> dict[str, str]:
    """Log in a user an admin just made, choose their own password, and return their bearer header (a session too)."""
    headers = _bearer(_login(client, username))
    changed = client.post("/api/me/password", json={"current_password": PASSWORD, "new_password": OWN_PASSWORD}, headers=headers)
    assert changed.status_code == 204, changed.text
    client.post("/login", data={"username": username, "password": OWN_PASSWORD})
    return headers


def _user_id(client, token, username: str) -> int:
    return next(u["id"] for u in client.get("/api/admin/users", headers=token("admin")).json() if u["username"] == username)


def test_a_new_officer_logs_in_and_works_their_inbox(client, token):
    created = client.post("/api/admin/users", json=_officer(), headers=token("admin"))
    assert created.status_code == 201, created.text
    listed = {u["username"]: u for u in client.get("/api/admin/users", headers=token("admin")).json()}
    assert listed["le_van_moi"] | {"id": 0} == {
        "id": 0, "username": "le_van_moi", "full_name": "Lê Văn Mới", "role": "officer", "department": "finance",
        "email": "moi@camtan.example.org", "active": True, "unit_code": f.COMMUNE, "unit_name": "Xã Cẩm Tân",
    }  # fmt: skip
    headers = _bearer(_login(client, "le_van_moi"))
    me = client.get("/api/me", headers=headers).json()
    assert (me["role"], me["department"], me["password_change_required"]) == ("officer", "finance", True)
    # The admin chose this password: nothing but choosing their own until they do.
    for path in ("/api/inbox/finance", "/api/cases", "/api/work/counts"):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403 and refused.json()["problems"][0]["code"] == "auth.password_change_required", path
    other_token = _bearer(_login(client, "le_van_moi"))
    change = lambda current, new: client.post("/api/me/password", json={"current_password": current, "new_password": new}, headers=headers)  # noqa: E731
    wrong = change("not-the-password", OWN_PASSWORD)
    assert wrong.status_code == 422 and [p["field"] for p in wrong.json()["problems"]] == ["current_password"]
    same = change(PASSWORD, PASSWORD)
    assert same.status_code == 422 and [p["code"] for p in same.json()["problems"]] == ["password.unchanged"]
    assert change(PASSWORD, "ngan").status_code == 422  # too short: the rules of the admin's passwords
    assert change(PASSWORD, OWN_PASSWORD).status_code == 204
    assert client.get("/api/me", headers=headers).json()["password_change_required"] is False
    assert client.get("/api/inbox/finance", headers=headers).status_code == 200  # this token stays
    assert client.get("/api/inbox/bank", headers=headers).status_code == 403  # their own department's only
    assert client.get("/api/me", headers=other_token).status_code == 401  # their other logins ended
    assert _login(client, "le_van_moi").status_code == 401 and _login(client, "le_van_moi", OWN_PASSWORD).status_code == 200
    client.post("/login", data={"username": "le_van_moi", "password": OWN_PASSWORD})
    page = client.get("/inbox")
    assert page.status_code == 200 and "finance" in page.text


def test_after_an_admins_reset_the_pages_ask_for_a_password_of_ones_own(client, token):
    client.post("/api/admin/users", json=_officer(), headers=token("admin"))
    client.post("/login", data={"username": "le_van_moi", "password": PASSWORD})
    sent = client.get("/inbox", follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/account/password"
    form = client.get("/account/password")
    assert form.status_code == 200 and "do quản trị viên đặt" in form.text
    wrong = client.post("/account/password", data={"current_password": "not-the-password", "new_password": OWN_PASSWORD})
    assert wrong.status_code == 422 and "Mật khẩu hiện tại không đúng" in wrong.text
    done = client.post("/account/password", data={"current_password": PASSWORD, "new_password": OWN_PASSWORD}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/inbox")
    assert page.status_code == 200 and "finance" in page.text  # the session stayed
    user_id = _user_id(client, token, "le_van_moi")
    client.post(f"/api/admin/users/{user_id}/password", json={"password": "mot-mat-khau-khac"}, headers=token("admin"))
    client.post("/login", data={"username": "le_van_moi", "password": "mot-mat-khau-khac"})
    assert client.get("/inbox", follow_redirects=False).headers["location"] == "/account/password"  # a reset asks again


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"department": None}, ["department"]),  # an officer needs a department
        ({"unit_code": "38"}, ["unit_code"]),  # and a commune, not the province
        ({"role": "supervisor"}, ["department"]),  # only officers have a department
        ({"role": "boss", "department": None}, ["role"]),
        ({"username": "A b", "password": "short", "email": "no-at-sign"}, ["username", "email", "password"]),
        ({"unit_code": "NO-SUCH-UNIT"}, ["unit_code"]),
        ({"password": "le_van_moi"}, ["password"]),
        ({"full_name": "Lê\x00Văn", "unit_code": "TH\x00"}, ["full_name", "unit_code"]),  # NUL: PostgreSQL cannot store it
    ],
)
def test_a_wrong_new_user_is_refused_field_by_field(client, token, changes, fields):
    answer = client.post("/api/admin/users", json=_officer(**changes), headers=token("admin"))
    assert answer.status_code == 422, answer.text
    problems = answer.json()["problems"]
    assert [p["field"] for p in problems] == fields
    assert all(p["vi"] and p["en"] and p["vi"] != p["en"] for p in problems)
    assert "le_van_moi" not in {u["username"] for u in client.get("/api/admin/users", headers=token("admin")).json()}


def test_roles_take_the_units_their_scope_needs(client, token):
    for username, role, unit in [("chu_tich", "supervisor", f.COMMUNE), ("so_noi_vu", "supervisor", "38"), ("kiem_toan", "auditor", "38")]:
        answer = client.post(
            "/api/admin/users", json=_officer(username=username, role=role, unit_code=unit, department=None), headers=token("admin")
        )
        assert answer.status_code == 201, answer.text
    assert client.post("/api/admin/users", json=_officer(username="chu_tich"), headers=token("admin")).status_code == 409
    village = client.post("/api/admin/users", json=_officer(username="o_thon", unit_code=f.VILLAGE), headers=token("admin"))
    assert village.status_code == 422 and village.json()["problems"][0]["code"] == "user.unit_kind"


def test_deactivation_ends_the_token_and_the_session_and_gives_back_claimed_work(client, token, rt, actors):
    client.post("/api/admin/users", json=_officer(department="social_policy"), headers=token("admin"))
    headers = _working(client, "le_van_moi")
    case_id = register_in(rt, actors["social_policy"], 10)
    [item] = [i for i in client.get("/api/inbox/social_policy", headers=headers).json() if i["case_id"] == case_id]
    assert client.post(f"/api/work/{item['id']}/claim", headers=headers).status_code == 200
    user_id = _user_id(client, token, "le_van_moi")
    assert client.post(f"/api/admin/users/{user_id}/deactivate", headers=token("admin")).status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401
    assert client.get("/inbox", follow_redirects=False).headers["location"].startswith("/login")
    assert _login(client, "le_van_moi", OWN_PASSWORD).status_code == 401
    [back] = [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now()) if i["id"] == item["id"]]
    assert (back["status"], back["assignee"]) == ("open", None)
    again = client.post(f"/api/admin/users/{user_id}/deactivate", headers=token("admin"))
    assert again.status_code == 409 and again.json()["problems"][0]["code"] == "user.already"
    assert client.post(f"/api/admin/users/{user_id}/reactivate", headers=token("admin")).status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401  # the old token stays revoked
    assert client.get("/api/me", headers=_bearer(_login(client, "le_van_moi", OWN_PASSWORD))).status_code == 200


def test_a_reset_password_replaces_the_old_one_and_ends_logins(client, token):
    client.post("/api/admin/users", json=_officer(), headers=token("admin"))
    old = _bearer(_login(client, "le_van_moi"))
    user_id = _user_id(client, token, "le_van_moi")
    short = client.post(f"/api/admin/users/{user_id}/password", json={"password": "abc"}, headers=token("admin"))
    assert short.status_code == 422 and short.json()["problems"][0]["field"] == "password"
    assert (
        client.post(f"/api/admin/users/{user_id}/password", json={"password": "mot-mat-khau-khac"}, headers=token("admin")).status_code
        == 204
    )
    assert client.get("/api/me", headers=old).status_code == 401
    assert _login(client, "le_van_moi").status_code == 401
    assert _login(client, "le_van_moi", "mot-mat-khau-khac").status_code == 200


def test_the_last_active_admin_cannot_be_deactivated(client, token):
    admin_id = _user_id(client, token, "admin")
    last = client.post(f"/api/admin/users/{admin_id}/deactivate", headers=token("admin"))
    assert last.status_code == 409 and last.json()["problems"][0]["code"] == "user.last_admin"
    assert "vi" in last.json()["problems"][0] and client.get("/api/me", headers=token("admin")).status_code == 200
    created = client.post(
        "/api/admin/users", json=_officer(username="admin2", role="admin", unit_code="38", department=None), headers=token("admin")
    )
    assert created.status_code == 201
    second = _working(client, "admin2")
    assert client.post(f"/api/admin/users/{admin_id}/deactivate", headers=second).status_code == 204  # two admins: one may go
    refused = client.post(f"/api/admin/users/{created.json()['id']}/deactivate", headers=second)  # admin2 is the last one now
    assert refused.status_code == 409 and refused.json()["problems"][0]["code"] == "user.last_admin"


def test_a_village_added_is_in_the_tree_and_takes_cases(client, token, rt):
    tree = client.get("/api/admin/units", headers=token("admin")).json()
    [province] = tree
    [commune] = [c for c in province["children"] if c["code"] == f.COMMUNE]
    added = client.post(
        f"/api/admin/units/{commune['id']}/villages", json={"code": "th-camtan-09", "name": "Thôn Mới"}, headers=token("admin")
    )
    assert added.status_code == 201, added.text
    [commune] = [c for c in client.get("/api/admin/units", headers=token("admin")).json()[0]["children"] if c["code"] == f.COMMUNE]
    assert {"code": "TH-CAMTAN-09", "name": "Thôn Mới", "kind": "village"}.items() <= next(
        v for v in commune["children"] if v["code"] == "TH-CAMTAN-09"
    ).items()
    registered = client.post("/api/cases", json=f.registration(rt.today(), 11, village_code="TH-CAMTAN-09"), headers=token("social_policy"))
    assert registered.status_code == 201, registered.text
    case = client.get(f"/api/cases/{registered.json()['id']}", headers=token("social_policy")).json()
    assert case["village"] == "Thôn Mới"
    renamed = client.patch(f"/api/admin/units/{added.json()['id']}", json={"name": "Thôn Tân Mới"}, headers=token("admin"))
    assert renamed.status_code == 204
    assert client.get(f"/api/cases/{registered.json()['id']}", headers=token("social_policy")).json()["village"] == "Thôn Tân Mới"
    twice = client.post(f"/api/admin/units/{commune['id']}/villages", json={"code": "TH-CAMTAN-09", "name": "Khác"}, headers=token("admin"))
    assert twice.status_code == 409 and twice.json()["problems"][0]["code"] == "unit.code_taken"
    village_id = added.json()["id"]
    under_village = client.post(f"/api/admin/units/{village_id}/villages", json={"code": "X-1", "name": "Xóm"}, headers=token("admin"))
    assert under_village.status_code == 422 and under_village.json()["problems"][0]["code"] == "unit.not_commune"
    blank = client.patch(f"/api/admin/units/{village_id}", json={"name": "  "}, headers=token("admin"))
    assert blank.status_code == 422 and blank.json()["problems"][0]["field"] == "name"


def test_every_admin_action_is_logged_without_the_password(client, token, rt):
    created = client.post("/api/admin/users", json=_officer(), headers=token("admin")).json()["id"]
    client.post(f"/api/admin/users/{created}/password", json={"password": "mot-mat-khau-khac"}, headers=token("admin"))
    client.post(f"/api/admin/users/{created}/deactivate", headers=token("admin"))
    client.post(f"/api/admin/users/{created}/reactivate", headers=token("admin"))
    commune = next(c for c in client.get("/api/admin/units", headers=token("admin")).json()[0]["children"] if c["code"] == f.COMMUNE)
    client.patch(f"/api/admin/units/{commune['id']}", json={"name": "Xã Cẩm Tân (mới)"}, headers=token("admin"))
    log = client.get("/api/admin/log", headers=token("admin")).json()
    assert [(a["actor"], a["action"], a["target_kind"]) for a in log] == [
        ("admin", "user.create", "user"), ("admin", "user.password", "user"), ("admin", "user.deactivate", "user"),
        ("admin", "user.reactivate", "user"), ("admin", "unit.rename", "unit"),
    ]  # fmt: skip
    assert log[0]["details"]["role"] == "officer" and log[-1]["details"] == {
        "code": f.COMMUNE,
        "from": "Xã Cẩm Tân",
        "to": "Xã Cẩm Tân (mới)",
    }
    assert PASSWORD not in str(log) and "mot-mat-khau-khac" not in str(log) and all(a["at"] for a in log)
    with pytest.raises(DBAPIError), rt.unit_of_work() as conn:  # the log is append-only in the database too
        conn.execute(text("UPDATE admin_actions SET actor = 'someone else'"))


def test_the_clock_policy_shows_each_clock_its_ladder_and_its_days(client, token):
    clocks = {c["name"]: c for c in client.get("/api/admin/clocks", headers=token("admin")).json()}
    assert set(clocks) >= {"counselling", "departure", "loan_answer", "national_database", "expected_return"}
    loan = clocks["loan_answer"]
    assert (loan["length"], loan["department"], loan["while_in"]) == ("7wd", "bank", ["health_checked"])
    assert [(r["at"], r["to"]) for r in loan["ladder"]] == [
        ("-3wd", "owner"),
        ("0d", "owner"),
        ("1wd", "commune_supervisor"),
        ("7wd", "province_supervisor"),
    ]
    # Started on Mon 1/6/2026: seven working days later is Wed 10/6.
    assert (loan["example"]["from"], loan["example"]["due_on"]) == ("2026-06-01", "2026-06-10")
    assert (clocks["departure"]["length"], clocks["departure"]["resolved_length"]) == ("@departure_within", "180d")


def test_only_admins_reach_the_admin_screens(client, token):
    def pages_as(user: str) -> list[int]:
        client.cookies.set(SESSION_COOKIE, token(user)["Authorization"].removeprefix("Bearer "))  # a page accepts any live token
        return [client.get(page).status_code for page in ("/admin/users", "/admin/units", "/admin/clocks", "/admin/log")]

    for user in ("social_policy", "supervisor", "province_supervisor", "auditor"):
        assert client.get("/api/admin/users", headers=token(user)).status_code == 403
        assert pages_as(user) == [403] * 4
    assert pages_as("admin") == [200] * 4


def test_a_unit_outside_the_admins_scope_is_refused(client, token, other_commune):
    answer = client.post("/api/admin/users", json=_officer(unit_code=OTHER_COMMUNE), headers=token("admin"))
    assert answer.status_code == 403 and answer.json()["problems"][0]["code"] == "unit.out_of_scope"
    assert "b_social_policy" not in {u["username"] for u in client.get("/api/admin/users", headers=token("admin")).json()}
    assert [root["code"] for root in client.get("/api/admin/units", headers=token("admin")).json()] == ["38"]


def test_an_admins_reset_during_a_users_change_wins(client, token, monkeypatch):
    from services import auth

    client.post("/api/admin/users", json=_officer(), headers=token("admin"))
    headers = _bearer(_login(client, "le_van_moi"))
    user_id = _user_id(client, token, "le_van_moi")
    checked = auth._check_password

    def checked_then_reset(*args):
        found = checked(*args)  # the user's current password is right; before their new one is written, an admin resets it
        client.post(f"/api/admin/users/{user_id}/password", json={"password": "mot-mat-khau-khac"}, headers=token("admin"))
        return found

    monkeypatch.setattr(auth, "_check_password", checked_then_reset)
    refused = client.post("/api/me/password", json={"current_password": PASSWORD, "new_password": OWN_PASSWORD}, headers=headers)
    assert refused.status_code == 401  # the reset ended the login the change came with
    monkeypatch.undo()
    assert _login(client, "le_van_moi", OWN_PASSWORD).status_code == 401
    again = _bearer(_login(client, "le_van_moi", "mot-mat-khau-khac"))
    assert client.get("/api/me", headers=again).json()["password_change_required"] is True


def test_a_unit_keeps_an_admin_of_its_own_or_above(client, token, rt, other_commune):
    from sqlalchemy import insert, select

    from services.models import AdminUnit, User

    with rt.unit_of_work() as conn:  # an admin of another province manages nothing of this one
        other_province = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == "04"))
        conn.execute(insert(User), {"username": "admin_cb", "full_name": "Admin Cao Bằng", "role": "admin", "unit_id": other_province,
                                    "active": True})  # fmt: skip
    admin_id = _user_id(client, token, "admin")
    alone = client.post(f"/api/admin/users/{admin_id}/deactivate", headers=token("admin"))
    assert alone.status_code == 409 and alone.json()["problems"][0]["code"] == "user.last_admin"
    commune_admin = _officer(username="admin_xa", role="admin", department=None)  # an admin of the commune, under the province
    created = client.post("/api/admin/users", json=commune_admin, headers=token("admin")).json()["id"]
    still = client.post(f"/api/admin/users/{admin_id}/deactivate", headers=token("admin"))
    assert still.status_code == 409  # the commune's admin does not manage the province
    assert client.post(f"/api/admin/users/{created}/deactivate", headers=token("admin")).status_code == 204  # the province's does


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_two_admins_deactivating_each_other_at_once_leave_one(rt, actors):
    import threading

    from sqlalchemy import func, insert, select

    from services import admin
    from services.models import User
    from services.users import load_actor
    from workflows.errors import Conflict

    with rt.unit_of_work() as conn:
        province = conn.scalar(select(User.unit_id).where(User.username == "admin"))
        conn.execute(insert(User), {"username": "admin2", "full_name": "Admin 2", "role": "admin", "unit_id": province, "active": True})
        first, second = load_actor(conn, "admin"), load_actor(conn, "admin2")
    start, outcomes = threading.Barrier(2), []

    def deactivate(actor, target) -> None:
        start.wait()
        try:
            admin.set_active(rt, actor, target.user_id, False)
            outcomes.append("done")
        except Conflict as refused:
            outcomes.append(refused.problems[0].code)

    threads = [threading.Thread(target=deactivate, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["done", "user.last_admin"]
    with rt.unit_of_work(writes=False) as conn:
        assert conn.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active)) == 1
