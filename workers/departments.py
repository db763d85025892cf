"""One `dept.<department>.handle` task per department of config/departments.toml, each on its own queue.

The departments are data, so their tasks are registered in a loop rather than written out one module each:
every department handles its messages the same way (services.outbox.handle), on its own queue and workers.
"""

from __future__ import annotations

import smtplib
import urllib.error
from typing import Any

from sqlalchemy.exc import OperationalError

from config.celery import department_task
from config.policy import load_departments
from config.settings import get_settings
from services import outbox
from workers.app import app, runtime

# A mail server, webhook receiver or database that is briefly away, or a delivery another attempt holds:
# try again a few times within seconds (DESIGN.md rule 4: no long countdowns); after that the
# reconciler publishes the message again.
TRANSIENT = (OSError, smtplib.SMTPException, urllib.error.URLError, OperationalError, outbox.DeliveriesPending)


def _handle(message_id: str) -> str:
    """Handle one outbox message (its id only) once."""
    return outbox.handle(runtime(), get_settings(), message_id).outcome


def _register(department: str) -> Any:
    return app.task(
        name=department_task(department, "handle"),
        autoretry_for=TRANSIENT,
        retry_backoff=1,
        retry_backoff_max=8,
        retry_jitter=True,
        max_retries=6,
    )(_handle)


HANDLERS = {department.code: _register(department.code) for department in load_departments(get_settings().departments_file)}
