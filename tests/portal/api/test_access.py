"""Who may call the signals and incidents endpoints: a live staff token; never anyone without one, with a revoked
one, or with a customer's logged-in cookie (401); a token whose role lacks what the endpoint needs is 403."""

from __future__ import annotations

from types import MappingProxyType

import asyncpg
import pytest
import pytest_asyncio

import portal.api.bearer
import shared.roles
from shared.api_tokens import ApiClient, revoke_api_token
from shared.roles import STAFF_PERMISSIONS, Permission, Role
from tests.portal.api.contract import Api
from tests.portal.conftest import Customer, Portal
from tests.portal.outcomes.incidents import make_incident

REALM = 'Bearer realm="alarmhub"'
LISTS = ("/api/v1/signals", "/api/v1/incidents", "/api/v1/incidents?status=closed")


@pytest_asyncio.fixture
async def endpoints(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> list[str]:
    """One URL of each endpoint, the detail of a real incident of alpha's among them."""
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha)
    return [*LISTS, f"/api/v1/incidents/{incident_id}"]


def _path_and_query(url: str) -> tuple[str, str | None]:
    path, _, query = url.partition("?")
    return path, query or None


async def test_staff_tokens_of_either_role_read_every_endpoint(
    api: Api, endpoints: list[str], dispatcher_token: str, admin_token: str
) -> None:
    for token in (dispatcher_token, admin_token):
        for url in endpoints:
            path, query = _path_and_query(url)
            assert (await api.get(path, token, query=query)).status == 200, url


async def test_no_token_and_a_revoked_token_are_401_with_the_challenge(
    api: Api, db: asyncpg.Pool, endpoints: list[str], dispatcher_token: str
) -> None:
    async with db.acquire() as connection:
        await revoke_api_token(connection, name="cad")
    for url in endpoints:
        path, query = _path_and_query(url)
        missing = await api.get(path, query=query)
        assert missing.status == 401 and missing.headers["WWW-Authenticate"] == REALM, url
        assert "bearer token" in missing.body["error"]
        revoked = await api.get(path, dispatcher_token, query=query)
        assert revoked.status == 401, url
        assert revoked.headers["WWW-Authenticate"] == f'{REALM}, error="invalid_token"'


@pytest.mark.parametrize("who", ["owner", "secondary", "dispatcher"])
async def test_a_logged_in_cookie_without_a_token_is_401(
    api: Api, endpoints: list[str], customers: tuple[Customer, Customer], who: str
) -> None:
    alpha, _ = customers
    browser = Portal(api.client)
    email = {"owner": alpha.owner_email, "secondary": alpha.secondary_email, "dispatcher": "dispatcher@example.com"}
    await browser.login(email[who])
    assert (await browser.get("/dashboard" if who != "dispatcher" else "/staff")).status == 200  # the login works
    for url in endpoints:
        path, query = _path_and_query(url)
        answer = await api.get(path, query=query)  # the same client: its cookie jar holds the session
        assert answer.status == 401 and answer.headers["WWW-Authenticate"] == REALM, (who, url)


async def test_a_role_without_take_incidents_reads_signals_but_not_incidents(
    api: Api, endpoints: list[str], dispatcher_token: str, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No stored role lacks it today (both API roles hold it): a dispatcher role stripped of it stands for one.
    stripped = MappingProxyType({Role.DISPATCHER: frozenset(), Role.ADMIN: STAFF_PERMISSIONS})
    monkeypatch.setattr(shared.roles, "STAFF_ROLE_PERMISSIONS", stripped)
    assert Permission.TAKE_INCIDENTS not in shared.roles.STAFF_ROLE_PERMISSIONS[Role.DISPATCHER]
    signals, *incidents = endpoints
    assert (await api.get(signals, dispatcher_token)).status == 200
    for url in incidents:
        path, query = _path_and_query(url)
        refused = await api.get(path, dispatcher_token, query=query)
        assert refused.status == 403 and "error" in refused.body, url
        assert (await api.get(path, admin_token, query=query)).status == 200, url


async def test_a_token_acting_as_a_customer_would_be_403_everywhere(
    api: Api, endpoints: list[str], dispatcher_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The table refuses a customer's token (CHECK in sql/0014); were one ever to authenticate, the rule still holds.
    async def as_customer(database: object, token: str) -> ApiClient:
        return ApiClient(token_id=1, name="leaked", role=Role.SECONDARY.value)

    monkeypatch.setattr(portal.api.bearer, "authenticate", as_customer)
    for url in endpoints:
        path, query = _path_and_query(url)
        assert (await api.get(path, dispatcher_token, query=query)).status == 403, url


async def test_the_request_id_comes_back_kept_or_made(api: Api, dispatcher_token: str) -> None:
    kept = await api.get("/api/v1/signals", dispatcher_token, headers={"X-Request-ID": "cad-42"})
    assert kept.headers["X-Request-ID"] == "cad-42"
    refused = await api.get("/api/v1/incidents", None, headers={"X-Request-ID": "cad-43"})
    assert refused.status == 401 and refused.headers["X-Request-ID"] == "cad-43"
    bad = await api.get("/api/v1/signals", dispatcher_token, {"limit": "0"})
    assert bad.status == 400 and len(bad.headers["X-Request-ID"]) == 32
