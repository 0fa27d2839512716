"""`alarmhub simulate`: enrol N virtual panels, drive them over TCP or UDP, print counts and latency percentiles."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_before_sending
from receiver.simulator.traffic import VirtualPanel, panel_accounts, simulator_key


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
    await enrol_before_sending(panels, database_url)
    return await run_panels(
        panels, plan.host, plan.port, transport=plan.transport, duration=plan.duration, rate=plan.rate
    )
