"""API test fixtures: a client whose every answer is checked against the served OpenAPI document, and tokens."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from shared.api_tokens import create_api_token
from tests.portal.api.contract import Api, Contract
from tests.portal.conftest import Customer


@pytest_asyncio.fixture
async def api(app_client: TestClient[Any, Any]) -> Api:
    response = await app_client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)  # a valid OpenAPI 3.1 document, or nothing checked against it means anything
    return Api(app_client, Contract(document))


async def issue(db: asyncpg.Pool, name: str, role: str) -> str:
    async with db.acquire() as connection:
        return (await create_api_token(connection, name=name, role=role)).secret


@pytest_asyncio.fixture
async def dispatcher_token(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> str:
    return await issue(db, "cad", "dispatcher")


@pytest_asyncio.fixture
async def admin_token(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> str:
    return await issue(db, "reports", "admin")
