"""A customer's payment methods on file: gateway tokens with brand and last four digits, the default, removal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg

from shared.billing.cards import validate_bank_account, validate_card
from shared.billing.gateway import (
    BankAccountDetails,
    CardDetails,
    GatewayTimeout,
    GatewayUnavailable,
    MethodKind,
    PaymentGateway,
    Tokenised,
)
from shared.billing.ledger import lock_customer
from shared.db import Connection, Pool
from shared.errors import Conflict, DomainError, NotFound
from shared.scope import CustomerScope

TERMS = "terms"
NOT_FOUND = "That payment method was not found."


@dataclass(frozen=True)
class PaymentMethod:
    """A payment method as a person recognises it; the token stays in the database."""

    id: int
    kind: MethodKind
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    account_type: str | None
    holder_name: str
    billing_address: str
    is_default: bool
    created_at: datetime

    @property
    def label(self) -> str:
        """ "Visa ending in 4242 (expires 12/2030)" / "Checking account at Sandbox Bank ending in 6789"."""
        if self.kind == "card":
            return f"{self.brand} ending in {self.last4} (expires {self.exp_month:02d}/{self.exp_year})"
        return f"{(self.account_type or 'bank').capitalize()} account at {self.brand} ending in {self.last4}"

    def expired(self, today: date) -> bool:
        """A card past the end of its expiry month; a bank account never expires."""
        if self.exp_month is None or self.exp_year is None:
            return False
        return (self.exp_year, self.exp_month) < (today.year, today.month)


_COLUMNS = """id, kind, brand, last4, exp_month, exp_year, account_type, holder_name, billing_address, is_default,
              created_at"""


def _method(row: asyncpg.Record) -> PaymentMethod:
    return PaymentMethod(
        id=row["id"],
        kind=row["kind"],
        brand=row["brand"],
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        account_type=row["account_type"],
        holder_name=row["holder_name"],
        billing_address=row["billing_address"],
        is_default=row["is_default"],
        created_at=row["created_at"],
    )


def _refuse_first(errors: dict[str, str]) -> None:
    if errors:
        field, message = next(iter(errors.items()))
        raise DomainError(message, field=field)


async def add_payment_method(
    pool: Pool,
    gateway: PaymentGateway,
    scope: CustomerScope,
    details: CardDetails | BankAccountDetails,
    *,
    make_default: bool,
    terms_accepted: bool,
) -> PaymentMethod:
    """Tokenise the details with the gateway, then keep the token; the customer's first method becomes default.

    Raises DomainError (with the form field) for details that do not pass the checks or that the gateway refuses.
    """
    if not terms_accepted:
        raise DomainError("Please agree to the terms and conditions to add a payment method.", field=TERMS)
    # The page checks the form too; checking here keeps every caller (staff tools, scripts) to the same rules.
    if isinstance(details, CardDetails):
        _refuse_first(
            validate_card(
                number=details.number,
                exp_month=details.exp_month,
                exp_year=details.exp_year,
                security_code=details.security_code,
                holder_name=details.holder_name,
                billing_address=details.billing_address,
                today=datetime.now(UTC).date(),
            )
        )
    else:
        _refuse_first(
            validate_bank_account(
                routing_number=details.routing_number,
                account_number=details.account_number,
                account_type=details.account_type,
                holder_name=details.holder_name,
                billing_address=details.billing_address,
            )
        )
    # Tokenise outside any transaction: the gateway is a remote call, never made while holding a customer lock.
    try:
        tokenised: Tokenised
        if isinstance(details, CardDetails):
            tokenised = await gateway.tokenise_card(details)
        else:
            tokenised = await gateway.tokenise_bank_account(details)
    except (GatewayTimeout, GatewayUnavailable) as error:
        raise DomainError(
            "The payment service did not answer — nothing was saved; please try again in a minute."
        ) from error

    account_type = details.account_type if isinstance(details, BankAccountDetails) else None
    async with pool.acquire() as connection, connection.transaction():
        await lock_customer(connection, scope.customer_id)
        has_default = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payment_methods WHERE customer_id = $1 AND is_default)", scope.customer_id
        )
        is_default = make_default or not has_default
        if is_default and has_default:
            await connection.execute(
                "UPDATE payment_methods SET is_default = false WHERE customer_id = $1 AND is_default",
                scope.customer_id,
            )
        row = await connection.fetchrow(
            f"""
            INSERT INTO payment_methods (customer_id, kind, gateway, gateway_token, brand, last4, exp_month, exp_year,
                                         account_type, holder_name, billing_address, is_default, terms_accepted_at,
                                         added_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), $13)
            RETURNING {_COLUMNS}
            """,
            scope.customer_id,
            tokenised.kind,
            gateway.name,
            tokenised.token,
            tokenised.brand,
            tokenised.last4,
            tokenised.exp_month,
            tokenised.exp_year,
            account_type,
            details.holder_name.strip(),
            details.billing_address.strip(),
            is_default,
            scope.user_id,
        )
    assert row is not None
    return _method(row)


async def list_methods(connection: Connection, scope: CustomerScope) -> list[PaymentMethod]:
    """The customer's methods on file: the default first, then the newest."""
    rows = await connection.fetch(
        f"""
        SELECT {_COLUMNS} FROM payment_methods
        WHERE customer_id = $1 AND removed_at IS NULL
        ORDER BY is_default DESC, created_at DESC, id DESC
        """,
        scope.customer_id,
    )
    return [_method(row) for row in rows]


