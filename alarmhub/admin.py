"""`alarmhub admin …` and `alarmhub demo-data`: staff tasks from the command line."""

from __future__ import annotations

import argparse
import sys

from alarmhub.context import short_lived_pool
from shared.api_tokens import API_ROLES, create_api_token, revoke_api_token
from shared.demo import DemoLogin, load_demo_data
from shared.enrolment import create_customer, create_staff_user


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
        "--security-code",
        default="",
        help="the security system's code: with the account number it lets the owner register",
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

    commands.add_parser("demo-data", help="create the demo customers, panels and logins (idempotent)")


async def admin_command(args: argparse.Namespace, url: str) -> int:
    async with short_lived_pool(url) as pool, pool.acquire() as connection:
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
