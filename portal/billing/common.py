"""What the billing pages share: the app's payment gateway, today's date in the portal's zone, ticked invoice ids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from portal.keys import config_key, gateway_key
from portal.paths import parse_id
from shared.billing.gateway import PaymentGateway
from shared.config import Config


def gateway_of(request: web.Request) -> PaymentGateway:
    return request.app[gateway_key]


def today_in(config: Config) -> date:
    """The company's calendar day: what "due today" and "overdue" mean to the customer reading the page."""
    return datetime.now(ZoneInfo(config["portal.timezone"])).date()


def today_of(request: web.Request) -> date:
    return today_in(request.app[config_key])


def timezone_of(request: web.Request) -> str:
    zone: str = request.app[config_key]["portal.timezone"]
    return zone


def ids_in(values: Iterable[str]) -> list[int]:
    """The valid ids among `values`, first occurrence order; anything else (text, a huge number) is dropped."""
    seen: dict[int, None] = {}
    for value in values:
        parsed = parse_id(value.strip())
        if parsed is not None:
            seen.setdefault(parsed, None)
    return list(seen)
