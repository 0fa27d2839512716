"""Decoded DC-09 messages as rows of the signals table, classified by the shared event catalogue.

A row travels to PostgreSQL as ONE text value, its fields separated by the ASCII unit separator: asyncpg then
encodes one array element per row instead of 24 (the per-element encoding was the writer's largest cost), and
the batch statement splits the fields back in SQL. Fields from the panel are stripped of the separators and NUL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from receiver.accounts import PanelInfo
from receiver.dc09 import Event, Message
from receiver.dc09.xdata import decode_xdata
from shared.catalogue import classify

FIELD_SEPARATOR = "\x1f"  # between the fields of a row
LIST_SEPARATOR = "\x1e"  # between the extended-data blocks inside one field

# Column, SQL type, and whether an empty field means NULL; the order of the fields in a row.
SIGNAL_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("account", "text", False),
    ("panel_id", "bigint", True),
    ("site_id", "bigint", True),
    ("customer_id", "bigint", True),
    ("transport", "text", False),
    ("remote_addr", "text", False),
    ("receiver", "text", False),
    ("line", "text", False),
    ("sequence", "text", False),
    ("panel_time", "timestamptz", True),
    ("received_at", "timestamptz", False),
    ("event_index", "int2", False),
    ("format", "text", False),
    ("code", "text", False),
    ("qualifier", "text", False),
    ("zone", "text", True),
    ("partition", "text", True),
    ("user_number", "text", True),
    ("category", "text", False),
    ("alarm_type", "text", True),
    ("priority", "int2", False),
    ("description", "text", False),
    ("extended", "text[]", False),
    ("raw_frame", "bytea", False),
    ("xdata", "jsonb", True),  # row_xdata: typed x-data and SIA modifiers; NULL when there are none
)

_UNSAFE = str.maketrans({FIELD_SEPARATOR: " ", LIST_SEPARATOR: " ", "\x00": ""})


def _safe(value: str | None) -> str:
    """A panel-supplied string made safe to embed: no separators, no NUL (PostgreSQL text cannot hold it)."""
    if not value:
        return ""
    return value.translate(_UNSAFE) if not value.isalnum() else value


@lru_cache(maxsize=4096)  # a panel's position, MAC, room... repeat from message to message
def _message_xdata(extended: tuple[str, ...]) -> str:
    fields = decode_xdata(extended) if extended else None
    return _json(fields) if fields else ""  # e.g. only a key-exchange block: nothing kept


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(fields: Mapping[str, object]) -> str:
    """Compact JSON that both the row encoding and jsonb take: json escapes every control character, so neither
    separator appears, and NUL (which jsonb cannot hold, even escaped) is dropped as in the row's other fields."""
    text = _JSON.encode(fields)
    if "\\u0000" in text:  # rare: encode again without the NULs
        text = _JSON.encode({name: _without_nul(value) for name, value in fields.items()})
    return text


def _without_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def row_xdata(extended: tuple[str, ...], event: Event | None = None) -> str:
    """The xdata field of a row: the message's typed x-data (receiver/dc09/xdata.py) and the event's SIA time,
    date and peripheral modifiers, as compact JSON; "" (NULL) when there are none. The one place that builds it:
    the compiled fast path calls it with the x-data blocks alone (it leaves events with those modifiers here)."""
    if event is None or (event.time is None and event.date is None and event.peripheral is None):
        return _message_xdata(extended)
    fields: dict[str, object] = dict(decode_xdata(extended)) if extended else {}
    for name, value in (("time", event.time), ("date", event.date), ("peripheral", event.peripheral)):
        if value is not None:
            fields[name] = value
    return _json(fields)


def row_head(account: str, panel: PanelInfo | None, transport: str, remote_addr: str) -> str:
    """The first six fields of every row of a message: account, panel, site and customer ids, transport, peer."""
    ids = f"{panel.panel_id}\x1f{panel.site_id}\x1f{panel.customer_id}" if panel else "\x1f\x1f"
    return f"{_safe(account)}\x1f{ids}\x1f{transport}\x1f{_safe(remote_addr)}"


def row_fragment(format: str, code: str, qualifier: str) -> tuple[str, bool, str]:
    """What the catalogue says of an event, as row text: (qualifier, address is a user, "category, alarm type,
    priority, description" joined by the field separator). The compiled fast path memoises these per code."""
    meaning = classify(format, code, qualifier)
    tail = FIELD_SEPARATOR.join(
        (
            meaning.category.value,
            meaning.alarm_type.value if meaning.alarm_type else "",
            str(meaning.priority),
            meaning.text,
        )
    )
    return meaning.qualifier.value, meaning.field == "user", tail


def message_rows(
    message: Message,
    panel: PanelInfo | None,
    account: str,
    transport: str,
    remote_addr: str,
    received_at: datetime,
) -> list[str]:
    """One encoded row per event (a SIA block with several events gives several rows)."""
    envelope = message.envelope
    head = FIELD_SEPARATOR.join(
        (
            row_head(account, panel, transport, remote_addr),
            envelope.receiver or "",
            envelope.line,
            envelope.sequence,
            message.panel_time.isoformat() if message.panel_time else "",
            received_at.isoformat(),
        )
    )
    tail = FIELD_SEPARATOR.join((LIST_SEPARATOR.join(_safe(block) for block in message.extended), envelope.raw.hex()))
    rows = []
    for index, event in enumerate(message.events):
        qualifier, address_is_user, meaning = row_fragment(event.format, event.code, event.qualifier)
        zone, user = event.zone_and_user(address_is_user)
        if event.text:
            meaning = f"{meaning} — {_safe(event.text)}"
        xdata = row_xdata(message.extended, event)
        rows.append(
            FIELD_SEPARATOR.join(
                (
                    head,
                    str(index),
                    event.format,
                    _safe(event.code),
                    qualifier,
                    _safe(zone),
                    _safe(event.partition),
                    _safe(user),
                    meaning,
                    tail,
                    xdata,
                )
            )
        )
    return rows
