"""The end-of-run checks: the receiver alive, answers right, memory flat, metrics and tables as predicted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

import asyncpg

from bench.fuzz.plan import MIB
from bench.fuzz.probes import scrape
from bench.fuzz.receiver_process import ReceiverProcess
from bench.fuzz.session import FuzzRun
from bench.fuzz.tally import Tally

Check = tuple[str, bool, str]  # (what is checked, passed, the figures)
Metrics = Mapping[str, Mapping[tuple[str, ...], int]]
FRAMES = "alarmhub_receiver_frames_total"
REJECTED = "alarmhub_receiver_rejected_frames_total"
UNRECORDED = "alarmhub_receiver_rejected_frames_unrecorded_total"


async def evidence(run: FuzzRun, receiver: ReceiverProcess, database_url: str, sizes: Mapping[str, int]) -> list[Check]:
    """The end-of-run checks that need the receiver still running."""
    tally, plan = run.tally, run.plan
    checks: list[Check] = [("the receiver process is alive", receiver.process.poll() is None, "")]
    problems = ", ".join(f"{kind} ({transport}) {count:,}" for (kind, transport), count in tally.problems.items())
    checks.append(("every input answered as the reference codec and DC-09 say", not tally.problems, problems or "yes"))
    closes = (
        f"{tally.closes['frame_timeout']:,} after a frame waited frame_timeout ({tally.stalls:,} left on purpose, "
        f"{tally.cut_answers:,} answers cut with them), {tally.closes['unexpected']:,} otherwise"
    )
    cut_right = not tally.closes["unexpected"] and tally.closes["frame_timeout"] >= tally.stalls
    checks.append(("TCP connections cut only once a begun frame waited frame_timeout", cut_right, closes))
    growth = sizes["end"] - sizes["warm"]
    detail = f"{growth / MIB:+.1f} MiB after warm-up (allowed {plan.rss_allowance / MIB:.0f} MiB)"
    checks.append(("memory flat", growth <= plan.rss_allowance, detail))
    scraped = await scrape(
        receiver.metrics_url, {FRAMES: ("transport", "answer"), REJECTED: ("reason",), UNRECORDED: ()}
    )
    checks += metric_checks(tally, scraped)
    unrecorded = scraped[UNRECORDED].get((), 0)
    connection = await asyncpg.connect(database_url)
    try:
        checks.append(await table_check(connection, tally, unrecorded))
        checks.append(await canary_check(connection, tally))
    finally:
        await connection.close()
    return checks


def metric_checks(tally: Tally, metrics: Metrics) -> list[Check]:
    frames, rejected = metrics[FRAMES], metrics[REJECTED]
    by_reason: Counter[tuple[str, ...]] = Counter()
    for (_, reason), count in tally.reasons.items():
        by_reason[(reason,)] += count
    expected_frames = _nonzero({key: count for key, count in tally.labels.items()})
    expected_rejected = _nonzero(dict(by_reason))
    return [
        ("/metrics frames by transport and answer", frames == expected_frames, _difference(frames, expected_frames)),
        ("/metrics rejections by reason", rejected == expected_rejected, _difference(rejected, expected_rejected)),
    ]


async def table_check(connection: asyncpg.Connection, tally: Tally, unrecorded: int) -> Check:
    """rejected_frames holds every rejection but those the receiver counted as unrecorded (a burst larger than its
    bounded buffer, written about once a second: the oldest of it is pushed out, counted and logged) — none lost
    without a word. Without unrecorded ones, the table matches by transport and reason exactly."""
    expected = _nonzero({key: count for key, count in tally.reasons.items()})
    found: dict[tuple[str, ...], int] = {}
    for _ in range(30):
        rows = await connection.fetch("SELECT transport, reason, count(*) AS n FROM rejected_frames GROUP BY 1, 2")
        found = {(row["transport"], row["reason"]): row["n"] for row in rows}
        if sum(found.values()) + unrecorded >= sum(expected.values()):
            break
        await asyncio.sleep(0.5)
    if not unrecorded:
        return ("rejected_frames by transport and reason", found == expected, _difference(found, expected))
    accounted = sum(found.values()) + unrecorded == sum(expected.values())
    within = all(count <= expected.get(key, 0) for key, count in found.items())
    detail = (
        f"{sum(found.values()):,} rows + {unrecorded:,} counted as unrecorded "
        f"(alarmhub_receiver_rejected_frames_unrecorded_total) = {sum(found.values()) + unrecorded:,} "
        f"of {sum(expected.values()):,} rejections"
    )
    return ("rejected_frames: every rejection written or counted as unrecorded", accounted and within, detail)


async def canary_check(connection: asyncpg.Connection, tally: Tally) -> Check:
    sent = sum(tally.canaries.values())
    stored = await connection.fetchval(
        "SELECT count(DISTINCT raw_frame) FROM signals WHERE raw_frame = ANY($1::bytea[])", tally.acked_canaries
    )
    detail = f"{sent:,} sent, {len(tally.acked_canaries):,} acknowledged, {stored:,} in signals"
    return ("known-good frames acknowledged and stored", stored == len(tally.acked_canaries) == sent, detail)


def _nonzero(counts: Mapping[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    return {key: count for key, count in counts.items() if count}


def _difference(found: Mapping[tuple[str, ...], int], expected: Mapping[tuple[str, ...], int]) -> str:
    """The totals, and where the two disagree."""
    total = f"{sum(found.values()):,} counted, {sum(expected.values()):,} expected"
    wrong = [
        f"{'/'.join(key)} {found.get(key, 0):,} not {expected.get(key, 0):,}"
        for key in sorted(set(found) | set(expected))
        if found.get(key, 0) != expected.get(key, 0)
    ]
    return total + (f" ({'; '.join(wrong[:8])})" if wrong else "")
