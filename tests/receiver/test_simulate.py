"""`alarmhub simulate` against a running receiver: enrols its panels, every message is acknowledged and stored."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from receiver.service import receiver_service
from tests.conftest import REPO
from tests.receiver.conftest import receiver_config


async def test_simulate_over_tcp_and_udp_with_encrypted_panels(database_url: str) -> None:
    async with receiver_service(receiver_config(), database_url) as running:
        host, port = running.tcp_address
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
            "ALARMHUB_DATABASE_URL": database_url,
        }
        outputs = []
        for transport in ("tcp", "udp"):
            command = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "alarmhub",
                "simulate",
                "--panels",
                "3",
                "--rate",
                "30",
                "--duration",
                "2",
                "--transport",
                transport,
                "--encrypted",
                "--host",
                host,
                "--port",
                str(port),
                cwd=REPO,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await command.communicate()
            assert command.returncode == 0, err.decode()
            outputs.append(out.decode())
    for output in outputs:
        assert "AES-128 panels" in output and "naked=0" in output and "p99=" in output
        sent = int(output.split("sent=")[1].split()[0])
        acked = int(output.split("acked=")[1].split()[0])
        assert sent == acked > 20
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval("SELECT count(*) FROM signals WHERE account LIKE 'F1%'")
        keyed = await connection.fetchval(
            "SELECT count(*) FROM panels WHERE account LIKE 'F1%' AND dc09_key IS NOT NULL"
        )
    finally:
        await connection.close()
    assert keyed == 3
    assert stored == sum(int(output.split("acked=")[1].split()[0]) for output in outputs)
