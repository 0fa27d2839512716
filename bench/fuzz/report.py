"""The report: a run's figures and checks as the Markdown that bench/RESULTS.md holds."""

from __future__ import annotations

from collections.abc import Sequence

from bench.fuzz.panels import MQTT_PANELS
from bench.fuzz.plan import MIB
from bench.fuzz.run import Outcome
from bench.ingest import machine


def report(outcome: Outcome, database: str, command: str) -> str:
    tally, plan, sizes = outcome.tally, outcome.plan, outcome.rss
    mqtt = min(plan.mqtt_sessions, len(MQTT_PANELS)) if tally.frames["mqtt"] else 0
    lines = [
        f"Machine: {machine()}; {database}; broker {outcome.broker or 'none (MQTT not fuzzed)'}.",
        f"Command: `{command}` (seed {plan.seed}; {plan.tcp_connections} TCP connections, {plan.udp_sockets} UDP "
        f"sockets, {mqtt} MQTT topic accounts, each sending an input once the last one's answers are in; a "
        f"known-good frame every {plan.canary_every} inputs of each; half a frame every {plan.stall_every:,} inputs "
        f"of a TCP connection, with receiver.frame_timeout = {plan.frame_timeout:g} s; receiver, PostgreSQL, broker "
        f"and fuzzer on the same machine).",
        "",
        f"{tally.sent:,} inputs in {outcome.seconds:.0f} s: **{outcome.rate:,.0f} inputs/s**, plus "
        f"{sum(tally.canaries.values()):,} known-good frames.",
        "",
        "| transport | inputs | ACK | NAK | DUH | no answer (garbage) | timeouts | closes: frame timeout / other |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for transport in ("tcp", "udp", "mqtt"):
        if tally.frames[transport]:
            closes = f"{tally.closes['frame_timeout']:,} / {tally.closes['unexpected']:,}" if transport == "tcp" else ""
            lines.append(
                f"| {transport.upper()} | {tally.frames[transport]:,} | {tally.answers[transport, 'ack']:,} | "
                f"{tally.answers[transport, 'nak']:,} | {tally.answers[transport, 'duh']:,} | "
                f"{tally.silent[transport]:,} | {tally.problems['timeout', transport]:,} | {closes} |"
            )
    lines += [
        "",
        f"Receiver RSS: {sizes['start'] / MIB:.1f} MiB at start, {sizes['warm'] / MIB:.1f} MiB after the first "
        f"{plan.warmup:.0%} of the inputs, {sizes['end'] / MIB:.1f} MiB at the end (peak {sizes['peak'] / MIB:.1f} "
        f"MiB); growth allowed after the warm-up: {plan.rss_allowance / MIB:.0f} MiB — what the receiver's bounded "
        f"buffers can take up once full (up to 10,000 rejections waiting for housekeeping with 256 bytes of frame and "
        f"a detail each, the x-data cache of 4,096 entries, a 2,000-row batch) and no more: a leak of "
        f"{plan.rss_allowance / max(tally.sent, 1):.0f} bytes an input would exceed it.",
        f"RSS as the run went on (inputs sent: MiB): {rss_series(outcome.rss_samples)}.",
        "",
        "| check | result | figures |",
        "| --- | --- | --- |",
        *(f"| {what} | {'pass' if passed else '**FAIL**'} | {figures} |" for what, passed, figures in outcome.checks),
    ]
    if tally.examples:
        lines += ["", "First problems:", "", *(f"- {example}" for example in tally.examples[:10])]
    if outcome.warnings:
        lines += ["", f"The receiver logged {len(outcome.warnings):,} warnings, first:", ""]
        lines += [f"- `{line[:300]}`" for line in outcome.warnings[:3]]
    return "\n".join(lines) + "\n"


def rss_series(samples: Sequence[tuple[int, int]], points: int = 10) -> str:
    """About ``points`` samples, evenly spread, as "sent: MiB"."""
    step = max(1, len(samples) // points)
    chosen = [*samples[::step], *samples[-1:]] if samples else []
    return ", ".join(f"{sent:,}: {size / MIB:.1f}" for sent, size in dict(chosen).items())
