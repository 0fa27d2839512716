"""Cross-cutting security: CSRF on every state-changing route, headers, cookie flags, access rules on every route."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.auth.access import Access, access, check_routes_declare_access
from shared.config import Config
from tests.portal.conftest import Customer, Portal, portal_config
from tests.portal.sweep import fill, route_ids

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def state_changing_routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted(
        {
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.method in STATE_CHANGING and route.resource is not None
        }
    )


async def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        ids = await route_ids(connection, alpha)
    routes = state_changing_routes(portal.client.app)
    assert len(routes) >= 15  # the inventory below must not silently shrink
    for who in (alpha.owner_email, "admin@example.com"):
        await portal.login(who)
        for method, path in routes:
            url = fill(path, ids)
            missing = await portal.client.request(method, url, data={"email": "x@example.com"})
            assert missing.status == 403, (who, method, path)
            wrong = await portal.client.request(method, url, data={"csrf_token": "forged", "email": "x@example.com"})
            assert wrong.status == 403, (who, method, path)
            assert "did not come from this site" in await wrong.text()
        await portal.logout()
    # Nothing happened: the secondary user is still there and nobody logged out.
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", alpha.secondary_id) == 1
    assert await db.fetchval("SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL") == 0


async def test_the_token_in_a_header_is_accepted_and_a_token_from_another_session_is_not(
    portal: Portal, other_portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    await other_portal.login(beta.owner_email)
    stolen = await portal.client.post("/logout", data={"csrf_token": other_portal.csrf})
    assert stolen.status == 403
    via_header = await portal.client.post("/logout", headers={"X-CSRF-Token": portal.csrf})
    assert via_header.url.path == "/login"


async def test_security_headers_on_pages_errors_and_redirects(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    for path, status in (("/login", 200), ("/no-such-page", 404), ("/dashboard", 200)):
        response = await portal.get(path)
        assert response.status == status
        for resp in (*response.history, response):
            headers = resp.headers
            csp = headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "default-src 'self'" in csp
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "same-origin"
            assert headers["X-Frame-Options"] == "DENY"
            assert headers["Cache-Control"] == "no-store"
            assert "Strict-Transport-Security" not in headers


async def test_the_session_cookie_is_httponly_samesite_and_secure_only_behind_https(
    tmp_path, database_url: str
) -> None:
    for public_url, secure in (("", False), ("https://portal.example.com", True)):
        config: Config = portal_config(tmp_path, portal__public_url=public_url)
        async with TestClient(TestServer(create_app(config, database_url))) as client:
            response = await client.get("/login")
            cookie = response.cookies["alarmhub_session"]
            assert cookie["httponly"] is True
            assert cookie["samesite"] == "Lax"
            assert bool(cookie["secure"]) is secure
            assert ("Strict-Transport-Security" in response.headers) is secure
            assert (
                "Secure" in response.headers["Set-Cookie"] if secure else "Secure" not in response.headers["Set-Cookie"]
            )


async def test_a_route_without_an_access_rule_stops_the_portal_from_starting(config: Config) -> None:
    app = create_app(config, "postgresql://unused")
    assert check_routes_declare_access(app) is None

    async def undeclared(request: web.Request) -> web.Response:
        return web.Response()

    @access(Access.PUBLIC)
    async def declared(request: web.Request) -> web.Response:
        return web.Response()

    fresh = web.Application()
    fresh.router.add_get("/fine", declared)
    check_routes_declare_access(fresh)
    fresh.router.add_get("/forgotten", undeclared)
    with pytest.raises(RuntimeError, match="/forgotten declares no access rule"):
        check_routes_declare_access(fresh)


async def test_api_errors_answer_json(portal: Portal) -> None:
    response = await portal.get("/api/v1/nothing")
    assert response.status == 404 and await response.json() == {"error": "there is no such page"}


async def test_the_generated_session_key_is_kept_in_var_and_reused(tmp_path) -> None:
    from portal.auth.session_key import session_key
    from shared.config import load_config

    config = load_config(None, environ={"ALARMHUB_PATHS_VAR_DIR": str(tmp_path / "var")})
    first = session_key(config)
    assert first == session_key(config)
    assert (tmp_path / "var" / "session_key").stat().st_mode & 0o777 == 0o600


def test_an_invalid_session_key_is_a_configuration_error_naming_the_key() -> None:
    from shared.config import ConfigError, load_config

    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={"ALARMHUB_PORTAL_SESSION_KEY": "too-short"})
    assert caught.value.key == "portal.session_key" and "32 bytes" in caught.value.reason
