"""The mails the portal sends, from plain-text templates, queued in the outbox in the caller's transaction."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from portal.keys import config_key
from portal.render import render_text
from shared.outbox import Mail, enqueue_mail


def _brand(app: web.Application) -> str:
    name: str = app[config_key]["portal.company_name"]
    return name


async def send_confirmation(
    app: web.Application, connection: asyncpg.Connection, *, recipient: str, name: str, token: str
) -> None:
    days = app[config_key]["portal.invitation_days"]
    body = render_text(app, "mail/confirm_email.txt", {"name": name, "token": token, "days": days})
    await enqueue_mail(connection, Mail(recipient, f"Confirm your e-mail address for {_brand(app)}", body))


async def send_password_reset(
    app: web.Application, connection: asyncpg.Connection, *, recipient: str, name: str, token: str
) -> None:
    minutes = app[config_key]["portal.reset_link_minutes"]
    body = render_text(app, "mail/reset_password.txt", {"name": name, "token": token, "minutes": minutes})
    await enqueue_mail(connection, Mail(recipient, f"Complete your request: reset your {_brand(app)} password", body))


async def send_invitation(
    app: web.Application,
    connection: asyncpg.Connection,
    *,
    recipient: str,
    name: str,
    inviter: str,
    customer_name: str,
    token: str,
) -> None:
    days = app[config_key]["portal.invitation_days"]
    body = render_text(
        app,
        "mail/invitation.txt",
        {"name": name, "inviter": inviter, "customer_name": customer_name, "token": token, "days": days},
    )
    await enqueue_mail(connection, Mail(recipient, f"{inviter} invited you to the {_brand(app)} portal", body))


async def send_password_changed(app: web.Application, connection: asyncpg.Connection, *, recipient: str) -> None:
    """Tell the owner of the address, so a password change they did not make does not go unnoticed."""
    body = render_text(app, "mail/password_changed.txt", {})
    await enqueue_mail(connection, Mail(recipient, f"Your {_brand(app)} password was changed", body))
