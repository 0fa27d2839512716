"""The JSON API: bearer tokens only (cookies ignored), 401/403 as JSON, the OpenAPI document, GET /api/v1/accounts."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from portal.api.openapi import Reply, operation, path_parameter
from portal.app import create_app
from portal.auth.access import Access, access
from shared.api_tokens import authenticate, create_api_token, revoke_api_token
from shared.config import Config
from shared.errors import Conflict, DomainError
from tests.alarmhub.test_cli import alarmhub
from tests.portal.conftest import Customer, Portal, add_signal

ACCOUNT_URL = "/api/v1/accounts/{}"
REALM = 'Bearer realm="alarmhub"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(db: asyncpg.Pool, name: str = "cad", role: str = "dispatcher") -> str:
    async with db.acquire() as connection:
        return (await create_api_token(connection, name=name, role=role)).secret


# Test-only API routes: one that changes state (POST) and one for admins only.
@access(Access.STAFF)
@operation("Echo (test only)", responses={200: Reply("Echoed.")})
async def echo(request: web.Request) -> web.StreamResponse:
    return web.json_response({"echo": await request.json()})


@access(Access.ADMIN)
@operation("Admins only (test only)", responses={200: Reply("Fine.")})
async def admins_only(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def api_client(config: Config, database_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(config, database_url)
    app.router.add_post("/api/v1/test/echo", echo)
    app.router.add_get("/api/v1/test/admins-only", admins_only)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_no_token_is_401_json_with_the_bearer_challenge_never_a_redirect(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    response = await portal.client.get(ACCOUNT_URL.format(alpha.account), allow_redirects=False)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == REALM
    assert response.content_type == "application/json"
    assert "bearer token" in (await response.json())["error"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ahk_" + "A" * 43, "Bearer not-a-token", "Bearer ", "bearer ahk_" + "x" * 43],
)
async def test_a_bad_token_is_401_invalid_token(
    portal: Portal, customers: tuple[Customer, Customer], authorization: str
) -> None:
    alpha, _ = customers
    response = await portal.client.get(
        ACCOUNT_URL.format(alpha.account), headers={"Authorization": authorization}, allow_redirects=False
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == f'{REALM}, error="invalid_token"'
    assert "error" in await response.json()


async def test_a_token_from_the_cli_reads_the_account_until_it_is_revoked_by_the_cli(
    portal: Portal, database_url: str, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    created = alarmhub(database_url, "admin", "create-api-token", "--name", "cad-export", "--role", "dispatcher")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ahk_") and len(token) == 47
    assert token not in created.stderr and "only time" in created.stderr

    response = await portal.client.get(ACCOUNT_URL.format(alpha.account), headers=bearer(token))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["account"] == alpha.account and body["enrolment"] == "enrolled"
    assert body["customer"]["id"] == alpha.customer_id and body["customer"]["name"] == "Customer alpha"
    assert body["site"] == {"id": alpha.site_id, "name": "Premises", "address": "alpha Street 1"}
    assert body["last_signal"]["description"] == "Burglary alarm at Alpha"

    revoked = alarmhub(database_url, "admin", "revoke-api-token", "--name", "cad-export")
    assert revoked.returncode == 0, revoked.stderr
    after = await portal.client.get(ACCOUNT_URL.format(alpha.account), headers=bearer(token))
    assert after.status == 401 and 'error="invalid_token"' in after.headers["WWW-Authenticate"]


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_a_session_cookie_means_nothing_under_api(
    api_client: TestClient[Any, Any], customers: tuple[Customer, Customer], who: str
) -> None:
    alpha, _ = customers
    portal = Portal(api_client)
    await portal.login(alpha.owner_email if who == "owner" else "admin@example.com")
    assert (await portal.get("/dashboard" if who == "owner" else "/staff")).status == 200  # the login works
    response = await portal.client.get(ACCOUNT_URL.format(alpha.account), allow_redirects=False)
    assert response.status == 401 and response.headers["WWW-Authenticate"] == REALM
    # Nor a state-changing API route, with the CSRF token a page gave that session: the cookie opens nothing.
    posted = await portal.client.post(
        "/api/v1/test/echo", json={"hello": "api"}, headers={"X-CSRF-Token": portal.csrf}, allow_redirects=False
    )
    assert posted.status == 401 and posted.headers["WWW-Authenticate"] == REALM


async def test_a_valid_token_posting_without_csrf_is_not_refused_for_csrf(
    api_client: TestClient[Any, Any], db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    token = await issue(db)
    response = await api_client.post("/api/v1/test/echo", json={"hello": "api"}, headers=bearer(token))
    assert response.status == 200 and await response.json() == {"echo": {"hello": "api"}}
    anonymous = await api_client.post("/api/v1/test/echo", json={"hello": "api"})
    assert anonymous.status == 401  # not 403 for CSRF: the exemption is safe because there is no cookie login here


async def test_a_token_of_the_wrong_role_is_403_json(
    api_client: TestClient[Any, Any], db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    dispatcher, admin = await issue(db, "dispatch-tool"), await issue(db, "admin-tool", "admin")
    refused = await api_client.get("/api/v1/test/admins-only", headers=bearer(dispatcher))
    assert refused.status == 403 and "error" in await refused.json()
    assert (await api_client.get("/api/v1/test/admins-only", headers=bearer(admin))).status == 200


async def test_the_token_never_reaches_the_table_or_the_logs(
    portal: Portal, database_url: str, db: asyncpg.Pool, customers: tuple[Customer, Customer], json_log: io.StringIO
) -> None:
    alpha, _ = customers
    created = alarmhub(database_url, "admin", "create-api-token", "--name", "reporting", "--role", "admin")
    token = created.stdout.strip()
    assert created.stdout.count(token) == 1 and token not in created.stderr
    for path in (ACCOUNT_URL.format(alpha.account), "/api/v1/accounts/zz", "/api/v1/nothing"):
        await portal.client.get(path, headers=bearer(token))
    await portal.client.get(ACCOUNT_URL.format(alpha.account), headers=bearer(token[:-1] + "x"))
    rows = await db.fetch("SELECT * FROM api_tokens")
    dumped = json.dumps([{k: str(v) for k, v in dict(row).items()} for row in rows])
    assert token not in dumped and token[4:] not in dumped
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).digest()
    logged = json_log.getvalue()
    assert token[4:20] not in logged and token[:-1] not in logged
    # Not vacuous: the requests were logged, naming the token's holder (by name) instead.
    holders = [json.loads(line).get("api_client") for line in logged.splitlines() if line.startswith("{")]
    assert "reporting" in holders


async def test_the_account_endpoint_answers_what_a_dispatcher_needs(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        await connection.execute(
            "INSERT INTO panels (site_id, account, dc09_key, dc09_key_format, test_interval, last_seen_at) "
            "VALUES ($1, 'A1A2', $2, 'hex', '1 hour', now())",
            alpha.site_id,
            bytes(range(16)),
        )
        await add_signal(
            connection, alpha, description="Closing by user", category="open_close", code="401", user_number="3"
        )
    token = await issue(db)
    body = await (await portal.client.get(ACCOUNT_URL.format("%23a1a1"), headers=bearer(token))).json()
    assert body["account"] == "A1A1"  # case-insensitive hex, '#' allowed as panels print it
    assert body["customer"] == {
        "id": alpha.customer_id,
        "name": "Customer alpha",
        "phone": "",
        "email": alpha.owner_email,
    }
    panels = {panel["account"]: panel for panel in body["panels"]}
    assert panels["A1A1"]["encrypted"] is False and panels["A1A1"]["test_interval_seconds"] == 86400
    assert panels["A1A2"]["encrypted"] is True and panels["A1A2"]["test_interval_seconds"] == 3600
    assert panels["A1A2"]["last_seen_at"] is not None and panels["A1A2"]["last_signal_at"] is None
    assert "dc09_key" not in json.dumps(body) and "000102" not in json.dumps(body)
    last = body["last_signal"]
    assert last["description"] == "Closing by user" and last["category"] == "open_close"
    assert last["code"] == "401" and last["user"] == "3" and last["zone"] == "001" and last["partition"] is None
    other = await (await portal.client.get(ACCOUNT_URL.format("a1a2"), headers=bearer(token))).json()
    assert other["site"]["id"] == alpha.site_id and other["last_signal"] is None


async def test_unknown_and_never_heard_accounts_are_404_saying_which(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    await db.execute(
        "INSERT INTO signals (account, transport, sequence, format, code, qualifier, category, priority, description, "
        "raw_frame) VALUES ('BEEF', 'tcp', '0001', 'ADM-CID', '602', 'event', 'test', 9, 'Periodic test', '\\x00')"
    )
    token = await issue(db)
    unknown = await portal.client.get(ACCOUNT_URL.format("beef"), headers=bearer(token))
    assert unknown.status == 404
    assert (await unknown.json())["enrolment"] == "unknown_account" and (await unknown.json())["account"] == "BEEF"
    never = await portal.client.get(ACCOUNT_URL.format("FEED"), headers=bearer(token))
    assert never.status == 404 and (await never.json())["enrolment"] == "not_found"
    invalid = await portal.client.get(ACCOUNT_URL.format("not-hex"), headers=bearer(token))
    assert invalid.status == 400 and "account number" in (body := await invalid.json())["error"]
    assert body["parameter"] == "account"  # the field the domain error names


async def test_the_openapi_document_is_valid_3_1_and_generated_from_the_routes(portal: Portal) -> None:
    response = await portal.client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)  # openapi-spec-validator picks the 3.1 validator from the "openapi" field
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from `alarmhub admin create-api-token`.",
    }
    assert document["security"] == [{"bearerAuth": []}]
    account = document["paths"]["/api/v1/accounts/{account}"]["get"]
    assert [p["name"] for p in account["parameters"]] == ["account"]
    assert set(account["responses"]) == {"200", "400", "401", "403", "404"}
    assert account["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Account"
    }
    assert {"Account", "Panel", "Signal", "Error", "AccountNotEnrolled"} <= set(document["components"]["schemas"])
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


async def test_an_api_route_without_an_operation_stops_the_portal_from_starting(
    config: Config, database_url: str
) -> None:
    @access(Access.STAFF)
    async def undeclared(request: web.Request) -> web.Response:
        return web.json_response({})

    app = create_app(config, database_url)
    app.router.add_get("/api/v1/forgotten", undeclared)
    with pytest.raises(RuntimeError, match="/api/v1/forgotten declares no operation"):
        await TestServer(app).start_server()


async def test_an_operation_must_declare_exactly_the_paths_parameters(config: Config, database_url: str) -> None:
    @access(Access.STAFF)
    @operation("Wrong parameters", parameters=(path_parameter("id", {"type": "integer"}, "An id."),), responses={})
    async def misdeclared(request: web.Request) -> web.Response:
        return web.json_response({})

    app = create_app(config, database_url)
    app.router.add_get("/api/v1/things/{thing_id}", misdeclared)
    with pytest.raises(RuntimeError, match=r"declares path parameters \['id'\], its path has \['thing_id'\]"):
        await TestServer(app).start_server()


async def test_last_used_is_written_at_most_once_a_minute(db: asyncpg.Pool) -> None:
    token = await issue(db)
    assert await db.fetchval("SELECT last_used_at FROM api_tokens") is None
    assert (client := await authenticate(db, token)) is not None and client.role == "dispatcher"
    first = await db.fetchval("SELECT last_used_at FROM api_tokens")
    await authenticate(db, token)
    assert await db.fetchval("SELECT last_used_at FROM api_tokens") == first  # not rewritten within the minute
    await db.execute("UPDATE api_tokens SET last_used_at = last_used_at - interval '61 seconds'")
    await authenticate(db, token)
    assert await db.fetchval("SELECT last_used_at FROM api_tokens") > first - timedelta(seconds=61)


async def test_names_are_unique_among_live_tokens_and_customers_never_hold_one(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await create_api_token(connection, name="cad", role="dispatcher")
        with pytest.raises(Conflict):
            await create_api_token(connection, name="CAD", role="admin")
        await revoke_api_token(connection, name="Cad")
        await create_api_token(connection, name="cad", role="admin")  # the name is free again
        for role in ("owner", "secondary"):
            with pytest.raises(DomainError, match="never as a customer"):
                await create_api_token(connection, name="portal", role=role)
        with pytest.raises(asyncpg.CheckViolationError):  # and the table refuses it whatever the code says
            await connection.execute(
                "INSERT INTO api_tokens (name, role, token_hash) VALUES ('x', 'owner', $1)", bytes(32)
            )
        with pytest.raises(DomainError, match="letters, digits"):
            await create_api_token(connection, name="two words", role="admin")


async def test_the_admin_page_lists_tokens_without_them_and_revokes_with_csrf(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    token = await issue(db, "cad")
    token_id = await db.fetchval("SELECT id FROM api_tokens WHERE name = 'cad'")
    await portal.login("dispatcher@example.com")
    assert (await portal.get("/admin/api-tokens")).status == 403
    await portal.logout()
    await portal.login("admin@example.com")
    page = await (await portal.get("/admin/api-tokens")).text()
    assert "cad" in page and "dispatcher" in page and token not in page and token[4:12] not in page
    forged = await portal.client.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": "forged"})
    assert forged.status == 403
    assert await authenticate(db, token) is not None
    done = await portal.post(f"/admin/api-tokens/{token_id}/revoke")
    assert done.status == 200 and "is revoked" in await done.text()
    assert await authenticate(db, token) is None
    assert (await portal.post("/admin/api-tokens/99999/revoke")).status == 404
