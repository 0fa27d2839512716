"""`alarmhub receiver` with receiver.processes = 2: a supervisor over two workers sharing one DC-09 port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alarmhub.supervisor import SUPERVISOR_ENV
from receiver.dc09 import cid_data, encode_frame, parse_answer
from receiver.dc09.message import Answer
from tests.conftest import REPO, free_port
from tests.receiver.conftest import stored_frames

_ACKED = re.compile(r'^alarmhub_receiver_frames_total\{(?=[^}]*transport="tcp")(?=[^}]*answer="ack")[^}]*\} (\S+)$')


class Supervisor:
    """A running `alarmhub receiver` with processes = 2, its DC-09 port and its workers' metrics ports."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.metrics_port = _free_port_pair()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALARMHUB_", SUPERVISOR_ENV))} | {
            "ALARMHUB_DATABASE_URL": database_url,
            "ALARMHUB_RECEIVER_PROCESSES": "2",
            "ALARMHUB_RECEIVER_DC09_PORT": str(self.port),
            "ALARMHUB_RECEIVER_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
            "ALARMHUB_MQTT_URL": "",
            "ALARMHUB_LOG_FORMAT": "json",
        }
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env, stdout=output, stderr=output
            )

    def metrics_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.metrics_port + index}/metrics"

    def workers(self) -> dict[int, int]:
        """Worker index → pid, read from /proc (children of the supervisor carrying the supervisor's variable)."""
        found = {}
        for pid in _children(self.process.pid):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                if entry.startswith(f"{SUPERVISOR_ENV}=".encode()):
                    found[int(entry.split(b":")[-1])] = pid
        return found

    async def wait_ready(self, limit: float = 60) -> dict[int, int]:
        """Until both workers serve /metrics (they do once their receiver listens); their pids."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                for index in (0, 1):
                    await asyncio.to_thread(_scrape, self.metrics_url(index))
            except OSError:
                await asyncio.sleep(0.2)
                continue
            workers = self.workers()
            if len(workers) == 2:
                return workers
            await asyncio.sleep(0.2)
        raise AssertionError(f"the workers did not come up within {limit} s:\n{self.log.read_text()}")

    def acked(self, index: int) -> float:
        return sum(float(m[1]) for line in _scrape(self.metrics_url(index)).splitlines() if (m := _ACKED.match(line)))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=10)


@contextmanager
def supervisor(database_url: str, log: Path) -> Iterator[Supervisor]:
    running = Supervisor(database_url, log)
    try:
        yield running
    finally:
        leftovers = _children(running.process.pid)
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (worker i serves /metrics on p + i)."""
    for _ in range(50):
        port = free_port()
        if port < 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no two consecutive free ports")


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as response:
        text: str = response.read().decode()
        return text


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # after the command name, which may hold spaces: state, ppid, ...


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and fields[1] == str(parent):
            pids.append(int(entry.name))
    return pids


def _alive(pid: int, *, zombie_counts: bool = False) -> bool:
    fields = _stat(pid)
    return fields is not None and (zombie_counts or fields[0] != "Z")


async def _wait_gone(pids: list[int], limit: float, *, reaped: bool = False) -> list[int]:
    """The pids still running after at most `limit` s; `reaped`: a zombie counts too (a zombie leader's other
    threads may still hold the process's sockets, so only a reaped process has surely closed them)."""
    for _ in range(int(limit / 0.1)):
        if not any(_alive(pid, zombie_counts=reaped) for pid in pids):
            break
        await asyncio.sleep(0.1)
    return [pid for pid in pids if _alive(pid, zombie_counts=reaped)]


