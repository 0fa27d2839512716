"""`make soak`'s first scenario, short (bench/soak/receiver_kills.py): an `alarmhub receiver` process killed with
SIGKILL twice under TCP, UDP and MQTT load and started again — every acknowledged frame and message stored exactly
once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fuzz import own_mosquitto
from bench.soak.receiver_kills import KillPlan, receiver_kills
from bench.soak.report import outcome_lines

pytestmark = pytest.mark.slow

SHORT = KillPlan(kills=2, uptime=2.0, tail=3.0)


async def test_two_kills_of_the_receiver_under_load_lose_nothing_acknowledged(
    database_url: str, tmp_path: Path
) -> None:
    async with own_mosquitto(tmp_path) as broker:  # the receiver's persistent session outlives each kill there
        if broker is None:
            pytest.skip("no mosquitto binary: the scenario needs a broker no other receiver uses")
        outcome = await receiver_kills(database_url, tmp_path, broker, SHORT)
    assert outcome.passed, "\n".join(outcome_lines(outcome))
    assert [what for what, _, _ in outcome.checks][2:5] == [
        f"{transport}: every acknowledged frame stored once" for transport in ("TCP", "UDP", "MQTT")
    ]
