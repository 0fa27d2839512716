"""Keyset paging of the API's lists: `limit`, and `after` as an opaque cursor signed so an edited one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web
from multidict import MultiMapping

from portal.api.openapi import Component, Parameter, query_parameter

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class BadParameter(ValueError):
    """A query parameter the API cannot use: answered 400, naming it (see bad_parameter)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


PARAMETER_ERROR = Component(
    "ParameterError",
    {
        "type": "object",
        "required": ["error", "parameter"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong with it, for a person to read."},
            "parameter": {"type": "string", "description": "The query parameter at fault."},
        },
    },
)


def bad_parameter(error: BadParameter) -> web.Response:
    return web.json_response({"error": str(error), "parameter": error.parameter}, status=400)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A row's place in a list sorted newest first by (at, id): the next page goes strictly past it."""

    at: datetime
    id: int


class CursorCodec:
    """Positions as 40 URL-safe characters: 16 bytes of position and a 14-byte HMAC of it and of the list it is
    for (a cursor of the signals is not one of the incidents), so that an edited or made-up cursor is refused."""

    _PACK = struct.Struct(">qq")
    _MAC_BYTES = 14
    _TEXT = re.compile(r"[A-Za-z0-9_-]{40}")

    def __init__(self, session_key: str, *previous: str) -> None:
        # Keys of their own, derived from the session keys: a cursor never reveals or reuses one. The first signs;
        # a cursor signed under a previous session key (while it is rotated) is still accepted.
        self._keys = [
            hmac.new(key.encode("ascii"), b"api-list-cursor", hashlib.sha256).digest()
            for key in (session_key, *previous)
        ]

    def encode(self, listing: str, position: Position) -> str:
        micros = (position.at - _EPOCH) // timedelta(microseconds=1)
        payload = self._PACK.pack(micros, position.id)
        return base64.urlsafe_b64encode(payload + self._mac(self._keys[0], listing, payload)).decode("ascii")

    def decode(self, listing: str, text: str) -> Position:
        """The position `text` names; BadParameter('after') for anything this server did not make for `listing`."""
        if not self._TEXT.fullmatch(text):
            raise BadParameter("after", "not a cursor: pass the next_after of the previous page exactly as it came")
        raw = base64.urlsafe_b64decode(text)
        payload, mac = raw[: self._PACK.size], raw[self._PACK.size :]
        if not any(hmac.compare_digest(mac, self._mac(key, listing, payload)) for key in self._keys):
            raise BadParameter("after", "not a cursor of this list: pass the next_after of its previous page")
        micros, row_id = self._PACK.unpack(payload)
        try:
            return Position(_EPOCH + timedelta(microseconds=micros), row_id)
        except OverflowError:  # signed by us, so never; kept so that no input can become a 500
            raise BadParameter("after", "cursor out of range") from None

    def _mac(self, key: bytes, listing: str, payload: bytes) -> bytes:
        message = b"api:" + listing.encode("ascii") + b":" + payload
        return hmac.new(key, message, hashlib.sha256).digest()[: self._MAC_BYTES]


# Beside its codec rather than in portal/keys.py, which would then import this module, and with it (through the
# OpenAPI declarations and the access rules) portal/keys.py itself.
api_cursor_codec_key = web.AppKey("api_cursor_codec", CursorCodec)

LIMIT_PARAMETER: Final = query_parameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    f"How many rows a page holds at most (1 to {MAX_LIMIT}; {DEFAULT_LIMIT} when left out).",
)
AFTER_PARAMETER: Final = query_parameter(
    "after",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]{40}$"},
    "Where the page starts: the `next_after` of the previous page, exactly as it came (opaque). Leave it out for "
    "the first page.",
)


def page_schema(name: str, item: Component) -> Component:
    """A page of a list: its rows newest first, and the cursor of the next page."""
    return Component(
        name,
        {
            "type": "object",
            "required": ["items", "next_after"],
            "properties": {
                "items": {"type": "array", "items": item},
                "next_after": {
                    "type": ["string", "null"],
                    "description": "Pass as `after` for the next page; null when this page is the last one. Rows "
                    "stored meanwhile never make the next page repeat or skip a row.",
                },
            },
        },
    )


def page_json(items: list[Any], next_after: str | None) -> dict[str, Any]:
    return {"items": items, "next_after": next_after}


def single_values(query: MultiMapping[str], declared: tuple[Parameter, ...]) -> Mapping[str, str]:
    """The query's parameters, each at most once and each one that the operation declares; an empty value is as
    good as none. An unknown parameter is refused rather than ignored: a misspelt filter must not widen a list."""
    known = {parameter.name for parameter in declared if parameter.location == "query"}
    values: dict[str, str] = {}
    for name in query:
        if name not in known:
            raise BadParameter(name, f"not a parameter of this list; it takes {', '.join(sorted(known))}")
        given = query.getall(name)
        if len(given) > 1:
            raise BadParameter(name, "give it at most once")
        if given[0].strip():
            values[name] = given[0].strip()
    return values


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_LIMIT)) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadParameter("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_after(request: web.Request, listing: str, text: str | None) -> Position | None:
    return None if text is None else request.app[api_cursor_codec_key].decode(listing, text)


def next_after(request: web.Request, listing: str, last: Position | None) -> str | None:
    return None if last is None else request.app[api_cursor_codec_key].encode(listing, last)
