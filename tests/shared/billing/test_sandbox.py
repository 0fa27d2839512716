"""The sandbox gateway against a real PostgreSQL: every test number of SPEC §3, idempotency, refunds, timeouts."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import asyncpg
import pytest

from shared.billing.gateway import (
    SANDBOX_LABEL,
    BankAccountDetails,
    CardDetails,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    TokeniseRefused,
    gateway_from_config,
)
from shared.billing.sandbox import SandboxGateway
from shared.config import load_config


def card(number: str, *, code: str = "123", year: int = 2030, month: int = 12) -> CardDetails:
    return CardDetails(
        number=number,
        exp_month=month,
        exp_year=year,
        security_code=code,
        holder_name="Ada Lovelace",
        billing_address="1 Main St, Springfield",
    )


def bank(account: str, routing: str = "110000000") -> BankAccountDetails:
    return BankAccountDetails(
        routing_number=routing,
        account_number=account,
        account_type="checking",
        holder_name="Ada Lovelace",
        billing_address="1 Main St, Springfield",
    )


KEY = "alarmhub-payment-1"


@pytest.mark.parametrize(
    ("number", "brand", "status", "code"),
    [
        ("4242 4242 4242 4242", "Visa", "succeeded", ""),
        ("5555-5555-5555-4444", "Mastercard", "succeeded", ""),
        ("4000 0000 0000 0002", "Visa", "declined", "card_declined"),
        ("4000 0000 0000 9995", "Visa", "declined", "insufficient_funds"),
        ("4000 0000 0000 0119", "Visa", "failed", "processing_error"),
    ],
)
async def test_test_cards_behave_as_spec_says(
    db: asyncpg.Pool, number: str, brand: str, status: str, code: str
) -> None:
    gateway = SandboxGateway(db, timeout=5)
    tokenised = await gateway.tokenise_card(card(number))
    assert tokenised.token.startswith("tok_sandbox_")
    assert (tokenised.kind, tokenised.brand, tokenised.last4) == ("card", brand, number[-4:])
    assert (tokenised.exp_month, tokenised.exp_year) == (12, 2030)

    charge = await gateway.charge(tokenised.token, Decimal("42.50"), idempotency_key=KEY, description="test")
    assert charge.id.startswith("ch_sandbox_")
    assert (charge.status, charge.failure_code, charge.amount) == (status, code, Decimal("42.50"))
    assert bool(charge.failure_message) == (status != "succeeded")
    assert await gateway.find_charge(KEY) == charge


async def test_the_timeout_card_charges_then_times_out_and_find_charge_finds_it(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=0.3)
    token = (await gateway.tokenise_card(card("4000000000003220"))).token
    started = time.monotonic()
    with pytest.raises(GatewayTimeout):
        await gateway.charge(token, Decimal("10.00"), idempotency_key=KEY, description="test")
    assert time.monotonic() - started >= 0.3
    found = await gateway.find_charge(KEY)
    assert found is not None
    assert (found.status, found.amount) == ("succeeded", Decimal("10.00"))
    # Asking again with the same key answers the recorded charge at once; nothing is charged twice.
    again = await gateway.charge(token, Decimal("10.00"), idempotency_key=KEY, description="test")
    assert again == found
    assert await db.fetchval("SELECT count(*) FROM sandbox_charges") == 1


async def test_bank_accounts(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    good = await gateway.tokenise_bank_account(bank("000123456789"))
    assert (good.kind, good.brand, good.last4, good.exp_month, good.exp_year) == (
        "bank_account",
        "Sandbox Bank",
        "6789",
        None,
        None,
    )
    charge = await gateway.charge(good.token, Decimal("5.00"), idempotency_key="k-good", description="")
    assert charge.status == "succeeded"

    closed = await gateway.tokenise_bank_account(bank("000111111116"))
    charge = await gateway.charge(closed.token, Decimal("5.00"), idempotency_key="k-closed", description="")
    assert (charge.status, charge.failure_code) == ("failed", "account_closed")


async def test_only_test_numbers_are_taken(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_card(card("4111 1111 1111 1111"))  # a valid Visa number, but not a test one
    assert refused.value.field == "card_number"
    assert not any(character.isdigit() for character in refused.value.message)  # no number, test or real
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_card(card("4242 4242 4242 4241"))  # fails Luhn
    assert refused.value.field == "card_number"
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_card(card("4242424242424242", year=2020))
    assert refused.value.field == "exp_year"
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_card(card("4242424242424242", code="12"))
    assert refused.value.field == "card_security_code"
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_bank_account(bank("000123456789", routing="021000021"))  # valid ABA, a real bank
    assert refused.value.field == "routing_number"
    with pytest.raises(TokeniseRefused) as refused:
        await gateway.tokenise_bank_account(bank("000222222227"))
    assert refused.value.field == "account_number"
    assert await db.fetchval("SELECT count(*) FROM sandbox_tokens") == 0


async def test_tokens_keep_no_number(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    await gateway.tokenise_card(card("4242424242424242", code="987"))
    await gateway.tokenise_bank_account(bank("000123456789"))
    rows = [row[0] for row in await db.fetch("SELECT t::text FROM sandbox_tokens t")]
    assert len(rows) == 2
    assert not any("4242424242424242" in row or "000123456789" in row for row in rows)


async def test_same_key_same_charge_never_twice(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    token = (await gateway.tokenise_card(card("4242424242424242"))).token
    first = await gateway.charge(token, Decimal("19.99"), idempotency_key=KEY, description="")
    second = await gateway.charge(token, Decimal("19.99"), idempotency_key=KEY, description="")
    assert first == second
    with pytest.raises(GatewayError, match="idempotency key reused with different parameters"):
        await gateway.charge(token, Decimal("20.00"), idempotency_key=KEY, description="")
    other = (await gateway.tokenise_card(card("5555555555554444"))).token
    with pytest.raises(GatewayError, match="idempotency key reused with different parameters"):
        await gateway.charge(other, Decimal("19.99"), idempotency_key=KEY, description="")
    assert await db.fetchval("SELECT count(*) FROM sandbox_charges") == 1


async def test_concurrent_same_key_waits_for_the_first_and_answers_its_charge(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    token = (await gateway.tokenise_card(card("4242424242424242"))).token
    # Another session holds an uncommitted charge under the key: the gateway's insert must wait for it and then
    # answer that charge, not record a second one.
    async with db.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO sandbox_charges (id, idempotency_key, token, amount, status) "
            "VALUES ('ch_sandbox_first', $1, $2, 7.00, 'succeeded')",
            KEY,
            token,
        )
        waiting = asyncio.create_task(gateway.charge(token, Decimal("7.00"), idempotency_key=KEY, description=""))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await transaction.commit()
        charge = await waiting
    assert (charge.id, charge.status) == ("ch_sandbox_first", "succeeded")
    assert await db.fetchval("SELECT count(*) FROM sandbox_charges") == 1

    # Many callers at once with one key: one charge, every caller sees it.
    key = "alarmhub-payment-2"
    charges = await asyncio.gather(
        *(gateway.charge(token, Decimal("3.00"), idempotency_key=key, description="") for _ in range(8))
    )
    assert len({charge.id for charge in charges}) == 1
    assert await db.fetchval("SELECT count(*) FROM sandbox_charges WHERE idempotency_key = $1", key) == 1


async def test_unknown_token_fails_without_a_record(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    charge = await gateway.charge("tok_sandbox_nope", Decimal("1.00"), idempotency_key=KEY, description="")
    assert (charge.status, charge.failure_code) == ("failed", "invalid_token")
    assert await gateway.find_charge(KEY) is None


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-1.00"), Decimal("1.005"), Decimal("NaN"), Decimal("1e10")])
async def test_bad_amounts_are_refused(db: asyncpg.Pool, amount: Decimal) -> None:
    gateway = SandboxGateway(db, timeout=5)
    token = (await gateway.tokenise_card(card("4242424242424242"))).token
    with pytest.raises(GatewayError):
        await gateway.charge(token, amount, idempotency_key=KEY, description="")


async def test_refunds(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    token = (await gateway.tokenise_card(card("4242424242424242"))).token
    charge = await gateway.charge(token, Decimal("100.00"), idempotency_key=KEY, description="")

    first = await gateway.refund(charge.id, Decimal("60.00"), idempotency_key="refund-1")
    assert first.id.startswith("re_sandbox_")
    assert (first.charge_id, first.amount) == (charge.id, Decimal("60.00"))
    assert await gateway.refund(charge.id, Decimal("60.00"), idempotency_key="refund-1") == first
    with pytest.raises(GatewayError, match="idempotency key reused"):
        await gateway.refund(charge.id, Decimal("10.00"), idempotency_key="refund-1")
    with pytest.raises(GatewayError, match="more than is left"):
        await gateway.refund(charge.id, Decimal("40.01"), idempotency_key="refund-2")
    last = await gateway.refund(charge.id, Decimal("40.00"), idempotency_key="refund-3")
    assert last.amount == Decimal("40.00")
    with pytest.raises(GatewayError):
        await gateway.refund(charge.id, Decimal("0.01"), idempotency_key="refund-4")
    assert await db.fetchval("SELECT sum(amount) FROM sandbox_refunds") == Decimal("100.00")

    with pytest.raises(GatewayError, match="no such charge"):
        await gateway.refund("ch_sandbox_nope", Decimal("1.00"), idempotency_key="refund-5")
    declined_token = (await gateway.tokenise_card(card("4000000000000002"))).token
    declined = await gateway.charge(declined_token, Decimal("5.00"), idempotency_key="k-declined", description="")
    with pytest.raises(GatewayError, match="succeeded"):
        await gateway.refund(declined.id, Decimal("5.00"), idempotency_key="refund-6")


async def test_concurrent_refunds_never_exceed_the_charge(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=5)
    token = (await gateway.tokenise_card(card("4242424242424242"))).token
    charge = await gateway.charge(token, Decimal("10.00"), idempotency_key=KEY, description="")
    results = await asyncio.gather(
        *(gateway.refund(charge.id, Decimal("3.00"), idempotency_key=f"refund-{n}") for n in range(6)),
        return_exceptions=True,
    )
    assert sum(1 for result in results if not isinstance(result, BaseException)) == 3
    assert all(isinstance(result, GatewayError) for result in results if isinstance(result, BaseException))
    assert await db.fetchval("SELECT sum(amount) FROM sandbox_refunds") == Decimal("9.00")


async def test_a_lost_database_is_an_unavailable_gateway(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    gateway = SandboxGateway(pool, timeout=5)
    await pool.close()
    with pytest.raises(GatewayUnavailable):
        await gateway.find_charge(KEY)


async def test_gateway_from_config(db: asyncpg.Pool) -> None:
    config = load_config(None, environ={}).with_overrides(billing__gateway_timeout=1.5)
    gateway = gateway_from_config(config, db)
    assert isinstance(gateway, SandboxGateway)
    assert (gateway.name, gateway.is_sandbox, gateway.label, gateway.timeout) == ("sandbox", True, SANDBOX_LABEL, 1.5)
    assert gateway.label == "Sandbox — no real money"
