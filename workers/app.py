"""The Celery app: built from config/, with the system and department tasks registered on it."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from config.celery import make_celery, send_message
from config.settings import get_settings
from services.db import make_engine
from services.key_check import check_keys
from services.runtime import Runtime, build_runtime

app = make_celery(get_settings())
PLAN_SECONDS = 600


def publish(queue: str, message_ids: list[str]) -> None:
    """Publish outbox messages to their department's queue as one task: their ids only, never their content."""
    send_message(app, queue, message_ids)


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Return this worker process's runtime, built on first use; what its tasks write is published after commit."""
    settings = get_settings()
    # A new connection every PLAN_SECONDS: the plans a connection keeps were made for the tables' size back then.
    engine = make_engine(settings.database_url, pool_recycle=PLAN_SECONDS)
    built = build_runtime(settings, engine=engine)
    check_keys(built)  # a worker with other keys than the database's would seal what no one can open
    return dataclasses.replace(built, publish=publish)


# Registering the tasks needs `app`, `runtime` and `publish` above.
from workers import departments, system  # noqa: E402, F401
