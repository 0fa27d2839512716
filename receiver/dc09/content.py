"""Decoders for the data block of ADM-CID (Contact ID) and SIA-DCS messages into events."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from receiver.dc09.message import Event

# Contact ID inside DC-09, after the optional "#acct|" has been split off: "QEEE GG CCC".
# Panels differ in spacing (none, one, several), so spaces are optional between fields.
_CID = re.compile(
    r"""
    \s*
    (?P<qualifier>[136])    # Q: 1 new event / opening, 3 restore / closing, 6 previously reported
    \s*
    (?P<code>[0-9]{3})      # EEE: event code, e.g. 130 burglary
    \s*
    (?P<partition>[0-9]{2}) # GG: partition (group) number
    \s*
    (?P<address>[0-9]{3})   # CCC: zone, or user number for open/close and duress codes
    \s*
    """,
    re.VERBOSE,
)

_CID_QUALIFIERS = {"1": "event", "3": "restore", "6": "status"}

# One token of a SIA-DCS event block such as "ri1/id3/BA015^Hall^" or "ri1CL0001^user^".
# Modifiers are lower case and events upper case, so blocks without '/' still tokenise.
_SIA_TOKEN = re.compile(
    r"""
      (?P<modifier>[a-z]{2})(?P<value>[0-9:.\-]*)  # modifier and its value: ri01, id0007, ti12:30
    | (?P<code>[A-Z]{2})(?P<address>[0-9]*)        # event code and its zone/user/point digits
    | \^(?P<text>[^^]*)\^?                          # ^text^ naming the item before it
    | [/\s]+                                        # separators between items
    | (?P<other>.)                                  # anything else: skipped
    """,
    re.VERBOSE | re.DOTALL,
)

# SIA-DCS "ti" (time of the event): "hh:mm" per DC-03, many panels add ":ss" (e.g. Bosch's "tihh:mm:ss").
_SIA_TIME = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?")

# SIA-DCS "da" (date of the event): "mm-dd-yy" per DC-03, month first as in DC-09's own timestamp; a four-digit
# year is read too. No other separator: '/' separates items, and a '.' would suggest day-first (unreadable).
_SIA_DATE = re.compile(r"(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})-(?P<year>[0-9]{2}|[0-9]{4})")

# A block opening with "N" (new event) that is followed by a modifier, a '/' or a two-letter
# code; "NA001" alone stays the SIA code NA (no activity), "NNA001" is N + NA001.
_NEW_EVENT_PREFIX = re.compile(r"N(?=[a-z]{2}|/|[A-Z]{2})")


# An account is hex, so "FA1" or "BA01" can be an account and a SIA code with its zone alike: such a token without
# '#', followed by a SIA text block ("|A…"), is read as the event it spells (as DC-09 writes it), not as an account.
_SIA_EVENT_TOKEN = re.compile(r"[A-Z]{2}[0-9]*")


def split_account(data: str, account: str | None = None) -> tuple[str | None, str]:
    """Split ``"#acct|rest"`` (or ``"|rest"``) into the data block's account and the rest.

    Some panels leave out the '#': ``"acct|rest"`` is split too, but only when the token before the first '|'
    is ``account`` (the header's, case aside) and cannot be read as a SIA code and zone; any other token is data,
    e.g. the SIA block ``"BA01|Atext"``, even from the panel with account BA01.
    Without ``account`` a block without '#' is all data.
    """
    if data.startswith("#"):
        bar = data.find("|")
        if bar < 0:
            return data[1:] or None, ""
        return data[1:bar] or None, data[bar + 1 :]
    if data.startswith("|"):
        return None, data[1:]
    if account:
        bar = data.find("|")
        token = data[:bar]
        # "FA1|AKitchen" is fire zone 1 with its text block ("|A…"), even from panel FA1; "FA12|Nri1/BA01" or
        # "BA01|1130 01 001" (no text block after the bar) are that panel's account and its data.
        spelled_event = _SIA_EVENT_TOKEN.fullmatch(token) is not None and data[bar + 1 : bar + 2] == "A"
        if bar == len(account) and token.upper() == account.upper() and not spelled_event:
            return token, data[bar + 1 :]
    return None, data


def sia_time(value: str | None) -> str | None:
    """A "ti" modifier's value as "HH:MM" or "HH:MM:SS"; None when absent or not a time of day (e.g. 25:61)."""
    match = _SIA_TIME.fullmatch(value) if value else None
    if match is None:
        return None
    hour, minute, second = match["hour"], match["minute"], match["second"]
    if int(hour) > 23 or int(minute) > 59 or (second is not None and int(second) > 59):
        return None
    return f"{int(hour):02d}:{minute}" + (f":{second}" if second is not None else "")


def sia_date(value: str | None) -> str | None:
    """A "da" modifier's value (month first, "mm-dd-yy") as an ISO date; None when absent or not a date."""
    match = _SIA_DATE.fullmatch(value) if value else None
    if match is None:
        return None
    year = int(match["year"])
    try:
        return date(year + 2000 if year < 100 else year, int(match["month"]), int(match["day"])).isoformat()
    except ValueError:  # 02-30-26, 13-01-26, a year 0000 ...
        return None


def decode_cid(data: str) -> Event | None:
    """The Contact ID event in ``data`` (account already split off), or None."""
    match = _CID.fullmatch(data)
    if match is None:
        return None
    return Event(
        format="ADM-CID",
        code=match["code"],
        qualifier=_CID_QUALIFIERS[match["qualifier"]],
        zone_or_user=match["address"],
        partition=match["partition"],
    )


def decode_sia(data: str) -> tuple[Event, ...]:
    """The SIA-DCS events in ``data`` (account already split off).

    Modifiers (``ri`` area, ``id`` user, ``ti`` time, ``da`` date, ``pi`` peripheral) apply to the events after
    them and carry forward, across the '|' blocks too, until the same modifier comes again; an unreadable value
    replaces the one before it with None. Other modifiers are skipped.
    """
    events: list[Event] = []
    partition: str | None = None
    user: str | None = None
    time: str | None = None
    day: str | None = None
    peripheral: str | None = None
    block_start = 0
    for index, block in enumerate(data.split("|")):
        if index and block.startswith("A"):
            # "|A..." text block: names the events of the block before it that have no text.
            text = block[1:].strip() or None
            for position in range(block_start, len(events)):
                if events[position].text is None:
                    events[position] = replace(events[position], text=text)
            continue
        block_start = len(events)
        items = block[1:] if _NEW_EVENT_PREFIX.match(block) else block
        last_was_event = False
        for token in _SIA_TOKEN.finditer(items):
            if token["code"] is not None:
                events.append(
                    Event(
                        format="SIA-DCS",
                        code=token["code"],
                        qualifier="event",
                        zone_or_user=token["address"] or None,
                        partition=partition,
                        user=user,
                        time=time,
                        date=day,
                        peripheral=peripheral,
                    )
                )
                last_was_event = True
            elif token["modifier"] is not None:
                name, value = token["modifier"], token["value"] or None
                if name == "ri":
                    partition = value
                elif name == "id":
                    user = value
                elif name == "ti":
                    time = sia_time(value)
                elif name == "da":
                    day = sia_date(value)
                elif name == "pi":
                    peripheral = value
                last_was_event = False
            elif token["text"] is not None:
                # ^text^ after an event names it; after a modifier (e.g. an area name) it is dropped.
                if last_was_event and len(events) > block_start:
                    events[-1] = replace(events[-1], text=token["text"].strip() or None)
                last_was_event = False
    return tuple(events)
