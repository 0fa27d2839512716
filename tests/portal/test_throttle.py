"""Login throttling behind a shared address: guessing stays slow, yet one person cannot lock everyone out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from portal.accounts.devices import COOKIE, DeviceCookies
from portal.accounts.throttle import address_gap
from tests.portal.conftest import Customer, Portal, portal_config


@pytest_asyncio.fixture
async def guesser(app_client: TestClient[Any, Any]) -> AsyncIterator[Portal]:
    """A third browser on the same server — and, as every test client, at the same address (127.0.0.1)."""
    async with TestClient(app_client.server) as client:
        yield Portal(client)


async def known_browser_of(portal: Portal, email: str) -> None:
    """The account's owner logs in from this browser once (it gets the device cookie), then logs out."""
    assert (await portal.login(email)).url.path != "/login"
    await portal.logout()


async def test_behind_a_shared_address_one_guesser_locks_out_only_strangers_to_that_account(
    portal: Portal, other_portal: Portal, guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await known_browser_of(portal, alpha.owner_email)
    statuses = [(await guesser.login(alpha.owner_email, f"guess {n}")).status for n in range(30)]
    assert statuses == [400] * 5 + [429] * 25
    refused = await guesser.login(alpha.owner_email)  # even the right password, from a browser alpha never used
    assert refused.status == 429 and "wait 15 minutes" in await refused.text()
    for colleague in ("carol", "dave", "erin"):  # and colleagues who forgot theirs: 20 failures from the address
        for number in range(5):
            assert (await guesser.login(f"{colleague}@example.com", f"try {number}")).status == 400
    assert await db.fetchval("SELECT count(*) FROM auth_failures WHERE scope = 'address'") == 20

    # Beta's owner, at the same address and in a browser that never logged in: gets in.
    assert (await other_portal.login(beta.owner_email)).url.path == "/dashboard"
    # Staff at the same address too.
    await other_portal.logout()
    assert (await other_portal.login("dispatcher@example.com")).url.path == "/staff"
    # Alpha's owner in the browser they logged in from before: gets in, and starts with a clean slate.
    assert (await portal.login(alpha.owner_email)).url.path == "/dashboard"
    forgiven = "SELECT count(*) FROM auth_failures WHERE scope = 'account' AND subject = $1"
    assert await db.fetchval(forgiven, alpha.owner_email) == 0


async def test_a_device_cookie_gets_the_same_few_guesses_and_only_for_its_own_account(
    portal: Portal, guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await known_browser_of(portal, alpha.owner_email)
    for account in (alpha.owner_email, beta.owner_email):
        for number in range(5):
            assert (await guesser.login(account, f"guess {number}")).status == 400
    # The cookie is alpha's: at beta's locked account this browser is a stranger.
    assert (await portal.login(beta.owner_email)).status == 429
    # At alpha's it has guesses of its own (a stolen cookie), counted against it and not the address...
    for number in range(5):
        assert (await portal.login(alpha.owner_email, f"typo {number}")).status == 400
    devices = await db.fetch("SELECT subject, account FROM auth_failures WHERE scope = 'device'")
    assert len(devices) == 5 and len({row["subject"] for row in devices}) == 1
    assert len(devices[0]["subject"]) == 64 and devices[0]["account"] is None  # a SHA-256, never the id
    # ...and past them it is a stranger again, to an account that strangers have locked.
    assert (await portal.login(alpha.owner_email)).status == 429


async def test_a_tampered_or_foreign_device_cookie_exempts_nobody(
    portal: Portal, guesser: Portal, app_client: TestClient[Any, Any], customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await known_browser_of(portal, alpha.owner_email)
    cookie = next(c for c in portal.client.session.cookie_jar if c.key == COOKIE)
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and int(cookie["max-age"]) == 90 * 86400
    for number in range(5):
        assert (await guesser.login(alpha.owner_email, f"guess {number}")).status == 400
    tampered = cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB")
    guesser.client.session.cookie_jar.update_cookies({COOKIE: tampered})
    assert (await guesser.login(alpha.owner_email)).status == 429
    # A cookie the portal made with another key (another installation, or an old session key) is no better.
    async with TestClient(app_client.server) as client:
        stranger = Portal(client)
        client.session.cookie_jar.update_cookies({COOKIE: "gAAAAABm" + "x" * 100})
        assert (await stranger.login(alpha.owner_email)).status == 429


def test_the_device_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    for public_url, secure in (("", False), ("https://portal.example.com", True)):
        response = web.Response()
        devices = DeviceCookies(portal_config(tmp_path, portal__public_url=public_url))
        devices.remember(make_mocked_request("POST", "/login"), response, 7)
        cookie = response.cookies[COOKIE]
        assert bool(cookie["secure"]) is secure and cookie["httponly"] and cookie["samesite"] == "Strict"
        browser = make_mocked_request("POST", "/login", headers={"Cookie": f"{COOKIE}={cookie.value}"})
        assert devices.device_of(browser, 7) is not None
        assert devices.device_of(browser, 8) is None


async def test_an_address_failing_at_many_accounts_is_slowed_not_shut(
    portal: Portal, other_portal: Portal, guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await known_browser_of(portal, alpha.owner_email)
    for number in range(20):  # one guess each at many accounts, from one address: a password sprayer
        assert (await guesser.login(f"user{number}@example.com", "guess")).status == 400
    await db.execute("UPDATE auth_failures SET failed_at = now()")  # the gap counts from the last failure
    slowed = await guesser.login("user20@example.com", "guess")
    assert slowed.status == 429 and "wait 2 seconds" in await slowed.text()
    # A browser that logged in to its account before is not slowed.
    assert (await portal.login(alpha.owner_email)).url.path == "/dashboard"
    # A stranger's browser at the same address waits out the gap, then gets in with the right password.
    assert (await other_portal.login(beta.owner_email)).status == 429
    await db.execute("UPDATE auth_failures SET failed_at = failed_at - interval '3 seconds'")
    assert (await other_portal.login(beta.owner_email)).url.path == "/dashboard"
    # The sprayer's next account is checked after the gap; each further account doubles it.
    await db.execute("UPDATE auth_failures SET failed_at = failed_at - interval '3 seconds'")
    assert (await guesser.login("user20@example.com", "guess")).status == 400
    assert "wait 4 seconds" in await (await guesser.login("user21@example.com", "guess")).text()


async def test_one_person_failing_at_one_account_adds_one_account_to_the_address(
    other_portal: Portal, guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await db.execute(  # many failures at alpha from this address, over several windows' worth
        "INSERT INTO auth_failures (action, scope, subject, account) "
        "SELECT 'login', 'address', '127.0.0.1', $1 FROM generate_series(1, 100)",
        alpha.owner_email,
    )
    assert (await other_portal.login(beta.owner_email)).url.path == "/dashboard"


async def test_unknown_addresses_are_throttled_like_known_ones(
    guesser: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    for email in (alpha.owner_email, "nobody@example.com"):
        statuses = [(await guesser.login(email, f"guess {n}")).status for n in range(6)]
        assert statuses == [400] * 5 + [429]


def test_the_address_gap_doubles_from_two_seconds_to_a_minute() -> None:
    assert [address_gap(accounts, 20) for accounts in (0, 19, 20, 21, 22, 24, 25, 26, 10_000)] == [
        0.0,
        0.0,
        2.0,
        4.0,
        8.0,
        32.0,
        60.0,
        60.0,
        60.0,
    ]


async def test_another_spelling_of_a_locked_address_is_the_same_account(
    guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    """PostgreSQL's lower() folds "İ" to "i", Python's does not: the throttle counted "İris@…" as another account
    while the login's lookup found iris@… — five more guesses for each spelling, and a variant got in."""
    from shared.enrolment import create_staff_user
    from tests.portal.conftest import PASSWORD

    await skip_unless_the_database_folds_dotted_capital_i(db)
    async with db.acquire() as connection:
        await create_staff_user(connection, email="iris@example.com", password=PASSWORD, role="dispatcher")
    for n in range(5):
        assert (await guesser.login("iris@example.com", f"guess {n}")).status == 400
    for variant in ("İris@example.com", "IRIS@example.com", "irİs@example.com"):
        assert (await guesser.login(variant, "another guess")).status == 429, variant
        assert (await guesser.login(variant)).status == 429, variant  # the right password waits like any other


async def test_registration_guesses_from_one_address_stop_after_the_address_limit(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    """Security codes are guessed per account number: spreading guesses over many accounts must not multiply them."""
    from tests.portal.conftest import PASSWORD

    form = {"proof": "0000", "name": "Mallory", "email": "mallory@example.com"}
    form |= {"password": PASSWORD, "password_confirm": PASSWORD}
    statuses = []
    for number in range(25):
        account = f"ABC{number:03d}"
        statuses.append((await portal.post("/register", form | {"account": account})).status)
    assert statuses[:20] == [400] * 20 and statuses[20:] == [429] * 5


async def test_an_endless_e_mail_address_is_a_wrong_login_not_a_server_error(
    guesser: Portal, customers: tuple[Customer, Customer]
) -> None:
    response = await guesser.login("x" * 6000 + "@example.com", "whatever password")
    assert response.status == 400 and "the e-mail address or the password is wrong" in (await response.text()).lower()


async def skip_unless_the_database_folds_dotted_capital_i(db: asyncpg.Pool) -> None:
    """These cases need a database whose lower() folds "İ" (a UTF-8 locale); a C-locale one leaves it alone."""
    if await db.fetchval("SELECT lower('\u0130ris@example.com') <> 'iris@example.com'"):
        pytest.skip("this database's lower() does not fold İ (C locale): the spelling cases cannot arise")


async def test_a_device_cookie_vouches_only_for_the_login_it_was_earned_on(
    other_portal: Portal, guesser: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    """The cookie named its account by Python's lower(): an attacker's own login "i\u0307ris@" (another account to
    PostgreSQL) earned a cookie that Python matched to guesses typed "İris@" — which PostgreSQL folds to the
    victim's address. The victim's lock was bypassed, for ever (each login mints a fresh cookie)."""
    from shared.enrolment import create_staff_user
    from tests.portal.conftest import PASSWORD

    await skip_unless_the_database_folds_dotted_capital_i(db)
    attacker, attacker_password, variant = (
        "i\u0307ris@example.com",
        "attacker's own password 9",
        "\u0130ris@example.com",
    )
    async with db.acquire() as connection:
        await create_staff_user(connection, email="iris@example.com", password=PASSWORD, role="dispatcher")
        await create_staff_user(connection, email=attacker, password=attacker_password, role="dispatcher")
    for n in range(5):
        assert (await other_portal.login("iris@example.com", f"guess {n}")).status == 400
    assert (await other_portal.login("iris@example.com", "one more")).status == 429  # the victim is locked
    statuses = []
    for round_ in range(3):
        assert (await guesser.login(attacker, attacker_password)).url.path == "/staff"  # a fresh cookie
        await guesser.logout()
        for n in range(4):
            statuses.append((await guesser.login(variant, f"guess {round_}-{n}")).status)
    assert statuses == [429] * 12
    assert (await guesser.login(variant, PASSWORD)).status == 429
