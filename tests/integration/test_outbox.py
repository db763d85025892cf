"""The outbox: messages leave right after the command commits, the relay sends what is left, a consumer handles each once."""

from __future__ import annotations

import dataclasses
import json
import smtplib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from config.settings import Settings
from services import cases, deadlines, outbox
from services.models import Notification, OutboxMessage
from tests import factories as f


def rows(rt):
    with rt.unit_of_work(writes=False) as conn:
        return conn.execute(select(OutboxMessage.queue, OutboxMessage.message_id, OutboxMessage.status).order_by(OutboxMessage.id)).all()


def test_a_command_publishes_its_messages_right_after_commit(rt, actors):
    sent: list[tuple[str, str]] = []
    live = dataclasses.replace(rt, publish=lambda queue, message_ids: sent.extend((queue, m) for m in message_ids))
    case_id = cases.register(live, actors["social_policy"], f.registration(rt.today())).id
    f.step(live, actors, case_id, "counsel")
    assert sent == [(queue, message_id) for queue, message_id, _ in rows(rt)]
    assert {queue for queue, _ in sent} == {"social_policy", "training"}  # the departments the steps concern
    assert {status for *_, status in rows(rt)} == {"published"}
    assert outbox.relay(rt, lambda queue, message_ids: sent.extend((queue, m) for m in message_ids)) == 0  # nothing left for the relay


def test_a_broker_that_is_down_loses_nothing_the_relay_sends_it_later(rt, actors):
    def down(queue: str, message_ids: list[str]) -> None:
        raise ConnectionError("broker unreachable")

    live = dataclasses.replace(rt, publish=down)
    case_id = cases.register(live, actors["social_policy"], f.registration(rt.today())).id  # the command still succeeds
    assert cases.fire(live, actors["enterprise"], case_id, "counsel", f.counselling(rt.today())).state == "counselled"
    assert {status for *_, status in rows(rt)} == {"pending"}
    sent: list[tuple[str, str]] = []
    assert outbox.relay(rt, lambda queue, message_ids: sent.extend((queue, m) for m in message_ids)) == len(rows(rt))
    assert sent == [(queue, message_id) for queue, message_id, _ in rows(rt)]
    assert {status for *_, status in rows(rt)} == {"published"}


def test_a_rung_message_is_handled_once_however_often_it_arrives(rt, actors, clock):
    cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    [rung] = deadlines.sweep(rt, clock.now() + timedelta(days=27))
    settings = Settings()  # no SMTP server and no webhook: in-app notifications only
    first = outbox.handle(rt, settings, rung.message_id)
    again = outbox.handle(rt, settings, rung.message_id)
    assert (first.outcome, again.outcome) == ("handled", "duplicate")
    assert outbox.handle(rt, settings, "00000000-0000-0000-0000-000000000000").outcome == "unknown"
    with rt.unit_of_work(writes=False) as conn:
        notes = conn.execute(select(Notification.user_id, Notification.data)).all()
    assert [user for user, _ in notes] == [actors["social_policy"].user_id]  # the commune's social-policy officer
    assert notes[0].data["subject"].startswith("[guestwork] Nhắc việc: Tư vấn cho người lao động đã đăng ký")
    [unread] = outbox.unread(rt, actors["social_policy"].user_id)
    assert unread["case_id"] == rung.case_id
    assert outbox.unread_count(rt, actors["social_policy"].user_id) == 1  # the badge
    outbox.mark_read(rt, actors["social_policy"].user_id, [unread["id"]], clock.now())
    assert outbox.unread_count(rt, actors["social_policy"].user_id) == 0


def test_escalations_go_to_the_commune_then_the_province_supervisors(rt, actors, clock):
    cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    # Nobody swept until 2/7 (one working day late): the officer's latest reminder and the commune escalation go.
    remind, commune = deadlines.sweep(rt, clock.now() + timedelta(days=32))
    assert (remind.rung, remind.recipient, commune.rung, commune.recipient) == (2, "owner", 3, "commune_supervisor")
    [province] = deadlines.sweep(rt, clock.now() + timedelta(days=40))  # 10/7: seven working days late
    settings = Settings(language="en")
    for rung in (commune, province):
        outbox.handle(rt, settings, rung.message_id)
    with rt.unit_of_work(writes=False) as conn:
        notes = dict(conn.execute(select(Notification.user_id, Notification.data)).all())
    assert set(notes) == {actors["supervisor"].user_id, actors["province_supervisor"].user_id}
    assert notes[actors["province_supervisor"].user_id]["subject"].startswith(
        "[guestwork] Overdue, escalated: Counsel the registered worker"
    )


