"""Extending a deadline over HTTP: a supervisor of the case's commune may, with a reason; everyone else is refused in two languages."""

from __future__ import annotations

from services import demo
from tests.api.conftest import OTHER_COMMUNE, OTHER_VILLAGE, register_in


def _counselling(client, token, case_id: int, user: str = "supervisor") -> dict:
    [clock] = [d for d in client.get(f"/api/cases/{case_id}/deadlines", headers=token(user)).json() if d["clock"] == "counselling"]
    return clock


def test_a_supervisor_extends_and_the_answer_shows_the_moved_clock(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 1)
    clock = _counselling(client, token, case_id)
    body = {"version": 1, "days": 14, "reason": "Người lao động đi viện"}
    answer = client.post(f"/api/cases/{case_id}/deadlines/{clock['id']}/extend", json=body, headers=token("supervisor"))
    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert (moved["id"], moved["version"], moved["state"]) == (case_id, 2, "registered")
    assert moved["deadline"]["due_at"].startswith("2026-07-15") and [r["status"] for r in moved["deadline"]["rungs"]] == ["pending"] * 4
    history = client.get(f"/api/cases/{case_id}/history", headers=token("auditor")).json()
    assert history[-1]["trigger"] == "extend_deadline" and history[-1]["actor"] == "supervisor"
    assert client.get(f"/api/cases/{case_id}/verify", headers=token("auditor")).json()["ok"] is True
    # The same body again was read at version 1: the case is at 2 now.
    again = client.post(f"/api/cases/{case_id}/deadlines/{clock['id']}/extend", json=body, headers=token("supervisor"))
    assert again.status_code == 409 and again.json()["problems"][0]["code"] == "case.stale"


def test_refusals_name_the_problem_in_vietnamese_and_english(client, token, rt, actors, other_commune):
    case_id = register_in(rt, actors["social_policy"], 2)
    clock = _counselling(client, token, case_id)
    url = f"/api/cases/{case_id}/deadlines/{clock['id']}/extend"
    cases = [
        ("social_policy", {"version": 1, "days": 3, "reason": "x"}, 403, "role.forbidden"),
        ("b_supervisor", {"version": 1, "days": 3, "reason": "x"}, 404, "case.unknown"),  # another province's supervisor
        ("supervisor", {"version": 1, "days": 3}, 422, "reason.required"),
        ("supervisor", {"version": 1, "due_on": "2026-06-20", "reason": "x"}, 422, "extension.not_later"),
        ("supervisor", {"version": 1, "reason": "x"}, 422, "extension.due_or_days"),
        ("supervisor", {"version": 1, "days": 0, "reason": "x"}, 422, "extension.days"),
    ]
    for user, body, status, code in cases:
        answer = client.post(url, json=body, headers=token(user))
        assert answer.status_code == status, (user, body, answer.text)
        [problem] = answer.json()["problems"]
        assert problem["code"] == code and problem["vi"] and problem["en"] and problem["vi"] != problem["en"]
    assert _counselling(client, token, case_id) == clock  # nothing moved
    other = register_in(rt, other_commune["b_social_policy"], 3, OTHER_COMMUNE, OTHER_VILLAGE)
    # A deadline of another case is not one of this case's.
    other_clock = _counselling(client, token, other, "b_supervisor")
    wrong = client.post(f"/api/cases/{case_id}/deadlines/{other_clock['id']}/extend", json=cases[0][1], headers=token("supervisor"))
    assert wrong.status_code == 404 and wrong.json()["problems"][0]["code"] == "deadline.unknown"


def test_the_case_page_extends_and_a_refusal_keeps_what_was_typed(client, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 4)
    client.post("/login", data={"username": "supervisor", "password": demo.DEMO_PASSWORD})
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "/deadlines/" in page.text
    deadline_id = int(page.text.split("/deadlines/")[1].split("/")[0])
    refused = client.post(f"/cases/{case_id}/deadlines/{deadline_id}/extend", data={"version": "1", "due_on": "2026-07-20", "reason": ""})
    assert refused.status_code == 422 and "Gia hạn phải ghi lý do." in refused.text and 'value="2026-07-20"' in refused.text
    done = client.post(
        f"/cases/{case_id}/deadlines/{deadline_id}/extend",
        data={"version": "1", "due_on": "2026-07-20", "reason": "Chờ xác minh"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "extend_deadline" in client.get(f"/cases/{case_id}").text