async def method_of(connection: Connection, scope: CustomerScope, method_id: int) -> PaymentMethod:
    """One of the customer's methods on file; NotFound for a removed one or another customer's."""
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM payment_methods WHERE id = $1 AND customer_id = $2 AND removed_at IS NULL",
        method_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    return _method(row)


async def method_token(connection: Connection, scope: CustomerScope, method_id: int) -> tuple[str, str]:
    """(gateway name, token) of one of the customer's methods on file, for charging it; NotFound otherwise."""
    row = await connection.fetchrow(
        "SELECT gateway, gateway_token FROM payment_methods WHERE id = $1 AND customer_id = $2 AND removed_at IS NULL",
        method_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    return row["gateway"], row["gateway_token"]


async def set_default(connection: Connection, scope: CustomerScope, method_id: int) -> None:
    """Make one of the customer's methods the default (the one pages preselect)."""
    async with connection.transaction():
        await lock_customer(connection, scope.customer_id)
        method = await method_of(connection, scope, method_id)
        if method.is_default:
            return
        # Two statements: the one-default index is checked row by row, so the old default goes first.
        await connection.execute(
            "UPDATE payment_methods SET is_default = false WHERE customer_id = $1 AND is_default", scope.customer_id
        )
        await connection.execute("UPDATE payment_methods SET is_default = true WHERE id = $1", method_id)


async def remove_method(connection: Connection, scope: CustomerScope, method_id: int) -> None:
    """Remove a method (the row stays for the payments it made); a removed default passes to the newest remaining.

    Conflict while autopay drafts from it: autopay must move to another method or be cancelled first.
    """
    async with connection.transaction():
        await lock_customer(connection, scope.customer_id)
        method = await method_of(connection, scope, method_id)
        used_by_autopay = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM autopay WHERE customer_id = $1 AND method_id = $2)",
            scope.customer_id,
            method_id,
        )
        if used_by_autopay:
            raise Conflict(
                "Autopay drafts from this payment method — choose another method for autopay or cancel autopay "
                "before removing it."
            )
        await connection.execute(
            "UPDATE payment_methods SET removed_at = now(), is_default = false WHERE id = $1", method_id
        )
        if method.is_default:
            await connection.execute(
                """
                UPDATE payment_methods SET is_default = true
                WHERE id = (SELECT id FROM payment_methods WHERE customer_id = $1 AND removed_at IS NULL
                            ORDER BY created_at DESC, id DESC LIMIT 1)
                """,
                scope.customer_id,
            )
