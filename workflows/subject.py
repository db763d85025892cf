"""What a guard sees: the case's state and records, today's date, the policy and the references."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workflows.policy import Policy


@dataclass(frozen=True)
class Enterprise:
    """A licensed service enterprise and the days its licence holds."""

    licence_number: str
    name: str
    licensed_from: date
    licensed_until: date | None = None

    def licensed_on(self, day: date) -> bool:
        """Tell whether the licence holds on a day."""
        return self.licensed_from <= day and (self.licensed_until is None or day <= self.licensed_until)


@dataclass(frozen=True)
class Facility:
    """A health-check facility approved for workers going abroad."""

    code: str
    name: str
    approved_from: date
    approved_until: date | None = None

    def approved_on(self, day: date) -> bool:
        """Tell whether the approval holds on a day."""
        return self.approved_from <= day and (self.approved_until is None or day <= self.approved_until)


@dataclass(frozen=True)
class School:
    """A vocational or language school."""

    code: str
    name: str


@dataclass(frozen=True)
class References:
    """The reference data a command's records name, looked up before the guards run."""

    enterprises: dict[str, Enterprise] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)


@dataclass(frozen=True)
class StateChange:
    """A domain event collected by the machine: the case moved from one state to another."""

    trigger: str
    source: str
    dest: str
    new_application: bool


@dataclass
class CaseSubject:
    """The model the shared machine fires on: plain data, no database behind it."""

    state: str
    today: date
    policy: Policy
    records: dict[str, Any]
    references: References = field(default_factory=References)
    changes: list[StateChange] = field(default_factory=list)

    def record(self, kind: str) -> Any:
        """Return the current application's record of a kind, or None."""
        return self.records.get(kind)
