"""Access rules: staff rules can carry permissions; customer routes get their scope from the middleware only."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.auth.access import Access, access, scope_of, staff_scope
from portal.auth.model import Permission
from shared.config import Config
from tests.portal.conftest import Customer, Portal


def _app_with(config: Config, database_url: str, routes: web.RouteTableDef) -> web.Application:
    app = create_app(config, database_url)
    app.router.add_routes(routes)
    return app


async def test_a_staff_rule_with_a_permission_admits_the_roles_that_hold_it(
    config: Config, database_url: str, customers: tuple[Customer, Customer]
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/test/incidents")
    @access(Access.STAFF, Permission.TAKE_INCIDENTS)
    async def incidents(request: web.Request) -> web.Response:
        return web.Response(text="incidents")

    @routes.get("/test/refunds")
    @access(Access.STAFF, Permission.REFUND)
    async def refunds(request: web.Request) -> web.Response:
        return web.Response(text="refunds")

    async with TestClient(TestServer(_app_with(config, database_url, routes))) as client:
        portal = Portal(client)
        expected = {
            "dispatcher@example.com": {"/test/incidents": 200, "/test/refunds": 403},
            "admin@example.com": {"/test/incidents": 200, "/test/refunds": 200},
            customers[0].owner_email: {"/test/incidents": 403, "/test/refunds": 403},
        }
        for who, answers in expected.items():
            await portal.login(who)
            for path, status in answers.items():
                assert (await portal.get(path)).status == status, (who, path)
            await portal.logout()


async def test_scope_of_exists_only_on_customer_routes_and_staff_scope_only_on_staff_routes(
    config: Config, database_url: str, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    routes = web.RouteTableDef()

    @routes.get("/test/mine")
    @access(Access.CUSTOMER)
    async def mine(request: web.Request) -> web.Response:
        return web.Response(text=f"customer {scope_of(request).customer_id}")

    @routes.get("/test/user-route")
    @access(Access.USER)
    async def any_user(request: web.Request) -> web.Response:
        try:
            scope_of(request)
        except RuntimeError:
            return web.Response(text="no scope here")
        return web.Response(text="leaked a scope")

    @routes.get("/test/staff-view")
    @access(Access.STAFF)
    async def staff_view(request: web.Request) -> web.Response:
        scope = staff_scope(request, alpha.customer_id)
        return web.Response(text=f"staff on {scope.customer_id} by_staff={scope.by_staff}")

    async with TestClient(TestServer(_app_with(config, database_url, routes))) as client:
        portal = Portal(client)
        await portal.login(alpha.secondary_email)
        assert await (await portal.get("/test/mine")).text() == f"customer {alpha.customer_id}"
        assert await (await portal.get("/test/user-route")).text() == "no scope here"
        await portal.logout()
        await portal.login("dispatcher@example.com")
        assert await (await portal.get("/test/staff-view")).text() == f"staff on {alpha.customer_id} by_staff=True"
        assert (await portal.get("/test/mine")).status == 403


def test_customer_scopes_are_made_in_one_place() -> None:
    """Only the access middleware (customers) and staff_scope (staff) build a scope in the portal."""
    from pathlib import Path

    portal = Path(__file__).resolve().parents[2] / "portal"
    makers = sorted(
        str(path.relative_to(portal)) for path in portal.rglob("*.py") if "CustomerScope(" in path.read_text()
    )
    assert makers == ["auth/access.py"]
