"""Alarm-notification preferences on a real PostgreSQL: the owner chooses per user; recipients are the confirmed
subscribers of one customer and category."""

from __future__ import annotations

import asyncpg
import pytest

from shared.errors import DomainError, Forbidden, NotFound
from shared.incidents.model import NotificationCategory
from shared.incidents.notifications import preferences_of, recipients, set_preferences
from shared.roles import Role
from tests.portal.conftest import cheap_password_hashing, enrol  # noqa: F401 (a fixture)

ALARM, POWER, FTC = NotificationCategory.ALARM, NotificationCategory.POWER, NotificationCategory.FAILURE_TO_COMMUNICATE


async def test_the_owner_chooses_per_user_and_recipients_follow(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        before = await preferences_of(connection, alpha.customer_id)
        assert [(s.user_id, s.role, s.categories) for s in before] == [
            (alpha.owner_id, Role.OWNER, frozenset()),
            (alpha.secondary_id, Role.SECONDARY, frozenset()),
        ]
        assert await recipients(connection, alpha.customer_id, ALARM) == []

        owner = await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["alarm", "power"], alpha.owner_id)
        assert owner.categories == {ALARM, POWER}
        await set_preferences(connection, alpha.customer_id, alpha.secondary_id, [FTC, "alarm"], alpha.owner_id)
        # Replacing, not adding: the owner drops power.
        await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["alarm"], alpha.owner_id)

        alarm = await recipients(connection, alpha.customer_id, ALARM)
        assert [(r.user_id, r.email) for r in alarm] == [
            (alpha.owner_id, alpha.owner_email),
            (alpha.secondary_id, alpha.secondary_email),
        ]
        assert await recipients(connection, alpha.customer_id, POWER) == []
        assert [r.user_id for r in await recipients(connection, alpha.customer_id, FTC)] == [alpha.secondary_id]
        assert await recipients(connection, beta.customer_id, ALARM) == []  # another customer's choice is its own

        # An unconfirmed address is not mailed (but its choice is kept and shown).
        await connection.execute("UPDATE users SET email_confirmed_at = NULL WHERE id = $1", alpha.secondary_id)
        assert [r.user_id for r in await recipients(connection, alpha.customer_id, ALARM)] == [alpha.owner_id]
        shown = {s.user_id: s for s in await preferences_of(connection, alpha.customer_id)}
        assert shown[alpha.secondary_id].categories == {ALARM, FTC} and not shown[alpha.secondary_id].confirmed

        # Clearing every category.
        cleared = await set_preferences(connection, alpha.customer_id, alpha.owner_id, [], None)
        assert cleared.categories == frozenset()
        assert await recipients(connection, alpha.customer_id, ALARM) == []


async def test_only_the_owner_sets_and_only_for_their_own_users(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        with pytest.raises(Forbidden):  # a secondary user
            await set_preferences(connection, alpha.customer_id, alpha.secondary_id, ["alarm"], alpha.secondary_id)
        with pytest.raises(Forbidden):  # another customer's owner
            await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["alarm"], beta.owner_id)
        with pytest.raises(NotFound):  # a user of another customer
            await set_preferences(connection, alpha.customer_id, beta.owner_id, ["alarm"], alpha.owner_id)
        with pytest.raises(DomainError) as refused:
            await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["alarm", "weather"], alpha.owner_id)
        assert refused.value.field == "categories"
        assert await connection.fetchval("SELECT count(*) FROM alarm_notifications") == 0
