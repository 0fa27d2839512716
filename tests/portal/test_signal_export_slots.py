"""Exports hold a pooled connection while they stream: past the process's export slots the portal answers 503
with Retry-After (found by review: ten slow downloads would have taken every connection the pages need)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from portal.keys import export_slots_key
from tests.portal.conftest import Customer, Portal


async def test_an_export_past_the_slots_is_refused_with_retry_after_and_pages_still_answer(
    app_client: TestClient[Any, Any], customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    portal = Portal(app_client)
    await portal.login(alpha.owner_email)
    slots = app_client.app[export_slots_key]
    assert (await portal.get("/signals.csv")).status == 200
    taken = 0
    while not slots.locked():  # every slot held, as by downloads still streaming
        await slots.acquire()
        taken += 1
    try:
        refused = await portal.get("/signals.csv")
        assert refused.status == 503 and refused.headers["Retry-After"] == "30"
        assert "try again in a minute" in await refused.text()
        assert (await portal.get("/signals")).status == 200
    finally:
        for _ in range(taken):
            slots.release()
    assert (await portal.get("/signals.csv")).status == 200
