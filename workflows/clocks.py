"""Legal clocks as data: what starts each, when it falls due, what stops it, and its reminder ladder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from workflows.calendar import VIETNAM, add_working_days
from workflows.policy import Policy, add_months

# Reminders go out at the start of the office day; a deadline falls at the end of its day.
REMINDER_TIME = time(8, 0)
DUE_TIME = time(23, 59, 59)
_LENGTH = re.compile(r"^([+-]?\d+)(d|wd|m)$")
RECIPIENTS = ("owner", "commune_supervisor", "province_supervisor")
ACTIONS = ("remind", "alert", "escalate")


@dataclass(frozen=True)
class Length:
    """A span of business time: calendar days (d), working days (wd) or months (m)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Length:
        """Read '30d', '-3wd', '+1wd' or '24m'."""
        match = _LENGTH.match(text.strip())
        if match is None:
            raise ValueError(f"not a length: {text!r} (use e.g. 30d, 7wd, 24m, -3wd)")
        return cls(int(match.group(1)), match.group(2))

    def after(self, day: date) -> date:
        """Return the day this length after (or before, if negative) a day."""
        if self.unit == "d":
            return day + timedelta(days=self.amount)
        if self.unit == "wd":
            return add_working_days(day, self.amount)
        return add_months(day, self.amount)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


# Lengths named after a rule value of the policy, so a clock and the guard that checks the same rule agree.
_POLICY_LENGTHS = {
    "@departure_within": lambda policy, market: Length(policy.departure_within_days, "d"),
    "@orientation_validity": lambda policy, market: Length(policy.orientation_validity_months, "m"),
    "@health_validity": lambda policy, market: Length(policy.health_validity_for(market), "m"),
}


@dataclass(frozen=True)
class Rung:
    """One step of a reminder ladder: when (relative to the due day), what, and to whom."""

    number: int
    at: Length
    action: str  # remind, alert, escalate
    to: str  # owner, commune_supervisor, province_supervisor, or department:<code>


@dataclass(frozen=True)
class ClockRule:
    """A legal clock: the step that starts it, the day it counts from, its length, and what stops it."""

    name: str
    label_vi: str
    label_en: str
    starts_on: tuple[str, ...]  # the triggers whose events start the clock
    counts_from: str  # "event" (the day of the step) or a record path, e.g. "health.examined_on"
    length: str  # a Length ("30d") or a policy length ("@health_validity")
    department: str
    ladder: tuple[Rung, ...]
    while_in: tuple[str, ...] = ()  # the clock stops when the case leaves these states
    until_done: bool = False  # the clock opens a work item; completing it stops the clock

    def length_for(self, policy: Policy, market: str | None) -> Length:
        """Return the clock's length under a policy, for a market."""
        named = _POLICY_LENGTHS.get(self.length)
        return named(policy, market) if named else Length.parse(self.length)


@dataclass(frozen=True)
class PlannedRung:
    """A rung with the moment it fires."""

    number: int
    fires_at: datetime
    action: str
    to: str


@dataclass(frozen=True)
class PlannedClock:
    """A clock opened for a case: the day it counts from, when it falls due, and its rungs."""

    rule: ClockRule
    counted_from: date
    due_at: datetime
    rungs: tuple[PlannedRung, ...]


@dataclass(frozen=True)
class ClockPolicy:
    """Every clock rule of a workflow version, by name."""

    rules: dict[str, ClockRule]

    def started_by(self, trigger: str) -> list[ClockRule]:
        """Return the clocks a trigger starts."""
        return [rule for rule in self.rules.values() if trigger in rule.starts_on]

    def stopped_by(self, state: str) -> list[str]:
        """Return the clocks that stop when a case enters a state (it left the states they run in)."""
        return [rule.name for rule in self.rules.values() if rule.while_in and state not in rule.while_in]


def plan(rule: ClockRule, event_day: date, records: dict[str, Any], policy: Policy, market: str | None) -> PlannedClock | None:
    """Plan a clock: the day it counts from, its due moment and every rung; None if its date is not recorded.

    Rungs whose moment has passed already are planned too: the next sweep fires them (only the latest
    one to each recipient, so a late case is reminded once at the level it has reached).
    """
    origin = event_day if rule.counts_from == "event" else _read_date(records, rule.counts_from)
    if origin is None:
        return None
    due_day = rule.length_for(policy, market).after(origin)
    return PlannedClock(rule, origin, moment(due_day, DUE_TIME), ladder_for(rule, due_day))


def ladder_for(rule: ClockRule, due_day: date) -> tuple[PlannedRung, ...]:
    """Plan every rung of a clock's reminder ladder around its due day (working days counted as business time)."""
    return plan_ladder(rule.ladder, due_day)


def plan_ladder(ladder: tuple[Rung, ...], due_day: date) -> tuple[PlannedRung, ...]:
    """Plan every rung of a reminder ladder around a due day, each at the start of its office day."""
    return tuple(PlannedRung(rung.number, moment(rung.at.after(due_day), REMINDER_TIME), rung.action, rung.to) for rung in ladder)


def moment(day: date, at: time) -> datetime:
    """Return a Vietnam-local day and time as an aware UTC moment."""
    return datetime.combine(day, at, tzinfo=VIETNAM).astimezone(UTC)


def _read_date(records: dict[str, Any], path: str) -> date | None:
    kind, *attributes = path.split(".")
    value: Any = records.get(kind)
    for attribute in attributes:
        if value is None:
            return None
        value = getattr(value, attribute, None)
    return value if isinstance(value, date) else None


def build_clock_policy(data: dict[str, Any], departments: set[str], states: set[str], triggers: set[str]) -> ClockPolicy:
    """Build the clock rules from policy data ([clock.*] and [ladder.*]), refusing names that do not exist."""
    ladders = {name: build_ladder(name, spec["rungs"], departments) for name, spec in data.get("ladder", {}).items()}
    rules = {}
    for name, spec in data.get("clock", {}).items():
        rule = ClockRule(
            name=name, label_vi=spec["label_vi"], label_en=spec["label_en"], starts_on=_names(spec["starts_on"]),
            counts_from=spec.get("counts_from", "event"), length=spec["length"], department=spec["department"],
            ladder=ladders[spec.get("ladder", "standard")], while_in=tuple(spec.get("while_in", ())),
            until_done=bool(spec.get("until_done", False)),
        )  # fmt: skip
        if rule.length not in _POLICY_LENGTHS:
            Length.parse(rule.length)
        wrong = [f"state {state!r}" for state in rule.while_in if state not in states]
        wrong += [f"trigger {trigger!r}" for trigger in rule.starts_on if trigger not in triggers]
        if rule.department not in departments:
            wrong.append(f"department {rule.department!r}")
        if wrong:
            raise ValueError(f"clock {name}: unknown {', '.join(wrong)}")
        if rule.until_done == bool(rule.while_in):
            raise ValueError(f"clock {name}: give either while_in or until_done = true")
        rules[name] = rule
    return ClockPolicy(rules)


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def build_ladder(name: str, rungs: list[dict[str, str]], departments: set[str]) -> tuple[Rung, ...]:
    """Build a reminder ladder from its rungs' data, refusing an unknown action or recipient."""
    built = tuple(Rung(number, Length.parse(rung["at"]), rung["action"], rung["to"]) for number, rung in enumerate(rungs, start=1))
    for rung in built:
        target = rung.to.removeprefix("department:")
        if rung.action not in ACTIONS or (rung.to not in RECIPIENTS and target not in departments):
            raise ValueError(f"ladder {name}: rung {rung.number} has an unknown action or recipient ({rung.action}, {rung.to})")
    return built
