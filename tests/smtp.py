"""An SMTP server on loopback for tests and benchmarks: it keeps what it accepted, can hold a sender or refuse for a while."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """An SMTP server's handler that keeps (recipients, raw message), can hold a sender at RCPT until released, or refuse."""

    def __init__(self) -> None:
        self.accepted: list[tuple[list[str], bytes]] = []
        self.refusals = 0
        self.release = threading.Event()
        self.release.set()
        self.holding = threading.Event()
        self.held = 0  # senders made to wait since hold()

    def hold(self) -> None:
        """Make the senders wait at RCPT TO (before any message is accepted) until released."""
        self.held = 0
        self.holding.clear()
        self.release.clear()

    def refuse(self, count: int) -> None:
        """Answer the next `count` recipients with a temporary failure (451), as a busy server does."""
        self.refusals = count

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refusals:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        if not self.release.is_set():
            self.held += 1
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """Serve SMTP on a free loopback port in a thread of this process; yield the mailbox and the port."""
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port (the controller checks it is up by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        mailbox.release.set()
        controller.stop()
