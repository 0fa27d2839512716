"""shared.incidents.system_tests on a real database: start, replace, end, the audit rows, and `active_test_sql` —
the predicate the incident opener uses — saying on test / not on test at the right moments."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from shared.errors import DomainError, Forbidden, NotFound
from shared.incidents import system_tests
from shared.incidents.system_tests import active_test_sql, end_test, on_test, start_test
from shared.scope import CustomerScope
from tests.portal.conftest import Customer

pytestmark = pytest.mark.asyncio


def owner(customer: Customer) -> CustomerScope:
    return CustomerScope(customer.customer_id, customer.owner_id)


async def test_start_and_end_a_test_and_the_predicate_follows(
    db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    async with db.acquire() as connection:
        assert not await on_test(connection, alpha.site_id)
        started = await start_test(connection, owner(alpha), alpha.site_id, 2)
        assert started.active and started.requested_name
        assert started.ends_at - started.starts_at == timedelta(hours=2)
        # On test from its start, for two hours; not before it, not at its end; the other customer never.
        assert await on_test(connection, alpha.site_id)
        assert await on_test(connection, alpha.site_id, started.starts_at)
        assert await on_test(connection, alpha.site_id, started.starts_at + timedelta(hours=1, minutes=59))
        assert not await on_test(connection, alpha.site_id, started.starts_at - timedelta(seconds=1))
        assert not await on_test(connection, alpha.site_id, started.ends_at)
        assert not await on_test(connection, beta.site_id)
        assert not await on_test(connection, None)

        ended = await end_test(connection, owner(alpha), alpha.site_id)
        assert ended.id == started.id and not ended.active and ended.ended_at is not None
        assert ended.ended_by_name == started.requested_name
        # Ended early: on test before the end, not from it on (though its planned end is later).
        assert await on_test(connection, alpha.site_id, ended.ended_at - timedelta(microseconds=1))
        assert not await on_test(connection, alpha.site_id, ended.ended_at)
        assert not await on_test(connection, alpha.site_id)
        with pytest.raises(NotFound):
            await end_test(connection, owner(alpha), alpha.site_id)
        history = await system_tests.tests_of(connection, owner(alpha))
        assert [t.id for t in history] == [started.id]
        assert await system_tests.tests_of(connection, owner(beta)) == []


async def test_starting_again_replaces_the_active_test_without_a_gap(
    db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        first = await start_test(connection, owner(alpha), alpha.site_id, 5)
        second = await start_test(connection, owner(alpha), alpha.site_id, 1)
        history = await system_tests.tests_of(connection, owner(alpha))
        assert [t.id for t in history] == [second.id, first.id]
        assert history[0].active and not history[1].active
        assert history[1].ended_at == history[0].starts_at  # one instant: never off test in between
        assert await on_test(connection, alpha.site_id, second.starts_at)
        active = await connection.fetchval(
            f"SELECT count(*) FROM system_tests WHERE {active_test_sql('site_id', 'now()')} AND site_id = $1",
            alpha.site_id,
        )
        assert active == 2  # the predicate is per premises: either row proves the premises on test at a moment


async def test_hours_scope_and_permission(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> None:
    alpha, beta = customers
    async with db.acquire() as connection:
        for hours in (0, 73, -1, "two"):
            with pytest.raises(DomainError) as refused:
                await start_test(connection, owner(alpha), alpha.site_id, hours)  # type: ignore[arg-type]
            assert refused.value.field == "hours"
        await start_test(connection, owner(alpha), alpha.site_id, 72)
        with pytest.raises(DomainError):
            await start_test(connection, owner(alpha), alpha.site_id, 10, max_hours=8)
        with pytest.raises(NotFound):
            await start_test(connection, owner(alpha), beta.site_id, 2)
        with pytest.raises(NotFound):
            await end_test(connection, owner(alpha), beta.site_id)
        secondary = CustomerScope(alpha.customer_id, alpha.secondary_id)
        with pytest.raises(Forbidden):
            await start_test(connection, secondary, alpha.site_id, 2)
        await connection.execute(
            "UPDATE users SET permissions = array_append(permissions, 'test_system') WHERE id = $1", alpha.secondary_id
        )
        granted = await start_test(connection, secondary, alpha.site_id, 2)
        assert granted.requested_name == "Second alpha"
