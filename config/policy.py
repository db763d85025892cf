"""Load the rule policy, the clock policy and the departments from their data files in config/."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from workflows.access import AccessPolicy, build_access_policy
from workflows.case import STATES, TRANSITIONS
from workflows.clocks import ClockPolicy, build_clock_policy
from workflows.history import REGISTER
from workflows.policy import Market, Policy
from workflows.reports import ReportPolicy, build_report_policy


@dataclass(frozen=True)
class Department:
    """A department of the commune: its code (also its queue) and its names."""

    code: str
    name_vi: str
    name_en: str


@lru_cache(maxsize=8)
def load_policy(path: Path, workflow_version: str = "case-v1") -> Policy:
    """Return the policy of a workflow version, with its markets, from a TOML file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    values = dict(data["workflow"][workflow_version])
    markets = {code: Market(code=code, **fields) for code, fields in data.get("market", {}).items()}
    return Policy(workflow_version=workflow_version, markets=markets, **values)


@lru_cache(maxsize=4)
def load_departments(path: Path) -> tuple[Department, ...]:
    """Return the departments in file order."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple(Department(code=code, **fields) for code, fields in data.items())


@lru_cache(maxsize=8)
def load_clocks(path: Path, departments_path: Path) -> ClockPolicy:
    """Return the legal clocks and their reminder ladders from a TOML file, checked against the workflow."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    triggers = {REGISTER} | {spec.trigger for spec in TRANSITIONS}
    departments = {department.code for department in load_departments(departments_path)}
    return build_clock_policy(data, departments, {state.name for state in STATES}, triggers)


@lru_cache(maxsize=4)
def load_access(path: Path) -> AccessPolicy:
    """Return who sees which personal data and the separation-of-duties rules from a TOML file."""
    return build_access_policy(tomllib.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=8)
def load_reports(path: Path, departments_path: Path) -> ReportPolicy:
    """Return the kinds of periodic report, when beat drafts them and their ladders, from the clocks' TOML file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return build_report_policy(data, {department.code for department in load_departments(departments_path)})
