"""The runtime a command needs: engine, clock and policy, built from settings or given by a test."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, bindparam, text

from config.policy import load_access, load_clocks, load_policy
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
from workflows.support import SupportPolicy

log = logging.getLogger(__name__)

# Publish one outbox message (queue, message id) to the broker; raise if the broker did not take it.
Publish = Callable[[str, str], None]

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

    def unit_of_work(self, *, writes: bool = True) -> UnitOfWork:
        """Open one transaction (`writes=False` for a read that must not hold the SQLite write lock)."""
        return UnitOfWork(self.engine, writes=writes, after_commit=self._publish_written if self.publish else None)

    def _publish_written(self, messages: list[tuple[str, str]]) -> None:
        """Publish what a transaction just committed; what the broker refuses stays pending for the relay."""
        assert self.publish is not None
        sent: list[str] = []
        for queue, message_id in messages:
            try:
                self.publish(queue, message_id)
            except Exception:
                log.warning("broker unavailable: %d messages left to the outbox relay", len(messages) - len(sent), exc_info=True)
                break
            sent.append(message_id)
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
        engine=engine or make_engine(settings.database_url),
        clock=clock,
        policy=load_policy(settings.policy_file, WORKFLOW_VERSION),
        clocks=load_clocks(settings.clocks_file, settings.departments_file),
        sealer=Sealer(load_keys(settings), access.encrypted_fields()),
        access=access,
        plan_defaults=load_plan_defaults(settings.plans_file),
        support=load_support(settings.support_file),
    )
