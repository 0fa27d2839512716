"""The portal's application factory: resources in cleanup contexts, routes from each feature module."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from portal import health
from portal.keys import config_key, database_url_key, pool_key
from shared.config import Config
from shared.db import pool_from_config


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    pool = await pool_from_config(app[config_key], app[database_url_key])
    app[pool_key] = pool
    yield
    await pool.close()


def create_app(config: Config, database_url: str) -> web.Application:
    app = web.Application()
    app[config_key] = config
    app[database_url_key] = database_url
    app.cleanup_ctx.append(database_pool)
    health.add_routes(app)
    return app
