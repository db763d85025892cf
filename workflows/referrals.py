"""A referral by police or military of a youth who finished their service, and the registration it becomes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints, model_validator

from workflows.errors import Problem, RecordInvalid, problem
from workflows.records import Code, PastDate, Record, vi_date

# The departments that refer, and the priority fact each one vouches for (DOMAIN.md: a priority group).
SERVICE_FACT = {"police": "police_service_done", "military": "military_service_done"}
STATUSES = ("open", "converted", "declined")


class ReferralForm(Record):
    """What the referring officer knows of the youth: name, birth date, phone, where they live, when service ended."""

    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]
    date_of_birth: PastDate
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(0|\+84)\d{9}$")]
    service_ended_on: PastDate
    village: Code  # a village code or name in the commune
    commune: Code | None = None  # needed only by a user whose scope holds several communes
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _service_after_birth(self) -> ReferralForm:
        if self.service_ended_on <= self.date_of_birth:
            raise RecordInvalid(
                [
                    problem(
                        "referral.service_before_birth",
                        f"Ngày xuất ngũ {vi_date(self.service_ended_on)} không thể trước ngày sinh {vi_date(self.date_of_birth)}.",
                        f"The service end {self.service_ended_on.isoformat()} cannot precede the birth date {self.date_of_birth.isoformat()}.",
                        "service_ended_on",
                    )
                ]
            )
        return self


def registration_from(referral: dict[str, Any], department: str, given: dict[str, Any]) -> dict[str, Any]:
    """Return the registration a referral becomes: its identity and place unless the officer gives them, source referral.

    `referral` holds full_name, date_of_birth, phone, commune_code and village_code; `given` is what the social-policy
    officer recorded on meeting the youth (personal ID, sex, consent, other priority facts, corrections).
    """
    source = given.get("source")
    if source not in (None, "referral"):
        raise RecordInvalid([_source_is_referral(str(source))])
    priority = given.get("priority") or {}
    if not isinstance(priority, dict):
        raise RecordInvalid(
            [problem("field.dict_type", "Phải là một nhóm trường (đối tượng).", "Must be an object of fields.", "priority")]
        )
    return {**referral, **given, "priority": {**priority, SERVICE_FACT[department]: True}, "source": "referral"}


def _source_is_referral(source: str) -> Problem:
    return problem(
        "referral.source",
        f"Hồ sơ từ giới thiệu luôn có nguồn 'referral', không phải '{source}'.",
        f"A case from a referral always has the source 'referral', not '{source}'.",
        "source",
    )
