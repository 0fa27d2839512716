"""What the Service Center's pages share: the customer's calendar day and the company's branding for mail."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from portal.keys import config_key
from shared.branding import Branding


def today_of(request: web.Request) -> date:
    """The company's calendar day: what "today or later" means for a preferred date."""
    return datetime.now(ZoneInfo(request.app[config_key]["portal.timezone"])).date()


def branding_of(request: web.Request) -> Branding:
    return Branding.from_config(request.app[config_key])
