"""The receiver as one async context manager: account directory, batch writer, housekeeping, TCP and UDP."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from receiver import fastpath
from receiver.accounts import AccountDirectory
from receiver.batch_writer import BatchWriter
from receiver.housekeeping import Housekeeping
from receiver.ingest import Ingestor
from receiver.transports.mqtt import MqttSettings, MqttTransport
from receiver.transports.tcp import TcpLimits, start_tcp_server
from receiver.transports.udp import start_udp_endpoint
from shared.config import Config
from shared.logs import get_logger

log = get_logger(__name__)
STARTUP_WAIT = 15.0


@dataclass(frozen=True, slots=True)
class RunningReceiver:
    """What a started receiver offers: its addresses, and the ingest pipeline for other transports (MQTT)."""

    tcp_address: tuple[str, int]
    udp_address: tuple[str, int] | None
    ingestor: Ingestor
    directory: AccountDirectory
    writer: BatchWriter
    mqtt: MqttTransport | None = None
    # Set while DC-09 is served (TCP, and UDP when enabled); `alarmhub run`'s /healthz is ready only then.
    listening: asyncio.Event = field(default_factory=asyncio.Event)


def raise_open_file_limit() -> None:
    """Each panel connection is a file descriptor: use all the operating system allows this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@asynccontextmanager
async def receiver_pipeline(
    config: Config, database_url: str
) -> AsyncIterator[tuple[Ingestor, AccountDirectory, BatchWriter]]:
    """The transport-independent part: background tasks created, yielded, cancelled and awaited."""
    if not fastpath.AVAILABLE:
        log.warning("the compiled fast path is not built (needs gcc and OpenSSL 3 headers): decoding in Python")
    directory = AccountDirectory()
    window = config["receiver.retransmission_window"]
    writer = BatchWriter(
        database_url,
        max_batch_rows=config["receiver.batch_max_size"],
        writers=config["receiver.batch_writers"],
        retransmission_window=window,
    )
    housekeeping = Housekeeping(
        database_url,
        rejected_kept=config["receiver.rejected_frames_kept"],
        retransmission_window=window,
        retransmission_horizon=config["receiver.retransmission_horizon"],
    )
    ingestor = Ingestor(
        directory, writer, housekeeping, enforce_plain_timestamps=config["receiver.enforce_plain_timestamps"]
    )
    writer_ready = asyncio.Event()
    tasks = [
        asyncio.create_task(writer.run(writer_ready), name="batch-writer"),
        asyncio.create_task(directory.follow_changes(database_url), name="account-directory"),
        asyncio.create_task(housekeeping.run(), name="housekeeping"),
    ]
    try:
        try:
            async with asyncio.timeout(STARTUP_WAIT):
                await writer_ready.wait()
                await directory.loaded.wait()
        except TimeoutError:
            log.warning("database not reachable yet; frames go unacknowledged until it is")
        yield ingestor, directory, writer
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def receiver_service(
    config: Config, database_url: str, mqtt: MqttSettings | None = None
) -> AsyncIterator[RunningReceiver]:
    """Serve DC-09 over TCP (and UDP), and MQTT when `mqtt` names a broker, until the block exits."""
    raise_open_file_limit()
    host, port = config["receiver.dc09_host"], config["receiver.dc09_port"]
    limits = TcpLimits(
        max_frame_length=config["receiver.max_frame_length"],
        max_connections=config["receiver.max_connections"],
        max_connections_per_address=config["receiver.max_connections_per_address"],
        idle_timeout=config["receiver.idle_timeout"],
        write_timeout=config["receiver.write_timeout"],
        frame_timeout=config["receiver.frame_timeout"],
    )
    async with receiver_pipeline(config, database_url) as (ingestor, directory, writer):
        server = await start_tcp_server(ingestor, host, port, limits)
        tcp_address = server.address
        udp = None
        if config["receiver.udp_enabled"]:
            udp = await start_udp_endpoint(ingestor, host, tcp_address[1], limits.max_frame_length)
        mqtt_transport = MqttTransport(ingestor, mqtt) if mqtt is not None else None
        mqtt_task = asyncio.create_task(mqtt_transport.run(), name="mqtt") if mqtt_transport is not None else None
        running = RunningReceiver(
            tcp_address,
            udp.get_extra_info("sockname")[:2] if udp else None,
            ingestor,
            directory,
            writer,
            mqtt_transport,
        )
        running.listening.set()
        try:
            yield running
        finally:
            running.listening.clear()
            if mqtt_task is not None:  # first: its unacknowledged messages go back to the broker, not to a dead writer
                mqtt_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await mqtt_task
            if udp is not None:
                udp.close()
            await server.close()
