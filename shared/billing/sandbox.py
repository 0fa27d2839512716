"""The built-in sandbox payment gateway (SPEC §3): test numbers only, records in the sandbox_* tables, no real money."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import asyncpg

from shared.billing.cards import (
    ACCOUNT_NUMBER,
    CARD_NUMBER,
    ROUTING_NUMBER,
    card_brand,
    digits_only,
    parse_month,
    parse_year,
    validate_bank_account,
    validate_card,
)
from shared.billing.gateway import (
    SANDBOX_LABEL,
    BankAccountDetails,
    CardDetails,
    Charge,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    RefundResult,
    Tokenised,
    TokeniseRefused,
)
from shared.db import Connection, Pool

# How each test number behaves (SPEC §3). A token remembers the behaviour, never the number.
SANDBOX_CARDS: dict[str, str] = {
    "4242424242424242": "succeed",
    "5555555555554444": "succeed",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000119": "processing_error",
    "4000000000003220": "timeout",  # charged, but the answer comes only after the timeout
}
SANDBOX_ROUTING = "110000000"
SANDBOX_BANK = "Sandbox Bank"
SANDBOX_ACCOUNTS: dict[str, str] = {
    "000123456789": "succeed",
    "000111111116": "account_closed",
}

# No number in these: pages and logs show them, and a test number there would read as a leaked card number.
ONLY_TEST_CARDS = "The sandbox takes only its test card numbers — no real card can be used here."
ONLY_TEST_ACCOUNTS = "The sandbox takes only its test bank account numbers — no real account can be used here."

# behaviour → (charge status, failure code)
_OUTCOMES: dict[str, tuple[ChargeStatus, str]] = {
    "succeed": ("succeeded", ""),
    "timeout": ("succeeded", ""),
    "card_declined": ("declined", "card_declined"),
    "insufficient_funds": ("declined", "insufficient_funds"),
    "processing_error": ("failed", "processing_error"),
    "account_closed": ("failed", "account_closed"),
}

# What a customer reads for each failure code: what happened and what to do.
FAILURE_MESSAGES: dict[str, str] = {
    "card_declined": "The card was declined — please use another payment method or call the bank that issued it.",
    "insufficient_funds": "The card was declined for insufficient funds — please use another payment method.",
    "processing_error": "The payment could not be processed and nothing was charged — please try again.",
    "account_closed": "The bank says this account is closed — please use another payment method.",
    "invalid_token": "This payment method can no longer be charged — please add it again.",
}

# Losing the database is losing the gateway: the outcome of what was in flight is unknown, like a timeout.
_UNREACHABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)

_T = TypeVar("_T")
_AMOUNT_LIMIT = Decimal("1e10")  # numeric(12,2)


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or amount >= _AMOUNT_LIMIT:
        raise GatewayError("the amount must be a positive Decimal below 10,000,000,000")
    if amount != amount.quantize(Decimal("0.01")):
        raise GatewayError("the amount must have at most 2 decimals")


def _charge_of(row: asyncpg.Record) -> Charge:
    code: str = row["failure_code"]
    return Charge(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        amount=row["amount"],
        status=row["status"],
        failure_code=code,
        failure_message=FAILURE_MESSAGES.get(code, "The payment did not go through." if code else ""),
    )


_CHARGE_COLUMNS = "id, idempotency_key, token, amount, status, failure_code"


class SandboxGateway:
    """A gateway that behaves like a remote one (tokens, idempotent charges, refunds, timeouts) over the database."""

    name = "sandbox"
    is_sandbox = True
    label = SANDBOX_LABEL

    def __init__(self, pool: Pool, *, timeout: float) -> None:
        self._pool = pool
        self.timeout = timeout

    async def _call(self, work: Callable[[Connection], Awaitable[_T]]) -> _T:
        """Run one request on a pooled connection, bounded by the timeout like a network call."""
        try:
            async with asyncio.timeout(self.timeout), self._pool.acquire() as connection:
                return await work(connection)
        except TimeoutError as error:
            raise GatewayTimeout("the sandbox gateway did not answer in time") from error
        except _UNREACHABLE as error:
            raise GatewayUnavailable("the sandbox gateway could not be reached") from error

    async def _new_token(self, kind: str, behaviour: str, last4: str) -> str:
        token = "tok_sandbox_" + secrets.token_urlsafe(24)

        async def insert(connection: Connection) -> None:
            await connection.execute(
                "INSERT INTO sandbox_tokens (token, kind, behaviour, last4) VALUES ($1, $2, $3, $4)",
                token,
                kind,
                behaviour,
                last4,
            )

        await self._call(insert)
        return token

    async def tokenise_card(self, card: CardDetails) -> Tokenised:
        errors = validate_card(
            number=card.number,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            security_code=card.security_code,
            holder_name=card.holder_name,
            billing_address=card.billing_address,
            today=datetime.now(UTC).date(),
        )
        if errors:
            field, message = next(iter(errors.items()))
            raise TokeniseRefused(message, field=field)
        digits = digits_only(card.number) or ""
        behaviour = SANDBOX_CARDS.get(digits)
        if behaviour is None:
            raise TokeniseRefused(
                ONLY_TEST_CARDS,
                field=CARD_NUMBER,
            )
        brand = card_brand(digits) or "Card"
        token = await self._new_token("card", behaviour, digits[-4:])
        return Tokenised(
            token=token,
            kind="card",
            brand=brand,
            last4=digits[-4:],
            exp_month=parse_month(card.exp_month),
            exp_year=parse_year(card.exp_year),
        )

    async def tokenise_bank_account(self, account: BankAccountDetails) -> Tokenised:
        errors = validate_bank_account(
            routing_number=account.routing_number,
            account_number=account.account_number,
            account_type=account.account_type,
            holder_name=account.holder_name,
            billing_address=account.billing_address,
        )
        if errors:
            field, message = next(iter(errors.items()))
            raise TokeniseRefused(message, field=field)
        if digits_only(account.routing_number) != SANDBOX_ROUTING:
            raise TokeniseRefused(
                f"The sandbox takes only its test bank, routing number {SANDBOX_ROUTING}", field=ROUTING_NUMBER
            )
        digits = digits_only(account.account_number) or ""
        behaviour = SANDBOX_ACCOUNTS.get(digits)
        if behaviour is None:
            raise TokeniseRefused(
                ONLY_TEST_ACCOUNTS,
                field=ACCOUNT_NUMBER,
            )
        token = await self._new_token("bank_account", behaviour, digits[-4:])
        return Tokenised(
            token=token, kind="bank_account", brand=SANDBOX_BANK, last4=digits[-4:], exp_month=None, exp_year=None
        )

    async def charge(self, token: str, amount: Decimal, *, idempotency_key: str, description: str) -> Charge:
        _check_amount(amount)
        if not idempotency_key:
            raise GatewayError("a charge needs an idempotency key")

        async def record(connection: Connection) -> tuple[Charge, str, bool]:
            behaviour: str | None = await connection.fetchval(
                "SELECT behaviour FROM sandbox_tokens WHERE token = $1", token
            )
            if behaviour is None:
                # A token this gateway never issued: refused without a record, as a remote gateway would.
                existing = await connection.fetchrow(
                    f"SELECT {_CHARGE_COLUMNS} FROM sandbox_charges WHERE idempotency_key = $1", idempotency_key
                )
                if existing is not None:
                    raise GatewayError("idempotency key reused with different parameters")
                refused = Charge(
                    id="ch_sandbox_" + secrets.token_urlsafe(18),
                    idempotency_key=idempotency_key,
                    amount=amount,
                    status="failed",
                    failure_code="invalid_token",
                    failure_message=FAILURE_MESSAGES["invalid_token"],
                )
                return refused, "", False
            status, code = _OUTCOMES[behaviour]
            # One statement, its own transaction: a concurrent insert of the same key that is not committed yet
            # makes ON CONFLICT wait for it, so the second caller reads the first's committed charge below.
            row = await connection.fetchrow(
                f"""
                INSERT INTO sandbox_charges (id, idempotency_key, token, amount, status, failure_code)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING {_CHARGE_COLUMNS}
                """,
                "ch_sandbox_" + secrets.token_urlsafe(18),
                idempotency_key,
                token,
                amount,
                status,
                code,
            )
            fresh = row is not None
            if row is None:
                row = await connection.fetchrow(
                    f"SELECT {_CHARGE_COLUMNS} FROM sandbox_charges WHERE idempotency_key = $1", idempotency_key
                )
                # Charges are never deleted, and a conflict means the other insert committed.
                assert row is not None
                if row["token"] != token or row["amount"] != amount:
                    raise GatewayError("idempotency key reused with different parameters")
            return _charge_of(row), behaviour, fresh

        charge, behaviour, fresh = await self._call(record)
        if fresh and behaviour == "timeout":
            # The charge is committed (money moved) but the answer never arrives: the caller must look it up.
            await asyncio.sleep(self.timeout)
            raise GatewayTimeout("the sandbox gateway did not answer in time")
        return charge

    async def refund(self, charge_id: str, amount: Decimal, *, idempotency_key: str) -> RefundResult:
        _check_amount(amount)
        if not idempotency_key:
            raise GatewayError("a refund needs an idempotency key")

        def same(row: asyncpg.Record) -> RefundResult:
            if row["charge_id"] != charge_id or row["amount"] != amount:
                raise GatewayError("idempotency key reused with different parameters")
            return RefundResult(id=row["id"], charge_id=row["charge_id"], amount=row["amount"])

        async def record(connection: Connection) -> RefundResult:
            async with connection.transaction():
                # The charge's row lock serialises its refunds, so their total is checked against committed ones.
                charge = await connection.fetchrow(
                    "SELECT amount, status FROM sandbox_charges WHERE id = $1 FOR UPDATE", charge_id
                )
                existing = await connection.fetchrow(
                    "SELECT id, charge_id, amount FROM sandbox_refunds WHERE idempotency_key = $1", idempotency_key
                )
                if existing is not None:
                    return same(existing)
                if charge is None:
                    raise GatewayError("no such charge")
                if charge["status"] != "succeeded":
                    raise GatewayError("only a succeeded charge can be refunded")
                refunded: Decimal = await connection.fetchval(
                    "SELECT coalesce(sum(amount), 0) FROM sandbox_refunds WHERE charge_id = $1", charge_id
                )
                left = charge["amount"] - refunded
                if amount > left:
                    raise GatewayError(f"the refund ({amount}) is more than is left to refund of the charge ({left})")
                row = await connection.fetchrow(
                    """
                    INSERT INTO sandbox_refunds (id, idempotency_key, charge_id, amount) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (idempotency_key) DO NOTHING
                    RETURNING id, charge_id, amount
                    """,
                    "re_sandbox_" + secrets.token_urlsafe(18),
                    idempotency_key,
                    charge_id,
                    amount,
                )
                if row is None:
                    # The same key used at the same moment for another charge (that one's lock is not ours).
                    row = await connection.fetchrow(
                        "SELECT id, charge_id, amount FROM sandbox_refunds WHERE idempotency_key = $1",
                        idempotency_key,
                    )
                    assert row is not None
                return same(row)

        return await self._call(record)

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        async def find(connection: Connection) -> Charge | None:
            row = await connection.fetchrow(
                f"SELECT {_CHARGE_COLUMNS} FROM sandbox_charges WHERE idempotency_key = $1", idempotency_key
            )
            return None if row is None else _charge_of(row)

        return await self._call(find)
