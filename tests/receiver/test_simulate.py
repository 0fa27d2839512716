"""`alarmhub simulate` against a running receiver: enrols its panels, every message is acknowledged and stored.

Also the load client's own contract: answer timeouts, retransmission, and answers however the reads cut them.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime

import asyncpg

from receiver.dc09 import Envelope, ack, nak, parse_envelope
from receiver.service import receiver_service
from receiver.simulator.client import PanelSession, Tally, TcpPanel, run_panels
from receiver.simulator.run import virtual_panels
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


class ForgetfulServer(asyncio.Protocol):
    """Answers every frame with its proper ACK, except the first copy of every `forget_every`-th frame it sees."""

    forget_every = 4

    def __init__(self, arrivals: dict[bytes, list[float]]) -> None:
        self.arrivals = arrivals
        self.buffer = b""
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r")) >= 0:
            frame, self.buffer = self.buffer[: end + 1], self.buffer[end + 1 :]
            copies = self.arrivals.setdefault(frame, [])
            copies.append(time.perf_counter())
            self.seen += 1
            if len(copies) == 1 and self.seen % self.forget_every == 0:
                continue
            envelope = parse_envelope(frame)
            assert isinstance(envelope, Envelope)
            self.transport.write(ack(envelope, None, datetime.now(UTC)))  # type: ignore[attr-defined]


async def test_unanswered_frames_time_out_after_the_timeout_and_are_retransmitted() -> None:
    arrivals: dict[bytes, list[float]] = {}
    server = await asyncio.get_running_loop().create_server(lambda: ForgetfulServer(arrivals), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    timeout = 0.2
    try:
        panels = virtual_panels(3, encrypted=False)
        tally = await run_panels(
            panels, "127.0.0.1", port, transport="tcp", duration=2.0, answer_timeout=timeout, keep_frames=True
        )
    finally:
        server.close()
    assert tally.timeouts >= 3
    assert tally.sent == sum(tally.answers.values()) + tally.timeouts  # every send was answered or timed out
    assert tally.acked == tally.answers["ack"] == len(tally.acked_frames) == len(set(tally.acked_frames))
    retransmitted = [copies for copies in arrivals.values() if len(copies) > 1]
    assert len(retransmitted) >= tally.timeouts - len(panels)  # the last ones may time out as the run ends
    for copies in retransmitted:
        assert len(copies) == 2, "answered on the second copy"
        assert timeout - 0.005 <= copies[1] - copies[0] <= timeout + 0.15, (
            "timed out after the timeout, neither early nor late"
        )
    assert set(tally.acked_frames) <= set(arrivals)


async def test_answers_split_across_reads_or_sharing_one() -> None:
    sent: list[bytes] = []
    finished: list[bool] = []
    panel = virtual_panels(1, encrypted=False)[0]
    session = PanelSession(
        panel,
        Tally(),
        interval=0.0,
        stop_at=time.perf_counter() + 60,
        answer_timeout=60,
        on_done=lambda: finished.append(True),
    )
    session.send = sent.append
    protocol = TcpPanel(session)
    session.next()

    def answer_to(frame: bytes) -> bytes:
        envelope = parse_envelope(frame)
        assert isinstance(envelope, Envelope)
        return ack(envelope, None, datetime.now(UTC))

    whole = answer_to(sent[-1])
    protocol.data_received(whole[:7])
    protocol.data_received(whole[7:20])
    assert len(sent) == 1, "no answer until its \\r"
    protocol.data_received(whole[20:])
    assert len(sent) == 2 and session.tally.acked == 1
    protocol.data_received(answer_to(sent[-1]) + nak(datetime.now(UTC)) + answer_to(sent[-1])[:5])
    assert len(sent) == 4 and session.tally.answers == {"ack": 2, "nak": 1, "duh": 0, "other": 0}
    assert protocol.buffer != b""
    session.stop_at = 0.0
    protocol.data_received(answer_to(sent[-1])[5:])  # completes the third ACK; the run is over
    assert session.tally.acked == 3 and len(sent) == 4 and finished == [True]
    assert session.watchdog is None, "no timer left behind"
    assert session.tally.sent == sum(session.tally.answers.values()) and len(session.tally.latencies) == 4


class DroppingServer(ForgetfulServer):
    """Hangs up on the client instead of answering its fifth frame (once); answers everything else."""

    forget_every = 1_000_000
    dropped = False

    def data_received(self, data: bytes) -> None:
        if not DroppingServer.dropped and sum(len(copies) for copies in self.arrivals.values()) == 4:
            DroppingServer.dropped = True
            self.arrivals.setdefault(data, []).append(time.perf_counter())
            self.transport.close()
            return
        super().data_received(data)


async def test_a_dropped_connection_is_reopened_and_the_unanswered_frame_sent_again() -> None:
    arrivals: dict[bytes, list[float]] = {}
    DroppingServer.dropped = False
    server = await asyncio.get_running_loop().create_server(lambda: DroppingServer(arrivals), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        panels = virtual_panels(2, encrypted=False)
        # Paced: unpaced, a panel sends >10,000 frames a second here, and sequence numbers that wrap within one
        # timestamp second repeat a frame byte for byte, which would look like a resend.
        tally = await run_panels(panels, "127.0.0.1", port, transport="tcp", duration=1.5, reconnect=True, rate=400)
    finally:
        server.close()
    assert DroppingServer.dropped and tally.reconnects == 1 and tally.timeouts == 0
    assert tally.sent == sum(tally.answers.values()) + 1  # the frame sent on the dropped connection went unanswered
    assert [len(copies) for copies in arrivals.values()].count(2) == 1, "sent again once reconnected"
