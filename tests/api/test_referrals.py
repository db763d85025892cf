"""Referrals through the API: police or military refer, social policy converts (a case with source referral) or declines."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from services import demo, referrals
from services.models import Case
from services.users import SYSTEM
from tests import factories as f
from tests.api.conftest import OTHER_VILLAGE


def _referral(today, **overrides):
    born = f.registration(today, 1)["date_of_birth"]
    return {"full_name": "Trịnh Văn Hải", "date_of_birth": born, "phone": "0987654321",
            "service_ended_on": (today - timedelta(days=30)).isoformat(), "village": "Tân Lập", "note": "Xuất ngũ tháng trước",
            **overrides}  # fmt: skip


def _what_social_policy_adds(today, serial=1, **overrides):
    """The part of the registration social policy records on meeting the youth (identity and place come from the referral)."""
    record = f.registration(today, serial)
    return {key: record[key] for key in ("personal_id", "sex", "consent")} | {"priority": {"poor_household": True}} | overrides


def _cases(rt) -> int:
    with rt.unit_of_work(writes=False) as conn:
        return conn.execute(select(func.count()).select_from(Case)).scalar_one()


def test_police_refer_social_policy_sees_it_in_the_inbox_and_converts_it_into_a_referral_case(client, token, rt):
    made = client.post("/api/referrals", json=_referral(rt.today()), headers=token("police"))
    assert made.status_code == 201, made.text
    referral = made.json()
    assert referral["status"] == "open" and referral["department"] == "police" and referral["village_code"] == f.VILLAGE
    waiting = client.get("/api/referrals", params={"status": "open"}, headers=token("social_policy")).json()
    assert [r["id"] for r in waiting] == [referral["id"]]
    client.post("/login", data={"username": "social_policy", "password": demo.DEMO_PASSWORD}, follow_redirects=False)
    panel = client.get("/referrals/panel")  # what the inbox page loads
    assert panel.status_code == 200 and "Trịnh Văn Hải" in panel.text and f"/referrals/{referral['id']}" in panel.text
    converted = client.post(
        f"/api/referrals/{referral['id']}/convert", json=_what_social_policy_adds(rt.today()), headers=token("social_policy")
    )
    assert converted.status_code == 201, converted.text
    case_id = converted.json()["case"]["id"]
    assert converted.json()["referral"]["status"] == "converted" and converted.json()["referral"]["case_id"] == case_id
    assert converted.json()["case"]["state"] == "registered"
    case = client.get(f"/api/cases/{case_id}", headers=token("social_policy")).json()
    assert case["source"] == "referral" and case["person"]["full_name"] == "Trịnh Văn Hải" and case["village"] == "Thôn Tân Lập"
    priority = case["records"]["registration"]["priority"]
    assert priority["police_service_done"] is True and priority["poor_household"] is True
    seen_by_police = client.get(f"/api/referrals/{referral['id']}", headers=token("police")).json()
    assert (
        seen_by_police["status"] == "converted" and seen_by_police["case_id"] == case_id and seen_by_police["closed_by"] == "social_policy"
    )
    assert client.get("/api/referrals", params={"status": "open"}, headers=token("social_policy")).json() == []
    again = client.post(
        f"/api/referrals/{referral['id']}/convert", json=_what_social_policy_adds(rt.today(), 2), headers=token("social_policy")
    )
    assert again.status_code == 409 and f"case {case_id}" in again.json()["problems"][0]["en"]
    assert _cases(rt) == 1


def test_a_refused_conversion_writes_nothing_and_leaves_the_referral_open(client, token, rt):
    referral = client.post("/api/referrals", json=_referral(rt.today()), headers=token("military")).json()
    bad = _what_social_policy_adds(rt.today(), source="walk_in")
    answer = client.post(f"/api/referrals/{referral['id']}/convert", json=bad, headers=token("social_policy"))
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "source"
    missing = {key: value for key, value in _what_social_policy_adds(rt.today()).items() if key != "personal_id"}
    answer = client.post(f"/api/referrals/{referral['id']}/convert", json=missing, headers=token("social_policy"))
    assert answer.status_code == 422 and [p["field"] for p in answer.json()["problems"]] == ["personal_id"]
    assert _cases(rt) == 0 and client.get(f"/api/referrals/{referral['id']}", headers=token("military")).json()["status"] == "open"
    done = client.post(f"/api/referrals/{referral['id']}/convert", json=_what_social_policy_adds(rt.today()), headers=token("supervisor"))
    assert done.status_code == 201
    case = client.get(f"/api/cases/{done.json()['case']['id']}", headers=token("supervisor")).json()
    assert case["records"]["registration"]["priority"]["military_service_done"] is True


def test_a_referral_declined_with_a_reason_tells_the_police_why(client, token, rt):
    referral = client.post("/api/referrals", json=_referral(rt.today()), headers=token("police")).json()
    url = f"/api/referrals/{referral['id']}/decline"
    assert client.post(url, json={"reason": "   "}, headers=token("social_policy")).status_code == 422
    assert client.post(url, json={"reason": "Không muốn đi"}, headers=token("police")).status_code == 403
    declined = client.post(url, json={"reason": "Anh Hải không muốn đi làm việc ở nước ngoài"}, headers=token("social_policy"))
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    seen = client.get("/api/referrals", headers=token("police")).json()
    assert [(r["status"], r["decline_reason"]) for r in seen] == [("declined", "Anh Hải không muốn đi làm việc ở nước ngoài")]
    late = client.post(
        f"/api/referrals/{referral['id']}/convert", json=_what_social_policy_adds(rt.today()), headers=token("social_policy")
    )
    assert late.status_code == 409 and "declined" in late.json()["problems"][0]["en"] and _cases(rt) == 0


def test_only_police_and_military_refer_and_only_social_policy_converts(client, token, rt):
    for department in ("social_policy", "enterprise", "office", "auditor", "admin"):
        assert client.post("/api/referrals", json=_referral(rt.today()), headers=token(department)).status_code == 403, department
    assert client.post("/api/referrals", json=_referral(rt.today()), headers=token("supervisor")).status_code == 422  # names no department
    by_supervisor = client.post("/api/referrals", json=_referral(rt.today(), department="military"), headers=token("supervisor"))
    assert by_supervisor.status_code == 201 and by_supervisor.json()["department"] == "military"
    referral = client.post("/api/referrals", json=_referral(rt.today()), headers=token("police")).json()
    convert = f"/api/referrals/{referral['id']}/convert"
    for user in ("police", "military", "enterprise", "auditor"):
        assert client.post(convert, json=_what_social_policy_adds(rt.today()), headers=token(user)).status_code in (403, 404), user
    assert client.get("/api/referrals", headers=token("enterprise")).status_code == 403
    assert _cases(rt) == 0


def test_police_see_their_referrals_and_military_theirs(client, token, rt):
    police = client.post("/api/referrals", json=_referral(rt.today()), headers=token("police")).json()
    military = client.post("/api/referrals", json=_referral(rt.today(), full_name="Hoàng Văn Tú"), headers=token("military")).json()
    assert [r["id"] for r in client.get("/api/referrals", headers=token("police")).json()] == [police["id"]]
    assert [r["id"] for r in client.get("/api/referrals", headers=token("military")).json()] == [military["id"]]
    assert client.get(f"/api/referrals/{military['id']}", headers=token("police")).status_code == 404
    assert len(client.get("/api/referrals", headers=token("social_policy")).json()) == 2
    assert len(client.get("/api/referrals", headers=token("auditor")).json()) == 2


def test_another_communes_officer_sees_nothing_of_a_referral(client, token, rt, other_commune):
    referral = client.post("/api/referrals", json=_referral(rt.today()), headers=token("police")).json()
    for user in ("b_social_policy", "b_supervisor"):
        assert client.get(f"/api/referrals/{referral['id']}", headers=token(user)).status_code == 404
        assert client.get("/api/referrals", headers=token(user)).json() == []
        convert = client.post(f"/api/referrals/{referral['id']}/convert", json=_what_social_policy_adds(rt.today()), headers=token(user))
        assert convert.status_code == 404 and convert.json()["problems"][0]["code"] == "referral.unknown"
        assert client.post(f"/api/referrals/{referral['id']}/decline", json={"reason": "x"}, headers=token(user)).status_code == 404
    # A referral into another commune is refused as a registration there would be.
    elsewhere = client.post(
        "/api/referrals", json=_referral(rt.today(), village=OTHER_VILLAGE, commune="CB-NAMTUAN"), headers=token("police")
    )
    assert elsewhere.status_code == 403
    assert referrals.get_referral(rt, SYSTEM, referral["id"])["status"] == "open"
    # A misspelt commune is a mistake to correct (422, the form comes back), not a refusal.
    typo = client.post("/api/referrals", json=_referral(rt.today(), commune="Cam Tann"), headers=token("police"))
    assert typo.status_code == 422 and typo.json()["problems"][0]["field"] == "commune"


def test_a_referral_with_bad_fields_names_each_in_both_languages(client, token, rt):
    bad = _referral(rt.today(), phone="12", village="Thôn Không Có", service_ended_on=(rt.today() + timedelta(days=3)).isoformat())
    answer = client.post("/api/referrals", json=bad, headers=token("police"))
    assert answer.status_code == 422
    fields = {p["field"] for p in answer.json()["problems"]}
    assert fields == {"phone", "service_ended_on"}  # the village is looked up only once the form itself is right
    answer = client.post("/api/referrals", json=_referral(rt.today(), village="Thôn Không Có"), headers=token("police"))
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "village"
    assert all(p["vi"] != p["en"] for p in answer.json()["problems"])
