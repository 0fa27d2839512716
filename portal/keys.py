"""Every application-scoped object of the portal, declared once as a typed AppKey."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from shared.config import Config

config_key = web.AppKey("config", Config)
database_url_key = web.AppKey("database_url", str)
pool_key = web.AppKey("pool", asyncpg.Pool)
