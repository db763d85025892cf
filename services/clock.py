"""Injectable time: the system clock in production, a settable one for tests, demos and support."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from workflows.calendar import local_date


class Clock(Protocol):
    """Tells the current moment (aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the current moment in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stays where it is set, and moves only when told to."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)

    def now(self) -> datetime:
        """Return the set moment."""
        return self.moment

    def advance(self, **delta: float) -> None:
        """Move the clock forward (days=…, hours=…)."""
        self.moment += timedelta(**delta)


def today(clock: Clock) -> date:
    """Return the business date in Vietnam according to a clock."""
    return local_date(clock.now())
