"""Legal clocks as data: when each starts, when it is due, when it stops, and its reminder ladder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from workflows.calendar import VIETNAM, add_working_days
from workflows.policy import add_months

# Reminders go out at the start of the office day; a deadline falls at the end of its day.
REMINDER_TIME = time(8, 0)
DUE_TIME = time(23, 59, 59)
_LENGTH = re.compile(r"^([+-]?\d+)(d|wd|m)$")


@dataclass(frozen=True)
class Length:
    """A span of business time: calendar days (d), working days (wd) or months (m)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Length:
        """Read '30d', '-3wd' or '24m'."""
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
    starts_on: str  # the trigger whose event starts the clock
    counts_from: str  # "event" (the day of the step) or a record field path, e.g. "health.examined_on"
    length: Length
    department: str
    stops_at: tuple[str, ...] = ()  # states whose reaching stops the clock
    stops_on_leaving: bool = False  # the clock stops when the case leaves the state the step led to
    stops_when_done: bool = False  # the clock opens a work item; completing it stops the clock
    ladder: tuple[Rung, ...] = ()
    market_lengths: dict[str, Length] = field(default_factory=dict)

    def length_for(self, market: str | None) -> Length:
        """Return the clock's length for a market (a market may override it)."""
        return self.market_lengths.get(market or "", self.length)


def due_day(rule: ClockRule, start_day: date, records: dict[str, Any], market: str | None) -> date | None:
    """Return the day a clock falls due, or None if the record it counts from is absent."""
    origin = start_day if rule.counts_from == "event" else _read_date(records, rule.counts_from)
    if origin is None:
        return None
    return rule.length_for(market).after(origin)


def moment(day: date, at: time) -> datetime:
    """Return a Vietnam-local day and time as an aware UTC moment."""
    return datetime.combine(day, at, tzinfo=VIETNAM).astimezone(UTC)


def due_moment(day: date) -> datetime:
    """Return the end of a due day in Vietnam, in UTC."""
    return moment(day, DUE_TIME)


def rung_moments(rule: ClockRule, due: date) -> list[tuple[Rung, datetime]]:
    """Return when each rung of a clock's ladder fires, for a due day."""
    return [(rung, moment(rung.at.after(due), REMINDER_TIME)) for rung in rule.ladder]


def _read_date(records: dict[str, Any], path: str) -> date | None:
    kind, *attributes = path.split(".")
    value: Any = records.get(kind)
    for attribute in attributes:
        if value is None:
            return None
        value = getattr(value, attribute, None)
    return value if isinstance(value, date) else None


def build_rules(data: dict[str, Any]) -> dict[str, ClockRule]:
    """Build the clock rules from policy data (the [clock.*] and [ladder.*] tables)."""
    ladders = {
        name: tuple(
            Rung(number, Length.parse(rung["at"]), rung["action"], rung["to"]) for number, rung in enumerate(ladder["rungs"], start=1)
        )
        for name, ladder in data.get("ladder", {}).items()
    }
    rules = {}
    for name, spec in data.get("clock", {}).items():
        rules[name] = ClockRule(
            name=name,
            label_vi=spec["label_vi"],
            label_en=spec["label_en"],
            starts_on=spec["starts_on"],
            counts_from=spec.get("counts_from", "event"),
            length=Length.parse(spec["length"]),
            department=spec["department"],
            stops_at=tuple(spec.get("stops_at", ())),
            stops_on_leaving=spec.get("stops_on_leaving", False),
            stops_when_done=spec.get("stops_when_done", False),
            ladder=ladders[spec.get("ladder", "standard")],
            market_lengths={market: Length.parse(value) for market, value in spec.get("market_lengths", {}).items()},
        )
    return rules
