"""DC-09 extended data ("x-data") blocks decoded into typed values: position, MAC, verification link, texts, time.

A message's x-data blocks (Message.extended, e.g. "X115.500", "RLivingRoom") each start with one upper-case letter
naming what the rest holds (SIA DC-09, x-data annex). `decode_xdata` types the ones a dispatcher can use and keeps
every element it cannot read, as sent, under "unreadable": x-data never rejects a frame, and the raw list stays in
signals.extended whatever happens here.

Numbers are floats: a coordinate field is at most 12 characters (DC-09), so at most 13 significant digits, which a
float holds such that its shortest repr (what json writes) gives back the digits as sent, trailing zeros aside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time
from functools import lru_cache
from urllib.parse import urlsplit

XData = dict[str, float | str | list[str]]

# A longitude or latitude: decimal degrees, negative by a sign or by the hemisphere letter (before or after it).
_COORDINATE = re.compile(
    r"""
    \s*
    (?P<before>[NSEW])?             # hemisphere first: "E115.5", "S32.2"
    \s*
    (?P<sign>[+-])?                 # or a sign: "-32.2"
    (?P<degrees>[0-9]{1,3})         # whole degrees
    (?:[.,](?P<fraction>[0-9]{1,10}))?  # decimal fraction (some panels write a decimal comma)
    \s*
    (?P<after>[NSEW])?              # or hemisphere last: "115.5E"
    \s*
    """,
    re.VERBOSE,
)

# Altitude in metres, optionally with its unit.
_ALTITUDE = re.compile(r"\s*(?P<sign>[+-])?(?P<whole>[0-9]{1,6})(?:[.,](?P<fraction>[0-9]{1,6}))?\s*(?:[mM])?\s*")

# A MAC address: 12 hex digits, bare, in pairs separated by ':' or '-' (the same one throughout), or Cisco's dots.
_MAC = re.compile(
    r"""
    \s*
    (?:
        (?P<bare>[0-9A-Fa-f]{12})
      | (?P<paired>[0-9A-Fa-f]{2}(?P<separator>[:-])[0-9A-Fa-f]{2}(?:(?P=separator)[0-9A-Fa-f]{2}){4})
      | (?P<dotted>[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})
    )
    \s*
    """,
    re.VERBOSE,
)

# Time of occurrence: the DC-09 timestamp's shape (GMT), as panels vary it, or ISO 8601, or a time of day alone.
_STAMP = re.compile(
    r"""
    \s*_?
    (?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})
    [,\s]\s*
    (?P<month>[0-9]{2})-(?P<day>[0-9]{2})-(?P<year>[0-9]{4})
    \s*
    """,
    re.VERBOSE,
)
_ISO_STAMP = re.compile(
    r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2})?\s*"
)
_TIME_OF_DAY = re.compile(r"\s*(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?\s*")

# Free-text kinds (Windows-1252 or UTF-8 text on the wire; wire.text has decoded them) and short ASCII codes.
_TEXTS = {
    "I": "text",  # alarm text: a description of the event or a comment on it
    "L": "location",  # where on the site
    "R": "room",
    "S": "site",  # site name
    "O": "building",  # building name
    "N": "network_address",  # hardware network address of the path used
    "C": "supervision",  # supervision category (number of paths, link supervision)
    "J": "path",  # manufacturer's identifier of the network path used
    "T": "trigger",  # what triggered the event
}

# Known kinds deliberately not kept: an authentication hash, key-exchange material (never copied anywhere new), and
# programming dialogue with the receiver — nothing a dispatcher reads.
_IGNORED = frozenset("AKP")


def decode_xdata(blocks: Iterable[str]) -> XData:
    """The typed content of a message's x-data blocks; unreadable elements as sent under "unreadable".

    Keys: longitude, latitude (degrees, negative west/south), altitude (metres), mac ("00:26:b9:e4:26:8b"),
    verification (an http(s) URL), occurred_at (ISO 8601: a UTC date-time, or a time of day), and the texts of
    _TEXTS. The first element of a kind wins; a later one saying something else is kept as unreadable.
    """
    typed: XData = {}
    unreadable: list[str] = []
    for block in blocks:
        if block[:1] in _IGNORED:
            continue
        read = _read(block)
        if read is None:
            unreadable.append(block)
            continue
        name, typed_value = read
        if name not in typed:
            typed[name] = typed_value
        elif typed[name] != typed_value:
            unreadable.append(block)
    if unreadable:
        typed["unreadable"] = unreadable
    return typed


# The elements whose value is a short field (DC-09: a coordinate holds at most 12 characters): longer ones are
# unreadable at once. Their patterns allow spaces around optional parts, which backtrack quadratically on a long
# run of spaces (8,000 took 1.25 s); 64 characters cost microseconds.
_SHORT = frozenset("XYZMH")
_SHORT_LIMIT = 64


@lru_cache(maxsize=8192)  # a panel sends the same position, MAC and room with every message
def _read(block: str) -> tuple[str, float | str] | None:
    """(key, typed value) of one element, or None when it cannot be read."""
    kind, value = block[:1], block[1:]
    if kind in _SHORT and len(value) > _SHORT_LIMIT:
        return None  # no position, MAC or time is this long; the patterns' spaces would backtrack on it
    if kind == "X":
        degrees = _coordinate(value, "E", "W", 180)
        return None if degrees is None else ("longitude", degrees)
    if kind == "Y":
        degrees = _coordinate(value, "N", "S", 90)
        return None if degrees is None else ("latitude", degrees)
    if kind == "Z":
        metres = _altitude(value)
        return None if metres is None else ("altitude", metres)
    if kind == "M":
        mac = _mac(value)
        return None if mac is None else ("mac", mac)
    if kind == "V":
        url = _http_url(value)
        return None if url is None else ("verification", url)
    if kind == "H":
        moment = _occurred_at(value)
        return None if moment is None else ("occurred_at", moment)
    name = _TEXTS.get(kind)
    text = value.replace("\x00", "").strip()  # a NUL is a C string's end in the panel's firmware, never text
    if name is None or not text:
        return None
    return name, text


def _coordinate(value: str, positive: str, negative: str, limit: int) -> float | None:
    match = _COORDINATE.fullmatch(value)
    if match is None:
        return None
    letters = [letter for letter in (match["before"], match["after"]) if letter is not None]
    if len(letters) > 1 or (letters and match["sign"]) or (letters and letters[0] not in (positive, negative)):
        return None  # two hemispheres, a sign and a hemisphere, or a latitude's letter on a longitude
    degrees = float(f"{match['degrees']}.{match['fraction'] or '0'}")
    if degrees > limit:
        return None
    if match["sign"] == "-" or (letters and letters[0] == negative):
        degrees = -degrees
    return degrees + 0.0  # -0.0 reads as 0


def _altitude(value: str) -> float | None:
    match = _ALTITUDE.fullmatch(value)
    if match is None:
        return None
    metres = float(f"{match['sign'] or ''}{match['whole']}.{match['fraction'] or '0'}")
    return metres + 0.0


def _mac(value: str) -> str | None:
    match = _MAC.fullmatch(value)
    if match is None:
        return None
    digits = "".join(c for c in match[0] if c not in ":-. \t\r\n\f\v").lower()
    return ":".join(digits[k : k + 2] for k in range(0, 12, 2))


def _http_url(value: str) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host and nothing a browser would mangle, else None."""
    url = value.strip()
    if not url or len(url) > 2048 or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _occurred_at(value: str) -> str | None:
    if (match := _STAMP.fullmatch(value)) is not None:
        year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
        hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC).isoformat()
        except ValueError:
            return None
    if _ISO_STAMP.fullmatch(value) is not None:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()
    if (match := _TIME_OF_DAY.fullmatch(value)) is not None:
        try:
            return time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0)).isoformat()
        except ValueError:
            return None
    return None
