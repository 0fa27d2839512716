"""Fuzzing a running `alarmhub receiver` process (bench/fuzz/) with a few thousand inputs, so that `make test`
guards the machinery `make fuzz` runs with a million: TCP, UDP and MQTT, every answer checked against the reference
codec, the metrics and rejected_frames against the rejections, known-good frames stored, memory flat."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from bench.fuzz.checks import REJECTED, UNRECORDED
from bench.fuzz.mosquitto import own_mosquitto
from bench.fuzz.plan import Broker, FuzzPlan
from bench.fuzz.probes import scrape
from bench.fuzz.receiver_process import running_receiver
from bench.fuzz.report import report
from bench.fuzz.run import fuzz
from receiver.dc09 import cid_data, encode_frame

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def fuzz_broker(mqtt_url: str, tmp_path: Path) -> AsyncIterator[Broker]:
    """A Mosquitto of the test's own when the binary is there (other receivers on a shared broker answer the same
    topics); otherwise the tests' broker, whose receivers are then assumed to be only this test's."""
    async with own_mosquitto(tmp_path) as own:
        if own is not None:
            yield own
        else:
            yield Broker(mqtt_url, mqtt5=bool(os.environ.get("ALARMHUB_TEST_MQTT_URL")))  # embedded amqtt: 3.1.1


async def test_a_few_thousand_fuzzed_inputs_are_all_answered_as_the_reference_codec_says(
    database_url: str, fuzz_broker: Broker
) -> None:
    plan = FuzzPlan(frames=3000, seed=16, tcp_connections=4, udp_sockets=2, canary_every=100, stall_every=200)
    outcome = await fuzz(plan, database_url, fuzz_broker)
    text = report(outcome, "test database", "tests/receiver/test_fuzz.py")
    assert outcome.passed, text
    assert outcome.tally.sent == plan.frames
    assert outcome.tally.stalls == 8, "each TCP connection left half a frame twice"
    assert all(outcome.tally.answers[transport, "ack"] for transport in ("tcp", "udp", "mqtt")), text


async def test_a_burst_of_rejected_frames_is_recorded_or_counted_as_unrecorded(
    database_url: str, tmp_path: Path
) -> None:
    """50,000 bad frames in one write are handled in a few reads, faster than any write of the table: the receiver's
    bounded buffer keeps the newest, and what it pushes out is counted (and logged), never lost without a word."""
    frames = 50_000
    good = encode_frame("ADM-CID", 1, "1234", cid_data("1234", 1, 130, 1, 1))
    wrong_crc = good[:1] + b"0000" + good[5:]
    async with running_receiver(database_url, FuzzPlan(), None, tmp_path) as receiver:
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        writer.write(wrong_crc * frames)  # well under a second of work for the receiver
        answers = bytearray()
        async with asyncio.timeout(30):
            while answers.count(b"\r") < frames:  # each answer ends with its CR (hex CRCs: no CR inside)
                answers += await reader.read(1 << 20)
        writer.close()
        recorded = await settled_count(database_url, "SELECT count(*) FROM rejected_frames WHERE reason = 'crc'")
        scraped = await scrape(receiver.metrics_url, {REJECTED: ("reason",), UNRECORDED: ()})
    assert answers.count(b'"NAK"') == frames
    assert scraped[REJECTED] == {("crc",): frames}
    unrecorded = scraped[UNRECORDED].get((), 0)
    assert recorded >= 10_000, "the buffer's worth at least is written"
    assert recorded + unrecorded == frames, f"{recorded:,} recorded + {unrecorded:,} counted of {frames:,}"


async def settled_count(database_url: str, query: str, limit: float = 10.0) -> int:
    """The query's count once it has stopped moving for three seconds (housekeeping writes once a second)."""
    connection = await asyncpg.connect(database_url)
    try:
        count, unchanged = -1, 0.0
        for _ in range(int(limit / 0.5)):
            now = await connection.fetchval(query)
            unchanged = unchanged + 0.5 if now == count else 0.0
            if unchanged >= 3.0:
                break
            count = now
            await asyncio.sleep(0.5)
        return int(count)
    finally:
        await connection.close()
