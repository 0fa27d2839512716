"""Alarm notifications: the owner ticks, per user of the account, Alarms / Power loss / Failure to communicate;
saved through shared.incidents.notifications and shown again; a secondary user allowed to manage users sees it and
cannot change it; other secondary users are refused the page; CSRF is refused; other customers' users untouched."""

from __future__ import annotations

import re

import asyncpg

from shared.incidents.notifications import preferences_of, recipients
from tests.portal.conftest import Customer, Portal


def ticked(html: str) -> set[str]:
    return set(re.findall(r'name="notify" value="([^"]+)" checked', html))


async def test_the_owner_chooses_who_is_notified_about_what(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    html = await (await portal.get("/notifications")).text()
    assert 'aria-current="page">Alarm notifications</a>' in html
    for label in ("Alarms", "Power loss", "Failure to communicate", alpha.owner_email, alpha.secondary_email):
        assert label in html
    assert "Alarms for Second alpha" in html  # each box is named for its user
    assert ticked(html) == set()
    boxes = {
        f"{alpha.owner_id}:alarm",
        f"{alpha.owner_id}:power",
        f"{alpha.owner_id}:failure_to_communicate",
        f"{alpha.secondary_id}:alarm",
        f"{beta.owner_id}:alarm",  # another customer's user: never looked at
    }
    response = await portal.client.post("/notifications", data={"notify": sorted(boxes), "csrf_token": portal.csrf})
    html = await response.text()
    assert response.status == 200 and "Saved who is notified about what." in html
    assert ticked(html) == boxes - {f"{beta.owner_id}:alarm"}
    async with db.acquire() as connection:
        assert [r.email for r in await recipients(connection, alpha.customer_id, "alarm")] == [
            alpha.owner_email,
            alpha.secondary_email,
        ]
        assert [r.email for r in await recipients(connection, alpha.customer_id, "power")] == [alpha.owner_email]
        assert all(not s.categories for s in await preferences_of(connection, beta.customer_id))

    # Unticking: the secondary user no longer gets alarms; the owner keeps only power loss.
    response = await portal.post("/notifications", {"notify": f"{alpha.owner_id}:power"})
    assert ticked(await response.text()) == {f"{alpha.owner_id}:power"}
    async with db.acquire() as connection:
        assert await recipients(connection, alpha.customer_id, "alarm") == []


async def test_an_unknown_category_is_refused_and_nothing_changes(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    response = await portal.client.post(
        "/notifications",
        data={"notify": [f"{alpha.owner_id}:alarm", f"{alpha.owner_id}:burglary"], "csrf_token": portal.csrf},
    )
    assert response.status == 400 and "Choose among alarms" in await response.text()
    assert await db.fetchval("SELECT count(*) FROM alarm_notifications") == 0


async def test_secondary_users_cannot_change_it_and_csrf_is_refused(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    await portal.login(alpha.secondary_email)
    assert (await portal.get("/notifications")).status == 403
    assert "Alarm notifications" not in await (await portal.get("/dashboard")).text()  # no menu entry either
    assert (await portal.post("/notifications", {"notify": f"{alpha.secondary_id}:alarm"})).status == 403
    await db.execute("UPDATE users SET permissions = '{manage_users}' WHERE id = $1", alpha.secondary_id)
    html = await (await portal.get("/notifications")).text()  # allowed to manage users: sees, cannot change
    assert "Only the account owner can change this." in html and " disabled" in html and ">Save<" not in html
    assert (await portal.post("/notifications", {"notify": f"{alpha.secondary_id}:alarm"})).status == 403
    await portal.logout()

    await portal.login(alpha.owner_email)
    assert (await portal.post("/notifications", {"notify": f"{alpha.owner_id}:alarm"}, csrf=False)).status == 403
    forged = await portal.client.post("/notifications", data={"notify": f"{alpha.owner_id}:alarm", "csrf_token": "x"})
    assert forged.status == 403
    assert await db.fetchval("SELECT count(*) FROM alarm_notifications") == 0
