"""The soak's simulated panels: accounts of their own, enrolled; the figures of their load."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from receiver.simulator.client import Tally
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.traffic import VirtualPanel, panel_accounts, simulator_key


def soak_panels(prefix: str, count: int, *, encrypted: bool) -> list[VirtualPanel]:
    """Virtual panels with accounts of their own (prefix); with `encrypted`, every other one has an AES key."""
    accounts = panel_accounts(count, prefix)
    return [
        VirtualPanel(account, simulator_key(account) if encrypted and number % 2 else None)
        for number, account in enumerate(accounts)
    ]


async def enrol(database_url: str, panels: Sequence[VirtualPanel]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await enrol_simulated_panels(connection, {panel.account: panel.key for panel in panels})
    finally:
        await connection.close()


def tally_figure(transport: str, tally: Tally) -> str:
    return (
        f"{transport}: {tally.sent:,} sent, {tally.acked:,} acknowledged, {tally.timeouts:,} answer timeouts, "
        f"{tally.reconnects:,} reconnects"
    )
