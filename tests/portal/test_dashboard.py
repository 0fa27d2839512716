"""The dashboard: account, premises and panels, recent signals with the catalogue's words; tabs only when they exist."""

from __future__ import annotations

import asyncpg
import jinja2
import pytest
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.auth.model import Permission
from portal.auth.rules import Access, Rule
from portal.dashboard.tabs import DashboardTab
from portal.keys import dashboard_tabs_key, templates_key
from shared.config import Config
from tests.portal.conftest import Customer, Portal, add_signal


async def test_the_dashboard_shows_account_premises_panels_and_recent_signals(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        await add_signal(connection, alpha, description="AC power loss", category="power", code="301", sequence="7")
        await add_signal(
            connection, alpha, description="Periodic test report", category="test", zone=None, code="602", sequence="8"
        )
    await portal.login(alpha.secondary_email)
    text = await (await portal.get("/dashboard")).text()
    assert "Customer alpha" in text and "A1A1" in text and "alpha Street 1" in text
    assert "Burglary alarm at Alpha" in text and "Alarms and emergencies" in text
    assert "AC power loss" in text and "Power loss" in text and "Tests" in text
    assert text.index("Periodic test report") < text.index("Burglary alarm at Alpha")  # newest first
    assert 'aria-current="page">Dashboard' in text
    # Each feature's tab is on the dashboard (their contents are tested with the feature: billing, service, …).
    for tab in ("Invoices due", "Paid invoices", "Receipts", "Service history", "Signal history", "Call list"):
        assert f">{tab}<" in text


async def test_a_feature_adds_a_tab_that_loads_with_the_customer_scope(
    config: Config, database_url: str, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    seen = []

    async def load(connection, scope):
        seen.append(scope.customer_id)
        return {"calls": 3}

    app = create_app(config, database_url)
    templates = app[templates_key]
    templates.loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"test/tab.html": "<p>{{ tab_context.calls }} calls</p>"}), templates.loader]
    )
    app[dashboard_tabs_key].add(DashboardTab("calls", "Call list", Rule(Access.CUSTOMER), "test/tab.html", load))
    async with TestClient(TestServer(app)) as client:
        portal = Portal(client)
        await portal.login(alpha.owner_email)
        text = await (await portal.get("/dashboard?tab=calls")).text()
    assert 'class="tabs__list"' in text and "Call list" in text and "<p>3 calls</p>" in text
    assert set(seen) == {alpha.customer_id}


async def test_each_panel_shows_its_last_signal_in_the_customers_time(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        await connection.execute("INSERT INTO panels (site_id, account) VALUES ($1, 'A2A2')", alpha.site_id)
        await connection.execute(
            "UPDATE panels SET last_signal_at = '2026-03-04 05:06:00+00' WHERE id = $1", alpha.panel_id
        )
    await portal.login(alpha.owner_email)
    text = await (await portal.get("/dashboard")).text()
    lines = {line.split("</span>")[0].strip() for line in text.split('Panel <span class="mono">')[1:]}
    assert lines == {"A1A1", "A2A2"}
    a1, a2 = (
        text.split('Panel <span class="mono">A1A1</span>')[1],
        text.split('Panel <span class="mono">A2A2</span>')[1],
    )
    assert "last signal 2026-03-04" in a1.split("</li>")[0]
    assert "last signal not yet received" in a2.split("</li>")[0]


async def test_a_tab_is_shown_only_to_viewers_its_rule_admits(
    config: Config, database_url: str, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers

    async def load(connection, scope):
        return {}

    app = create_app(config, database_url)
    app[templates_key].loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"test/tab.html": "<p>owner things</p>"}), app[templates_key].loader]
    )
    rule = Rule(Access.CUSTOMER, Permission.MANAGE_USERS)
    app[dashboard_tabs_key].add(DashboardTab("owners", "Owner things", rule, "test/tab.html", load))
    async with TestClient(TestServer(app)) as client:
        portal = Portal(client)
        await portal.login(alpha.owner_email)
        assert "Owner things" in await (await portal.get("/dashboard")).text()
        await portal.logout()
        await portal.login(alpha.secondary_email)  # holds no permission
        text = await (await portal.get("/dashboard?tab=owners")).text()
    assert "Owner things" not in text and "owner things" not in text


def test_a_tab_without_an_access_rule_is_refused(config: Config) -> None:
    async def load(connection, scope):
        return {}

    app = create_app(config, "postgresql://unused")
    with pytest.raises(RuntimeError, match="declares no access rule"):
        app[dashboard_tabs_key].add(DashboardTab("x", "X", None, "test/tab.html", load))  # type: ignore[arg-type]


async def test_customer_and_staff_pages_show_a_signal_the_same_way(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    """A Contact ID closing comes with the restore qualifier; it was shown as "Closing by user (restored)", and the
    staff page dropped the user number. One presentation now serves both pages."""
    alpha, _ = customers
    await db.execute(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "user_number, partition, category, priority, description, raw_frame) "
        "VALUES ($1, $2, $3, $4, 'tcp', '0042', 'ADM-CID', '401', 'restore', '003', '1', 'open_close', 6, "
        "'Closing by user', '\\x00')",
        alpha.account,
        alpha.panel_id,
        alpha.site_id,
        alpha.customer_id,
    )
    pages = []
    for who, path in (
        (alpha.owner_email, "/dashboard"),
        ("dispatcher@example.com", f"/staff/customers/{alpha.customer_id}"),
    ):
        await portal.login(who)
        pages.append(await (await portal.get(path)).text())
        await portal.logout()
    for text in pages:
        assert '<td data-label="What happened">Closing by user</td>' in text
        assert "(restored)" not in text
        assert "User 003" in text and "Area 1" in text
