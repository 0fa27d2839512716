"""Two weeks of believable signal history for the demo accounts, so a first `make run` has something to show."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.catalogue import CONTACT_ID, classify
from shared.db import Connection

DEMO_SOURCE = "demo-data"  # remote_addr of every demo signal: never mistaken for a panel's traffic


@dataclass(frozen=True, slots=True)
class DemoEvent:
    at: datetime
    code: str
    qualifier: str  # event | restore
    number: int  # zone or user, as the catalogue says the code uses it


def demo_history(now: datetime, seed: int) -> list[DemoEvent]:
    """A household's fortnight: a daily test, leaving and coming home, a power cut, a battery, one alarm."""
    rng = random.Random(seed)
    events: list[DemoEvent] = []
    for day in range(14, 0, -1):
        midnight = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        events.append(DemoEvent(midnight + timedelta(hours=3, minutes=rng.randint(0, 59)), "602", "event", 0))
        user = rng.choice((1, 2, 3))
        events.append(DemoEvent(midnight + timedelta(hours=7, minutes=rng.randint(30, 59)), "401", "restore", user))
        events.append(DemoEvent(midnight + timedelta(hours=17, minutes=rng.randint(30, 59)), "401", "event", user))
    power_cut = now - timedelta(days=rng.randint(3, 9), hours=rng.randint(1, 5))
    alarm_zone = rng.randint(1, 12)
    events += [
        DemoEvent(power_cut, "301", "event", 0),
        DemoEvent(power_cut + timedelta(minutes=rng.randint(20, 90)), "301", "restore", 0),
        DemoEvent(now - timedelta(days=6, hours=2), "302", "event", 0),
        DemoEvent(now - timedelta(days=5, hours=20), "302", "restore", 0),
        DemoEvent(now - timedelta(hours=rng.randint(5, 30)), "130", "event", alarm_zone),
        DemoEvent(now - timedelta(hours=4), "130", "restore", alarm_zone),
    ]
    return sorted((event for event in events if event.at < now), key=lambda event: event.at)


async def load_demo_signals(connection: Connection, account: str, seed: int) -> int:
    """Insert the history for `account` unless it already has signals; how many were added."""
    panel = await connection.fetchrow(
        "SELECT p.id, p.site_id, s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1",
        account,
    )
    if panel is None or await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM signals WHERE customer_id = $1 AND account = $2)", panel["customer_id"], account
    ):
        return 0
    rows = []
    history = demo_history(datetime.now(UTC), seed)
    last_at = max((event.at for event in history), default=None)
    for sequence, event in enumerate(history, start=1):
        meaning = classify(CONTACT_ID, event.code, event.qualifier)
        number = f"{event.number:03d}"
        zone, user = (None, number) if meaning.field == "user" else (number if event.number else None, None)
        data = f"#{account}|{1 if event.qualifier == 'event' else 3}{event.code} 01 {number}"
        rows.append(
            (
                account,
                panel["id"],
                panel["site_id"],
                panel["customer_id"],
                f"{sequence:04d}",
                event.at,
                event.code,
                meaning.qualifier.value,
                zone,
                user,
                meaning.category.value,
                meaning.alarm_type.value if meaning.alarm_type else None,
                meaning.priority,
                meaning.text,
                data.encode(),
            )
        )
    if not rows:
        return 0
    async with connection.transaction():  # the history and the panel's last signal, or neither
        await connection.executemany(
            """INSERT INTO signals (account, panel_id, site_id, customer_id, transport, remote_addr, sequence,
                                    panel_time, received_at, format, code, qualifier, zone, partition, user_number,
                                    category, alarm_type, priority, description, raw_frame)
               VALUES ($1, $2, $3, $4, 'tcp', $16, $5, $6, $6, 'ADM-CID', $7, $8, $9, '01', $10, $11, $12, $13,
                       $14, $15)""",
            [(*row, DEMO_SOURCE) for row in rows],
        )
        # What the receiver does after a commit: the dashboard reads each panel's last signal from panels.
        await connection.execute(
            "UPDATE panels SET last_signal_at = greatest(last_signal_at, $2) WHERE id = $1", panel["id"], last_at
        )
    return len(rows)
