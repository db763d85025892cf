"""The runtime a command needs: engine, clock and policy, built from settings or given by a test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from config.policy import load_clocks, load_policy
from config.settings import Settings, get_settings
from services.clock import Clock, FixedClock, SystemClock, today
from services.db import UnitOfWork, make_engine
from workflows.case import WORKFLOW_VERSION
from workflows.clocks import ClockPolicy
from workflows.policy import Policy


@dataclass
class Runtime:
    """What commands and queries run against."""

    engine: Engine
    clock: Clock
    policy: Policy
    clocks: ClockPolicy

    def unit_of_work(self, *, writes: bool = True) -> UnitOfWork:
        """Open one transaction (`writes=False` for a read that must not hold the SQLite write lock)."""
        return UnitOfWork(self.engine, writes=writes)

    def today(self) -> date:
        """Return the business date in Vietnam."""
        return today(self.clock)


def build_runtime(settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock | None = None) -> Runtime:
    """Build the runtime from settings; a test passes its own engine or clock."""
    settings = settings or get_settings()
    if clock is None:
        clock = FixedClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    return Runtime(
        engine=engine or make_engine(settings.database_url),
        clock=clock,
        policy=load_policy(settings.policy_file, WORKFLOW_VERSION),
        clocks=load_clocks(settings.clocks_file, settings.departments_file),
    )
