"""E-mail: a reminder's message written out by hand (RFC 5322 with MIME), and SMTP connections kept open per process."""

from __future__ import annotations

import base64
import contextlib
import smtplib
import threading

from config.settings import Settings

# An encoded word ("=?utf-8?b?…?=") of 39 UTF-8 bytes is 64 characters: "Subject: " and the first word stay within the
# 76 characters RFC 2047 allows a line holding encoded words.
_WORD_BYTES = 39


def message(sender: str, recipient: str, subject: str, body: str, message_id: str) -> bytes:
    """Return a plain-text UTF-8 mail: the subject as encoded words, the body in base64, CRLF line ends.

    Written by hand because the reminder path sends thousands of these: email.message takes about 200 µs
    a mail for the same bytes. The addresses are ASCII (SMTP without SMTPUTF8); anything else raises.
    """
    head = (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: {encoded_words(subject)}\r\nMessage-ID: {message_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    )
    return head.encode("ascii") + base64.encodebytes(body.encode()).replace(b"\n", b"\r\n")


def encoded_words(text: str) -> str:
    """Return a header value as RFC 2047 base64 encoded words, folded, never splitting a character."""
    words: list[bytes] = []
    chunk = b""
    for character in text:
        encoded = character.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)


class Mailer:
    """SMTP connections kept open for the process: one per sender at a time (threads), opened again when dropped."""

    def __init__(self) -> None:
        self._idle: list[tuple[tuple[str, int], smtplib.SMTP]] = []
        self._lock = threading.Lock()

    def send(self, settings: Settings, recipient: str, mail: bytes) -> None:
        """Send one mail to one recipient; raise what smtplib raises if the server refused it."""
        server = (settings.smtp_host or "localhost", settings.smtp_port)
        for attempt in (1, 2):
            smtp = self._take(server, fresh=attempt == 2)  # a second try never reuses a connection the server may have dropped
            try:
                smtp.sendmail(settings.smtp_sender, [recipient], mail)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                _quit(smtp)
                if attempt == 2:
                    raise
                continue
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
                self._give_back(server, smtp)  # the server answered (and smtplib reset the transaction): still usable
                raise
            except BaseException:
                _quit(smtp)  # in an unknown state (a timeout mid-reply): never reused
                raise
            self._give_back(server, smtp)
            return

    def _take(self, server: tuple[str, int], *, fresh: bool) -> smtplib.SMTP:
        stale: list[smtplib.SMTP] = []
        found = None
        with self._lock:
            while self._idle and not fresh and found is None:
                held, smtp = self._idle.pop()
                if held == server:
                    found = smtp
                else:
                    stale.append(smtp)  # the settings name another server now
        for smtp in stale:
            _quit(smtp)
        return found or smtplib.SMTP(*server, timeout=10)

    def _give_back(self, server: tuple[str, int], smtp: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append((server, smtp))

    def close(self) -> None:
        """Say goodbye to the servers of the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, smtp in idle:
            _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()
    smtp.close()