async def _panel(port: int, account: str, frames: int) -> list[bytes]:
    """One connection sending `frames` Contact ID frames from an unknown plain account, each awaiting its ACK."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = []
    try:
        for sequence in range(1, frames + 1):
            frame = encode_frame(
                "ADM-CID", sequence, account, cid_data(account, "event", 130, 1, sequence), timestamp=datetime.now(UTC)
            )
            writer.write(frame)
            answer = parse_answer(await asyncio.wait_for(reader.readuntil(b"\r"), 10), None)
            assert isinstance(answer, Answer), answer
            assert (answer.kind, answer.sequence) == ("ack", f"{sequence:04d}")
            sent.append(frame)
    finally:
        writer.close()
    return sent


async def _traffic(port: int, connections: int, frames: int, prefix: int) -> list[bytes]:
    batches = await asyncio.gather(*(_panel(port, f"{prefix + i:X}", frames) for i in range(connections)))
    return [frame for batch in batches for frame in batch]


@pytest.mark.slow
async def test_two_workers_share_the_port_store_each_frame_once_and_stop_on_sigint(
    database_url: str, tmp_path: Path
) -> None:
    with supervisor(database_url, tmp_path / "receiver.log") as running:
        workers = await running.wait_ready()
        sent = await _traffic(running.port, connections=50, frames=4, prefix=0xA000)
        acked = [running.acked(index) for index in (0, 1)]
        assert sum(acked) == len(sent) == 200
        assert all(count > 0 for count in acked), f"the kernel gave every connection to one worker: {acked}"
        assert running.stop() == 0
        assert await _wait_gone(list(workers.values()), 1) == [], "a worker outlived the supervisor's exit"
    stored = await stored_frames(database_url)
    assert set(stored) == set(sent)
    assert set(stored.values()) == {1}, "a frame was stored twice"
    log = (tmp_path / "receiver.log").read_text()
    assert '"workers": 2' in log
    assert all(str(pid) in log for pid in workers.values()), "the start line names the workers' pids"


@pytest.mark.slow
async def test_a_killed_worker_is_restarted_and_connections_keep_working(database_url: str, tmp_path: Path) -> None:
    with supervisor(database_url, tmp_path / "receiver.log") as running:
        workers = await running.wait_ready()
        victim = workers[1]
        os.kill(victim, signal.SIGKILL)
        assert await _wait_gone([victim], 5, reaped=True) == []  # its listening socket closed: the kernel skips it
        sent = await _traffic(running.port, connections=10, frames=2, prefix=0xB000)  # worker 0 alone, meanwhile
        for _ in range(75):
            if running.workers().get(1) not in (None, victim):
                break
            await asyncio.sleep(0.2)
        assert running.workers().get(1) not in (None, victim), "the supervisor did not restart the killed worker"
        await running.wait_ready()
        sent += await _traffic(running.port, connections=20, frames=2, prefix=0xC000)
        assert running.stop() == 0
    stored = await stored_frames(database_url)
    assert set(stored) == set(sent)
    assert "receiver worker died; restarting" in (tmp_path / "receiver.log").read_text()


@pytest.mark.slow
async def test_workers_exit_by_themselves_when_the_supervisor_is_killed(database_url: str, tmp_path: Path) -> None:
    with supervisor(database_url, tmp_path / "receiver.log") as running:
        workers = await running.wait_ready()
        running.process.kill()
        running.process.wait()
        assert await _wait_gone(list(workers.values()), 10) == [], "workers outlived a SIGKILLed supervisor"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"ALARMHUB_RECEIVER_PROCESSES": "0"}, "receiver.processes"),
        ({"ALARMHUB_RECEIVER_PROCESSES": "abc"}, "receiver.processes"),
        (
            {"ALARMHUB_RECEIVER_PROCESSES": "2", "ALARMHUB_RECEIVER_METRICS_LISTEN": "127.0.0.1:65535"},
            "receiver.metrics_listen",
        ),
    ],
)
def test_a_bad_value_exits_with_status_2_naming_the_key(environ: dict[str, str], key: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alarmhub", "receiver"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "ALARMHUB_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]


@pytest.mark.slow
def test_workers_that_cannot_start_stop_the_supervisor_instead_of_restarting_forever(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as occupant:  # no SO_REUSEPORT: the workers cannot bind beside it
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALARMHUB_", SUPERVISOR_ENV))} | {
            "ALARMHUB_DATABASE_URL": database_url,
            "ALARMHUB_RECEIVER_PROCESSES": "2",
            "ALARMHUB_RECEIVER_DC09_PORT": str(occupant.getsockname()[1]),
            "ALARMHUB_LOG_FORMAT": "json",
        }
        result = subprocess.run(
            [sys.executable, "-m", "alarmhub", "receiver"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert "receiver worker failed to start" in result.stdout + result.stderr
