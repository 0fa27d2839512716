"""Sending e-mail over SMTP with aiosmtplib: the MIME message, and telling a retryable failure from a final one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

SMTP_TIMEOUT = 30.0
_CONTENT_TYPE = re.compile(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")


class MailError(Exception):
    """A message could not be handed over; `permanent` when retrying cannot help (the recipient was refused)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class MailTransport(Protocol):
    """Whatever hands a message to the world; raises MailError."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """smtp://[user:password@]host[:port] (STARTTLS when the server offers it) or smtps:// (TLS from the start)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("expected smtp://host:port or smtps://host:port")
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
        )


class SmtpTransport:
    """Delivers each message in its own SMTP session to the configured server."""

    def __init__(self, url: str, *, timeout: float = SMTP_TIMEOUT) -> None:
        self.settings = SmtpSettings.from_url(url)
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.hostname,
                port=s.port,
                username=s.username,
                password=s.password,
                use_tls=s.implicit_tls,
                start_tls=None if not s.implicit_tls else False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise MailError(f"recipient refused: {error}", permanent=True) from None
        except aiosmtplib.SMTPResponseException as error:
            # 5xx on the envelope or the data is the server's final word; 4xx and the rest may pass later.
            final = error.code >= 500 and isinstance(error, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError)
            raise MailError(f"SMTP {error.code}: {error.message}", permanent=final) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailError(f"{type(error).__name__}: {error}") from None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a mail (a receipt, an invoice, a certificate): its name, MIME type and bytes."""

    filename: str
    content_type: str
    content: bytes

    def __post_init__(self) -> None:
        if not self.filename or any(c in self.filename for c in "/\\\r\n"):
            raise ValueError(f"an attachment needs a plain file name, got {self.filename!r}")
        if not _CONTENT_TYPE.match(self.content_type):
            raise ValueError(f"expected a MIME type such as application/pdf, got {self.content_type!r}")


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    message_id: str,
    html: str = "",
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The text, then the HTML as its alternative (clients show the last part they can), then any attachments.

    With attachments the message is multipart/mixed around the multipart/alternative. The Message-ID is stable
    per outbox row so a repeated delivery can be recognised.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


def sender_domain(sender: str) -> str:
    """The domain of the From address, for Message-IDs."""
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "alarmhub.invalid"
