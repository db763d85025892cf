"""The Celery configuration: one queue per department plus `system`, routes by task name, beat, safe defaults."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue
from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport

from config.policy import load_departments
from config.settings import Settings

SYSTEM_QUEUE = "system"
# The longest task (a sweep or relay batch, an SMTP or webhook call with its timeout) stays far below this.
TASK_TIME_LIMIT = 120
# On Redis an unacknowledged message comes back after this long; it must outlast the longest task.
VISIBILITY_TIMEOUT = 3600


class PollingSqlAlchemyTransport(SqlAlchemyTransport):
    """kombu's SQLAlchemy transport polling every 0.1 s instead of every second.

    The polling interval cannot go in transport options: the transport hands them all to create_engine.
    """

    polling_interval = 0.1


def department_task(department: str, verb: str) -> str:
    """Return the name of a department's task, e.g. dept.bank.handle."""
    return f"dept.{department}.{verb}"


def send_message(app: Celery, queue: str, message_ids: list[str]) -> None:
    """Publish outbox messages of one department to its handler as one task: their ids only, never their content."""
    app.send_task(department_task(queue, "handle"), args=[message_ids])  # route_task puts it on the department's queue


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str]:
    """Send dept.<department>.* to that department's queue and everything else to `system`."""
    if name.startswith("dept."):
        return {"queue": name.split(".")[1]}
    return {"queue": SYSTEM_QUEUE}


def queue_names(settings: Settings) -> list[str]:
    """Return every queue: the departments' (from config/departments.toml) and `system`."""
    return [department.code for department in load_departments(settings.departments_file)] + [SYSTEM_QUEUE]


def _transport_options(settings: Settings, embedded: bool) -> dict[str, Any]:
    if embedded:
        return {}
    options: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def make_celery(settings: Settings) -> Celery:
    """Build the Celery app for the settings' broker; the tasks register themselves from workers/."""
    app = Celery("guestwork")
    embedded = settings.broker_url.startswith("sqla+")
    app.conf.update(
        broker_url=settings.broker_url.removeprefix("sqla+") if embedded else settings.broker_url,
        broker_transport=f"{__name__}:PollingSqlAlchemyTransport" if embedded else None,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings, embedded),
        task_queues=[Queue(name, routing_key=name) for name in queue_names(settings)],
        task_default_queue=SYSTEM_QUEUE,
        task_routes=(route_task,),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 20,
        # A polling transport idles a whole poll between tasks with prefetch 1 (DESIGN.md, run modes).
        worker_prefetch_multiplier=4 if embedded else 1,
        worker_hijack_root_logger=False,
        timezone="Asia/Ho_Chi_Minh",
        enable_utc=True,
        beat_schedule=_beat_schedule(settings, embedded),
    )
    return app


def _beat_schedule(settings: Settings, embedded: bool) -> dict[str, Any]:
    """Return beat's entries; each expires after its period, so a worker that was down does not run a backlog of them."""
    periods = {
        "system.sweep_deadlines": 60.0,
        "system.relay_outbox": settings.relay_every_seconds,
        "system.republish_unhandled": 60.0,
        # Hourly although a day would do: a draft is written once per commune and period, and a run with nothing due
        # is one query per kind of report; an hour keeps a draft from waiting a day after a restart.
        "system.draft_reports": 3600.0,
    }
    if embedded:  # kombu's SQLAlchemy transport never deletes the messages it delivered
        periods["system.purge_delivered"] = 3600.0
    return {task: {"task": task, "schedule": every, "options": {"expires": every}} for task, every in periods.items()}
