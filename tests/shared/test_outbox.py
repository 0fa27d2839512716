"""The e-mail outbox against a real SMTP server: delivery of every part, retry with backoff, refusal, concurrent
senders, and cancellation when the user a mail is about is removed."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import asyncpg
from fpdf import FPDF

from bench.smtp_inbox import Inbox, body_of, smtp_server
from shared.branding import Branding
from shared.config import load_config
from shared.mail import Attachment, MailError, SmtpSettings, SmtpTransport
from shared.messages import INVITATION, compose
from shared.outbox import Mail, OutboxSender, RetryPolicy, enqueue_mail
from tests.conftest import free_port

SENDER = "Sentinel Monitoring <noreply@example.com>"


async def queue(db: asyncpg.Pool, *mails: Mail) -> None:
    async with db.acquire() as connection, connection.transaction():
        for mail in mails:
            await enqueue_mail(connection, mail)


async def test_mail_is_written_with_its_transaction_and_delivered_over_smtp(db: asyncpg.Pool) -> None:
    await queue(db, Mail("ann@example.com", "Hello Ann", "Line one\nhttps://x.example/confirm/abc"))
    try:
        async with db.acquire() as connection, connection.transaction():
            await enqueue_mail(connection, Mail("ghost@example.com", "Never", "rolled back"))
            raise RuntimeError("the event failed")
    except RuntimeError:
        pass
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_due() == 1
        assert await sender.deliver_due() == 0
    [message] = inbox.messages
    assert message["To"] == "ann@example.com" and message["Subject"] == "Hello Ann" and message["From"] == SENDER
    assert "https://x.example/confirm/abc" in body_of(message)
    row = await db.fetchrow("SELECT * FROM outbox")
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] is not None
    assert row["body"] == ""  # the link no longer lives in the database
    assert message["Message-ID"].startswith(f"<outbox-{row['id']}.")


async def test_with_the_smtp_server_down_mail_waits_and_goes_out_when_it_returns(db: asyncpg.Pool) -> None:
    await queue(db, Mail("bob@example.com", "Reset", "link"))
    port = free_port()
    sender = OutboxSender(
        db, SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=2), sender=SENDER, retry=RetryPolicy(0.2, 1.0)
    )
    assert await sender.deliver_due() == 1  # tried, refused at the TCP level
    row = await db.fetchrow("SELECT status, attempts, last_error, next_attempt_at > now() AS later FROM outbox")
    assert row["status"] == "pending" and row["attempts"] == 1 and row["later"] and row["last_error"]
    assert await sender.deliver_due() == 0  # backing off: not due yet
    with smtp_server(port) as inbox:
        await asyncio.sleep(0.25)
        assert await sender.deliver_due() == 1
    assert [m["To"] for m in inbox.messages] == ["bob@example.com"]
    assert await db.fetchval("SELECT status FROM outbox") == "sent"


async def test_a_refused_recipient_is_final_and_other_mail_still_goes(db: asyncpg.Pool) -> None:
    await queue(db, Mail("gone@example.com", "One", "x"), Mail("here@example.com", "Two", "y"))
    port = free_port()
    with smtp_server(port, Inbox(refuse=frozenset({"gone@example.com"}))) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_due() == 2
        assert await sender.deliver_due() == 0
    assert [m["To"] for m in inbox.messages] == ["here@example.com"]
    rows = {r["recipient"]: r for r in await db.fetch("SELECT * FROM outbox")}
    assert rows["gone@example.com"]["status"] == "failed" and "550" in rows["gone@example.com"]["last_error"]
    assert rows["gone@example.com"]["body"] == ""  # it may hold a live link: blanked like a delivered one


async def test_a_mail_that_cannot_be_built_is_final_and_mail_after_it_still_goes(db: asyncpg.Pool) -> None:
    # A line break in a subject (a name typed with one, before names were checked) makes no valid header.
    await queue(db, Mail("eve@example.com", "Eve\r\nX invited you", "link"), Mail("ann@example.com", "Hi", "y"))
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_due() == 2
    assert [m["To"] for m in inbox.messages] == ["ann@example.com"]
    poisoned = await db.fetchrow("SELECT * FROM outbox WHERE recipient = 'eve@example.com'")
    assert poisoned["status"] == "failed" and poisoned["body"] == "" and "cannot be built" in poisoned["last_error"]


class SlowTransport:
    """Takes a while per message, so concurrent senders overlap; records each delivery."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0.01)
        self.delivered.append(message["Message-ID"])


async def test_concurrent_senders_deliver_each_mail_exactly_once(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=8)
    try:
        await queue(pool, *(Mail(f"r{n}@example.com", f"Mail {n}", "body") for n in range(30)))
        transport = SlowTransport()
        senders = [OutboxSender(pool, transport, sender=SENDER) for _ in range(4)]
        tried = await asyncio.gather(*(s.deliver_due() for s in senders))
        assert sum(tried) == 30 and sum(1 for t in tried if t) > 1  # the work was shared
        assert len(transport.delivered) == len(set(transport.delivered)) == 30
    finally:
        await pool.close()


