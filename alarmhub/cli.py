"""The `alarmhub` command line: parse, load configuration, dispatch; configuration errors exit with status 2."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from alarmhub import admin, run
from alarmhub.context import migrate_database
from shared.config import ConfigError, load_config
from shared.db import resolve_database_url
from shared.errors import DomainError
from shared.logs import configure_logging

EXIT_CONFIG_ERROR = 2
EXIT_DOMAIN_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alarmhub", description="Alarm-monitoring central station.")
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="default: ./config.toml")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="everything in one process tree (embedded services when none configured)")
    commands.add_parser("receiver", help="the DC-09 receiver alone (TCP and UDP)")
    commands.add_parser("portal", help="the web portal alone")
    commands.add_parser("migrate", help="apply pending database migrations")
    admin.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"alarmhub: configuration error: {error.key}: {error.reason}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(config["log.level"], config["log.format"])
    try:
        if args.command == "run":
            return run.run_all(config)
        if args.command == "portal":
            return run.run_portal(config)
        if args.command == "receiver":
            return run.run_receiver(config)
        url = resolve_database_url(config)
        if args.command == "migrate":
            applied = asyncio.run(migrate_database(url))
            print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema up to date")
            return 0
        if args.command == "demo-data":
            return asyncio.run(admin.demo_data_command(url))
        if args.command == "admin":
            return asyncio.run(admin.admin_command(args, url))
    except DomainError as error:
        where = f"{error.field}: " if error.field else ""
        print(f"alarmhub: {where}{error.message}", file=sys.stderr)
        return EXIT_DOMAIN_ERROR
    raise AssertionError(f"unhandled command {args.command}")
