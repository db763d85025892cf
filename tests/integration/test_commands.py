"""What an officer sees when a command is refused or accepted, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from services import audit, cases, queries
from services.models import AdminUnit, Case, CaseRecord, Event, OutboxMessage, Person
from tests import factories as f
from workflows import case as workflow
from workflows.errors import Conflict, DomainError, Forbidden, GuardFailed, RecordInvalid, TransitionNotAllowed

MAIN = f.MAIN_PATH
PATHS: dict[str, list[str]] = {
    "registered": [],
    "counselled": MAIN[:1],
    "trained": MAIN[:2],
    "health_checked": MAIN[:3],
    "loan_approved": MAIN[:4],
    "departed": MAIN[:5],
    "returned": MAIN,
    "reintegrated": [*MAIN, "reintegrate"],
    "closed": [*MAIN, "reintegrate", "close"],
    "withdrawn": ["withdraw"],
    "ineligible": ["declare_ineligible"],
    "visa_refused": [*MAIN[:4], "refuse_visa"],
    "overstayed": [*MAIN[:5], "report_overstay"],
    "deceased": [*MAIN[:5], "report_death"],
}


def counts(rt) -> dict[str, int]:
    """Count the rows a command writes."""
    with rt.unit_of_work() as conn:
        return {
            model.__tablename__: conn.scalar(select(func.count()).select_from(model))
            for model in (Person, Case, Event, OutboxMessage, CaseRecord)
        }


def case_in(rt, actors, clock, state: str, serial: int = 1) -> int:
    """Register a worker and walk the case to a state, a day between steps."""
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial)).id
    for trigger in PATHS[state]:
        clock.advance(days=1)
        f.step(rt, actors, case_id, trigger)
    assert queries.case_detail(rt, case_id)["state"] == state
    return case_id


def refused(rt, error: type[DomainError], command, *args: Any, **kwargs: Any) -> DomainError:
    """Run a command that must be refused with `error` and must write nothing."""
    before = counts(rt)
    with pytest.raises(error) as caught:
        command(*args, **kwargs)
    assert counts(rt) == before
    return caught.value


def codes(error: DomainError) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in error.problems]


# --- registration -------------------------------------------------------------------------------------------------


def _bad_registrations(today: date) -> dict[str, tuple[dict[str, Any], str, str | None, str]]:
    born = date(today.year - 25, 3, 14)
    minor = date(today.year - 17, 1, 2)
    missing_phone = f.registration(today)
    del missing_phone["phone"]
    return {
        "id_century_sex_digit": (
            f.registration(today, personal_id=f.personal_id(born, "female", 7)),
            "personal_id.century_sex", "personal_id", f"The 4th digit is 3, but a male born in {born.year} has 2 there",
        ),
        "id_birth_year": (
            f.registration(today, personal_id=f"0382{(born.year + 1) % 100:02d}000007"),
            "personal_id.birth_year", "personal_id", f"must be the last two digits of the birth year {born.year}",
        ),
        "id_eleven_digits": (f.registration(today, personal_id="03820100000"), "personal_id.format", "personal_id", "exactly 12 digits"),
        "under_18": (
            f.registration(today, date_of_birth=minor.isoformat(), personal_id=f.personal_id(minor, "male", 7)),
            "age.minimum", "date_of_birth", "The worker is 17; the minimum age is 18",
        ),
        "consent_in_future": (
            f.registration(today, consent={"given": True, "given_on": (today + timedelta(days=1)).isoformat()}),
            "field.date_in_future", "consent.given_on", "is in the future",
        ),
        "missing_phone": (missing_phone, "field.missing", "phone", "This field is required"),
        "no_consent": (
            f.registration(today, consent={"given": False, "given_on": today.isoformat()}),
            "field.consent_required", "consent.given", "must consent to the processing of personal data",
        ),
        "unknown_commune": (f.registration(today, commune_code="TH-NOWHERE"), "unit.commune", "commune_code", "No commune with code TH-NOWHERE"),
        "unknown_village": (
            f.registration(today, village_code="TH-CAMTAN-99"), "unit.village", "village_code", "Village TH-CAMTAN-99 is not in commune TH-CAMTAN",
        ),
        "village_of_another_commune": (
            f.registration(today, village_code="TH-CAMTHACH-01"), "unit.village", "village_code", "is not in commune TH-CAMTAN",
        ),
    }  # fmt: skip


def test_invalid_registration_is_refused_with_a_clear_error_and_nothing_written(rt, actors, subtests):
    with rt.engine.begin() as conn:  # a second commune, so a village can belong to the wrong one
        province = conn.scalar(select(AdminUnit.id).where(AdminUnit.kind == "province"))
        other = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id),
            {"code": "TH-CAMTHACH", "name": "Xã Cẩm Thạch", "kind": "commune", "parent_id": province},
        ).scalar_one()
        conn.execute(insert(AdminUnit), {"code": "TH-CAMTHACH-01", "name": "Thôn 1", "kind": "village", "parent_id": other})
    for variant, (data, code, field, message) in _bad_registrations(rt.today()).items():
        with subtests.test(msg=variant):
            error = refused(rt, RecordInvalid, cases.register, rt, actors["social_policy"], data)
            assert (code, field) in codes(error)
            assert message in str(error)
            assert error.http_status == 422
    assert counts(rt)["cases"] == 0


def test_registration_by_another_department_is_forbidden(rt, actors):
    error = refused(rt, Forbidden, cases.register, rt, actors["enterprise"], f.registration(rt.today()))
    assert "Department enterprise may not do 'register' (only: social_policy)" in str(error)


def test_second_case_for_a_person_with_an_open_case_is_refused(rt, actors, clock, subtests):
    for serial, state in enumerate(["registered", "departed", "overstayed"], start=1):
        with subtests.test(msg=state):
            case_id = case_in(rt, actors, clock, state, serial)
            version = queries.case_detail(rt, case_id)["version"]
            again = f.registration(rt.today(), serial=serial, full_name="Nguyễn Văn Bình")
            error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], again)
            assert codes(error) == [("person.has_case", "personal_id")]
            assert f"already has a case (case {case_id}, state {state}); a person has one open case at a time" in str(error)
            assert "reopen" not in str(error)
            assert queries.case_detail(rt, case_id)["version"] == version


def test_second_case_for_a_person_whose_case_ended_says_to_reopen(rt, actors, clock, subtests):
    for serial, state in enumerate(["withdrawn", "ineligible", "visa_refused", "closed"], start=1):
        with subtests.test(msg=state):
            case_id = case_in(rt, actors, clock, state, serial)
            error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], f.registration(rt.today(), serial=serial))
            assert f"(case {case_id}, state {state}); reopen that case instead" in str(error)
            assert cases.reopen(rt, actors["social_policy"], case_id, "Đăng ký đi lần hai").state == "registered"  # the advice works


def test_second_case_for_a_returned_worker_says_to_reopen(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "returned")
    error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], f.registration(rt.today(), serial=1))
    assert f"(case {case_id}, state returned); reopen that case instead" in str(error)
