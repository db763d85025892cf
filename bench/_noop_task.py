"""The no-op Celery task `bench.noop` that bench/reminders.py compares the reminders with; not part of the product.

A benchmark worker loads it beside the product's tasks with `celery -A workers.app worker --include bench._noop_task`.
It is routed like every non-department task (to `system`) and only counts itself: one INCR of the Redis key it is
given (one short string argument, like a reminder's message id), so that the benchmark knows when all of them ran.
"""

from __future__ import annotations

from functools import lru_cache

import redis

from config.settings import get_settings
from workers.app import app


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(get_settings().broker_url)


@app.task(name="bench.noop")
def noop(counter: str) -> None:
    """Do nothing but count that it ran."""
    _redis().incr(counter)
