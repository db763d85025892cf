"""The reporting routes as a client uses them: the indicators' schema, plans, a payment and its refusals in both languages."""

from __future__ import annotations

from tests.api.conftest import register_in


def test_indicators_answer_with_their_schema(client, token, rt, actors):
    register_in(rt, actors["social_policy"], 1)
    answer = client.get("/api/indicators/38", params={"start": "2026-01-01", "end": "2026-12-31"}, headers=token("province_supervisor"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"]["backlog"]["registered"] == 1 and body["communes"][0]["unit_code"] == "TH-CAMTAN"
    assert body["total"]["plan"]["departures_more_than"] == 150 and body["communes"][0]["plan"]["departures_more_than"] == 5
    wrong = client.get("/api/indicators/38", params={"start": "2026-12-31", "end": "2026-01-01"}, headers=token("province_supervisor"))
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["vi"]


def test_a_plan_round_trip(client, token):
    body = {"departures_more_than": 7, "language_orientation_percent": 100, "vocational_percent": 65, "in_depth_percent": 15}
    assert client.put("/api/plans/TH-CAMTAN/2026", json=body, headers=token("admin")).json()["source"] == "unit"
    got = client.get("/api/plans/TH-CAMTAN/2026", headers=token("supervisor")).json()
    assert (got["departures_more_than"], got["updated_by"]) == (7, "admin")
    assert client.put("/api/plans/TH-CAMTAN/2026", json=body, headers=token("supervisor")).status_code == 403


def test_a_payment_and_its_refusal(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 2)
    body = {"item": "health_check", "amount_vnd": 750_000, "paid_on": "2026-05-31", "invoice_number": "HD-9"}
    paid = client.post(f"/api/cases/{case_id}/support-payments", json=body, headers=token("finance"))
    assert paid.status_code == 201 and paid.json()["cap_vnd"] == 750_000
    again = client.post(f"/api/cases/{case_id}/support-payments", json=body, headers=token("finance"))
    assert again.status_code == 409 and "31/05/2026" in again.json()["problems"][0]["vi"]
    over = client.post(
        f"/api/cases/{case_id}/support-payments", json={**body, "item": "travel", "amount_vnd": 300_001}, headers=token("finance")
    )
    assert over.status_code == 422 and "300,000 VND" in over.json()["problems"][0]["en"]
    assert client.get(f"/api/cases/{case_id}/verify", headers=token("auditor")).json()["ok"] is True


def test_odd_units_and_periods_are_refused_not_crashed(client, token):
    headers = token("province_supervisor")
    assert client.get("/api/indicators/38", params={"start": "0001-01-01", "end": "0001-01-02"}, headers=headers).status_code == 422
    assert client.get("/api/indicators/%00", params={"start": "2026-01-01", "end": "2026-01-02"}, headers=headers).status_code == 404
    assert client.get("/api/plans/%00/2026", headers=headers).status_code == 404