def test_the_reconciler_publishes_again_what_was_never_handled(rt, actors, clock):
    cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    outbox.relay(rt, lambda queue, message_ids: None)  # published, then lost by the broker
    settings = Settings(republish_after_seconds=300)
    assert outbox.reconcile(rt, lambda *_: None, settings) == 0  # not yet: it may still be on its way
    clock.advance(seconds=301)
    again: list[str] = []
    assert outbox.reconcile(rt, lambda queue, message_ids: again.extend(message_ids), settings) == len(rows(rt))
    for message_id in again:
        outbox.handle(rt, settings, message_id)
    clock.advance(seconds=301)
    assert outbox.reconcile(rt, lambda *_: None, settings) == 0  # handled: never again


def test_no_personal_data_travels_in_messages_or_notifications(rt, actors, clock):
    registration = f.registration(rt.today(), full_name="Hà Thị Quỳnh", phone="0987654321")
    case_id = cases.register(rt, actors["social_policy"], registration).id
    f.step(rt, actors, case_id, "counsel")
    deadlines.sweep(rt, clock.now() + timedelta(days=178))  # three working days before the 180-day departure clock
    published: list[tuple[str, str]] = []
    outbox.relay(rt, lambda queue, message_ids: published.extend((queue, m) for m in message_ids))
    with rt.unit_of_work(writes=False) as conn:
        payloads = [str(payload) for payload in conn.scalars(select(OutboxMessage.payload))]
    for message_id in [message_id for _, message_id in published]:
        outbox.handle(rt, Settings(), message_id)
    with rt.unit_of_work(writes=False) as conn:
        notes = [str(data) for data in conn.scalars(select(Notification.data))]
    assert notes  # reminders were written
    for text in [*payloads, *notes, *(m for _, m in published)]:
        for personal in ("Hà Thị Quỳnh", "0987654321", registration["personal_id"], registration["date_of_birth"]):
            assert personal not in text


@pytest.fixture
def webhook() -> Iterator[tuple[list[tuple[str, dict[str, object]]], str]]:
    """A webhook receiver on loopback: yield what it received (Idempotency-Key, body) and its URL."""
    received: list[tuple[str, dict[str, object]]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.headers["Idempotency-Key"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield received, f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()


def test_a_department_webhook_receives_each_message_once_with_ids_only(rt, actors, clock, webhook):
    received, url = webhook
    settings = Settings(webhooks={"bank": url})
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    for trigger in ("counsel", "train", "certify_health"):
        f.step(rt, actors, case_id, trigger)
    with rt.unit_of_work(writes=False) as conn:
        to_bank = list(conn.scalars(select(OutboxMessage.message_id).where(OutboxMessage.queue == "bank")))
    for message_id in to_bank * 2:  # each delivered twice by the broker
        outbox.handle(rt, settings, message_id)
    assert [key for key, _ in received] == to_bank and len(to_bank) == 1
    assert received[0][1] == {
        "message_id": to_bank[0], "topic": "case.transitioned", "case_id": case_id,
        "payload": {"trigger": "certify_health", "from_state": "trained", "to_state": "health_checked", "record_kind": "health"},
    }  # fmt: skip


def test_a_reminder_retried_after_a_refused_mail_sends_the_mail_and_the_webhook_once(rt, actors, clock, mailbox, webhook):
    """The mail server refuses once; the task's retries (more after a delivery's lease ran out) must not mail twice.

    An attempt that met a delivery still held by an earlier attempt used to roll back its own "sent" marks with
    it, so once the leases ran out the next attempt mailed the officer again.
    """
    handler, port = mailbox
    received, url = webhook
    cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    [rung] = deadlines.sweep(rt, clock.now() + timedelta(days=27))
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, webhooks={"social_policy": url})
    handler.refuse(1)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        outbox.handle(rt, settings, rung.message_id)  # the e-mail comes first; the webhook is not tried
    outcomes = []
    for _ in range(4):  # the task retries; a delivery still held makes it wait out the lease
        try:
            outcomes.append(outbox.handle(rt, settings, rung.message_id).outcome)
        except outbox.DeliveriesPending:
            outcomes.append("held")
            clock.advance(seconds=settings.delivery_lease_seconds + 1)
    assert "handled" in outcomes and outcomes[-1] == "duplicate"
    assert [rcpt for rcpt, _ in handler.accepted] == [["social_policy@camtan.example.org"]]
    assert [key for key, _ in received] == [rung.message_id]


def test_two_handlers_of_one_message_send_its_email_once(rt, actors, clock, mailbox):
    """A message published twice (after-commit publish and relay, or the reconciler) reaches two workers at once."""
    handler, port = mailbox
    cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    [rung] = deadlines.sweep(rt, clock.now() + timedelta(days=27))
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port)
    handler.hold()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(outbox.handle, rt, settings, rung.message_id)
        assert handler.holding.wait(10)  # the first handler is sending
        second = pool.submit(outbox.handle, rt, settings, rung.message_id)
        with pytest.raises(outbox.DeliveriesPending):
            second.result(timeout=10)  # it finds the delivery held and leaves it (the task retries later)
        handler.release.set()
        assert first.result(timeout=10).outcome == "handled"
    assert [rcpt for rcpt, _ in handler.accepted] == [["social_policy@camtan.example.org"]]
    assert outbox.handle(rt, settings, rung.message_id).outcome == "duplicate"


