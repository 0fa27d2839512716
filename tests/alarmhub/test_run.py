"""`alarmhub run` on the embedded path, as a newcomer runs it: serves /healthz, stops cleanly, keeps its data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow


def _start(tmp_path: Path, portal_port: int) -> subprocess.Popen[str]:
    return _alarmhub(
        tmp_path,
        "run",
        ALARMHUB_PORTAL_PORT=str(portal_port),
        ALARMHUB_MQTT_EMBEDDED_LISTEN=f"127.0.0.1:{free_port()}",
        ALARMHUB_LOG_FORMAT="json",
    )


def _alarmhub(tmp_path: Path, command: str, **settings: str) -> subprocess.Popen[str]:
    """`alarmhub <command>` on the embedded path, as a newcomer runs it, with its data under tmp_path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": "",
        "ALARMHUB_PATHS_VAR_DIR": str(tmp_path / "var"),
        "ALARMHUB_RECEIVER_DC09_PORT": str(free_port()),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "alarmhub", "--config", str(tmp_path / "config.toml"), command],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen[str], url: str, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert json.load(response) == {"database": "ok", "receiver": "ok"}  # 503 until the receiver listens
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {limit} s")


def _postgres_processes(pgdata: Path) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if str(pgdata) in line and "postgres" in line]


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    return output


def test_run_serves_health_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path, port)
    try:
        _wait_healthy(first, f"http://127.0.0.1:{port}/healthz")
    finally:
        output = _stop(first) if first.poll() is None else first.communicate()[0]
    assert f"http://127.0.0.1:{port}/" in output
    assert "owner@example.com" in output, "the first start loads demo data and prints the logins"
    assert _postgres_processes(tmp_path / "var" / "pgdata") == []

    second = _start(tmp_path, port)
    try:
        _wait_healthy(second, f"http://127.0.0.1:{port}/healthz")
    finally:
        output = _stop(second) if second.poll() is None else second.communicate()[0]
    assert "Demo logins" not in output, "the second start finds the first start's data"
    assert _postgres_processes(tmp_path / "var" / "pgdata") == []


def test_a_stop_signal_while_the_embedded_database_starts_still_stops_it(tmp_path: Path) -> None:
    # SIGTERM lands while `alarmhub receiver` is still bringing up its embedded PostgreSQL, before the event loop
    # has its signal handlers: the process must still stop that PostgreSQL on its way out.
    pgdata = tmp_path / "var" / "pgdata"
    process = _alarmhub(tmp_path, "receiver")
    try:
        deadline = time.monotonic() + 60
        while not [line for line in _postgres_processes(pgdata) if " -k " in line]:  # the server, not initdb
            assert process.poll() is None and time.monotonic() < deadline, "the embedded PostgreSQL never started"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, 128 + signal.SIGTERM), output
    deadline = time.monotonic() + 15
    while _postgres_processes(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _postgres_processes(pgdata)
    if left:  # do not leave it running for the next test
        subprocess.run(["pkill", "-f", str(pgdata)], check=False)
    assert left == [], "the embedded PostgreSQL outlived the process that started it"
