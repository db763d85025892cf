"""Notifications: who a message is for, what it says (Vietnamese, or English), and sending it by e-mail or webhook."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.mime.text import MIMEText
from typing import Any

from sqlalchemy import Connection, bindparam, text

from config.settings import Settings
from services.models import Json, UtcDateTime
from services.runtime import Runtime
from workflows.calendar import local_date

log = logging.getLogger(__name__)

# No personal data leaves in a notification: a case is named by its number, the clock by its label.
TEMPLATES = {
    "remind": (
        "[guestwork] Nhắc việc: {label_vi} — hồ sơ số {case_id}, hạn {due_vi}",
        "[guestwork] Reminder: {label_en} — case {case_id}, due {due_en}",
    ),
    "alert": (
        "[guestwork] Cảnh báo: {label_vi} — hồ sơ số {case_id}, hạn {due_vi}",
        "[guestwork] Alert: {label_en} — case {case_id}, due {due_en}",
    ),
    "escalate": (
        "[guestwork] Quá hạn, báo cáo lãnh đạo: {label_vi} — hồ sơ số {case_id} ({department}), hạn {due_vi}",
        "[guestwork] Overdue, escalated: {label_en} — case {case_id} ({department}), due {due_en}",
    ),
}


@dataclass(frozen=True)
class Notice:
    """What a rung says, in both languages, and to whom."""

    subject_vi: str
    subject_en: str
    data: dict[str, Any]
    users: list[tuple[int, str | None]]  # (user id, e-mail)

    def subject(self, language: str) -> str:
        """Return the text in the language asked for (Vietnamese unless "en")."""
        return self.subject_en if language == "en" else self.subject_vi


# One query per reminder: the fired rung, its deadline and case, and the active users it goes to — the
# officers of the clock's department (or of the department a rung names) in the case's commune, or the
# supervisors of the commune or of its province.
_RUNG_AND_RECIPIENTS = text(
    """SELECT d.case_id, d.clock, d.department, d.due_at, r.recipient, u.id AS user_id, u.email
    FROM deadlines d
    JOIN cases c ON c.id = d.case_id
    JOIN deadline_rungs r ON r.deadline_id = d.id AND r.rung = :rung
    LEFT JOIN users u ON u.active AND (
        (r.recipient = 'commune_supervisor' AND u.role = 'supervisor' AND u.unit_id = c.commune_id)
        OR (r.recipient = 'province_supervisor' AND u.role = 'supervisor'
            AND u.unit_id = (SELECT parent_id FROM admin_units WHERE id = c.commune_id))
        OR (r.recipient NOT IN ('commune_supervisor', 'province_supervisor') AND u.role = 'officer' AND u.unit_id = c.commune_id
            AND u.department_code = CASE WHEN r.recipient LIKE 'department:%' THEN substr(r.recipient, 12) ELSE d.department END))
    WHERE d.id = :deadline_id
    ORDER BY u.id"""
).columns(due_at=UtcDateTime)


def rung_notice(conn: Connection, rt: Runtime, payload: dict[str, Any]) -> Notice | None:
    """Build the notice of a fired rung, with its recipients; None if the deadline is gone."""
    rows = conn.execute(_RUNG_AND_RECIPIENTS, {"deadline_id": payload["deadline_id"], "rung": payload["rung"]}).all()
    if not rows:
        return None
    deadline = rows[0]
    rule = rt.clocks.rules.get(deadline.clock)
    due = local_date(deadline.due_at)
    data = {
        "case_id": deadline.case_id, "clock": deadline.clock, "rung": payload["rung"], "action": payload["action"],
        "department": deadline.department, "due_on": due.isoformat(),
        "label_vi": rule.label_vi if rule else deadline.clock, "label_en": rule.label_en if rule else deadline.clock,
    }  # fmt: skip
    words = {**data, "due_vi": due.strftime("%d/%m/%Y"), "due_en": due.isoformat()}
    vi, en = TEMPLATES[payload["action"]]
    users = [(row.user_id, row.email) for row in rows if row.user_id is not None]
    if not users:  # nobody to tell: say so where an operator looks, rather than drop it silently
        log.warning(
            "rung %s of deadline %s (%s) has no active recipient (%s)",
            payload["rung"],
            payload["deadline_id"],
            deadline.clock,
            deadline.recipient,
        )
    return Notice(vi.format(**words), en.format(**words), data, users)


_ADD_NOTIFICATION = text(
    """INSERT INTO notifications (message_id, user_id, case_id, topic, data, created_at)
    VALUES (:message_id, :user_id, :case_id, :topic, :data, :now) ON CONFLICT (message_id, user_id) DO NOTHING"""
).bindparams(bindparam("data", type_=Json), bindparam("now", type_=UtcDateTime))
# A delivery is written once per (message, channel, recipient) and taken by one attempt at a time: a new
# row is taken at once; an existing one only if it is pending or its holder's lease ran out. RETURNING
# gives this attempt exactly the deliveries it holds.
_TAKE_DELIVERY = text(
    """INSERT INTO deliveries (message_id, channel, recipient, status, attempts, created_at, lease_until)
    VALUES (:message_id, :channel, :recipient, 'sending', 1, :now, :lease_until)
    ON CONFLICT (message_id, channel, recipient) DO UPDATE
        SET status = 'sending', lease_until = excluded.lease_until, attempts = deliveries.attempts + 1
        WHERE deliveries.status = 'pending' OR (deliveries.status = 'sending' AND deliveries.lease_until < excluded.created_at)
    RETURNING id, channel, recipient"""
).bindparams(bindparam("now", type_=UtcDateTime), bindparam("lease_until", type_=UtcDateTime))


@dataclass(frozen=True)
class Taken:
    """The deliveries of a message this attempt holds, and how many it should have sent in all."""

    deliveries: list[Any]
    wanted: int


def record_notice(conn: Connection, message: Any, notice: Notice | None, settings: Settings, now: datetime) -> Taken:
    """Write the in-app notifications, and write and take the deliveries, each once per (message, channel, recipient).

    Deliveries already sent or held by another attempt are not taken; the caller sends the ones it took.
    """
    deliveries = []
    if notice is not None:
        base = {"message_id": message.message_id, "case_id": message.case_id, "topic": message.topic, "now": now}
        rows = [
            {**base, "user_id": user_id, "data": {**notice.data, "subject": notice.subject(settings.language)}}
            for user_id, _ in notice.users
        ]
        if rows:
            conn.execute(_ADD_NOTIFICATION, rows)
        if settings.smtp_host:
            deliveries += [("email", email) for _, email in notice.users if email]
    url = settings.webhooks.get(message.queue)
    if url:
        deliveries.append(("webhook", url))
    lease_until = now + timedelta(seconds=settings.delivery_lease_seconds)
    taken = [
        row
        for channel, recipient in deliveries
        for row in conn.execute(
            _TAKE_DELIVERY,
            {"message_id": message.message_id, "channel": channel, "recipient": recipient, "now": now, "lease_until": lease_until},
        )
    ]
    return Taken(taken, len(deliveries))


class _Mailer:
    """One SMTP connection per process, opened on first use and opened again when the server dropped it."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None
        self._server: tuple[str, int] | None = None

    def send(self, settings: Settings, recipient: str, message: bytes) -> None:
        server = (settings.smtp_host or "localhost", settings.smtp_port)
        for attempt in (1, 2):
            try:
                self._connection(server).sendmail(settings.smtp_sender, [recipient], message)
                return
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                self.close()
                if attempt == 2:
                    raise

    def _connection(self, server: tuple[str, int]) -> smtplib.SMTP:
        if self._smtp is None or self._server != server:
            self.close()
            self._smtp, self._server = smtplib.SMTP(*server, timeout=10), server
        return self._smtp

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
        self._smtp = None


_MAIL = _Mailer()


def send(channel: str, recipient: str, message: Any, notice: Notice | None, settings: Settings) -> None:
    """Send one delivery; raise if the server refused it (the caller retries)."""
    if channel == "email":
        subject = notice.subject(settings.language) if notice else message.topic
        mail = MIMEText(
            f"{subject}\n\nMở hồ sơ số {message.case_id} trong guestwork. / Open case {message.case_id} in guestwork.", "plain", "utf-8"
        )
        mail["From"], mail["To"], mail["Subject"] = (
            settings.smtp_sender,
            recipient,
            Header(subject, "utf-8", header_name="Subject").encode(),
        )
        mail["Message-ID"] = (
            f"<{message.message_id}.{hashlib.sha256(recipient.encode()).hexdigest()[:12]}@guestwork>"  # a resend can be dropped
        )
        _MAIL.send(settings, recipient, mail.as_bytes())
        return
    body = {"message_id": message.message_id, "topic": message.topic, "case_id": message.case_id, "payload": message.payload}
    request = urllib.request.Request(
        recipient,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": message.message_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # the URL comes from the operator's settings
        response.read()