def test_a_worker_not_back_when_the_contract_ends_raises_an_overstay_alert_to_the_police(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    for trigger in ("counsel", "train", "certify_health", "approve_loan", "depart"):
        f.step(rt, actors, case_id.id, trigger)
    [expected] = [d for d in deadlines.case_deadlines(rt, case_id.id) if d["clock"] == "expected_return"]
    # The 36-month contract starts on 3/6/2026: it ends on 3/6/2029. Nobody swept for a while.
    fired = deadlines.sweep(rt, expected["due_at"] + timedelta(days=4))
    alert = [rung for rung in fired if rung.clock == "expected_return"]
    assert [(rung.rung, rung.action, rung.queue) for rung in alert] == [(1, "remind", "social_policy"), (2, "alert", "police")]
    for rung in alert:
        outbox.handle(rt, Settings(), rung.message_id)
    with rt.unit_of_work(writes=False) as conn:
        notes = dict(conn.execute(select(Notification.user_id, Notification.data)).all())
    assert notes[actors["police"].user_id]["subject"].startswith("[guestwork] Cảnh báo: Hết hạn hợp đồng: người lao động chưa về nước")
    assert notes[actors["social_policy"].user_id]["action"] == "remind"


def test_a_task_of_several_messages_handles_each_on_its_own(rt, actors, clock, mailbox):
    handler, port = mailbox
    for serial in range(3):
        cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial))
    ids = [rung.message_id for rung in deadlines.sweep(rt, clock.now() + timedelta(days=27))]
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port)
    assert outbox.handle_each(rt, settings, ids, seconds=-1).left == ids  # out of time before the first: all left
    handler.refuse(1)
    batch = outbox.handle_each(rt, settings, ids, seconds=60)
    # Two are handled at once on PostgreSQL: whichever reached the server first was refused.
    [refused] = batch.failed
    assert isinstance(batch.failed[refused], smtplib.SMTPRecipientsRefused)
    assert batch.left == [] and len(handler.accepted) == 2  # the others went out all the same
    assert {message_id: status for _, message_id, status in rows(rt) if message_id in ids} == {
        message_id: "pending" if message_id == refused else "done" for message_id in ids
    }
    assert outbox.handle_each(rt, settings, ids, seconds=60).failed == {}  # the retry: the first now, the others duplicates
    assert len(handler.accepted) == 3 and {status for _, message_id, status in rows(rt) if message_id in ids} == {"done"}


def test_a_mail_server_slow_on_one_reminder_does_not_hold_up_the_next_one(rt, actors, clock, mailbox):
    """On PostgreSQL a task handles two of its messages at once: the next is sent while the first waits on the server."""
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes one writer at a time: there a task's messages go one after the other")
    handler, port = mailbox
    for serial in range(3):
        cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial))
    ids = [rung.message_id for rung in deadlines.sweep(rt, clock.now() + timedelta(days=27))]
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port)
    handler.hold()
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(outbox.handle_each, rt, settings, ids, seconds=60)
        waited = time.monotonic() + 10
        while handler.held < 2 and time.monotonic() < waited:
            time.sleep(0.02)
        held = handler.held
        handler.release.set()
        assert held == 2  # two reminders at the server at once
        assert batch.result(timeout=10) == outbox.Batch()
    assert len(handler.accepted) == 3 and {status for _, message_id, status in rows(rt) if message_id in ids} == {"done"}
