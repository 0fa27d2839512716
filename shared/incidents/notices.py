"""The alarm notifications (issue 14, item 5): an alarm at a premises, a power problem, a failure to communicate.

Queued through the outbox in the incident opener's transaction (shared.messages.queue_mail), so a mail goes out
exactly when its cause commits, once. A mail names the premises and what happened, in the portal's time zone; it
never carries a passcode, the call list or anything a dispatcher records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from shared import messages
from shared.branding import Branding
from shared.db import Connection
from shared.incidents.model import NotificationCategory
from shared.incidents.notifications import Recipient
from shared.messages import MessageKind

INCIDENT_ALARM: Final = MessageKind("incident_alarm", "{{ brand.company_name }}: alarm at {{ premises_name }}")
INCIDENT_POWER: Final = MessageKind("incident_power", "{{ brand.company_name }}: power problem at {{ premises_name }}")
INCIDENT_FAILURE: Final = MessageKind(
    "incident_failure", "{{ brand.company_name }}: {{ premises_name }} is not communicating"
)

KINDS: Final = {
    NotificationCategory.ALARM: INCIDENT_ALARM,
    NotificationCategory.POWER: INCIDENT_POWER,
    NotificationCategory.FAILURE_TO_COMMUNICATE: INCIDENT_FAILURE,
}


def format_when(moment: datetime, zone: ZoneInfo) -> str:
    """ "14:05 on Saturday 5 December 2026", in the portal's zone."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B %Y}"


async def mail_subscribers(
    connection: Connection,
    branding: Branding,
    zone: ZoneInfo,
    category: NotificationCategory,
    recipients: Sequence[Recipient],
    *,
    premises_name: str,
    premises_address: str,
    what: str,
    at: datetime,
) -> list[int]:
    """Queue the `category` mail to each recipient in the caller's transaction; the outbox ids."""
    context = {
        "premises_name": premises_name,
        "premises_address": premises_address,
        "what": what,
        "when": format_when(at, zone),
    }
    return [
        await messages.queue_mail(
            connection,
            branding,
            KINDS[category],
            recipient=recipient.email,
            context={**context, "name": recipient.name},
            user_id=recipient.user_id,  # removed before it is sent: the mail is cancelled
        )
        for recipient in recipients
    ]
