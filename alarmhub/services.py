"""The long-running parts as async context managers, so `run` and the single-part commands share one wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

from shared.config import Config


@asynccontextmanager
async def portal_service(
    config: Config, database_url: str, readiness: Mapping[str, Callable[[], bool]] | None = None
) -> AsyncIterator[str]:
    """Serve the portal until the block exits; yields its address. `readiness` names checks that /healthz adds to
    its own (the database): under `alarmhub run`, whether the receiver listens."""
    from portal.app import create_app  # here, so that `alarmhub receiver` never loads the portal
    from portal.keys import readiness_key

    app = create_app(config, database_url)
    if readiness:
        app[readiness_key] = dict(readiness)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = config["portal.host"], config["portal.port"]
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        yield config["portal.public_url"] or f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def mqtt_broker(config: Config) -> AsyncIterator[str | None]:
    """The broker the receiver connects to: an embedded amqtt started here when ``mqtt.url = "embedded"`` (before
    the receiver, which connects to it), the configured URL otherwise, or None when MQTT is off."""
    url = config["mqtt.url"]
    if url != "embedded":
        yield url or None
        return
    from shared.embedded_mqtt import embedded_broker

    host, port = config["mqtt.embedded_listen"]
    async with embedded_broker(host, port) as broker_url:
        yield broker_url
