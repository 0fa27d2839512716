"""The `alarmhub` command line: parse, load configuration, dispatch; configuration errors exit with status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alarmhub import admin, run
from alarmhub.context import migrate_database
from alarmhub.loop import run_async
from shared.config import ConfigError, load_config
from shared.embedded_postgres import resolve_database_url
from shared.errors import DomainError
from shared.logs import configure_logging

EXIT_CONFIG_ERROR = 2
EXIT_DOMAIN_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alarmhub", description="Alarm-monitoring central station.")
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="default: ./config.toml")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_all = commands.add_parser("run", help="everything in one process tree (embedded services when none configured)")
    run_all.add_argument(
        "--demo",
        action="store_true",
        help="load the demo customers and logins (published password) even into a configured database",
    )
    commands.add_parser("receiver", help="the DC-09 receiver alone (TCP and UDP; receiver.processes workers)")
    commands.add_parser("portal", help="the web portal alone")
    commands.add_parser("worker", help="the background worker alone (the e-mail outbox and the jobs)")
    commands.add_parser("migrate", help="apply pending database migrations")
    admin.add_parsers(commands)
    simulate = commands.add_parser("simulate", help="virtual panels sending realistic traffic to a receiver")
    simulate.add_argument("--panels", type=int, default=10, help="number of virtual panels (default 10)")
    simulate.add_argument("--rate", type=float, default=10.0, help="total messages/s; 0: as fast as answered")
    simulate.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    simulate.add_argument("--transport", choices=("tcp", "udp", "mqtt"), default="tcp")
    simulate.add_argument("--encrypted", action="store_true", help="AES-128 with a key per panel")
    simulate.add_argument("--host", help="receiver address (default: receiver.dc09_host; mqtt: the broker's)")
    simulate.add_argument("--port", type=int, help="receiver port (default: receiver.dc09_port; mqtt: the broker's)")
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
            return run.run_all(config, demo=args.demo)
        if args.command == "portal":
            return run.run_portal(config)
        if args.command == "receiver":
            return run.run_receiver(config)
        if args.command == "worker":
            return run.run_worker(config)
        url = resolve_database_url(config)
        if args.command == "migrate":
            applied = run_async(migrate_database(url))
            print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema up to date")
            return 0
        if args.command == "demo-data":
            return run_async(admin.demo_data_command(url))
        if args.command == "simulate":
            return run.run_simulation(config, args, url)
        if args.command == "admin":
            return run_async(admin.admin_command(args, url))
    except ConfigError as error:  # found only when a command looks closer (e.g. receiver.processes with metrics)
        print(f"alarmhub: configuration error: {error.key}: {error.reason}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except DomainError as error:
        where = f"{error.field}: " if error.field else ""
        print(f"alarmhub: {where}{error.message}", file=sys.stderr)
        return EXIT_DOMAIN_ERROR
    raise AssertionError(f"unhandled command {args.command}")
