"""The e-mail confirmation notice says "the link we sent you" only when a link was sent and still works."""

from __future__ import annotations

import asyncpg

from shared.enrolment import create_customer
from tests.portal.conftest import PASSWORD, Portal, mails_to


async def test_an_owner_created_with_a_password_is_offered_a_link_not_told_of_one(
    portal: Portal, db: asyncpg.Pool
) -> None:
    async with db.acquire() as connection:  # as `alarmhub admin create-customer --password` does: no mail queued
        await create_customer(
            connection, name="Casey", email="casey@example.com", password=PASSWORD, account="CA5E", address="1 Road"
        )
    await portal.login("casey@example.com")
    page = await (await portal.get("/dashboard")).text()
    assert "link we sent you" not in page and "we will send you a link" in page and "Send me the link" in page
    assert await mails_to(db, "casey@example.com") == []
    await portal.post("/account/confirmation")
    page = await (await portal.get("/dashboard")).text()
    assert "open the link we sent you" in page and "Send the link again" in page
    assert len(await mails_to(db, "casey@example.com")) == 1
