"""Decode cost per frame: the compiled fast path against the Python codec (the reference), on simulator traffic.

Frame → encoded signal rows → ACK, in one process, no I/O: what each path costs the receiver's CPU per frame.

    python -m bench.fastpath [--frames 20000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from receiver import fastpath
from receiver.accounts import PanelInfo
from receiver.dc09 import Envelope, Message, ack, open_message, parse_envelope
from receiver.signal_rows import message_rows, row_head
from receiver.simulator.run import virtual_panels


def measure(frames: list[tuple[bytes, bytes | None]], *, fast: bool) -> float:
    """Microseconds per frame to decode it into rows and build its ACK."""
    now = datetime.now(UTC)
    panel = PanelInfo("F1000001", 1, 2, 3, None)
    head = row_head(panel.account, panel, "tcp", "127.0.0.1:40000")
    started = time.perf_counter()
    for frame, key in frames:
        if fast:
            fastpath.peek_account(frame)
            decoded = fastpath.decode(frame, key, now, False, head)
            assert decoded is not None
            fastpath.ack(decoded[1], key, now)
        else:
            envelope = parse_envelope(frame)
            assert isinstance(envelope, Envelope)
            message = open_message(envelope, key, now, enforce_window=False)
            assert isinstance(message, Message)
            message_rows(message, panel, panel.account, "tcp", "127.0.0.1:40000", now)
            ack(envelope, key, now)
    return (time.perf_counter() - started) / len(frames) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    if not fastpath.AVAILABLE:
        raise SystemExit("receiver/_fastpath.c is not built (pip install -e . builds it)")
    now = datetime.now(UTC)
    print("| frames | Python codec µs/frame | fast path µs/frame |\n| --- | --- | --- |")
    for encrypted in (False, True):
        panels = virtual_panels(100, encrypted)
        frames = [(panels[i % 100].next_frame(now), panels[i % 100].key) for i in range(args.frames)]
        reference, fast = measure(frames, fast=False), measure(frames, fast=True)
        print(f"| {'AES-128' if encrypted else 'plain'} | {reference:.1f} | {fast:.1f} |")


if __name__ == "__main__":
    main()