async def test_the_sender_wakes_on_new_mail_without_waiting_for_its_poll(db: asyncpg.Pool, database_url: str) -> None:
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        task = asyncio.create_task(sender.run(database_url=database_url, poll_interval=60))
        try:
            await asyncio.sleep(0.2)
            await queue(db, Mail("cy@example.com", "Prompt", "z"))
            await inbox.wait_for(1, timeout=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_mail_queued_while_the_listener_was_cut_off_goes_out_when_it_reconnects(
    db: asyncpg.Pool, database_url: str
) -> None:
    """NOTIFY is fire and forget: the listener's catch-up after a reconnect is what wakes the sender then."""
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        task = asyncio.create_task(sender.run(database_url=database_url, poll_interval=600))
        try:
            await asyncio.sleep(0.3)
            # Cut the listener's own connection, and queue a mail before it can listen again.
            cut = await db.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'alarmhub outbox'"
            )
            assert cut == 1
            await queue(db, Mail("di@example.com", "While away", "z"))
            await inbox.wait_for(1, timeout=15)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_smtp_urls() -> None:
    plain = SmtpSettings.from_url("smtp://mailer:p%40ss@mail.example.com:587")
    assert (plain.hostname, plain.port, plain.username, plain.password, plain.implicit_tls) == (
        "mail.example.com",
        587,
        "mailer",
        "p@ss",
        False,
    )
    assert SmtpSettings.from_url("smtps://mail.example.com").port == 465
    assert SmtpSettings.from_url("smtp://mail.example.com").username is None
    assert MailError("x").permanent is False


def receipt_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Receipt 1001: 49.90 paid")
    return bytes(pdf.output())


async def staff_user(db: asyncpg.Pool, email: str) -> int:
    user_id: int = await db.fetchval(
        "INSERT INTO users (email, name, role) VALUES ($1, 'Staff', 'dispatcher') RETURNING id", email
    )
    return user_id


async def test_a_composed_mail_arrives_with_text_html_and_its_pdf_and_leaves_no_link_behind(db: asyncpg.Pool) -> None:
    environ = {"ALARMHUB_PORTAL_COMPANY_NAME": "Acme Alarms", "ALARMHUB_PORTAL_LOGO_TEXT": "ACME"}
    branding = Branding.from_config(load_config(None, environ=environ))
    pdf = receipt_pdf()
    context = {"name": "Zoë", "inviter": "Ann", "customer_name": "O'Brien & <Sons>", "token": "t0k3n", "days": 7}
    mail = compose(
        branding,
        INVITATION,
        recipient="zoe@example.com",
        context=context,
        attachments=[Attachment("receipt-1001.pdf", "application/pdf", pdf)],
    )
    await queue(db, mail)
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_due() == 1
    [message] = inbox.messages
    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = body_of(message)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "O'Brien & <Sons>" in text and "/invitation/t0k3n" in text
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in html and "<Sons>" not in html
    assert ">ACME<" in html and "Acme Alarms" in html and "/invitation/t0k3n" in html
    assert attached.get_filename() == "receipt-1001.pdf" and attached.get_content_type() == "application/pdf"
    assert attached.get_content() == pdf
    row = await db.fetchrow("SELECT status, body, html FROM outbox")
    assert (row["status"], row["body"], row["html"]) == ("sent", "", "")  # neither part keeps the link
    kept = await db.fetchrow("SELECT filename, size, content FROM outbox_attachments")
    assert (kept["filename"], kept["size"], kept["content"]) == ("receipt-1001.pdf", len(pdf), b"")


async def test_a_refused_mail_blanks_its_html_part_and_attachment_too(db: asyncpg.Pool) -> None:
    pdf = Attachment("a.pdf", "application/pdf", receipt_pdf())
    await queue(db, Mail("gone@example.com", "One", "link x", html="<a href='x'>link</a>", attachments=[pdf]))
    port = free_port()
    with smtp_server(port, Inbox(refuse=frozenset({"gone@example.com"}))):
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_due() == 1
    row = await db.fetchrow("SELECT status, body, html FROM outbox")
    assert (row["status"], row["body"], row["html"]) == ("failed", "", "")
    assert await db.fetchval("SELECT content FROM outbox_attachments") == b""


async def test_removing_a_user_cancels_the_mail_still_waiting_for_them_and_only_that(db: asyncpg.Pool) -> None:
    leaving, staying = await staff_user(db, "leaving@example.com"), await staff_user(db, "staying@example.com")
    pdf = Attachment("a.pdf", "application/pdf", b"%PDF-1.4 x")
    await queue(
        db,
        Mail("leaving@example.com", "Delivered before", "old link", user_id=leaving),
        Mail("leaving@example.com", "Invitation", "link", html="<p>link</p>", attachments=[pdf], user_id=leaving),
        Mail("staying@example.com", "Reset", "link", user_id=staying),
        Mail("someone@example.com", "About nobody", "text"),
    )
    port = free_port()
    with smtp_server(port) as inbox:
        sender = OutboxSender(db, SmtpTransport(f"smtp://127.0.0.1:{port}"), sender=SENDER)
        assert await sender.deliver_one()  # the oldest: "Delivered before"
        await db.execute("DELETE FROM users WHERE id = $1", leaving)
        assert await sender.deliver_due() == 2
    assert sorted(m["Subject"] for m in inbox.messages) == ["About nobody", "Delivered before", "Reset"]
    rows = {r["subject"]: r for r in await db.fetch("SELECT * FROM outbox")}
    cancelled = rows["Invitation"]
    assert (cancelled["status"], cancelled["body"], cancelled["html"]) == ("cancelled", "", "")
    assert cancelled["user_id"] is None and "removed" in cancelled["last_error"]
    assert rows["Delivered before"]["status"] == "sent"
    assert rows["Reset"]["status"] == "sent" and rows["Reset"]["user_id"] == staying
    assert await db.fetchval("SELECT content FROM outbox_attachments") == b""
