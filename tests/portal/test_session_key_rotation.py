"""Rotating `portal.session_key`: what was made under the old key (logins, device cookies, page links, API cursors)
keeps working while it is in `portal.session_key_previous`, and stops once it is removed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from cryptography.fernet import Fernet

from portal.accounts.devices import COOKIE as DEVICE_COOKIE
from portal.accounts.devices import DeviceCookies
from portal.accounts.devices import _keys as device_keys
from portal.app import SESSION_COOKIE, create_app
from portal.auth.session_key import session_keys
from shared.api_tokens import create_api_token
from shared.config import Config, ConfigError, load_config
from tests.portal.conftest import Customer, Portal, portal_config
from tests.portal.test_signal_history import link, rows_of
from tests.shared.test_signal_history import signal

Cookies = dict[str, str]


@asynccontextmanager
async def browser(config: Config, database_url: str, cookies: Cookies) -> AsyncIterator[Portal]:
    """A portal process started with `config`, and a browser holding `cookies` from an earlier visit."""
    async with TestClient(TestServer(create_app(config, database_url))) as client:
        client.session.cookie_jar.update_cookies(cookies, client.make_url("/"))
        yield Portal(client)


def cookies_of(portal: Portal) -> Cookies:
    return {cookie.key: cookie.value for cookie in portal.client.session.cookie_jar}


def rotated(old: Config, new_key: str, *, keep_old: bool) -> Config:
    previous = old["portal.session_key"] if keep_old else ""
    return old.with_overrides(portal__session_key=new_key, portal__session_key_previous=previous)


async def logged_in(portal: Portal) -> bool:
    response = await portal.get("/signals")
    return response.status == 200 and response.url.path == "/signals"


async def test_a_login_and_its_page_links_survive_the_rotation_and_end_when_the_old_key_is_removed(
    tmp_path: Path, database_url: str, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    base = datetime.now(UTC) - timedelta(days=1)
    for minute in range(60):
        await signal(db, alpha, base + timedelta(minutes=minute), "602", zone="000")
    old = portal_config(tmp_path)
    new_key = Fernet.generate_key().decode()

    async with browser(old, database_url, {}) as before:
        await before.login(alpha.owner_email)
        older = link(await (await before.get("/signals?category=test")).text(), "Older")
        assert older is not None
        made_under_old = cookies_of(before)

    async with browser(rotated(old, new_key, keep_old=True), database_url, made_under_old) as overlap:
        assert await logged_in(overlap)
        reissued = cookies_of(overlap)
        assert reissued[SESSION_COOKIE] != made_under_old[SESSION_COOKIE]
        Fernet(new_key.encode()).decrypt(reissued[SESSION_COOKIE].encode())  # now under the current key
        html = await (await overlap.get(older)).text()
        assert "no longer valid" not in html and len(rows_of(html)) == 10, html
        newer = link(html, "← Newer")  # made during the overlap: under the new key

    async with browser(rotated(old, new_key, keep_old=False), database_url, made_under_old) as stale:
        assert not await logged_in(stale)
    async with browser(rotated(old, new_key, keep_old=False), database_url, reissued) as after:
        assert await logged_in(after)
        assert "no longer valid" in await (await after.get(older)).text()
        assert newer and "no longer valid" not in await (await after.get(newer)).text()


async def test_an_api_cursor_made_under_the_old_key_is_followed_during_the_overlap_only(
    tmp_path: Path, database_url: str, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    for minute in range(3):
        await signal(db, alpha, datetime.now(UTC) - timedelta(minutes=minute), "602", zone="000")
    async with db.acquire() as connection:
        token = (await create_api_token(connection, name="cad", role="dispatcher")).secret
    bearer = {"Authorization": f"Bearer {token}"}
    old = portal_config(tmp_path)
    new_key = Fernet.generate_key().decode()

    async with browser(old, database_url, {}) as before:
        first = await (await before.client.get("/api/v1/signals?limit=1", headers=bearer)).json()
    cursor = first["next_after"]
    assert cursor

    for config, status in ((rotated(old, new_key, keep_old=True), 200), (rotated(old, new_key, keep_old=False), 400)):
        async with browser(config, database_url, {}) as client:
            answer = await client.client.get(f"/api/v1/signals?limit=1&after={cursor}", headers=bearer)
            assert answer.status == status, await answer.text()


def carrying(cookie: str) -> web.Request:
    return make_mocked_request("GET", "/", headers={"Cookie": f"{DEVICE_COOKIE}={cookie}"} if cookie else {})


def remembered(config: Config, user_id: int, cookie: str = "") -> str:
    """The device cookie a login of `user_id` sets under `config`, in a browser that held `cookie`."""
    response = web.Response()
    DeviceCookies(config).remember(carrying(cookie), response, user_id)
    return response.cookies[DEVICE_COOKIE].value


def test_a_device_cookie_made_under_the_old_key_is_recognised_during_the_overlap_only(tmp_path: Path) -> None:
    old = portal_config(tmp_path)
    new_key = Fernet.generate_key().decode()
    overlap, after = rotated(old, new_key, keep_old=True), rotated(old, new_key, keep_old=False)
    made_under_old = remembered(old, 7)
    device = DeviceCookies(old).device_of(carrying(made_under_old), 7)
    assert device is not None

    assert DeviceCookies(overlap).device_of(carrying(made_under_old), 7) == device
    assert DeviceCookies(after).device_of(carrying(made_under_old), 7) is None

    # Logging in during the overlap replaces the old key's entry (not a second one beside it), under the new key.
    reissued = remembered(overlap, 7, made_under_old)
    assert len(json.loads(device_keys(new_key)[0].decrypt(reissued.encode()))) == 1
    assert DeviceCookies(after).device_of(carrying(reissued), 7) not in (None, device)


def test_previous_keys_come_as_a_list_or_comma_separated_and_a_bad_one_is_named_by_position_only() -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    environ = {"ALARMHUB_PORTAL_SESSION_KEY": first, "ALARMHUB_PORTAL_SESSION_KEY_PREVIOUS": f"{second}, {first}"}
    config = load_config(None, environ=environ)
    assert config["portal.session_key_previous"] == (second, first)
    assert session_keys(config) == (first, second)  # the current key first, and once
    assert config.with_overrides(portal__session_key_previous=[second])["portal.session_key_previous"] == (second,)
    assert load_config(None, environ={})["portal.session_key_previous"] == ()
    secret_looking = "c2VjcmV0LWJ1dC10b28tc2hvcnQ="
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={"ALARMHUB_PORTAL_SESSION_KEY_PREVIOUS": f"{second},{secret_looking}"})
    assert caught.value.key == "portal.session_key_previous" and "key 2" in caught.value.reason
    assert secret_looking not in str(caught.value)
