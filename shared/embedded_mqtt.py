"""The embedded MQTT broker (amqtt) for development and tests, used when `mqtt.url = "embedded"`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[str]:
    """Run an anonymous amqtt broker on host:port for the duration of the block; yields its mqtt:// URL."""
    from amqtt.broker import Broker

    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield f"mqtt://{host}:{port}"
    finally:
        await broker.shutdown()
