"""A real SMTP server for the soak and the tests (aiosmtpd in its own thread) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    """The aiosmtpd handler: every accepted message, parsed; recipients in `refuse` are refused with 550."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == recipient]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:  # filled by the SMTP server's own thread
                await asyncio.sleep(0.02)
        return self.messages


@contextmanager
def smtp_server(port: int, inbox: Inbox | None = None) -> Iterator[Inbox]:
    """Listen on 127.0.0.1:`port` until the block ends."""
    inbox = inbox or Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content
