"""Real workers on a real broker: queues per department, a worker killed mid-task, a flushed Redis; nothing lost, nothing twice."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from config.celery import make_celery, queue_names, send_message
from config.settings import Settings
from services import cases, deadlines, outbox
from services.clock import FixedClock
from services.models import Delivery, Notification, OutboxMessage
from services.runtime import Runtime, build_runtime
from services.users import load_actor
from tests import factories as f
from tests.conftest import START
from tests.workers.conftest import redis_url, wait_for

ALL_QUEUES = tuple(queue_names(Settings()))  # every department's queue and `system`


class Stack:
    """The test's view of one deployment: database, broker, SMTP server, and a publisher like the relay's."""

    def __init__(self, engine: Engine, broker_url: str, smtp_port: int, prefix: str = "") -> None:
        self.url = engine.url.render_as_string(hide_password=False)
        self.clock = FixedClock(START)
        self.rt: Runtime = build_runtime(Settings(), engine=engine, clock=self.clock)
        self.settings = Settings(
            database_url=self.url, broker_url=broker_url, broker_key_prefix=prefix, smtp_host="127.0.0.1", smtp_port=smtp_port,
            republish_after_seconds=0,
        )  # fmt: skip
        self.app = make_celery(self.settings)
        self.env = {
            "DATABASE_URL": self.url, "BROKER_URL": broker_url, "GUESTWORK_BROKER_KEY_PREFIX": prefix,
            "GUESTWORK_SMTP_HOST": "127.0.0.1", "GUESTWORK_SMTP_PORT": str(smtp_port),
            "GUESTWORK_DELIVERY_LEASE_SECONDS": "3",  # a killed worker's hold on a delivery runs out quickly
        }  # fmt: skip

    def publish(self, queue: str, message_ids: list[str]) -> None:
        send_message(self.app, queue, message_ids)

    def relay(self) -> int:
        return outbox.relay(self.rt, self.publish)

    def reconcile(self) -> int:
        self.clock.advance(seconds=1)
        return outbox.reconcile(self.rt, self.publish, self.settings)

    def register(self, serial: int = 1) -> int:
        with self.rt.unit_of_work() as conn:
            officer = load_actor(conn, "social_policy")
        return cases.register(self.rt, officer, f.registration(self.rt.today(), serial=serial)).id

    def statuses(self) -> Counter[str]:
        with self.rt.unit_of_work(writes=False) as conn:
            return Counter(dict(conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()))

    def all_done(self) -> bool:
        statuses = self.statuses()
        return set(statuses) == {"done"}

    def done(self, message_ids: list[str]) -> bool:
        with self.rt.unit_of_work(writes=False) as conn:
            statuses = conn.scalars(select(OutboxMessage.status).where(OutboxMessage.message_id.in_(message_ids))).all()
        return len(statuses) == len(message_ids) and set(statuses) == {"done"}

    def count(self, model: Any) -> int:
        with self.rt.unit_of_work(writes=False) as conn:
            return int(conn.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def redis_stack(postgres_engine, mailbox):
    url, prefix = redis_url(), f"gwtest-{uuid.uuid4().hex[:8]}:"
    stack = Stack(postgres_engine, url, mailbox[1], prefix)
    yield stack
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def embedded_stack(sqlite_engine, mailbox, tmp_path: Path):
    return Stack(sqlite_engine, f"sqla+sqlite:///{tmp_path / 'broker.db'}", mailbox[1])


def test_each_message_lands_on_its_department_queue_and_is_handled_once(redis_stack, workers, mailbox):
    case_id = redis_stack.register()
    with redis_stack.rt.unit_of_work() as conn:
        actors = {dept: load_actor(conn, dept) for dept in ("enterprise", "training", "office", "bank")}
    for trigger in ("counsel", "train", "certify_health", "approve_loan"):
        f.step(redis_stack.rt, actors, case_id, trigger)
    with redis_stack.rt.unit_of_work(writes=False) as conn:
        expected = sorted(conn.execute(select(OutboxMessage.queue, OutboxMessage.message_id)).tuples())
    assert redis_stack.relay() == len(expected)
    client = redis.Redis.from_url(redis_url())
    waiting = sorted(
        (queue, message_id)
        for queue in ALL_QUEUES
        for task in client.lrange(f"{redis_stack.settings.broker_key_prefix}{queue}", 0, -1)
        for message_id in task_message_ids(task)
    )
    assert waiting == expected  # every message is on the queue of the department it concerns, once, and nowhere else
    group = workers(redis_stack.env)
    group.start(*ALL_QUEUES)
    wait_for(redis_stack.all_done, what="every message handled", logs=group.logs)
    assert redis_stack.relay() == 0 and redis_stack.reconcile() == 0


def task_message_ids(raw: bytes) -> list[str]:
    """Return the message ids a task waiting on a Redis queue carries (its only argument)."""
    envelope = json.loads(raw)
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    return list(args[0])


def kill_mid_send_then_recover(stack: Stack, workers, mailbox) -> None:
    """A worker dies while it sends a reminder; a new worker and the reconciler finish the work, once."""
    handler, _ = mailbox
    stack.register()
    # On 28/6 only the first counselling rung (26/6, three working days before the 1/7 due date) is due.
    fired = deadlines.sweep(stack.rt, START + timedelta(days=27))
    assert [(rung.clock, rung.rung, rung.queue) for rung in fired] == [("counselling", 1, "social_policy")]
    handler.hold()
    stack.relay()
    group = workers(stack.env)
    first = group.start(*ALL_QUEUES)
    wait_for(handler.holding.is_set, what="the worker to be sending the reminder", logs=group.logs)
    group.kill(first)
    handler.release.set()
    assert handler.accepted == [] and stack.statuses()["done"] < 2
    group.start(*ALL_QUEUES)
    assert stack.reconcile() >= 1  # the killed worker's message is published again
    wait_for(stack.all_done, what="the reminder handled after the crash", logs=group.logs)
    assert [rcpt for rcpt, _ in handler.accepted] == [["social_policy@camtan.example.org"]]
    mail = email.message_from_bytes(handler.accepted[0][1], policy=email.policy.default)
    assert mail["Subject"] == "[guestwork] Nhắc việc: Tư vấn cho người lao động đã đăng ký — hồ sơ số 1, hạn 01/07/2026"
    assert stack.count(Notification) == 1 and stack.count(Delivery) == 1
    # Whatever the broker still holds or brings back later is recognised as handled: nothing is sent again.
    assert stack.reconcile() == 0 and len(handler.accepted) == 1


def test_a_worker_killed_mid_task_on_redis_loses_nothing_and_sends_once(redis_stack, workers, mailbox):
    kill_mid_send_then_recover(redis_stack, workers, mailbox)


def test_a_worker_killed_mid_task_on_the_embedded_transport_loses_nothing_and_sends_once(embedded_stack, workers, mailbox):
    # kombu's SQLAlchemy transport never redelivers the killed worker's message: the reconciler does.
    kill_mid_send_then_recover(embedded_stack, workers, mailbox)


def test_a_flushed_redis_between_sweeps_loses_nothing_and_doubles_nothing(redis_stack, workers, mailbox):
    handler, _ = mailbox
    for serial in range(3):
        redis_stack.register(serial)
    first = deadlines.sweep(redis_stack.rt, START + timedelta(days=27))  # rung 1 of three counselling clocks
    redis_stack.relay()
    # Redis loses everything it held (FLUSHDB on the test's database: the same as FLUSHALL for our keys).
    redis.Redis.from_url(redis_url()).flushdb()
    second = deadlines.sweep(redis_stack.rt, START + timedelta(days=30))  # rung 2 (1/7, the due day) of the same clocks
    redis_stack.relay()
    group = workers(redis_stack.env)
    group.start(*ALL_QUEUES)
    second_ids = [rung.message_id for rung in second]
    wait_for(lambda: redis_stack.done(second_ids), what="the second sweep's reminders", logs=group.logs)
    assert not redis_stack.done([rung.message_id for rung in first])  # lost with the flush...
    assert redis_stack.reconcile() >= 3  # ...and published again from the database
    wait_for(redis_stack.all_done, what="every reminder handled", logs=group.logs)
    assert len(first) == len(second) == 3
    assert len(handler.accepted) == 6  # three cases × two rungs, one officer each
    assert redis_stack.count(Delivery) == 6 and redis_stack.count(Notification) == 6
