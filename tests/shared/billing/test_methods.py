"""Payment methods on file against a real PostgreSQL and the real sandbox gateway: add, default rules, removal."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from shared.billing.gateway import BankAccountDetails, CardDetails, TokeniseRefused
from shared.billing.methods import (
    PaymentMethod,
    add_payment_method,
    list_methods,
    method_of,
    method_token,
    remove_method,
    set_default,
)
from shared.billing.sandbox import SandboxGateway
from shared.errors import Conflict, DomainError, NotFound
from shared.scope import CustomerScope


async def new_scope(db: asyncpg.Pool, name: str) -> CustomerScope:
    customer_id = await db.fetchval("INSERT INTO customers (name) VALUES ($1) RETURNING id", name)
    user_id = await db.fetchval(
        "INSERT INTO users (customer_id, email, role) VALUES ($1, $2, 'owner') RETURNING id",
        customer_id,
        f"{name.lower()}@example.com",
    )
    return CustomerScope(customer_id=customer_id, user_id=user_id)


def card(number: str = "4242 4242 4242 4242", code: str = "123") -> CardDetails:
    return CardDetails(number, 12, 2030, code, "Ada Lovelace", "1 Main St, Springfield")


def bank(account: str = "000123456789") -> BankAccountDetails:
    return BankAccountDetails("110000000", account, "checking", "Ada Lovelace", "1 Main St, Springfield")


async def add(
    db: asyncpg.Pool, scope: CustomerScope, details: CardDetails | BankAccountDetails, *, make_default: bool = False
) -> PaymentMethod:
    return await add_payment_method(
        db, SandboxGateway(db, timeout=5), scope, details, make_default=make_default, terms_accepted=True
    )


async def test_add_card_and_bank_account(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    visa = await add(db, scope, card())
    assert (visa.kind, visa.brand, visa.last4, visa.exp_month, visa.exp_year) == ("card", "Visa", "4242", 12, 2030)
    assert visa.is_default  # the first method becomes the default by itself
    assert visa.label == "Visa ending in 4242 (expires 12/2030)"
    assert not visa.expired(date(2030, 12, 31))
    assert visa.expired(date(2031, 1, 1))

    checking = await add(db, scope, bank())
    assert (checking.kind, checking.brand, checking.last4, checking.account_type) == (
        "bank_account",
        "Sandbox Bank",
        "6789",
        "checking",
    )
    assert not checking.is_default
    assert checking.label == "Checking account at Sandbox Bank ending in 6789"
    assert not checking.expired(date(2099, 1, 1))

    async with db.acquire() as connection:
        assert [m.id for m in await list_methods(connection, scope)] == [visa.id, checking.id]
        assert await method_of(connection, scope, checking.id) == checking
        gateway_name, token = await method_token(connection, scope, visa.id)
    assert gateway_name == "sandbox"
    assert token.startswith("tok_sandbox_")
    row = await db.fetchrow("SELECT gateway, added_by, terms_accepted_at FROM payment_methods WHERE id = $1", visa.id)
    assert row["gateway"] == "sandbox"
    assert row["added_by"] == scope.user_id
    assert row["terms_accepted_at"] is not None


async def test_default_rules(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    first = await add(db, scope, card())
    second = await add(db, scope, card("5555 5555 5555 4444"), make_default=True)
    third = await add(db, scope, bank())

    async def defaults() -> list[int]:
        async with db.acquire() as connection:
            return [m.id for m in await list_methods(connection, scope) if m.is_default]

    async def listed() -> list[int]:
        async with db.acquire() as connection:
            return [m.id for m in await list_methods(connection, scope)]

    assert await defaults() == [second.id]
    assert await listed() == [second.id, third.id, first.id]  # the default, then the newest

    async with db.acquire() as connection:
        await set_default(connection, scope, first.id)
        await set_default(connection, scope, first.id)  # already the default: nothing changes
    assert await defaults() == [first.id]

    async with db.acquire() as connection:
        await remove_method(connection, scope, second.id)  # not the default: the default stays
    assert await defaults() == [first.id]
    assert await listed() == [first.id, third.id]

    async with db.acquire() as connection:
        await remove_method(connection, scope, first.id)  # the default: it passes to the newest remaining
    assert await defaults() == [third.id]

    async with db.acquire() as connection:
        await remove_method(connection, scope, third.id)
        assert await list_methods(connection, scope) == []
        with pytest.raises(NotFound):
            await method_of(connection, scope, third.id)  # removed
        with pytest.raises(NotFound):
            await set_default(connection, scope, third.id)
        with pytest.raises(NotFound):
            await remove_method(connection, scope, third.id)
    # The rows stay for the payments that name them.
    assert await db.fetchval("SELECT count(*) FROM payment_methods WHERE removed_at IS NOT NULL") == 3

    fresh = await add(db, scope, card())
    assert fresh.is_default  # no method left on file: the next one is the default again


async def test_concurrent_first_methods_make_one_default(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    added = await asyncio.gather(add(db, scope, card()), add(db, scope, bank()), add(db, scope, card()))
    assert sum(method.is_default for method in added) == 1


async def test_remove_refused_while_autopay_uses_it(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    method = await add(db, scope, card())
    other = await add(db, scope, bank())
    await db.execute(
        "INSERT INTO autopay (customer_id, method_id, draft_day, starts_period) VALUES ($1, $2, 5, '2027-01-01')",
        scope.customer_id,
        method.id,
    )
    async with db.acquire() as connection:
        with pytest.raises(Conflict, match="Autopay"):
            await remove_method(connection, scope, method.id)
        assert (await method_of(connection, scope, method.id)).is_default
        await remove_method(connection, scope, other.id)  # autopay does not use this one


async def test_another_customers_method_is_not_found(db: asyncpg.Pool) -> None:
    alpha = await new_scope(db, "Alpha")
    beta = await new_scope(db, "Beta")
    alphas = await add(db, alpha, card())
    betas = await add(db, beta, card())
    async with db.acquire() as connection:
        for attempt in (method_of, method_token, set_default, remove_method):
            with pytest.raises(NotFound):
                await attempt(connection, beta, alphas.id)  # type: ignore[operator]
        assert [m.id for m in await list_methods(connection, beta)] == [betas.id]
        assert (await method_of(connection, alpha, alphas.id)).is_default
    assert await db.fetchval("SELECT removed_at FROM payment_methods WHERE id = $1", alphas.id) is None


async def test_refusals_store_nothing(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    gateway = SandboxGateway(db, timeout=5)
    with pytest.raises(DomainError) as refused:
        await add_payment_method(db, gateway, scope, card(), make_default=False, terms_accepted=False)
    assert refused.value.field == "terms"
    with pytest.raises(DomainError) as refused:
        await add(db, scope, card("4242 4242 4242 4241"))
    assert refused.value.field == "card_number"
    assert "4241" not in refused.value.message
    with pytest.raises(TokeniseRefused) as refused:
        await add(db, scope, card("4111 1111 1111 1111"))  # valid, but not a sandbox test number
    assert refused.value.field == "card_number"
    with pytest.raises(DomainError) as refused:
        await add(db, scope, BankAccountDetails("110000001", "000123456789", "checking", "A", "B"))
    assert refused.value.field == "routing_number"
    assert await db.fetchval("SELECT count(*) FROM payment_methods") == 0
    assert await db.fetchval("SELECT count(*) FROM sandbox_tokens") == 0


async def test_unknown_customer_is_not_found(db: asyncpg.Pool) -> None:
    with pytest.raises(NotFound):
        await add(db, CustomerScope(customer_id=999_999, user_id=None), card())


async def test_no_table_holds_the_full_number_or_the_code(db: asyncpg.Pool) -> None:
    scope = await new_scope(db, "Alpha")
    await add(db, scope, card("4242 4242 4242 4242", code="987"))
    await add(db, scope, bank("000123456789"))
    tables = [
        row["relname"]
        for row in await db.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    ]
    assert "payment_methods" in tables
    for table in tables:
        for (text,) in await db.fetch(f'SELECT t::text FROM "{table}" t'):
            for secret in ("4242424242424242", "4242 4242 4242 4242", "000123456789"):
                assert secret not in text, table
    # The code: no text value of the rows the add wrote (tokens aside, being random) holds it.
    for table in ("payment_methods", "sandbox_tokens"):
        for row in await db.fetch(f"SELECT * FROM {table}"):
            for column, value in row.items():
                if isinstance(value, str) and "token" not in column:
                    assert "987" not in value, (table, column)
