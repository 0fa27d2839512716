"""Backup and restore (docs/operations.md): a pg_dump of a database the real receiver filled, restored with
pg_restore into a new database, on which a receiver resumes — retransmissions acknowledged and not stored again."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from receiver.dc09 import Envelope, cid_data, encode_frame, parse_envelope
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.traffic import VirtualPanel, panel_accounts, simulator_key
from tests.conftest import REPO, free_port, scratch_database
from tests.receiver.conftest import Panel, stored_frames
from tests.receiver.test_faults import start_receiver, wait_for_port

pytestmark = pytest.mark.slow

RETRANSMITTED = 40  # frames stored before the dump that panels send again after the restore


def _major(binary: Path) -> int:
    """The major version of a PostgreSQL client program ("pg_dump (PostgreSQL) 15.20 (Debian …)" → 15)."""
    output = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    return int(output.split(")")[1].split(".")[0])


def client_tools(server_major: int) -> tuple[Path, Path]:
    """pg_dump and pg_restore from PATH; pgserver's own when the test server is the embedded one and PATH's are
    older than it (pg_dump refuses a newer server). Skips, saying why, when there are none that fit."""
    found = [shutil.which(name) for name in ("pg_dump", "pg_restore")]
    if None in found:
        pytest.skip("pg_dump and pg_restore are not on PATH (Debian: apt-get install postgresql-client)")
    candidates = [Path(str(found[0])).parent]
    try:
        from pgserver._commands import POSTGRES_BIN_PATH  # the binaries of the embedded server's own version

        candidates.append(Path(POSTGRES_BIN_PATH))
    except ImportError:
        pass
    for directory in candidates:
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if dump.exists() and restore.exists() and _major(dump) >= server_major:
            return dump, restore
    pytest.skip(f"pg_dump on PATH is older than the test server (PostgreSQL {server_major}): it refuses to dump it")


@pytest_asyncio.fixture
async def restored_url(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty database (from template0, as pg_restore wants) to restore into; dropped afterwards."""
    async with scratch_database(postgres_server_url, "restored", template="template0") as url:
        yield url


def stop_gracefully(receiver: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as an operator's service manager stops it; its exit status."""
    receiver.send_signal(signal.SIGTERM)
    return receiver.wait(timeout=15)


def run(*command: str | Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """A command to completion (an `alarmhub` one when it starts with "alarmhub", on `database_url`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")}
    if database_url is not None:
        env["ALARMHUB_DATABASE_URL"] = database_url
    if command[0] == "alarmhub":
        command = (sys.executable, "-m", "alarmhub", *command[1:])
    argv = [str(part) for part in command]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)


async def send_again(port: int, frames: list[bytes], keys: dict[str, bytes | None]) -> list[str]:
    """Send each frame once more, as a panel that missed its ACK does, on one connection; the answers' kinds."""
    panel = await Panel.connect(("127.0.0.1", port))
    kinds = []
    try:
        for frame in frames:
            envelope = parse_envelope(frame)
            assert isinstance(envelope, Envelope), envelope
            answer = await panel.exchange(frame, keys[envelope.account])
            kinds.append(answer.kind)
    finally:
        await panel.close()
    return kinds


async def test_a_restored_dump_takes_the_receiver_back_without_duplicates(
    database_url: str, restored_url: str, postgres_server_url: str, tmp_path: Path
) -> None:
    admin = await asyncpg.connect(postgres_server_url)
    server_major = int(await admin.fetchval("SHOW server_version_num")) // 10000
    await admin.close()
    pg_dump, pg_restore = client_tools(server_major)

    # Plain panels and AES panels: the keys are rows of panels, so they travel in the dump with everything else.
    panels = [VirtualPanel(a) for a in panel_accounts(6, "F1")]
    panels += [VirtualPanel(a, simulator_key(a)) for a in panel_accounts(4, "F2")]
    keys = {panel.account: panel.key for panel in panels}
    connection = await asyncpg.connect(database_url)
    await enrol_simulated_panels(connection, keys)
    await connection.close()
    # A message without a timestamp: its retransmission is told by untimed_transmissions, which must come back too.
    untimed = encode_frame("ADM-CID", 42, "F1000001", cid_data("F1000001", 1, 130, 1, 7), receiver="1", line="1")

    port = free_port()
    receiver = start_receiver(database_url, port)
    try:
        await wait_for_port(port)
        before = await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=2.0, rate=300, keep_frames=True)
        assert await send_again(port, [untimed], keys) == ["ack"]
        # The dump is taken hot, with the receiver still running, as a nightly job would take it.
        dump = tmp_path / "alarmhub.dump"
        dumped_by = await asyncio.to_thread(
            run, pg_dump, "--format=custom", f"--file={dump}", f"--dbname={database_url}"
        )
    finally:
        stopped = stop_gracefully(receiver)
    assert stopped == 0, "SIGTERM stops the receiver cleanly"
    assert dumped_by.returncode == 0, dumped_by.stderr
    assert before.acked > 100 and before.timeouts == 0, before.summary(2.0)
    dumped = await stored_frames(database_url)
    assert set(before.acked_frames) | {untimed} <= set(dumped)

    # The primary is gone: restore into a new database and point the receivers at it.
    restore = [pg_restore, "--exit-on-error", "--single-transaction", "--no-owner", f"--dbname={restored_url}", dump]
    restored_by = await asyncio.to_thread(run, *restore)
    assert restored_by.returncode == 0, restored_by.stderr
    migrated = await asyncio.to_thread(run, "alarmhub", "migrate", database_url=restored_url)
    assert migrated.returncode == 0 and "schema up to date" in migrated.stdout, migrated.stderr
    assert await stored_frames(restored_url) == dumped

    receiver = start_receiver(restored_url, port)
    try:
        await wait_for_port(port)
        # Panels that never got an ACK for these (the primary died first) send them again: each is ACKed ...
        again = random.Random(16).sample(before.acked_frames, min(RETRANSMITTED, len(before.acked_frames)))
        again.sort(key=lambda frame: b'"*' not in frame)  # AES first: their timestamps must still be in the window
        assert await send_again(port, [*again, untimed], keys) == ["ack"] * (len(again) + 1)
        # ... and the panels' traffic goes on, plain and AES (the keys came back with the dump).
        after = Tally(keep_frames=True)
        await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=1.5, rate=300, tally=after)
    finally:
        stopped = stop_gracefully(receiver)
    assert stopped == 0
    assert after.acked > 50 and after.timeouts == 0, after.summary(1.5)
    assert any(b'"*' in frame for frame in after.acked_frames), "AES panels were answered on the restored database"

    stored = await stored_frames(restored_url)
    assert all(copies == 1 for copies in stored.values()), "a retransmission was stored a second time"
    new = set(stored) - set(dumped)
    assert new == set(after.acked_frames), "exactly the new messages were added, each once"
    assert sum(stored.values()) == sum(dumped.values()) + after.acked
