"""`alarmhub admin …` and `alarmhub demo-data`: staff tasks from the command line."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from decimal import Decimal

from alarmhub import dc09_keys_admin, partitions_admin
from alarmhub.context import short_lived_pool
from shared.api_tokens import API_ROLES, create_api_token, revoke_api_token
from shared.billing.cycle import run_current_cycle
from shared.billing.invoices import create_invoice, customer_of_account
from shared.billing.money import parse_amount
from shared.billing.plans import parse_monthly_fee, set_monthly_fee
from shared.config import load_config
from shared.db import Connection
from shared.demo import DemoLogin, load_demo_data
from shared.enrolment import (
    MONITORED_SERVICES,
    check_monitored_services,
    create_customer,
    create_staff_user,
    panel_of_account,
    set_monitored_services,
)
from shared.errors import DomainError, NotFound
from shared.fields import single_line
from shared.restored import realign_after_restore
from shared.scope import CustomerScope

# Wrong arguments exit as argparse's own usage errors do; a rule of the business saying no exits with 1 (cli.py).
EXIT_USAGE = 2
INVOICE_LINE = "Monitoring services"  # the line of an invoice created without --description


def _amount(text: str) -> Decimal:
    try:
        return parse_amount(text)
    except DomainError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _fee(text: str) -> Decimal:
    try:
        return parse_monthly_fee(text)
    except DomainError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _description(text: str) -> str:
    try:
        return single_line(text, field="description")
    except DomainError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _services(text: str) -> list[str]:
    try:
        return check_monitored_services(text.split(","))
    except DomainError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _day(text: str) -> date:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD, e.g. 2026-12-31")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = commands.add_parser("admin", help="staff tasks: enrol customers, create users")
    tasks = admin.add_subparsers(dest="admin_command", required=True, metavar="TASK")

    customer = tasks.add_parser("create-customer", help="a customer with its owner login, site and panel")
    customer.add_argument("--email", required=True)
    customer.add_argument("--password", required=True)
    customer.add_argument("--name", required=True)
    customer.add_argument("--account", required=True, help="monitoring account number, 3-16 hex digits")
    customer.add_argument("--dc09-key", help="AES key: 32/48/64 hex digits, or 16/24/32 typed characters")
    customer.add_argument("--dc09-key-format", choices=("hex", "ascii"), default="hex")
    customer.add_argument("--address", default="", help="the monitored premises' address")
    customer.add_argument("--test-interval-hours", type=float, default=24.0)
    customer.add_argument(
        "--link-supervision-seconds",
        type=float,
        default=None,
        help="how often the panel polls the receiver (DC-09 link test), if it does: a lapse fails it sooner",
    )
    customer.add_argument(
        "--security-code",
        default="",
        help="the security system's code: with the account number it lets the owner register",
    )
    customer.add_argument(
        "--monitored-for",
        type=_services,
        default=[],
        help=f"what the panel is monitored for, comma-separated: {','.join(MONITORED_SERVICES)}",
    )

    user = tasks.add_parser("create-user", help="a dispatcher or admin login")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True, choices=("dispatcher", "admin"))

    token = tasks.add_parser("create-api-token", help="a bearer token for the JSON API; printed once, stored hashed")
    token.add_argument("--name", required=True, help="what uses it, e.g. cad-export (letters, digits, . _ -)")
    token.add_argument("--role", required=True, choices=API_ROLES)

    revoke = tasks.add_parser("revoke-api-token", help="revoke the live API token of that name; it stops at once")
    revoke.add_argument("--name", required=True)

    invoice = tasks.add_parser(
        "create-invoice", help="an invoice of one line for the account's customer; prints its number"
    )
    invoice.add_argument("--account", required=True, help="a panel account number of the customer")
    invoice.add_argument("--amount", required=True, type=_amount, help="e.g. 49.99 (at most 2 decimals)")
    invoice.add_argument("--due", required=True, type=_day, help="due date, YYYY-MM-DD")
    invoice.add_argument(
        "--description", default="", type=_description, help=f"what it charges for (default: {INVOICE_LINE})"
    )

    fee = tasks.add_parser("set-monthly-fee", help="what the billing cycle invoices the account's customer monthly")
    fee.add_argument("--account", required=True, help="a panel account number of the customer")
    fee.add_argument("--amount", required=True, type=_fee, help="e.g. 39.99; 0 for none")

    monitored = tasks.add_parser(
        "set-monitored-for",
        help="what the panel of that account is monitored for, in place of what was on file (insurance certificates)",
    )
    monitored.add_argument("account", metavar="ACCOUNT", help="the panel's monitoring account number")
    monitored.add_argument(
        "services",
        metavar="SERVICES",
        type=_services,
        help=f"comma-separated, from {','.join(MONITORED_SERVICES)}; an empty string '' clears it",
    )

    tasks.add_parser("run-billing-cycle", help="issue this month's invoices now (those missing); prints how many")
    tasks.add_parser(
        "after-restore",
        help="after pg_restore into another cluster, before any part starts: realign the signals' transaction ids "
        "and the incident opener's cursor with this server (changes nothing where none is ahead)",
    )
    partitions_admin.add_parser(tasks)
    dc09_keys_admin.add_parser(tasks)

    commands.add_parser("demo-data", help="create the demo customers, panels and logins (idempotent)")


async def _customer_of(connection: Connection, account: str) -> int | None:
    """The customer of a panel account, or None after saying so (an argument error, like a malformed amount)."""
    try:
        return await customer_of_account(connection, account)
    except NotFound:
        print(f"alarmhub: --account: no panel has the account number {account!r}", file=sys.stderr)
        return None


async def admin_command(args: argparse.Namespace, url: str) -> int:
    if args.admin_command == "run-billing-cycle":
        return await billing_cycle_command(args, url)
    if args.admin_command == "signal-partitions":
        return await partitions_admin.signal_partitions_command(args, url)
    if args.admin_command == "rotate-dc09-key":
        return await dc09_keys_admin.rotate_dc09_key_command(args, url)
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
        if args.admin_command in ("create-invoice", "set-monthly-fee"):
            customer_id = await _customer_of(connection, args.account)
            if customer_id is None:
                return EXIT_USAGE
            if args.admin_command == "set-monthly-fee":
                await set_monthly_fee(connection, CustomerScope(customer_id, user_id=None), args.amount)
                print(f"customer_id={customer_id} monthly_fee={args.amount}")
                return 0
            invoice = await create_invoice(
                connection,
                customer_id=customer_id,
                lines=[(args.description or INVOICE_LINE, args.amount)],
                due_on=args.due,
                description=args.description,
            )
            # The number alone on stdout, so `NUMBER=$(alarmhub admin create-invoice ...)` works; the rest on stderr.
            print(invoice.number)
            print(
                f"invoice_id={invoice.id} customer_id={customer_id} total={invoice.total} due={args.due.isoformat()}",
                file=sys.stderr,
            )
            return 0
        if args.admin_command == "set-monitored-for":
            return await set_monitored_command(connection, args.account, args.services)
        if args.admin_command == "after-restore":
            realigned = await realign_after_restore(connection)
            moved = "" if realigned.ids_from is None else f" signal_ids_from={realigned.ids_from + 1}"
            print(f"signals_realigned={realigned.signals} cursors_moved={realigned.cursors}{moved}")
            return 0
        if args.admin_command == "create-customer":
            enrolled = await create_customer(
                connection,
                name=args.name,
                email=args.email,
                password=args.password,
                account=args.account,
                address=args.address,
                dc09_key=args.dc09_key,
                dc09_key_format=args.dc09_key_format if args.dc09_key else None,
                test_interval_hours=args.test_interval_hours,
                security_code=args.security_code,
                monitored_services=args.monitored_for,
                link_supervision_seconds=args.link_supervision_seconds,
            )
            print(
                f"customer_id={enrolled.customer_id} user_id={enrolled.user_id} site_id={enrolled.site_id} "
                f"panel_id={enrolled.panel_id} account={enrolled.account}"
            )
        elif args.admin_command == "create-user":
            user_id = await create_staff_user(connection, email=args.email, password=args.password, role=args.role)
            print(f"user_id={user_id} role={args.role} email={args.email}")
        elif args.admin_command == "create-api-token":
            issued = await create_api_token(connection, name=args.name, role=args.role)
            # The token alone on stdout, so `TOKEN=$(alarmhub admin create-api-token ...)` works; the rest on stderr.
            print(issued.secret)
            print(
                f"api_token_id={issued.record.id} name={issued.record.name} role={issued.record.role}: "
                "this is the only time the token is shown; only its hash is stored",
                file=sys.stderr,
            )
        elif args.admin_command == "revoke-api-token":
            revoked = await revoke_api_token(connection, name=args.name)
            print(f"api_token_id={revoked.id} name={revoked.name} revoked")
    return 0


async def set_monitored_command(connection: Connection, account: str, services: list[str]) -> int:
    """`admin set-monitored-for ACCOUNT SERVICES`: for panels enrolled before what they are monitored for was asked."""
    try:
        customer_id, panel_id = await panel_of_account(connection, account)
    except NotFound as error:
        print(f"alarmhub: ACCOUNT: {error.message}", file=sys.stderr)  # an argument error, like an unknown service
        return EXIT_USAGE
    panel = await set_monitored_services(connection, CustomerScope(customer_id, user_id=None), panel_id, services)
    print(
        f"customer_id={customer_id} panel_id={panel.panel_id} account={panel.account} "
        f"monitored_services={','.join(panel.services)}"
    )
    return 0


async def billing_cycle_command(args: argparse.Namespace, url: str) -> int:
    """The worker's billing cycle, run now for the current month: it issues only the invoices still missing."""
    config = load_config(args.config)  # cli.main loaded it already; the cycle reads its billing.* keys
    async with short_lived_pool(url) as pool:
        run = await run_current_cycle(pool, config)
    print(run.issued)
    print(f"period={run.period.isoformat()} issued={run.issued}", file=sys.stderr)
    return 0


async def demo_data_command(url: str) -> int:
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
        logins = await load_demo_data(connection)
    print_logins(logins)
    return 0


def print_logins(logins: list[DemoLogin]) -> None:
    print(f"Demo logins (password for all: {logins[0].password if logins else ''}):")
    for login in logins:
        account = f"  account {login.account}" if login.account else ""
        print(f"  {login.role:<10} {login.email}{account}")
