"""E-mail: a reminder's message written out by hand (RFC 5322 with MIME), and one SMTP connection kept open per process."""

from __future__ import annotations

import base64
import contextlib
import smtplib

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
    """One SMTP connection per process, opened on first use and opened again when the server dropped it."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None
        self._server: tuple[str, int] | None = None

    def send(self, settings: Settings, recipient: str, mail: bytes) -> None:
        """Send one mail to one recipient; raise what smtplib raises if the server refused it."""
        server = (settings.smtp_host or "localhost", settings.smtp_port)
        for attempt in (1, 2):
            try:
                self._connection(server).sendmail(settings.smtp_sender, [recipient], mail)
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
        """Say goodbye to the server, if connected."""
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
        self._smtp = None
