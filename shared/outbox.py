"""The e-mail outbox: mail queued in the caller's transaction, delivered by workers at least once, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import asyncpg

from shared.aio import checkpoint, wait_or_timeout
from shared.db import Connection, Pool
from shared.events import OUTBOX, Listener, MailQueued, notify
from shared.logs import get_logger
from shared.mail import Attachment, MailError, MailTransport, build_message, sender_domain

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    """One message: a text body, optionally an HTML alternative and attachments, and the user it is about.

    A mail about a user (an invitation, a confirmation, a reset) is cancelled if that user is removed first.
    """

    recipient: str
    subject: str
    body: str
    html: str = ""
    attachments: Sequence[Attachment] = ()
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff between attempts: base, 2 * base, 4 * base ... capped at max_delay."""

    base_delay: float = 30.0
    max_delay: float = 3600.0

    def delay(self, attempts: int) -> float:
        return float(min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay))


async def enqueue_mail(connection: Connection, mail: Mail) -> int:
    """Queue `mail`; call it inside the transaction of the event that causes the mail, so both commit or neither."""
    outbox_id: int = await connection.fetchval(
        "INSERT INTO outbox (recipient, subject, body, html, user_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        mail.recipient,
        mail.subject,
        mail.body,
        mail.html,
        mail.user_id,
    )
    if mail.attachments:
        await connection.executemany(
            "INSERT INTO outbox_attachments (outbox_id, position, filename, content_type, size, content) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (outbox_id, position, a.filename, a.content_type, len(a.content), a.content)
                for position, a in enumerate(mail.attachments)
            ],
        )
    # Delivered with the commit (NOTIFY is transactional), so a worker never wakes for a mail it cannot see yet.
    await notify(connection, OUTBOX, MailQueued(outbox_id))
    log.info("mail queued", outbox_id=outbox_id, recipient=mail.recipient, subject=mail.subject)
    return outbox_id


# Whatever may hold a single-use link (both parts) and the attachments' bytes go once a mail is final.
_BLANK_ATTACHMENTS = "UPDATE outbox_attachments SET content = ''::bytea WHERE outbox_id = $1 AND content <> ''::bytea"

_CLAIM_DUE = """
    SELECT id, created_at, recipient, subject, body, html, attempts
      FROM outbox
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
"""


class OutboxSender:
    """Delivers due outbox rows one at a time, each under its row lock, so concurrent senders never share a row."""

    def __init__(self, pool: Pool, transport: MailTransport, *, sender: str, retry: RetryPolicy | None = None) -> None:
        self.pool = pool
        self.transport = transport
        self.sender = sender
        self.retry = retry or RetryPolicy()
        self._domain = sender_domain(sender)

    async def deliver_one(self) -> bool:
        """Try the next due mail; False when none is due."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(_CLAIM_DUE)
            if row is None:
                return False
            attempts = row["attempts"] + 1
            try:
                await self.transport.send(await self._message(connection, row))
            except MailError as error:
                await self._record_failure(connection, row["id"], attempts, error)
                log.warning(
                    "mail not delivered",
                    outbox_id=row["id"],
                    recipient=row["recipient"],
                    attempts=attempts,
                    reason=error.reason,
                    final=error.permanent,
                )
                return True
            # The parts may hold a single-use link: once delivered, the outbox keeps only who and what.
            await connection.execute(
                "UPDATE outbox SET status = 'sent', sent_at = now(), attempts = $2, body = '', html = '', "
                "last_error = '' WHERE id = $1",
                row["id"],
                attempts,
            )
            await connection.execute(_BLANK_ATTACHMENTS, row["id"])
            # Before the commit: the server has the mail, and a stop that comes right after the commit (SIGTERM
            # between the commit and a later line) must not leave a sent mail unlogged.
            log.info("mail sent", outbox_id=row["id"], recipient=row["recipient"], subject=row["subject"])
        return True

    async def _message(self, connection: Connection, row: asyncpg.Record) -> EmailMessage:
        attachments = [
            Attachment(a["filename"], a["content_type"], a["content"])
            for a in await connection.fetch(
                "SELECT filename, content_type, content FROM outbox_attachments WHERE outbox_id = $1 ORDER BY position",
                row["id"],
            )
        ]
        try:
            return build_message(
                sender=self.sender,
                recipient=row["recipient"],
                subject=row["subject"],
                body=row["body"],
                html=row["html"],
                attachments=attachments,
                message_id=f"<outbox-{row['id']}.{int(row['created_at'].timestamp())}@{self._domain}>",
            )
        except ValueError as error:  # e.g. a line break in a header: no retry can fix the row
            raise MailError(f"message cannot be built: {error}", permanent=True) from None

    async def _record_failure(self, connection: Connection, outbox_id: int, attempts: int, error: MailError) -> None:
        # A mail that will never go still holds its single-use link: blanked, as after a delivery.
        await connection.execute(
            "UPDATE outbox SET attempts = $2, last_error = $3, status = $4, "
            "body = CASE WHEN $4 = 'failed' THEN '' ELSE body END, "
            "html = CASE WHEN $4 = 'failed' THEN '' ELSE html END, "
            "next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
            outbox_id,
            attempts,
            error.reason[:500],
            "failed" if error.permanent else "pending",
            self.retry.delay(attempts),
        )
        if error.permanent:
            await connection.execute(_BLANK_ATTACHMENTS, outbox_id)

    async def deliver_due(self, limit: int = 100) -> int:
        """Deliver (or reschedule) up to `limit` due mails; how many were tried."""
        tried = 0
        while tried < limit and await self.deliver_one():
            tried += 1
            checkpoint()  # a stop asked for during that delivery, even one aiosmtplib swallowed, ends the round here
        return tried

    async def run(self, *, database_url: str, poll_interval: float) -> None:
        """Deliver forever: at once when a mail is queued, after every (re)connect of the listener (mail queued
        while it was away), and every `poll_interval` for retries. Listening has its own connection
        (shared.events.Listener); delivery borrows from the pool."""
        wake = asyncio.Event()

        async def woken(_connection: object, _event: object = None) -> None:
            wake.set()

        listener = Listener(database_url, name="outbox")
        listener.on(OUTBOX, woken)
        listener.on_connect(woken)
        listening = asyncio.create_task(listener.run(), name="outbox listener")
        try:
            while True:
                wake.clear()  # before delivering: a notice that comes meanwhile wakes the next round
                try:
                    await self.deliver_due()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("outbox unavailable", error=f"{type(error).__name__}: {error}")
                await wait_or_timeout(wake.wait(), poll_interval)
        finally:
            listener.stop()
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)


async def pending_count(connection: Connection) -> int:
    count: int = await connection.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'")
    return count


async def pending_backlog(connection: Connection) -> tuple[int, float]:
    """Mails waiting to be sent, and how many seconds the oldest of them has waited (0 when none waits)."""
    row = await connection.fetchrow(
        "SELECT count(*) AS waiting, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest"
        " FROM outbox WHERE status = 'pending'"
    )
    assert row is not None
    return row["waiting"], row["oldest"]
