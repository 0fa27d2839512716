"""Transport hygiene: oversized frames, idle connections and too many connections are cut; metrics are served."""

from __future__ import annotations

import asyncio
import urllib.request

import asyncpg

from receiver.metrics import metrics_server
from receiver.service import receiver_service
from tests.conftest import free_port
from tests.receiver.conftest import PLAIN_ACCOUNT, Panel, receiver_config
from tests.receiver.test_pipeline import cid


async def closed_by_server(panel: Panel, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            return await panel.reader.read() == b""
    except TimeoutError:
        return False


async def test_an_oversized_frame_is_refused_and_the_stream_recovers(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_FRAME_LENGTH="128")
    async with receiver_service(config, database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            await panel.send(b"\n" + b"A" * 400)  # a frame that never ends within the limit
            assert (await panel.answer()).kind == "nak"
            assert (await panel.exchange(cid(PLAIN_ACCOUNT, 1, 1, 130, 1))).kind == "ack"
        finally:
            await panel.close()


async def test_an_idle_connection_is_closed(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_IDLE_TIMEOUT="1")
    async with receiver_service(config, database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            assert (await panel.exchange(cid(PLAIN_ACCOUNT, 2, 1, 602, 0))).kind == "ack"
            assert await closed_by_server(panel, within=3.0)
        finally:
            await panel.close()


async def test_connections_past_the_limit_are_refused(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS="2")
    async with receiver_service(config, database_url) as running:
        first, second = await Panel.connect(running.tcp_address), await Panel.connect(running.tcp_address)
        third = await Panel.connect(running.tcp_address)
        try:
            assert await closed_by_server(third, within=2.0)
            assert (await first.exchange(cid(PLAIN_ACCOUNT, 3, 1, 602, 0))).kind == "ack"
            assert (await second.exchange(cid(PLAIN_ACCOUNT, 4, 1, 602, 0))).kind == "ack"
        finally:
            for panel in (first, second, third):
                await panel.close()


async def test_a_standalone_receiver_serves_its_metrics(database_url: str, enrolled: object) -> None:
    port = free_port()
    async with (
        receiver_service(receiver_config(), database_url) as running,
        metrics_server(("127.0.0.1", port)) as url,
    ):
        panel = await Panel.connect(running.tcp_address)
        try:
            assert (await panel.exchange(cid(PLAIN_ACCOUNT, 5, 1, 130, 1))).kind == "ack"
        finally:
            await panel.close()
        assert url is not None
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'alarmhub_receiver_frames_total{answer="ack",transport="tcp"}' in text
    assert "alarmhub_receiver_ack_latency_seconds_bucket" in text


async def test_two_receivers_share_one_port_and_store_everything_once(database_url: str, enrolled: object) -> None:
    config = receiver_config()
    async with receiver_service(config, database_url) as first, receiver_service(config, database_url) as second:
        assert first.tcp_address == second.tcp_address
        panels = [await Panel.connect(first.tcp_address) for _ in range(20)]
        try:
            answers = [await panel.exchange(cid(PLAIN_ACCOUNT, 100 + n, 1, 602, n)) for n, panel in enumerate(panels)]
        finally:
            for panel in panels:
                await panel.close()
    assert [answer.kind for answer in answers] == ["ack"] * 20
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(DISTINCT sequence) FROM signals") == 20
        assert await connection.fetchval("SELECT count(*) FROM signals") == 20
    finally:
        await connection.close()


async def test_queue_depth_is_reported(database_url: str, enrolled: object) -> None:
    from receiver import metrics

    metrics.PENDING.set(-1)  # a value the writer can never report
    async with receiver_service(receiver_config(), database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            assert (await panel.exchange(cid(PLAIN_ACCOUNT, 200, 1, 602, 0))).kind == "ack"
        finally:
            await panel.close()
    assert metrics.PENDING._value.get() == 0  # the batch was taken: nothing left waiting
