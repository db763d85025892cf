"""Builders for the pure-domain unit tests: the policy, reference lists, valid records and case subjects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from config.policy import load_policy
from config.settings import get_settings
from tests import factories as f
from workflows.case import TRANSITION_BY_TRIGGER
from workflows.policy import Policy
from workflows.records import validate_record
from workflows.subject import CaseSubject, Enterprise, Facility, References, School

# Monday 1 June 2026, an ordinary working day.
TODAY = date(2026, 6, 1)
POLICY: Policy = load_policy(get_settings().policy_file)

LICENCE = f.LICENCE  # licensed since 2022, no end
EXPIRED_LICENCE = f.EXPIRED_LICENCE  # licensed 2018-01-10 .. 2025-01-09
BOUNDED_LICENCE = "045/LĐTBXH-GP"  # licensed 2021-06-15 .. 2031-06-14
FUTURE_LICENCE = "200/LĐTBXH-GP"  # licensed only from 2026-07-01
FACILITY = f.FACILITY  # approved since 2020, no end
SUSPENDED_FACILITY = "PK-CU-03"  # approved 2020-01-01 .. 2026-03-31

REFERENCES = References(
    enterprises={
        LICENCE: Enterprise(LICENCE, "Công ty Sông Hồng", date(2022, 3, 1)),
        BOUNDED_LICENCE: Enterprise(BOUNDED_LICENCE, "Công ty Nhân lực Thanh Hóa", date(2021, 6, 15), date(2031, 6, 14)),
        EXPIRED_LICENCE: Enterprise(EXPIRED_LICENCE, "Công ty Miền Trung", date(2018, 1, 10), date(2025, 1, 9)),
        FUTURE_LICENCE: Enterprise(FUTURE_LICENCE, "Công ty Mới", date(2026, 7, 1)),
    },
    facilities={
        FACILITY: Facility(FACILITY, "Bệnh viện Đa khoa tỉnh Thanh Hóa", date(2020, 1, 1)),
        SUSPENDED_FACILITY: Facility(SUSPENDED_FACILITY, "Phòng khám Cũ", date(2020, 1, 1), date(2026, 3, 31)),
    },
    schools={
        "TC-NGHE-TH": School("TC-NGHE-TH", "Trường Trung cấp nghề Thanh Hóa"),
        "NN-SAKURA": School("NN-SAKURA", "Trung tâm Ngoại ngữ Sakura"),
    },
)

_BUILDERS = {
    "registration": f.registration,
    **{TRANSITION_BY_TRIGGER[trigger].record: build for trigger, build in f.RECORDS.items()},
}


class Whole(dict[str, Any]):
    """An override that replaces a record's data as a whole instead of merging into it."""


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return `base` with `overrides` applied, nested dicts merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def valid_data(day: date, overrides: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Return one valid record of every kind, all dated `day`, with per-kind overrides (None drops a kind, Whole replaces it)."""
    data = {kind: build(day) for kind, build in _BUILDERS.items()}
    for kind, change in (overrides or {}).items():
        if change is None:
            data.pop(kind, None)
        elif isinstance(change, Whole):
            data[kind] = dict(change)
        else:
            data[kind] = merge(data[kind], change)
    return data


def build_records(data: Mapping[str, Mapping[str, Any]], today: date = TODAY, policy: Policy = POLICY) -> dict[str, Any]:
    """Validate plain record data into record objects, as a command does before the guards run."""
    return {kind: validate_record(kind, dict(values), today, policy) for kind, values in data.items()}


def subject(
    state: str,
    *,
    today: date = TODAY,
    overrides: Mapping[str, Any] | None = None,
    policy: Policy = POLICY,
    references: References = REFERENCES,
    record_policy: Policy | None = None,
) -> CaseSubject:
    """Return a case in `state` holding a valid record of every kind dated `today`, with overrides.

    `record_policy` is the policy the records were validated under when written, if not the case's policy now.
    """
    records = build_records(valid_data(today, overrides), today, record_policy or policy)
    return CaseSubject(state=state, today=today, policy=policy, records=records, references=references)


def with_market_health_months(policy: Policy, market: str, months: int) -> Policy:
    """Return a policy whose market overrides the health certificate's validity."""
    return replace(policy, markets={**policy.markets, market: replace(policy.markets[market], health_validity_months=months)})
