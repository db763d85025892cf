"""Notifications: who a message is for, what it says (Vietnamese, or English), and sending it by e-mail or webhook."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
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
# supervisors of the commune or of its province. A case's clock finds the commune on its case, a report's on its report.
_RUNG_AND_RECIPIENTS_SQL = """SELECT d.case_id, d.report_id, d.clock, d.department, d.due_at, r.recipient, u.id AS user_id, u.email
    FROM deadlines d
    {subject}
    JOIN deadline_rungs r ON r.deadline_id = d.id AND r.rung = :rung
    LEFT JOIN users u ON u.active AND (
        (r.recipient = 'commune_supervisor' AND u.role = 'supervisor' AND u.unit_id = c.commune_id)
        OR (r.recipient = 'province_supervisor' AND u.role = 'supervisor'
            AND u.unit_id = (SELECT parent_id FROM admin_units WHERE id = c.commune_id))
        OR (r.recipient NOT IN ('commune_supervisor', 'province_supervisor') AND u.role = 'officer' AND u.unit_id = c.commune_id
            AND u.department_code = CASE WHEN r.recipient LIKE 'department:%' THEN substr(r.recipient, 12) ELSE d.department END))
    WHERE d.id = :deadline_id
    ORDER BY u.id"""
_RUNG_AND_RECIPIENTS = {
    is_report: text(_RUNG_AND_RECIPIENTS_SQL.format(subject=subject)).columns(due_at=UtcDateTime)
    for is_report, subject in (
        (False, "JOIN cases c ON c.id = d.case_id"),
        (True, "JOIN (SELECT id, unit_id AS commune_id FROM reports) c ON c.id = d.report_id"),
    )
}
REPORT_CLOCKS = "report."  # the prefix of a periodic report's clock (workflows.reports.ReportKind.clock)


def rung_notice(conn: Connection, rt: Runtime, payload: dict[str, Any]) -> Notice | None:
    """Build the notice of a fired rung, with its recipients; None if the deadline is gone."""
    query = _RUNG_AND_RECIPIENTS[str(payload.get("clock", "")).startswith(REPORT_CLOCKS)]
    rows = conn.execute(query, {"deadline_id": payload["deadline_id"], "rung": payload["rung"]}).all()
    if not rows:
        return None
    deadline = rows[0]
    rule = rt.clocks.rules.get(deadline.clock) or rt.reports.by_clock(deadline.clock)
    due = local_date(deadline.due_at)
    data = {
        "case_id": deadline.case_id, "clock": deadline.clock, "rung": payload["rung"], "action": payload["action"],
        "department": deadline.department, "due_on": due.isoformat(),
        "label_vi": rule.label_vi if rule else deadline.clock, "label_en": rule.label_en if rule else deadline.clock,
    }  # fmt: skip
    if deadline.report_id is not None:
        data["report_id"] = deadline.report_id
    subject_vi, subject_en = (
        (f"báo cáo số {deadline.report_id}", f"report {deadline.report_id}")
        if deadline.report_id is not None
        else (f"hồ sơ số {deadline.case_id}", f"case {deadline.case_id}")
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
