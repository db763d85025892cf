"""Notifications: who a message is for, what it says (Vietnamese, or English), and sending it by e-mail or webhook."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from config.settings import Settings
from services import mail
from services.models import UtcDateTime
from services.runtime import Runtime
from workflows.calendar import local_date

log = logging.getLogger(__name__)

# No personal data leaves in a notification: a case is named by its number, the clock by its label.
TEMPLATES = {
    "remind": (
        "[guestwork] Nhắc việc: {label_vi} — {subject_vi}, hạn {due_vi}",
        "[guestwork] Reminder: {label_en} — {subject_en}, due {due_en}",
    ),
    "alert": (
        "[guestwork] Cảnh báo: {label_vi} — {subject_vi}, hạn {due_vi}",
        "[guestwork] Alert: {label_en} — {subject_en}, due {due_en}",
    ),
    "escalate": (
        "[guestwork] Quá hạn, báo cáo lãnh đạo: {label_vi} — {subject_vi} ({department}), hạn {due_vi}",
        "[guestwork] Overdue, escalated: {label_en} — {subject_en} ({department}), due {due_en}",
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
# supervisors of the commune or of its province. A case's clock finds the commune on its case, a report's on its
# report. `rung_query` writes it for the SQL that gives the deadline and rung: parameters here, the message's
# payload where services.outbox reads the message and its rung at once.
def rung_query(deadline_id: str, rung: str) -> str:
    """Return the SQL of a rung with its recipients (unordered), given the SQL of its deadline id and rung number."""
    return f"""SELECT d.case_id AS deadline_case_id, d.report_id, d.clock, d.department, d.due_at, r.recipient, u.id AS user_id, u.email
    FROM deadlines d
    JOIN admin_units cu ON cu.id = COALESCE((SELECT c.commune_id FROM cases c WHERE c.id = d.case_id),
                                            (SELECT p.unit_id FROM reports p WHERE p.id = d.report_id))
    JOIN deadline_rungs r ON r.deadline_id = d.id AND r.rung = {rung}
    LEFT JOIN users u ON u.active AND (
        (r.recipient = 'commune_supervisor' AND u.role = 'supervisor' AND u.unit_id = cu.id)
        OR (r.recipient = 'province_supervisor' AND u.role = 'supervisor' AND u.unit_id = cu.parent_id)
        OR (r.recipient NOT IN ('commune_supervisor', 'province_supervisor') AND u.role = 'officer' AND u.unit_id = cu.id
            AND u.department_code = CASE WHEN r.recipient LIKE 'department:%' THEN substr(r.recipient, 12) ELSE d.department END))
    WHERE d.id = {deadline_id}"""


_RUNG_AND_RECIPIENTS = text(rung_query(":deadline_id", ":rung") + " ORDER BY u.id").columns(due_at=UtcDateTime)


def rung_notice(conn: Connection, rt: Runtime, payload: dict[str, Any]) -> Notice | None:
    """Build the notice of a fired rung, with its recipients; None if the deadline is gone."""
    rows = conn.execute(_RUNG_AND_RECIPIENTS, {"deadline_id": payload["deadline_id"], "rung": payload["rung"]}).all()
    return notice_of(rt, payload, rows)


def notice_of(rt: Runtime, payload: dict[str, Any], rows: Sequence[Any]) -> Notice | None:
    """Build the notice of a fired rung from its rows of `rung_query`, in user order; None if there are none."""
    if not rows:
        return None
    deadline = rows[0]
    rule = rt.clocks.rules.get(deadline.clock) or rt.reports.by_clock(deadline.clock)
    due = local_date(deadline.due_at)
    data = {
        "case_id": deadline.deadline_case_id, "clock": deadline.clock, "rung": payload["rung"], "action": payload["action"],
        "department": deadline.department, "due_on": due.isoformat(),
        "label_vi": rule.label_vi if rule else deadline.clock, "label_en": rule.label_en if rule else deadline.clock,
    }  # fmt: skip
    if deadline.report_id is not None:
        data["report_id"] = deadline.report_id
    subject_vi, subject_en = (
        (f"báo cáo số {deadline.report_id}", f"report {deadline.report_id}")
        if deadline.report_id is not None
        else (f"hồ sơ số {deadline.deadline_case_id}", f"case {deadline.deadline_case_id}")
    )
    words = {**data, "due_vi": due.strftime("%d/%m/%Y"), "due_en": due.isoformat(), "subject_vi": subject_vi, "subject_en": subject_en}
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


def wanted(message: Any, notice: Notice | None, settings: Settings) -> list[tuple[str, str]]:
    """Return the deliveries a message wants, as (channel, recipient): the e-mails of its notice, then its queue's webhook."""
    found = [("email", email) for _, email in notice.users if email] if notice is not None and settings.smtp_host else []
    url = settings.webhooks.get(message.queue)
    return [*found, ("webhook", url)] if url else found


_MAIL = mail.Mailer()


def send(channel: str, recipient: str, message: Any, notice: Notice | None, settings: Settings) -> None:
    """Send one delivery; raise if the server refused it (the caller retries)."""
    if channel == "email":
        subject = notice.subject(settings.language) if notice else message.topic
        report = notice.data.get("report_id") if notice else None
        what_vi, what_en = (
            (f"báo cáo số {report}", f"report {report}") if report else (f"hồ sơ số {message.case_id}", f"case {message.case_id}")
        )
        content = f"{subject}\n\nMở {what_vi} trong guestwork. / Open {what_en} in guestwork.\n"
        # A stable Message-ID per (message, recipient): a resend after a crash can be dropped by the receiver.
        message_id = f"<{message.message_id}.{hashlib.sha256(recipient.encode()).hexdigest()[:12]}@guestwork>"
        _MAIL.send(settings, recipient, mail.message(settings.smtp_sender, recipient, subject, content, message_id))
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
