"""Demo data for a first `make run`: customers, panels (plain and encrypted), signals, billing, logins; idempotent."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from shared.billing.cycle import cycle_line
from shared.billing.invoices import create_invoice, customer_of_account
from shared.billing.ledger import lock_customer
from shared.db import Connection
from shared.demo_service import load_demo_service
from shared.demo_signals import load_demo_signals
from shared.enrolment import create_customer, create_staff_user


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    email: str
    password: str
    account: str | None = None


DEMO_PASSWORD = "demo-password-1"
DEMO_CUSTOMERS = (
    # name, e-mail, account, address, DC-09 key, key format, security code
    ("Jordan Avery", "owner@example.com", "1234", "12 Elm Street, Springfield", None, None, "4711"),
    (
        "Harbor Bakery LLC",
        "bakery@example.com",
        "5678",
        "3 Harbor Road, Springfield",
        "000102030405060708090A0B0C0D0E0F",
        "hex",
        "9052",
    ),
    (
        "Riverside Clinic",
        "clinic@example.com",
        "9ABC",
        "80 River Drive, Shelbyville",
        "AjaxKey-16-chars",
        "ascii",
        "3318",
    ),
)
DEMO_STAFF = (("dispatcher@example.com", "dispatcher"), ("admin@example.com", "admin"))
# account → monthly fee; the first account (Jordan Avery) also gets a card on file and two invoices, one paid.
DEMO_MONTHLY_FEES = {"1234": Decimal("39.99"), "5678": Decimal("59.00"), "9ABC": Decimal("89.50")}
DEMO_PAYER = "1234"
DEMO_DUE_DAYS = 15  # billing.invoice_due_days' default
DEMO_FEE_LINE = "Monthly monitoring"  # billing.monthly_fee_description's default


async def load_demo_data(connection: Connection) -> list[DemoLogin]:
    """Create whatever part of the demo set is missing, in one transaction; return every demo login.

    One transaction: a first run stopped half-way must leave no customer behind, or the next run would take the
    database for one in use and never finish the set (staff logins, confirmed addresses) nor print the logins.
    """
    async with connection.transaction():
        return await _load_demo_data(connection)


async def _load_demo_data(connection: Connection) -> list[DemoLogin]:
    logins: list[DemoLogin] = []
    for name, email, account, address, key, key_format, code in DEMO_CUSTOMERS:
        if not await connection.fetchval("SELECT 1 FROM panels WHERE account = $1", account):
            await create_customer(
                connection,
                name=name,
                email=email,
                password=DEMO_PASSWORD,
                account=account,
                address=address,
                dc09_key=key,
                dc09_key_format=key_format,
                security_code=code,
            )
        await load_demo_signals(connection, account, seed=int(account, 16))
        await load_demo_billing(connection, account, today=datetime.now(UTC).date())
        await load_demo_service(connection, account, today=datetime.now(UTC).date())
        logins.append(DemoLogin("owner", email, DEMO_PASSWORD, account))
    for email, role in DEMO_STAFF:
        if not await connection.fetchval("SELECT 1 FROM users WHERE lower(email) = $1", email):
            await create_staff_user(connection, email=email, password=DEMO_PASSWORD, role=role)
        logins.append(DemoLogin(role, email, DEMO_PASSWORD))
    # No confirmation mail is ever queued for the demo set: its addresses count as confirmed, or the portal would
    # ask the demo owner to open a link that was never sent.
    await connection.execute(
        "UPDATE users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE lower(email) = ANY($1)",
        [login.email.lower() for login in logins],
    )
    return logins


async def load_demo_billing(connection: Connection, account: str, *, today: date) -> None:
    """The account's monthly fee and, for the demo payer, a Visa 4242 on file, last month's invoice paid with it and
    this month's open — once: a customer whose billing anyone has set up (fee, invoice or card) is left as it is.

    Written in the caller's transaction, so the sandbox gateway's records (token, charge) are written here as the
    sandbox writes them, not through its API (which takes a pooled connection of its own): a staff refund of the
    demo payment then goes through the real sandbox like any other.
    """
    customer_id = await customer_of_account(connection, account)
    untouched = await connection.fetchval(
        "SELECT monthly_fee = 0 AND NOT EXISTS (SELECT 1 FROM invoices WHERE customer_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM payment_methods WHERE customer_id = $1) FROM customers WHERE id = $1",
        customer_id,
    )
    if not untouched:
        return
    fee = DEMO_MONTHLY_FEES[account]
    await connection.execute("UPDATE customers SET monthly_fee = $2 WHERE id = $1", customer_id, fee)
    if account != DEMO_PAYER:
        return
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    invoices = []
    for period in (last_month, this_month):
        invoices.append(
            await create_invoice(
                connection,
                customer_id=customer_id,
                lines=[(cycle_line(DEMO_FEE_LINE, period), fee)],
                issued_on=period,
                due_on=period + timedelta(days=DEMO_DUE_DAYS),
                description=cycle_line(DEMO_FEE_LINE, period),
                period=period,
            )
        )
    paid_at = datetime.combine(last_month + timedelta(days=3), time(15, 12), UTC)
    method_id = await _demo_card(connection, customer_id, today, added_at=paid_at - timedelta(minutes=2))
    await _demo_payment(
        connection, customer_id, method_id, invoice_id=invoices[0].id, amount=invoices[0].total, paid_at=paid_at
    )


async def _demo_card(connection: Connection, customer_id: int, today: date, *, added_at: datetime) -> int:
    """A default Visa ending in 4242, tokenised by the sandbox (which remembers its behaviour, never the number)."""
    owner = await connection.fetchrow(
        "SELECT c.name, coalesce((SELECT address FROM sites WHERE customer_id = c.id ORDER BY id LIMIT 1), '') "
        "AS address, (SELECT id FROM users WHERE customer_id = c.id AND role = 'owner' ORDER BY id LIMIT 1) AS user_id "
        "FROM customers c WHERE c.id = $1",
        customer_id,
    )
    assert owner is not None  # the caller found the customer by its account
    token = "tok_sandbox_" + secrets.token_urlsafe(24)
    await connection.execute(
        "INSERT INTO sandbox_tokens (token, kind, behaviour, last4, created_at) "
        "VALUES ($1, 'card', 'succeed', '4242', $2)",
        token,
        added_at,
    )
    method_id: int = await connection.fetchval(
        """INSERT INTO payment_methods (customer_id, kind, gateway, gateway_token, brand, last4, exp_month, exp_year,
                                        holder_name, billing_address, is_default, terms_accepted_at, added_by,
                                        created_at)
           VALUES ($1, 'card', 'sandbox', $2, 'Visa', '4242', 12, $3, $4, $5, true, $7, $6, $7) RETURNING id""",
        customer_id,
        token,
        today.year + 3,
        owner["name"],
        owner["address"],
        owner["user_id"],
        added_at,
    )
    return method_id


async def _demo_payment(
    connection: Connection, customer_id: int, method_id: int, *, invoice_id: int, amount: Decimal, paid_at: datetime
) -> None:
    """A portal payment of one invoice, charged and settled as shared/billing/payments.py does it: pending, the
    sandbox's charge under the payment's gateway key, succeeded, then applied to the invoice under the ledger lock.

    The allocation is written here rather than by ledger.apply_plan only to date it with the payment (the ledger is
    append-only: a row dated today could not be moved back); the test checks the ledger is sound afterwards.
    """
    await lock_customer(connection, customer_id)
    payment_id: int = await connection.fetchval(
        """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, plan, created_by,
                                 created_at)
           VALUES ($1, 'PAY-' || nextval('payment_numbers'), $2, $3, 'portal', $4, $5,
                   (SELECT id FROM users WHERE customer_id = $1 AND role = 'owner' ORDER BY id LIMIT 1), $6)
           RETURNING id""",
        customer_id,
        method_id,
        amount,
        "demo-" + secrets.token_urlsafe(24),
        [{"invoice_id": invoice_id, "amount": str(amount)}],
        paid_at,
    )
    charge_id = "ch_sandbox_" + secrets.token_urlsafe(18)
    await connection.execute(
        """INSERT INTO sandbox_charges (id, idempotency_key, token, amount, status, created_at)
           SELECT $1, $2, gateway_token, $3, 'succeeded', $4 FROM payment_methods WHERE id = $5""",
        charge_id,
        f"alarmhub-payment-{payment_id}",
        amount,
        paid_at,
        method_id,
    )
    await connection.execute(
        "UPDATE payments SET status = 'succeeded', gateway_charge_id = $2, settled_at = $3 WHERE id = $1",
        payment_id,
        charge_id,
        paid_at,
    )
    await connection.execute(
        "INSERT INTO allocations (payment_id, invoice_id, amount, reason, created_at) "
        "VALUES ($1, $2, $3, 'payment', $4)",
        payment_id,
        invoice_id,
        amount,
        paid_at,
    )


async def has_any_customer(connection: Connection) -> bool:
    return bool(await connection.fetchval("SELECT EXISTS (SELECT 1 FROM customers)"))
