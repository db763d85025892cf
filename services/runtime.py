"""The runtime a command needs: engine, clock and policy, built from settings or given by a test."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, bindparam, text

from config.policy import load_access, load_clocks, load_policy, load_reports
from config.settings import CONFIG_DIR, Settings, get_settings
from config.targets import load_plan_defaults, load_support
from services.clock import Clock, FixedClock, SystemClock, today
from services.crypto import Sealer, load_keys
from services.db import UnitOfWork, make_engine
from services.models import UtcDateTime
from workflows.access import AccessPolicy
from workflows.case import WORKFLOW_VERSION
from workflows.clocks import ClockPolicy
from workflows.plans import PlanDefaults
from workflows.policy import Policy
from workflows.reports import ReportPolicy
from workflows.support import SupportPolicy

log = logging.getLogger(__name__)

# Publish outbox messages of one queue (queue, message ids) to the broker as one task; raise if the broker did not take it.
Publish = Callable[[str, list[str]], None]
# The most message ids one task carries: the worker's cost per task is shared by its messages (each still handled in
# its own transactions), while a flood still spreads over the department's workers in tasks of this size.
MESSAGES_PER_TASK = 50


def groups(messages: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """Group (queue, message id) pairs by queue, in order, into tasks of at most MESSAGES_PER_TASK ids."""
    by_queue: dict[str, list[str]] = {}
    for queue, message_id in messages:
        by_queue.setdefault(queue, []).append(message_id)
    return [
        (queue, ids[start : start + MESSAGES_PER_TASK])
        for queue, ids in by_queue.items()
        for start in range(0, len(ids), MESSAGES_PER_TASK)
    ]


# Mark outbox rows published (again, for the reconciler), unless a consumer already handled them.
PUBLISHED = text(
    "UPDATE outbox SET status = 'published', published_at = :now, attempts = attempts + 1 WHERE message_id IN :ids AND status <> 'done'"
).bindparams(bindparam("ids", expanding=True), bindparam("now", type_=UtcDateTime))


@dataclass
class Runtime:
    """What commands and queries run against; with `publish`, a command's messages leave right after its commit."""

    engine: Engine
    clock: Clock
    policy: Policy
    clocks: ClockPolicy
    sealer: Sealer
    access: AccessPolicy = field(default_factory=AccessPolicy)
    publish: Publish | None = None
    plan_defaults: PlanDefaults = field(default_factory=lambda: load_plan_defaults(CONFIG_DIR / "plans.toml"))
    support: SupportPolicy = field(default_factory=lambda: load_support(CONFIG_DIR / "support.toml"))
    reports: ReportPolicy = field(default_factory=lambda: load_reports(CONFIG_DIR / "clocks.toml", CONFIG_DIR / "departments.toml"))

    def unit_of_work(self, *, writes: bool = True) -> UnitOfWork:
        """Open one transaction (`writes=False` for a read that must not hold the SQLite write lock)."""
        return UnitOfWork(self.engine, writes=writes, after_commit=self._publish_written if self.publish else None)

    def _publish_written(self, messages: list[tuple[str, str]]) -> None:
        """Publish what a transaction just committed; what the broker refuses stays pending for the relay."""
        assert self.publish is not None
        sent: list[str] = []
        for queue, message_ids in groups(messages):
            try:
                self.publish(queue, message_ids)
            except Exception:
                log.warning("broker unavailable: %d messages left to the outbox relay", len(messages) - len(sent), exc_info=True)
                break
            sent += message_ids
        if sent:
            with UnitOfWork(self.engine) as conn:
                conn.execute(PUBLISHED, {"ids": sent, "now": self.clock.now()})

    def today(self) -> date:
        """Return the business date in Vietnam."""
        return today(self.clock)


def build_runtime(settings: Settings | None = None, *, engine: Engine | None = None, clock: Clock | None = None) -> Runtime:
    """Build the runtime from settings; a test passes its own engine or clock."""
    settings = settings or get_settings()
    if clock is None:
        clock = FixedClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    access = load_access(settings.access_file)
    return Runtime(
        engine=engine or make_engine(settings.database_url, pool_size=settings.database_pool_size),
        clock=clock,
        policy=load_policy(settings.policy_file, WORKFLOW_VERSION),
        clocks=load_clocks(settings.clocks_file, settings.departments_file),
        sealer=Sealer(load_keys(settings), access.encrypted_fields()),
        access=access,
        plan_defaults=load_plan_defaults(settings.plans_file),
        support=load_support(settings.support_file),
        reports=load_reports(settings.clocks_file, settings.departments_file),
    )
