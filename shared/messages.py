"""Composing mail in the company's look: a subject, a text part and an HTML part from templates, for the outbox."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from shared.branding import Branding
from shared.db import Connection
from shared.mail import Attachment
from shared.outbox import Mail, enqueue_mail

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class MessageKind:
    """One kind of mail: its subject (a template) and its parts, `mail/<template>.txt` and `mail/<template>.html`."""

    template: str
    subject: str


CONFIRM_EMAIL = MessageKind("confirm_email", "Confirm your e-mail address for {{ brand.company_name }}")
PASSWORD_RESET = MessageKind("reset_password", "Complete your request: reset your {{ brand.company_name }} password")
INVITATION = MessageKind("invitation", "{{ inviter }} invited you to the {{ brand.company_name }} portal")
PASSWORD_CHANGED = MessageKind("password_changed", "Your {{ brand.company_name }} password was changed")
# Billing: shared/billing/notices.py composes them from the ledger.
PAYMENT_RECEIPT = MessageKind("payment_receipt", "{{ brand.company_name }} receipt {{ number }}: {{ amount }} paid")
REFUND_ISSUED = MessageKind("refund_issued", "{{ brand.company_name }}: {{ amount }} refunded (receipt {{ number }})")
AUTOPAY_DECLINED = MessageKind("autopay_declined", "{{ brand.company_name }}: your automatic payment was declined")
AUTOPAY_STOPPED = MessageKind("autopay_stopped", "{{ brand.company_name }}: automatic payment stopped for {{ month }}")
# Service Center: shared/service/notices.py composes them, to the request's contact.
SERVICE_REQUEST_RECEIVED = MessageKind(
    "service_request_received", "{{ brand.company_name }}: we received your request {{ number }}"
)
SERVICE_REQUEST_ANSWERED = MessageKind(
    "service_request_answered", "{{ brand.company_name }}: an answer to your request {{ number }}"
)
SERVICE_VISIT_SCHEDULED = MessageKind(
    "service_visit_scheduled", "{{ brand.company_name }}: a visit is scheduled for {{ when }}"
)
SERVICE_REQUEST_COMPLETED = MessageKind(
    "service_request_completed", "{{ brand.company_name }}: your request {{ number }} is completed"
)


@functools.cache
def _environment() -> jinja2.Environment:
    """HTML parts are escaped; text parts and subjects are not, since they are not HTML.

    No I/O and no configuration live here (the branding comes with each message), so one environment serves
    every process: the portal, the worker and the command line.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def compose(
    branding: Branding,
    kind: MessageKind,
    *,
    recipient: str,
    context: Mapping[str, Any] | None = None,
    attachments: Sequence[Attachment] = (),
    user_id: int | None = None,
) -> Mail:
    """The mail of `kind` to `recipient`; templates see `brand`, `portal_url` and `context`.

    `user_id` names the user the mail is about (an invitation, a reset): removing that user cancels the mail if
    it is still waiting.
    """
    environment = _environment()
    values = {"brand": branding, "portal_url": branding.public_url, **(context or {})}
    subject = " ".join(environment.from_string(kind.subject).render(values).split())
    text = environment.get_template(f"mail/{kind.template}.txt").render(values)
    html = environment.get_template(f"mail/{kind.template}.html").render(values)
    return Mail(recipient, subject, text, html=html, attachments=tuple(attachments), user_id=user_id)


async def queue_mail(
    connection: Connection,
    branding: Branding,
    kind: MessageKind,
    *,
    recipient: str,
    context: Mapping[str, Any] | None = None,
    attachments: Sequence[Attachment] = (),
    user_id: int | None = None,
) -> int:
    """Compose and queue in the caller's transaction (so the mail and its cause commit together); the outbox id."""
    mail = compose(branding, kind, recipient=recipient, context=context, attachments=attachments, user_id=user_id)
    return await enqueue_mail(connection, mail)
