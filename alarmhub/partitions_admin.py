"""`alarmhub admin signal-partitions`: list the monthly partitions of signals, create the coming ones now, detach
old months for archiving (shared/signal_partitions.py; docs/operations.md, "Signals by month")."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from alarmhub.context import short_lived_pool
from shared.config import load_config
from shared.signal_partitions import StillCurrent, detach_before, ensure_ahead, partitions

EXIT_USAGE = 2
_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")


def _month(text: str) -> datetime:
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match["month"]) <= 12:
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {text!r}")
    return datetime(int(match["year"]), int(match["month"]), 1, tzinfo=UTC)


def add_parser(tasks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = tasks.add_parser(
        "signal-partitions",
        help="list the monthly partitions of signals; --ensure creates the coming months' now, --detach-before "
        "YYYY-MM detaches every partition that ends by that month (UTC) for archiving",
    )
    action = command.add_mutually_exclusive_group()
    action.add_argument(
        "--ensure", action="store_true", help="create this month's and the next worker.partitions_ahead months'"
    )
    action.add_argument("--detach-before", type=_month, metavar="YYYY-MM", help="a month not after the current one")


async def signal_partitions_command(args: argparse.Namespace, url: str) -> int:
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
        now = datetime.now(UTC)
        if args.ensure:
            ahead: int = load_config(args.config)["worker.partitions_ahead"]
            for name in await ensure_ahead(connection, now, ahead):
                print(f"created {name}")
        elif args.detach_before is not None:
            try:
                detached = await detach_before(connection, args.detach_before, now)
            except StillCurrent as error:
                print(f"alarmhub: --detach-before: {error}", file=sys.stderr)
                return EXIT_USAGE
            for name in detached:
                print(f"detached {name}: now a table of its own; pg_dump --table={name}, then DROP TABLE {name}")
            if not detached:
                print("no partition ends by then", file=sys.stderr)
        for partition in await partitions(connection):
            start = "(everything before)" if partition.from_at is None else f"{partition.from_at:%Y-%m-%d}"
            pending = "\t(detach pending: --detach-before completes it)" if partition.detach_pending else ""
            print(f"{partition.name}\t{start}\t{partition.to_at:%Y-%m-%d}\t~{partition.estimated_rows} rows{pending}")
    return 0
