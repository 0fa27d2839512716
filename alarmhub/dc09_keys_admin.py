"""`alarmhub admin rotate-dc09-key`: a panel's new DC-09 key at once, its current one accepted for an overlap
(shared/dc09_rotation.py; docs/operations.md, "Rotating secrets")."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from alarmhub.context import short_lived_pool
from shared.dc09_rotation import MAX_OVERLAP, rotate_dc09_key
from shared.errors import NotFound

EXIT_USAGE = 2
_MAX_HOURS = MAX_OVERLAP / timedelta(hours=1)


def _overlap(text: str) -> timedelta:
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= _MAX_HOURS:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected hours from 0 to {_MAX_HOURS:g}, got {text!r}")
    return timedelta(hours=hours)


def add_parser(tasks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = tasks.add_parser(
        "rotate-dc09-key",
        help="give a panel its new DC-09 key now and keep accepting its current one for --overlap-hours",
    )
    command.add_argument("account", metavar="ACCOUNT", help="the panel's monitoring account number")
    command.add_argument(
        "--dc09-key",
        default="-",
        help="the new AES key: 32/48/64 hex digits or 16/24/32 typed characters; '-' (the default) reads it from "
        "the first line of standard input, which keeps it out of the shell's history and the process list",
    )
    command.add_argument("--dc09-key-format", choices=("hex", "ascii"), default="hex")
    command.add_argument(
        "--overlap-hours",
        type=_overlap,
        default=timedelta(hours=24),
        help="how long messages still encrypted with the current key are accepted (and answered with it); "
        f"0 switches at once; at most {_MAX_HOURS:g} (default 24)",
    )


async def rotate_dc09_key_command(args: argparse.Namespace, url: str) -> int:
    key_text: str = sys.stdin.readline().rstrip("\r\n") if args.dc09_key == "-" else args.dc09_key
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
        try:
            rotation = await rotate_dc09_key(
                connection, args.account, key_text, args.dc09_key_format, args.overlap_hours
            )
        except NotFound as error:
            print(f"alarmhub: ACCOUNT: {error.message}", file=sys.stderr)  # an argument error, as for set-monitored-for
            return EXIT_USAGE
    until = rotation.previous_until.isoformat() if rotation.previous_until is not None else "none"
    print(f"panel_id={rotation.panel_id} account={rotation.account} previous_key_accepted_until={until}")
    return 0
