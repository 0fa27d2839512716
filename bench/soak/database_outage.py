"""Scenario (d): an embedded PostgreSQL stopped under TCP load and started again; the receiver recovers by itself."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ingest import create_migrated_database
from bench.postgres_restart import start_again
from bench.soak.checks import duplicates_check, stored_copies, stored_once_check
from bench.soak.load import enrol, soak_panels, tally_figure
from bench.soak.processes import ReceiverSetup, log_figure, receiver_ready
from bench.soak.report import Outcome
from receiver.simulator.client import Tally, run_panels


@dataclass(frozen=True, slots=True)
class OutagePlan:
    down: float = 30.0  # seconds PostgreSQL stays stopped
    before: float = 5.0  # seconds of load before the stop
    after: float = 10.0  # and after the start
    panels: int = 10
    rate: float = 200.0
    answer_timeout: float = 3.0


@dataclass
class Outage:
    at_stop: int = 0  # acknowledgements when PostgreSQL stopped
    while_down: int = 0
    at_start: int = 0


async def stop_postgres_for(server: Any, seconds: float, tally: Tally) -> Outage:
    """Stop the embedded PostgreSQL (pg_ctl, fast), start it again after `seconds`."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    outage = Outage(at_stop=tally.acked)
    await asyncio.sleep(seconds)
    outage.while_down = tally.acked - outage.at_stop
    await start_again(server)
    outage.at_start = tally.acked
    return outage


async def database_outage(directory: Path, plan: OutagePlan) -> Outcome:
    """Scenario (d): an embedded PostgreSQL (pgserver, as tests/receiver/test_faults.py) stopped for `plan.down` s
    under TCP load, then started again; the receiver is not restarted."""
    import pgserver

    outcome = Outcome(f"PostgreSQL stopped for {plan.down:g} s mid-load")
    server = pgserver.get_server(directory / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url = await create_migrated_database(server.get_uri(), "alarmhub_soak")
        panels = soak_panels("6A", plan.panels, encrypted=True)
        await enrol(url, panels)
        setup, tally, started = ReceiverSetup(url, directory), Tally(keep_frames=True), time.monotonic()
        receiver = setup.process()
        receiver.start()
        try:
            await receiver_ready(receiver, setup)
            load = asyncio.create_task(
                run_panels(
                    panels, "127.0.0.1", setup.port, transport="tcp", duration=plan.before + plan.down + plan.after,
                    rate=plan.rate, answer_timeout=plan.answer_timeout, reconnect=True, tally=tally,
                )
            )  # fmt: skip
            await asyncio.sleep(plan.before)
            outage = await stop_postgres_for(server, plan.down, tally)
            await load
            alive = receiver.alive
        finally:
            receiver.stop()
        outcome.seconds = time.monotonic() - started
        outage_checks(outcome, plan, tally, outage, alive)
        outcome.figures.append(log_figure("receiver", receiver))
        stored = await stored_copies(url)
        outcome.checks += [stored_once_check("TCP", tally, stored), duplicates_check(stored)]
    finally:
        server.cleanup()
    return outcome


def outage_checks(outcome: Outcome, plan: OutagePlan, tally: Tally, outage: Outage, alive: bool) -> None:
    outcome.figures.append(
        f"an embedded PostgreSQL of its own (pgserver), stopped with pg_ctl -m fast; {plan.panels} panels (AES) at "
        f"{plan.rate:g} frames/s over TCP, {plan.before:g} s before the stop and "
        f"{plan.after:g} s after the start; " + tally_figure("TCP", tally)
    )
    outcome.check(
        "nothing acknowledged while PostgreSQL was down (but what was committed as it stopped)",
        outage.while_down <= plan.panels,
        f"{outage.while_down:,} acknowledged in {plan.down:g} s (at most one in flight per panel)",
    )
    after = tally.acked - outage.at_start
    outcome.check(
        "the receiver took the load again by itself", alive and after > 0, f"{after:,} acknowledged after the start"
    )
