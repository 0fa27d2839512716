"""Decoded DC-09 messages as rows of the signals table, classified by the shared event catalogue."""

from __future__ import annotations

from datetime import datetime

from receiver.accounts import PanelInfo
from receiver.dc09 import Message
from shared.catalogue import classify

# Column order of one signal row, shared by signal_rows (which builds rows) and batch_writer (which inserts them).
SIGNAL_COLUMNS = (
    ("account", "text"),
    ("panel_id", "bigint"),
    ("site_id", "bigint"),
    ("customer_id", "bigint"),
    ("transport", "text"),
    ("remote_addr", "text"),
    ("receiver", "text"),
    ("line", "text"),
    ("sequence", "text"),
    ("panel_time", "timestamptz"),
    ("received_at", "timestamptz"),
    ("event_index", "int2"),
    ("format", "text"),
    ("code", "text"),
    ("qualifier", "text"),
    ("zone", "text"),
    ("partition", "text"),
    ("user_number", "text"),
    ("category", "text"),
    ("alarm_type", "text"),
    ("priority", "int2"),
    ("description", "text"),
    ("extended", "text"),  # the extended blocks joined by EXTENDED_SEPARATOR; split back into text[] in SQL
    ("raw_frame", "bytea"),
)
EXTENDED_SEPARATOR = "\x1f"

SignalRow = tuple[object, ...]


def _clean(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; a panel that sends one must not poison a whole batch."""
    return value.replace("\x00", "") if value is not None and "\x00" in value else value


def message_rows(
    message: Message,
    panel: PanelInfo | None,
    account: str,
    transport: str,
    remote_addr: str,
    received_at: datetime,
) -> list[SignalRow]:
    """One row per event of the message (a SIA block with several events gives several rows)."""
    envelope = message.envelope
    extended = _clean(EXTENDED_SEPARATOR.join(message.extended))
    rows: list[SignalRow] = []
    for index, event in enumerate(message.events):
        meaning = classify(event.format, event.code, event.qualifier)
        zone, user = event.zone_and_user(meaning.field == "user")
        description = meaning.text if not event.text else f"{meaning.text} — {_clean(event.text)}"
        rows.append(
            (
                account,
                panel.panel_id if panel else None,
                panel.site_id if panel else None,
                panel.customer_id if panel else None,
                transport,
                remote_addr,
                envelope.receiver or "",
                envelope.line,
                envelope.sequence,
                message.panel_time,
                received_at,
                index,
                event.format,
                _clean(event.code),
                meaning.qualifier.value,
                _clean(zone),
                _clean(event.partition),
                _clean(user),
                meaning.category.value,
                meaning.alarm_type.value if meaning.alarm_type else None,
                meaning.priority,
                description,
                extended,
                envelope.raw,
            )
        )
    return rows
