"""One `dept.<department>.handle` task per department of config/departments.toml, each on its own queue.

The departments are data, so their tasks are registered in a loop rather than written out one module each:
every department handles its messages the same way (services.outbox.handle_each), on its own queue and workers.
"""

from __future__ import annotations

import logging
import smtplib
import urllib.error
from typing import Any

from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import OperationalError

from config.celery import TASK_TIME_LIMIT, department_task
from config.policy import load_departments
from config.settings import get_settings
from services import outbox
from workers.app import app, runtime

log = logging.getLogger(__name__)

# A mail server, webhook receiver or database that is briefly away, or a delivery another attempt holds:
# try again a few times within seconds (DESIGN.md rule 4: no long countdowns); after that the
# reconciler publishes the message again.
TRANSIENT = (OSError, smtplib.SMTPException, urllib.error.URLError, OperationalError, outbox.DeliveriesPending)
MAX_RETRIES = 6
# A task starts no new message after this long, so a slow mail server cannot run it into its time limit.
BATCH_SECONDS = TASK_TIME_LIMIT / 4


def _handle(task: Any, message_ids: list[str] | str) -> int:
    """Handle a task's outbox messages (ids only), each once; retry only the ones that failed or were not reached."""
    ids = [message_ids] if isinstance(message_ids, str) else message_ids  # a task published by an older version
    batch = outbox.handle_each(runtime(), get_settings(), ids, seconds=BATCH_SECONDS)
    again = [message_id for message_id, error in batch.failed.items() if isinstance(error, TRANSIENT)]
    for message_id, error in batch.failed.items():
        if message_id not in again:  # not worth retrying now: the reconciler publishes it again later
            log.error("message %s failed", message_id, exc_info=error)
    if again or batch.left:
        countdown = get_exponential_backoff_interval(1, task.request.retries, 8, full_jitter=True) if again else 0
        error = batch.failed[again[0]] if again else None
        raise task.retry(args=[again + batch.left], countdown=countdown, exc=error, max_retries=MAX_RETRIES)
    return len(ids)


def _register(department: str) -> Any:
    return app.task(name=department_task(department, "handle"), bind=True, max_retries=MAX_RETRIES)(_handle)


HANDLERS = {department.code: _register(department.code) for department in load_departments(get_settings().departments_file)}
