"""Each panel's last signal, kept on the panel after commit, and what happens to it when a site changes hands."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from receiver.accounts import PanelInfo
from receiver.dc09 import Message, cid_data, encode_frame
from receiver.housekeeping import Housekeeping
from receiver.mqtt_events import decode_event
from receiver.service import RunningReceiver
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, PLAIN_ACCOUNT, Panel, now


def alarm(account: str, seq: int, key: bytes | None = None) -> bytes:
    return encode_frame("ADM-CID", seq, account, cid_data(account, 1, 130, 1, 3), line="1", timestamp=now(), key=key)


async def _last_signal(db: asyncpg.Pool, account: str, *, wait: bool = True) -> object:
    for _ in range(50 if wait else 1):  # housekeeping writes it once a second
        value = await db.fetchval("SELECT last_signal_at FROM panels WHERE account = $1", account)
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    return None


async def test_a_stored_signal_becomes_the_panels_last_signal_and_a_link_test_does_not(
    panel: Panel, db: asyncpg.Pool
) -> None:
    link_test = encode_frame("NULL", 1, AES_ACCOUNT, "", line="1", timestamp=now(), key=AES_KEY)
    assert (await panel.exchange(link_test, key=AES_KEY)).kind == "ack"
    assert (await panel.exchange(alarm(PLAIN_ACCOUNT, 2))).kind == "ack"
    stored = await db.fetchval("SELECT received_at FROM signals WHERE account = $1", PLAIN_ACCOUNT)
    assert await _last_signal(db, PLAIN_ACCOUNT) == stored
    # The link test marked its panel seen, but it is not a signal.
    assert await db.fetchval("SELECT last_seen_at FROM panels WHERE account = $1", AES_ACCOUNT) is not None
    assert await _last_signal(db, AES_ACCOUNT, wait=False) is None


async def test_a_json_event_over_mqtt_counts_as_a_signal_too(receiver: RunningReceiver, db: asyncpg.Pool) -> None:
    event = {
        "account": PLAIN_ACCOUNT,
        "format": "ADM-CID",
        "code": "E130",
        "zone": "3",
        "seq": 4,
        "time": now().isoformat(),
    }
    message = decode_event(json.dumps(event).encode(), PLAIN_ACCOUNT)
    assert isinstance(message, Message)
    future = receiver.ingestor.submit_message(message, "mqtt", "broker")
    assert isinstance(future, asyncio.Future)
    await future
    stored = await db.fetchval("SELECT received_at FROM signals WHERE account = $1", PLAIN_ACCOUNT)
    assert await _last_signal(db, PLAIN_ACCOUNT) == stored


async def _second_customer(db: asyncpg.Pool) -> int:
    customer_id: int = await db.fetchval(
        "INSERT INTO customers (name, email) VALUES ('New Owner', 'new@example.com') RETURNING id"
    )
    return customer_id


async def _panel_info(db: asyncpg.Pool, account: str) -> PanelInfo:
    """The panel as the receiver resolved it at receipt."""
    row = await db.fetchrow(
        "SELECT p.id, p.site_id, s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1",
        account,
    )
    return PanelInfo(account, row["id"], row["site_id"], row["customer_id"], None)


async def test_a_site_handed_to_another_customer_forgets_the_last_signal_and_tells_the_receivers(
    db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    panel_id = enrolled[PLAIN_ACCOUNT]
    site_id = await db.fetchval("SELECT site_id FROM panels WHERE id = $1", panel_id)
    await db.execute("UPDATE panels SET last_signal_at = now() WHERE id = $1", panel_id)
    heard: list[str] = []

    def hear(*args: object) -> None:
        heard.append(str(args[3]))

    listener = await db.acquire()
    try:
        await listener.add_listener("panels_changed", hear)
        await db.execute("UPDATE sites SET customer_id = $2 WHERE id = $1", site_id, await _second_customer(db))
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
    finally:
        await listener.remove_listener("panels_changed", hear)
        await db.release(listener)
    assert heard == [PLAIN_ACCOUNT]
    assert await db.fetchval("SELECT last_signal_at FROM panels WHERE id = $1", panel_id) is None


async def test_a_panel_moved_to_another_site_forgets_its_last_signal(
    db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    plain, keyed = enrolled[PLAIN_ACCOUNT], enrolled[AES_ACCOUNT]
    await db.execute("UPDATE panels SET last_signal_at = now() WHERE id IN ($1, $2)", plain, keyed)
    await db.execute("UPDATE panels SET description = 'hall' WHERE id = $1", keyed)  # not a move: kept
    other_site = await db.fetchval("SELECT site_id FROM panels WHERE id = $1", keyed)
    await db.execute("UPDATE panels SET site_id = $2 WHERE id = $1", plain, other_site)
    assert await db.fetchval("SELECT last_signal_at FROM panels WHERE id = $1", plain) is None
    assert await db.fetchval("SELECT last_signal_at FROM panels WHERE id = $1", keyed) is not None


async def test_a_signal_committed_before_its_site_changed_hands_is_not_the_new_customers_last_signal(
    db: asyncpg.Pool, database_url: str, enrolled: dict[str, int]
) -> None:
    as_received = await _panel_info(db, PLAIN_ACCOUNT)
    housekeeping = Housekeeping(database_url, rejected_kept=100)
    connection = await asyncpg.connect(database_url)
    try:
        # Flushed while the site is still the customer's: written.
        housekeeping.signalled(as_received, now())
        await housekeeping.flush(connection)
        assert await _last_signal(db, PLAIN_ACCOUNT, wait=False) is not None
        # Committed, then the site changed hands before the flush: the new customer must not see it.
        housekeeping.signalled(as_received, now())
        await db.execute(
            "UPDATE sites SET customer_id = $2 WHERE id = $1", as_received.site_id, await _second_customer(db)
        )
        await housekeeping.flush(connection)
        assert await _last_signal(db, PLAIN_ACCOUNT, wait=False) is None
    finally:
        await connection.close()


async def test_a_flush_racing_a_handover_in_flight_waits_for_it_and_writes_nothing(
    db: asyncpg.Pool, database_url: str, enrolled: dict[str, int]
) -> None:
    # The handover's trigger has reset the panel but not committed when the flush starts; the flush must see the
    # site as the handover leaves it, not as its snapshot had it.
    as_received = await _panel_info(db, PLAIN_ACCOUNT)
    new_customer = await _second_customer(db)
    housekeeping = Housekeeping(database_url, rejected_kept=100)
    housekeeping.signalled(as_received, now())
    handover, flusher = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        transaction = handover.transaction()
        await transaction.start()
        await handover.execute("UPDATE sites SET customer_id = $2 WHERE id = $1", as_received.site_id, new_customer)
        flush = asyncio.create_task(housekeeping.flush(flusher))
        for _ in range(200):
            waiting = await db.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", flusher.get_server_pid()
            )
            if waiting:
                break
            await asyncio.sleep(0.01)
        assert waiting, "the flush did not wait for the handover"
        await transaction.commit()
        await asyncio.wait_for(flush, 10)
    finally:
        await handover.close()
        await flusher.close()
    assert await _last_signal(db, PLAIN_ACCOUNT, wait=False) is None


async def test_a_signal_that_was_not_stored_is_not_the_last_signal(panel: Panel, db: asyncpg.Pool) -> None:
    await db.execute("ALTER TABLE signals ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    try:
        await panel.send(alarm(PLAIN_ACCOUNT, 3))
        with pytest.raises(TimeoutError):  # refused by the database: not stored, not answered
            await panel.answer(timeout=1.5)
    finally:
        await db.execute("ALTER TABLE signals DROP CONSTRAINT refuse_all")
    await asyncio.sleep(1.2)  # a flush has passed
    assert await db.fetchval("SELECT last_seen_at FROM panels WHERE account = $1", PLAIN_ACCOUNT) is not None
    assert await _last_signal(db, PLAIN_ACCOUNT, wait=False) is None


async def test_the_receiver_files_signals_under_a_sites_new_customer_at_once(
    receiver: RunningReceiver, panel: Panel, db: asyncpg.Pool
) -> None:
    site_id = await db.fetchval("SELECT site_id FROM panels WHERE account = $1", PLAIN_ACCOUNT)
    new_customer = await _second_customer(db)
    await db.execute("UPDATE sites SET customer_id = $2 WHERE id = $1", site_id, new_customer)
    for _ in range(50):  # the NOTIFY reaches the directory within moments, long before the periodic reload
        info = receiver.directory.lookup(PLAIN_ACCOUNT)
        if info is not None and info.customer_id == new_customer:
            break
        await asyncio.sleep(0.05)
    assert (await panel.exchange(alarm(PLAIN_ACCOUNT, 9))).kind == "ack"
    assert await db.fetchval("SELECT customer_id FROM signals WHERE account = $1", PLAIN_ACCOUNT) == new_customer
