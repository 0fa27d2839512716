"""The receiver end to end over TCP and UDP against real PostgreSQL: stored, then acknowledged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from receiver.dc09 import cid_data, encode_frame, parse_answer
from receiver.service import RunningReceiver
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, PLAIN_ACCOUNT, Panel, now


def cid(
    account: str, seq: int, qualifier: int, code: int, zone: int, *, key: bytes | None = None, timestamp: bool = True
) -> bytes:
    return encode_frame(
        "ADM-CID",
        seq,
        account,
        cid_data(account, qualifier, code, 1, zone),
        receiver="12",
        line="1",
        timestamp=now() if timestamp or key else None,
        key=key,
    )


async def signals(db: asyncpg.Pool, account: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM signals WHERE account = $1 ORDER BY id", account)


async def test_a_contact_id_alarm_is_stored_classified_and_acknowledged(
    panel: Panel, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    frame = cid(PLAIN_ACCOUNT, 7, 1, 130, 15)
    answer = await panel.exchange(frame)
    assert (answer.kind, answer.sequence, answer.account, answer.receiver, answer.line) == (
        "ack",
        "0007",
        PLAIN_ACCOUNT,
        "12",
        "1",
    )
    [row] = await signals(db, PLAIN_ACCOUNT)
    assert row["panel_id"] == enrolled[PLAIN_ACCOUNT]
    assert (row["format"], row["code"], row["qualifier"], row["zone"], row["partition"]) == (
        "ADM-CID",
        "130",
        "event",
        "015",
        "01",
    )
    assert row["category"] == "alarm" and row["alarm_type"] == "burglary"
    assert row["transport"] == "tcp" and row["remote_addr"].startswith("127.0.0.1:")
    assert row["sequence"] == "0007" and row["receiver"] == "12" and row["line"] == "1"
    assert row["raw_frame"] == frame and row["panel_time"] is not None and row["customer_id"] is not None
    assert "urglary" in row["description"]


async def test_a_retransmission_is_acknowledged_again_and_stored_once(panel: Panel, db: asyncpg.Pool) -> None:
    frame = cid(PLAIN_ACCOUNT, 8, 1, 301, 0)
    assert (await panel.exchange(frame)).kind == "ack"
    assert (await panel.exchange(frame)).kind == "ack"
    rows = await signals(db, PLAIN_ACCOUNT)
    assert len(rows) == 1 and rows[0]["category"] == "power"


async def test_a_batch_holding_retransmissions_stores_the_new_signals_and_each_duplicate_once(
    panel: Panel, db: asyncpg.Pool
) -> None:
    # Batches go to PostgreSQL without ON CONFLICT first; one holding a duplicate is refused whole by the unique
    # index and sent again with ON CONFLICT DO NOTHING. Frames sent together land in one batch.
    stored = cid(PLAIN_ACCOUNT, 30, 1, 130, 1)
    assert (await panel.exchange(stored)).kind == "ack"
    fresh = [cid(PLAIN_ACCOUNT, seq, 1, 130, seq) for seq in (31, 32)]
    await panel.send(fresh[0], stored, fresh[1], fresh[1])  # an old frame, and a new one twice in the batch
    answers = [await panel.answer() for _ in range(4)]
    assert [(a.kind, a.sequence) for a in answers] == [
        ("ack", "0031"),
        ("ack", "0030"),
        ("ack", "0032"),
        ("ack", "0032"),
    ]
    rows = await signals(db, PLAIN_ACCOUNT)
    assert sorted(row["sequence"] for row in rows) == ["0030", "0031", "0032"]


async def test_different_events_under_one_sequence_number_in_one_second_are_all_stored(
    panel: Panel, db: asyncpg.Pool
) -> None:
    # A panel that does not advance its sequence number (or two panels sharing an account) must not lose the
    # second event to the retransmission check: only the same event again is a retransmission.
    sent_at = now()

    def frame(data: str) -> bytes:
        return encode_frame("ADM-CID", 0, PLAIN_ACCOUNT, data, receiver="12", line="1", timestamp=sent_at)

    events = [
        cid_data(PLAIN_ACCOUNT, 1, 130, 1, 3),  # burglary, zone 3
        cid_data(PLAIN_ACCOUNT, 1, 130, 1, 4),  # the same alarm on another zone
        cid_data(PLAIN_ACCOUNT, 3, 130, 1, 3),  # zone 3 restored
        cid_data(PLAIN_ACCOUNT, 3, 401, 1, 5),  # closing by user 5
        cid_data(PLAIN_ACCOUNT, 3, 401, 2, 5),  # … of the second partition
        cid_data(PLAIN_ACCOUNT, 3, 401, 2, 6),  # … and by user 6
    ]
    assert [(await panel.exchange(frame(data))).kind for data in events] == ["ack"] * len(events)
    rows = await signals(db, PLAIN_ACCOUNT)
    assert [(r["code"], r["qualifier"], r["zone"], r["partition"], r["user_number"]) for r in rows] == [
        ("130", "event", "003", "01", None),
        ("130", "event", "004", "01", None),
        ("130", "restore", "003", "01", None),
        ("401", "restore", None, "01", "005"),
        ("401", "restore", None, "02", "005"),
        ("401", "restore", None, "02", "006"),
    ]
    assert {r["sequence"] for r in rows} == {"0000"} and len({r["panel_time"] for r in rows}) == 1


async def test_retransmitted_events_without_a_zone_or_user_are_stored_once(panel: Panel, db: asyncpg.Pool) -> None:
    # Absent fields are NULL in the table; the idempotency key reads them as '' so that they still match.
    opening = cid(PLAIN_ACCOUNT, 40, 1, 401, 7)  # a user, no zone
    test_report = encode_frame("SIA-DCS", 41, PLAIN_ACCOUNT, f"#{PLAIN_ACCOUNT}|NRP", line="1", timestamp=now())
    for frame in (opening, test_report, opening, test_report):
        assert (await panel.exchange(frame)).kind == "ack"
    await panel.send(opening, test_report)  # again, the two in one batch
    assert [(await panel.answer()).kind for _ in range(2)] == ["ack", "ack"]
    rows = await signals(db, PLAIN_ACCOUNT)
    assert [(r["sequence"], r["code"], r["zone"], r["partition"], r["user_number"]) for r in rows] == [
        ("0040", "401", None, "01", "007"),
        ("0041", "RP", None, None, None),
    ]


async def test_every_event_of_a_sia_block_becomes_a_row(panel: Panel, db: asyncpg.Pool) -> None:
    data = f"#{PLAIN_ACCOUNT}|Nri1/BA015/FA002/OP003"
    frame = encode_frame("SIA-DCS", 9, PLAIN_ACCOUNT, data, line="1", timestamp=now())
    assert (await panel.exchange(frame)).kind == "ack"
    rows = await signals(db, PLAIN_ACCOUNT)
    assert [(r["code"], r["event_index"], r["category"]) for r in rows] == [
        ("BA", 0, "alarm"),
        ("FA", 1, "alarm"),
        ("OP", 2, "open_close"),
    ]
    assert rows[1]["alarm_type"] == "fire" and rows[1]["priority"] < rows[0]["priority"]


async def test_an_unknown_plain_account_is_stored_as_unknown_and_acknowledged(panel: Panel, db: asyncpg.Pool) -> None:
    assert (await panel.exchange(cid("ABC999", 1, 1, 602, 0))).kind == "ack"
    [row] = await signals(db, "ABC999")
    assert row["panel_id"] is None and row["customer_id"] is None and row["category"] == "test"


async def test_encrypted_messages_get_encrypted_acks(panel: Panel, db: asyncpg.Pool) -> None:
    answer = await panel.exchange(cid(AES_ACCOUNT, 3, 3, 301, 0, key=AES_KEY), key=AES_KEY)
    assert answer.kind == "ack" and answer.encrypted and answer.sequence == "0003"
    assert answer.timestamp is not None and abs(answer.timestamp - now()) < timedelta(seconds=5)
    [row] = await signals(db, AES_ACCOUNT)
    assert row["qualifier"] == "restore" and row["category"] == "power"


async def test_a_keyed_account_sending_plain_is_refused(
    receiver: RunningReceiver, panel: Panel, db: asyncpg.Pool
) -> None:
    answer = await panel.exchange(cid(AES_ACCOUNT, 4, 1, 130, 1))
    assert answer.kind == "nak" and answer.timestamp is not None
    assert await signals(db, AES_ACCOUNT) == []
    assert await _rejected(db, "unencrypted") == 1


async def test_an_encrypted_message_from_an_unknown_account_is_refused(panel: Panel, db: asyncpg.Pool) -> None:
    answer = await panel.exchange(cid("FFF1", 4, 1, 130, 1, key=AES_KEY))
    assert answer.kind == "nak"
    assert await _rejected(db, "no_key") == 1


async def test_a_wrong_key_a_stale_timestamp_and_a_bad_crc_are_refused(panel: Panel, db: asyncpg.Pool) -> None:
    assert (await panel.exchange(cid(AES_ACCOUNT, 5, 1, 130, 1, key=bytes(16)))).kind == "nak"
    stale = encode_frame(
        "ADM-CID",
        6,
        AES_ACCOUNT,
        cid_data(AES_ACCOUNT, 1, 130, 1, 1),
        line="1",
        timestamp=now() - timedelta(seconds=41),
        key=AES_KEY,
    )
    assert (await panel.exchange(stale)).kind == "nak"
    good = cid(PLAIN_ACCOUNT, 7, 1, 130, 1)
    corrupted = good[:1] + (b"0000" if good[1:5] != b"0000" else b"1111") + good[5:]
    assert (await panel.exchange(corrupted)).kind == "nak"
    assert await signals(db, AES_ACCOUNT) == [] and await signals(db, PLAIN_ACCOUNT) == []
    assert await _rejected(db, "decrypt") == 1
    assert await _rejected(db, "timestamp") == 1
    assert await _rejected(db, "crc") == 1


async def test_an_unsupported_message_type_gets_duh(panel: Panel) -> None:
    frame = encode_frame("ADM-XYZ", 11, PLAIN_ACCOUNT, "", line="1", timestamp=now())
    answer = await panel.exchange(frame)
    assert (answer.kind, answer.sequence) == ("duh", "0011")


async def test_a_link_test_is_acknowledged_and_marks_the_panel_seen(panel: Panel, db: asyncpg.Pool) -> None:
    frame = encode_frame("NULL", 12, AES_ACCOUNT, "", line="1", timestamp=now(), key=AES_KEY)
    assert (await panel.exchange(frame, key=AES_KEY)).kind == "ack"
    assert await db.fetchval("SELECT count(*) FROM signals") == 0
    for _ in range(50):
        if await db.fetchval("SELECT last_seen_at FROM panels WHERE account = $1", AES_ACCOUNT):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("last_seen_at was not updated")


async def test_frames_arriving_together_are_answered_in_order(panel: Panel, db: asyncpg.Pool) -> None:
    frames = [cid(PLAIN_ACCOUNT, seq, 1, 130, seq) for seq in range(20, 25)]
    bad = frames[2][:-3] + b"ZZ\r"  # garbled in the middle of the segment
    await panel.send(frames[0], frames[1], bad, frames[3], frames[4])
    kinds = [(a.kind, a.sequence) for a in [await panel.answer() for _ in range(5)]]
    assert kinds == [("ack", "0020"), ("ack", "0021"), ("nak", "0000"), ("ack", "0023"), ("ack", "0024")]
    assert len(await signals(db, PLAIN_ACCOUNT)) == 4


async def test_udp_datagrams_are_stored_and_acknowledged(receiver: RunningReceiver, db: asyncpg.Pool) -> None:
    assert receiver.udp_address is not None
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            answers.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=receiver.udp_address)
    try:
        transport.sendto(cid(PLAIN_ACCOUNT, 31, 1, 110, 3))
        async with asyncio.timeout(5):
            raw = await answers.get()
    finally:
        transport.close()
    answer = parse_answer(raw, None)
    assert not isinstance(answer, Exception) and getattr(answer, "kind", None) == "ack"
    [row] = await signals(db, PLAIN_ACCOUNT)
    assert row["transport"] == "udp" and row["alarm_type"] == "fire"


async def test_no_ack_when_the_commit_fails_and_recovery_without_restart(panel: Panel, db: asyncpg.Pool) -> None:
    await db.execute("""
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON signals FOR EACH ROW EXECUTE FUNCTION refuse();
    """)
    frame = cid(PLAIN_ACCOUNT, 40, 1, 130, 1)
    await panel.send(frame)
    try:
        await panel.answer(timeout=2)
    except TimeoutError:
        pass
    else:
        raise AssertionError("a frame whose commit failed must not be acknowledged")
    await db.execute("DROP TRIGGER refuse ON signals")
    for _ in range(40):  # the panel retransmits until the receiver's writer has reconnected
        await panel.send(frame)
        try:
            answer = await panel.answer(timeout=0.5)
        except TimeoutError:
            continue
        assert answer.kind == "ack"
        break
    else:
        raise AssertionError("the receiver did not recover")
    assert len(await signals(db, PLAIN_ACCOUNT)) == 1


async def test_a_panel_enrolled_while_running_is_known_at_once(panel: Panel, db: asyncpg.Pool) -> None:
    key = bytes(range(32))
    site_id = await db.fetchval("SELECT id FROM sites LIMIT 1")
    await db.execute(
        "INSERT INTO panels (site_id, account, dc09_key, dc09_key_format) VALUES ($1, 'BEEF', $2, 'hex')", site_id, key
    )
    for _ in range(50):
        answer = await panel.exchange(cid("BEEF", 50, 1, 130, 1, key=key), key=key)
        if answer.kind == "ack":
            break
        await asyncio.sleep(0.1)
    assert answer.kind == "ack" and answer.encrypted
    [row] = await signals(db, "BEEF")
    assert row["panel_id"] is not None


async def _rejected(db: asyncpg.Pool, reason: str) -> int:
    for _ in range(50):  # rejections are flushed to the table once a second
        count: int = await db.fetchval("SELECT count(*) FROM rejected_frames WHERE reason = $1", reason)
        if count:
            return count
        await asyncio.sleep(0.1)
    return 0


async def test_an_unknown_account_enrolled_mid_connection_gets_its_ids_on_that_connection(
    panel: Panel, db: asyncpg.Pool
) -> None:
    # The fast path remembers each connection's row head while the account's PanelInfo stays the same object;
    # enrolment replaces it, so the next frame on the same connection carries the panel, site and customer.
    assert (await panel.exchange(cid("CAFE", 60, 1, 130, 1))).kind == "ack"
    site_id = await db.fetchval("SELECT id FROM sites LIMIT 1")
    panel_id = await db.fetchval("INSERT INTO panels (site_id, account) VALUES ($1, 'CAFE') RETURNING id", site_id)
    for seq in range(61, 111):
        assert (await panel.exchange(cid("CAFE", seq, 1, 130, 1))).kind == "ack"
        if await db.fetchval("SELECT panel_id FROM signals WHERE account = 'CAFE' AND sequence = $1", f"{seq:04d}"):
            break
        await asyncio.sleep(0.1)
    rows = await signals(db, "CAFE")
    assert rows[0]["panel_id"] is None and rows[-1]["panel_id"] == panel_id
