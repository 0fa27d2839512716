"""Rotating a panel's DC-09 key on a running receiver over TCP, against real PostgreSQL: the new key works at once,
the old one is answered (with itself) and stored while the overlap lasts, and refused after it — on the compiled
fast path and on the reference codec alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from receiver import fastpath
from receiver.accounts import PanelInfo
from receiver.dc09 import Answer, Rejection, parse_answer
from receiver.service import RunningReceiver
from shared.dc09_rotation import forget_expired_dc09_keys, rotate_dc09_key
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, Panel
from tests.receiver.test_accounts import eventually
from tests.receiver.test_pipeline import _rejected, cid, signals

NEW_KEY = bytes(range(100, 132))

PATHS = [
    pytest.param(True, id="fast-path", marks=pytest.mark.skipif(not fastpath.AVAILABLE, reason="not built")),
    pytest.param(False, id="reference-codec"),
]


@pytest.fixture(params=PATHS)
def fast_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[bytes | None]:
    """Run the receiver on one path; with the fast path, the keys of the frames it opened, in order."""
    opened: list[bytes | None] = []
    if not request.param:
        monkeypatch.setattr(fastpath, "AVAILABLE", False)
        return opened
    decode: Callable[..., Any] = fastpath.decode

    def recording(frame: bytes, key: bytes | None, *args: Any) -> Any:
        decoded = decode(frame, key, *args)
        if decoded is not None:
            opened.append(key)
        return decoded

    monkeypatch.setattr(fastpath, "decode", recording)
    return opened


async def send(panel: Panel, sequence: int, key: bytes) -> Answer:
    """Send an alarm encrypted with `key`; the answer as the panel reads it with that key (a NAK is plain)."""
    await panel.send(cid(AES_ACCOUNT, sequence, 1, 130, sequence, key=key))
    async with asyncio.timeout(5):
        raw = await panel.reader.readuntil(b"\r")
    answer = parse_answer(raw, key)
    assert not isinstance(answer, Rejection), f"the answer does not open with the key the panel sent with: {answer}"
    return answer


async def rotated(receiver: RunningReceiver, panel: Panel, db: asyncpg.Pool, overlap: timedelta) -> datetime | None:
    """Rotate AES_ACCOUNT to NEW_KEY as staff do; the panel with the new key is answered at once (within the
    moment the receiver's NOTIFY takes), and stored."""
    async with db.acquire() as connection:
        rotation = await rotate_dc09_key(connection, AES_ACCOUNT, NEW_KEY.hex(), "hex", overlap)
    await eventually(lambda: receiver.directory.lookup(AES_ACCOUNT).key == NEW_KEY)  # type: ignore[union-attr]
    answer = await send(panel, 1, NEW_KEY)
    assert answer.kind == "ack" and answer.encrypted
    return rotation.previous_until


async def test_during_the_overlap_the_old_key_is_answered_with_itself_and_stored_and_after_it_refused(
    receiver: RunningReceiver, panel: Panel, db: asyncpg.Pool, enrolled: dict[str, int], fast_keys: list[bytes | None]
) -> None:
    until = await rotated(receiver, panel, db, timedelta(hours=1))
    assert until is not None

    old = await send(panel, 2, AES_KEY)
    assert old.kind == "ack" and old.encrypted and old.sequence == "0002"
    assert [row["panel_id"] for row in await signals(db, AES_ACCOUNT)] == [enrolled[AES_ACCOUNT]] * 2
    if fast_keys:  # the compiled path opened both, the old one on its second try
        assert fast_keys == [NEW_KEY, AES_KEY]

    # The overlap ends a second from now: the receiver has the old key still loaded and refuses it by the clock.
    await db.execute(
        "UPDATE panels SET dc09_key_previous_until = now() + interval '1 second' WHERE account = $1", AES_ACCOUNT
    )
    await eventually(lambda: receiver.directory.lookup(AES_ACCOUNT).previous_until != until)  # type: ignore[union-attr]
    await asyncio.sleep(1.1)
    refused = await send(panel, 3, AES_KEY)
    assert refused.kind == "nak"
    assert await _rejected(db, "decrypt") == 1
    assert (await send(panel, 4, NEW_KEY)).kind == "ack"
    assert len(await signals(db, AES_ACCOUNT)) == 3

    async with db.acquire() as connection:
        assert await forget_expired_dc09_keys(connection) == 1
    row = await db.fetchrow(
        "SELECT dc09_key_previous, dc09_key_previous_until FROM panels WHERE account = $1", AES_ACCOUNT
    )
    assert tuple(row) == (None, None)


async def test_without_an_overlap_the_old_key_is_refused_at_once(
    receiver: RunningReceiver, panel: Panel, db: asyncpg.Pool, enrolled: dict[str, int], fast_keys: list[bytes | None]
) -> None:
    assert await rotated(receiver, panel, db, timedelta(0)) is None
    assert (await send(panel, 2, AES_KEY)).kind == "nak"
    assert await _rejected(db, "decrypt") == 1
    assert len(await signals(db, AES_ACCOUNT)) == 1


def test_a_previous_key_is_accepted_only_before_its_end_and_never_in_place_of_plain() -> None:
    end = datetime(2030, 1, 1).astimezone()
    panel = PanelInfo("5678", 1, 2, 3, NEW_KEY, AES_KEY, end)
    before, after = end - timedelta(seconds=1), end
    assert panel.previous_key_at(before) == AES_KEY and panel.previous_key_at(after) is None
    assert panel.opens_with(NEW_KEY, after) and panel.opens_with(AES_KEY, before)
    assert not panel.opens_with(AES_KEY, after) and not panel.opens_with(None, before)
    assert PanelInfo("1234", 1, 2, 3, None).opens_with(None, before)
