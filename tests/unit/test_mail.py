"""The reminder e-mail written by hand: exact bytes, and what a standard parser reads back from them."""

from __future__ import annotations

import email
import email.policy

from services import mail

SUBJECT = "[guestwork] Nhắc việc: Tư vấn cho người lao động đã đăng ký — hồ sơ số 1, hạn 01/07/2026"
BODY = f"{SUBJECT}\n\nMở hồ sơ số 1 trong guestwork. / Open case 1 in guestwork.\n"


def build(subject: str = SUBJECT, body: str = BODY) -> bytes:
    return mail.message("guestwork@localhost", "officer@camtan.example.org", subject, body, "<m-1.abc@guestwork>")


def test_the_bytes_of_a_short_mail():
    assert build("Hạn", "Mở hồ sơ\n") == (
        b"From: guestwork@localhost\r\nTo: officer@camtan.example.org\r\nSubject: =?utf-8?b?SOG6oW4=?=\r\n"
        b'Message-ID: <m-1.abc@guestwork>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nTeG7nyBo4buTIHPGoQo=\r\n"
    )


def test_a_parser_reads_back_the_headers_and_the_body():
    parsed = email.message_from_bytes(build(), policy=email.policy.default)
    assert parsed["From"] == "guestwork@localhost" and parsed["To"] == "officer@camtan.example.org"
    assert parsed["Subject"] == SUBJECT  # split into several encoded words, none cutting a character in two
    assert parsed["Message-ID"] == "<m-1.abc@guestwork>"
    assert parsed.get_content_type() == "text/plain" and parsed.get_content_charset() == "utf-8"
    assert parsed.get_content() == BODY
    assert not parsed.defects


def test_every_line_ends_in_crlf_and_stays_short():
    raw = build()
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and raw.endswith(b"\r\n")
    assert max(len(line) for line in lines) <= 76  # RFC 2047's limit for a line with encoded words; base64 lines are 76
    assert raw.count(b"=?utf-8?b?") > 1
