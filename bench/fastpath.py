"""Decode cost per frame: the compiled fast path against the Python codec (the reference), on simulator traffic.

Frame → encoded signal rows → ACK, in one process, no I/O: what each path costs the receiver's CPU per frame. The
"+ x-data" mixes carry what field panels add: a position, a MAC and a room (the same per panel), UTF-8 text, and on
every fourth frame a time of occurrence (new each time: the x-data cache does not help it); half of them are SIA-DCS
naming the zone in a UTF-8 ^text^.

    python -m bench.fastpath [--frames 20000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from receiver import fastpath
from receiver.accounts import PanelInfo
from receiver.dc09 import Envelope, Message, ack, cid_data, encode_frame, open_message, parse_envelope
from receiver.dc09.xdata import _read as read_xdata_element
from receiver.signal_rows import _message_xdata, message_rows, row_head
from receiver.simulator.run import virtual_panels
from receiver.simulator.traffic import VirtualPanel

ROOMS = ("RKüche", "RWohnzimmer", "RSchlafzimmer Süd", "RHall", "RGarage")


def with_xdata(panels: list[VirtualPanel], count: int, now: datetime) -> list[tuple[bytes, bytes | None]]:
    """``count`` frames from ``panels`` carrying x-data (half Contact ID, half SIA-DCS with a text), with keys."""
    frames = []
    for index in range(count):
        number = index % len(panels)
        panel = panels[number]
        extended = (
            f"X{8 + number / 1000:.4f}",
            f"Y{47 + number / 1000:.4f}",
            f"M0026B9E4{number:04X}",
            ROOMS[number % len(ROOMS)],
            "ITür offen",
        )
        if index % 4 == 0:
            occurred = now.replace(second=0, microsecond=0).timestamp() - index
            extended += (f"H{datetime.fromtimestamp(occurred, UTC):%H:%M:%S,%m-%d-%Y}",)
        if index % 2:  # SIA-DCS naming its zone in UTF-8 text
            kind, data = "SIA-DCS", f"#{panel.account}|Nri1/BA{number % 32 + 1:03d}^{ROOMS[number % len(ROOMS)][1:]}^"
        else:
            kind, data = "ADM-CID", cid_data(panel.account, 1, 130, 1, number % 32 + 1)
        frame = encode_frame(
            kind, index % 9999 + 1, panel.account, data, extended=extended, timestamp=now, key=panel.key
        )
        frames.append((frame, panel.key))
    return frames


def measure(frames: list[tuple[bytes, bytes | None]], *, fast: bool) -> float:
    """Microseconds per frame to decode it into rows and build its ACK (x-data caches cold at the start)."""
    _message_xdata.cache_clear()
    read_xdata_element.cache_clear()
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
    for xdata in (False, True):
        for encrypted in (False, True):
            panels = virtual_panels(100, encrypted)
            if xdata:
                frames = with_xdata(panels, args.frames, now)
            else:
                frames = [(panels[i % 100].next_frame(now), panels[i % 100].key) for i in range(args.frames)]
            reference, fast = measure(frames, fast=False), measure(frames, fast=True)
            name = ("AES-128" if encrypted else "plain") + (" + x-data (UTF-8)" if xdata else "")
            print(f"| {name} | {reference:.1f} | {fast:.1f} |")


if __name__ == "__main__":
    main()
