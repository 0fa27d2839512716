"""The account policy at the edges: relayed accounts, plain JSON events, a directory not yet loaded, huge blocks,
and a writer whose connection dies while it isolates a refused batch."""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from receiver.accounts import AccountDirectory
from receiver.batch_writer import BatchWriter, StorageUnavailable, _resolve_future, _Submission
from receiver.dc09 import Message, Rejection, RejectReason, cid_data, encode_frame
from receiver.housekeeping import Housekeeping
from receiver.ingest import MAX_EVENTS_PER_MESSAGE, Ingestor, PendingAnswer
from receiver.mqtt_events import decode_event
from receiver.service import RunningReceiver, receiver_service
from tests.receiver.conftest import AES_ACCOUNT, PLAIN_ACCOUNT, Panel, now, receiver_config


async def test_a_plain_frame_cannot_write_into_a_keyed_account_through_its_data_block(
    panel: Panel, db: asyncpg.Pool
) -> None:
    frame = encode_frame("ADM-CID", 1, "9999", cid_data(AES_ACCOUNT, 1, 130, 1, 15), line="1", timestamp=now())
    assert (await panel.exchange(frame)).kind == "ack"  # an unknown plain account is stored (R6) ...
    rows = await db.fetch("SELECT account, panel_id FROM signals")
    assert [(r["account"], r["panel_id"]) for r in rows] == [("9999", None)]  # ... but not as the keyed one


async def test_a_relaying_communicator_with_the_same_plain_key_is_honoured(
    panel: Panel, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    frame = encode_frame("ADM-CID", 2, "9999", cid_data(PLAIN_ACCOUNT, 1, 130, 1, 15), line="1", timestamp=now())
    assert (await panel.exchange(frame)).kind == "ack"
    row = await db.fetchrow("SELECT account, panel_id FROM signals")
    assert (row["account"], row["panel_id"]) == (PLAIN_ACCOUNT, enrolled[PLAIN_ACCOUNT])


def json_event(account: str, seq: int = 7, when: datetime | None = None) -> Message:
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "account": account,
        "format": "ADM-CID",
        "code": "E130",
        "zone": "1",
        "partition": "1",
        "seq": seq,
        "time": moment,
    }
    decoded = decode_event(json.dumps(document).encode(), account)
    assert isinstance(decoded, Message)
    return decoded


async def test_a_plain_json_event_for_a_keyed_account_is_refused(receiver: RunningReceiver, db: asyncpg.Pool) -> None:
    refused = receiver.ingestor.submit_message(json_event(AES_ACCOUNT), "mqtt", "alarmhub/panels/5678/events")
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.UNENCRYPTED
    stored = receiver.ingestor.submit_message(json_event(PLAIN_ACCOUNT), "mqtt", "alarmhub/panels/1234/events")
    assert isinstance(stored, asyncio.Future)
    await stored
    assert await db.fetchval("SELECT count(*) FROM signals") == 1


async def test_json_event_times_are_checked_when_plain_timestamps_are_enforced(
    database_url: str, enrolled: dict[str, int]
) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_ENFORCE_PLAIN_TIMESTAMPS="true")
    async with receiver_service(config, database_url) as running:
        stale = json_event(PLAIN_ACCOUNT, when=datetime(2020, 1, 1, tzinfo=UTC))
        refused = running.ingestor.submit_message(stale, "mqtt", "alarmhub/panels/1234/events")
        assert isinstance(refused, Rejection) and refused.reason is RejectReason.TIMESTAMP


async def test_nothing_is_stored_or_answered_before_the_accounts_are_loaded(database_url: str) -> None:
    ingestor = Ingestor(
        AccountDirectory(),
        BatchWriter(database_url),
        Housekeeping(database_url, rejected_kept=1000),
        enforce_plain_timestamps=False,
    )
    result = ingestor.receive(
        encode_frame("ADM-CID", 3, AES_ACCOUNT, cid_data(AES_ACCOUNT, 1, 130, 1, 1), line="1", timestamp=now()),
        "tcp",
        "127.0.0.1:1",
    )
    assert isinstance(result, PendingAnswer)
    assert result.answer() is None  # not a NAK for a key it cannot see yet, not an ACK: silence, the panel retries
    assert isinstance(ingestor.submit_message(json_event(PLAIN_ACCOUNT), "mqtt", "t"), asyncio.Future)


async def test_a_block_with_too_many_events_is_refused_whole(panel: Panel, db: asyncpg.Pool) -> None:
    blocks = "/".join(f"BA{n:03d}" for n in range(MAX_EVENTS_PER_MESSAGE + 1))
    frame = encode_frame("SIA-DCS", 4, PLAIN_ACCOUNT, f"#{PLAIN_ACCOUNT}|Nri1/{blocks}", line="1", timestamp=now())
    assert (await panel.exchange(frame)).kind == "duh"
    assert await db.fetchval("SELECT count(*) FROM signals") == 0


async def test_an_unfinished_frame_is_cut_off(database_url: str, enrolled: dict[str, int]) -> None:
    async with receiver_service(receiver_config(ALARMHUB_RECEIVER_FRAME_TIMEOUT="1"), database_url) as running:
        panel = await Panel.connect(running.tcp_address)
        try:
            await panel.send(b'\n1234004A"ADM-CID"0001L1#12')  # ... and the rest never comes
            async with asyncio.timeout(4):
                assert await panel.reader.read() == b""
        finally:
            await panel.close()


class DropsDuringIsolation:
    """A connection whose batch is refused as bad data and which then dies while rows are retried one by one."""

    def __init__(self) -> None:
        self.calls = 0

    async def fetchrow(self, *_: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise asyncpg.DataError("invalid input syntax")
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


async def test_every_submission_is_settled_when_the_connection_dies_mid_isolation(database_url: str) -> None:
    writer = BatchWriter(database_url)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = [loop.create_future() for _ in range(3)]
    batch = [_Submission(["row"], functools.partial(_resolve_future, future)) for future in futures]
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        await writer._write(DropsDuringIsolation(), batch, "INSERT …")  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the writer tells a batch's submitters together, from one loop callback
    assert all(future.done() and isinstance(future.exception(), StorageUnavailable) for future in futures)
