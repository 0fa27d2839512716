"""`alarmhub simulate`: enrol N virtual panels, drive them over TCP or UDP, print counts and latency percentiles."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.traffic import VirtualPanel, panel_accounts, simulator_key
from shared.db import create_pool


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    panels: int
    rate: float
    duration: float
    transport: str
    encrypted: bool
    host: str
    port: int


def virtual_panels(count: int, encrypted: bool) -> list[VirtualPanel]:
    return [VirtualPanel(account, simulator_key(account) if encrypted else None) for account in panel_accounts(count)]


async def simulate(plan: SimulationPlan, database_url: str | None) -> Tally:
    panels = virtual_panels(plan.panels, plan.encrypted)
    if database_url is not None:
        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as connection:
                await enrol_simulated_panels(connection, {p.account: p.key for p in panels})
        finally:
            await pool.close()
        await asyncio.sleep(0.5)  # receivers pick up changed panels through NOTIFY
    return await run_panels(
        panels, plan.host, plan.port, transport=plan.transport, duration=plan.duration, rate=plan.rate
    )
