"""Accounts: register with a proof of ownership, confirm, log in and out, change and reset the password."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.portal.conftest import PASSWORD, Customer, Portal, link_in, mails_to

NEW_PASSWORD = "a different long secret"


async def test_register_with_the_security_code_logs_in_and_sends_a_confirmation(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await db.execute("UPDATE users SET password_hash = NULL WHERE id = $1", alpha.owner_id)  # enrolled by staff
    page = await portal.get("/register")
    text = await page.text()
    assert "Security system code" in text and "monitoring agreement" in text
    assert "invoice" not in text.lower().split("account number")[0]  # no invoice path until invoices exist
    response = await portal.post(
        "/register",
        {
            "account": alpha.account.lower(),
            "proof_method": "security_code",
            "proof": alpha.security_code,
            "name": "Alice Alpha",
            "email": "alice@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert response.status == 200 and response.url.path == "/dashboard"
    assert "Customer alpha" in await response.text()
    [mail] = await mails_to(db, "alice@example.com")
    assert mail["status"] == "pending" and "Confirm" in mail["subject"]
    owner = await db.fetchrow("SELECT email, email_confirmed_at FROM users WHERE id = $1", alpha.owner_id)
    assert owner["email"] == "alice@example.com" and owner["email_confirmed_at"] is None

    link = link_in(mail["body"])
    page = await portal.get(link)
    assert "alice@example.com" in await page.text()
    assert await db.fetchval("SELECT email_confirmed_at FROM users WHERE id = $1", alpha.owner_id) is None
    confirmed = await portal.post(link)
    assert confirmed.url.path == "/dashboard" and "is confirmed" in await confirmed.text()
    assert await db.fetchval("SELECT email_confirmed_at FROM users WHERE id = $1", alpha.owner_id) is not None
    assert (await portal.post(link)).status == 404  # used once


async def test_register_refuses_a_wrong_code_an_unknown_account_and_a_second_registration(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    form = {
        "account": alpha.account,
        "proof": "wrong",
        "name": "Mallory",
        "email": "mallory@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    wrong = await portal.post("/register", form)
    assert wrong.status == 400
    text = await wrong.text()
    assert "do not match our records" in text and 'id="f-proof-error"' in text
    assert 'value="mallory@example.com"' in text and PASSWORD not in text  # the form keeps what it may
    unknown = await portal.post("/register", {**form, "account": "FFF999"})
    assert "do not match our records" in await unknown.text()
    again = await portal.post("/register", {**form, "proof": alpha.security_code})
    assert again.status == 409 and "registered already" in await again.text()
    weak = await portal.post(
        "/register", {**form, "account": beta.account, "password": "short", "password_confirm": "x"}
    )
    assert weak.status == 422 and 'id="f-password-error"' in await weak.text()
    assert await mails_to(db, "mallory@example.com") == []


async def test_guessing_security_codes_is_throttled(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    form = {"account": alpha.account, "proof": "0000", "name": "M", "email": "m@example.com"}
    form |= {"password": PASSWORD, "password_confirm": PASSWORD}
    for _ in range(5):
        assert (await portal.post("/register", form)).status == 400
    blocked = await portal.post("/register", {**form, "proof": alpha.security_code})
    assert blocked.status == 429 and "too many attempts" in (await blocked.text()).lower()


async def test_login_and_logout_end_the_session_on_the_server(
    portal: Portal, app_client, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    response = await portal.login(alpha.owner_email)
    assert response.url.path == "/dashboard"
    cookies = {cookie.key: cookie.value for cookie in app_client.session.cookie_jar}
    await portal.logout()
    assert (await portal.get("/dashboard")).url.path == "/login"
    # The cookie from before the logout, replayed: the server has revoked its session.
    app_client.session.cookie_jar.update_cookies(cookies)
    replay = await portal.get("/dashboard")
    assert replay.url.path == "/login"


async def test_login_refuses_wrong_passwords_without_saying_which_part_was_wrong(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    wrong = await portal.login(alpha.owner_email, "not the password")
    unknown = await portal.login("nobody@example.com", "not the password")
    assert wrong.status == unknown.status == 400
    assert "e-mail address or the password is wrong" in await wrong.text()
    assert (await portal.get("/dashboard")).url.path == "/login"


async def test_login_throttling_engages_per_account_and_releases(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    for _ in range(5):
        assert (await portal.login(alpha.owner_email, "guess")).status == 400
    blocked = await portal.login(alpha.owner_email)  # even the right password waits, from a browser never used
    assert blocked.status == 429 and "wait 15 minutes" in await blocked.text()
    # Time passes: the failures leave the window.
    await db.execute("UPDATE auth_failures SET failed_at = failed_at - interval '16 minutes'")
    assert (await portal.login(alpha.owner_email)).url.path == "/dashboard"


async def test_login_throttling_slows_an_address_but_never_shuts_it(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    for number in range(20):  # one guess each at many accounts, from one address
        assert (await portal.login(f"user{number}@example.com", "guess")).status == 400
    await db.execute("UPDATE auth_failures SET failed_at = now()")  # however slow this machine was meanwhile
    slowed = await portal.login(alpha.owner_email)
    assert slowed.status == 429 and "wait 2 seconds" in await slowed.text()
    # Two seconds later the right password gets in: a shared address is slowed, not refused for 15 minutes.
    await db.execute("UPDATE auth_failures SET failed_at = failed_at - interval '3 seconds'")
    assert (await portal.login(alpha.owner_email)).url.path == "/dashboard"


async def test_change_password_ends_the_other_sessions(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await other_portal.login(alpha.owner_email)
    mismatch = await portal.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": "typo"},
    )
    assert mismatch.status == 422 and 'id="f-new_password_confirm-error"' in await mismatch.text()
    wrong = await portal.post(
        "/account/password",
        {"current_password": "nope", "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert wrong.status == 400 and 'id="f-current_password-error"' in await wrong.text()
    changed = await portal.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert changed.url.path == "/account" and "password is changed" in await changed.text()
    assert (await portal.get("/dashboard")).url.path == "/dashboard"  # this browser stays logged in
    assert (await other_portal.get("/dashboard")).url.path == "/login"  # the session from before is refused
    assert (await other_portal.login(alpha.owner_email, NEW_PASSWORD)).url.path == "/dashboard"
    assert [m["subject"] for m in await mails_to(db, alpha.owner_email)][-1].endswith("password was changed")


async def test_forgot_password_mails_a_single_use_link_and_ends_every_session(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await other_portal.login(alpha.owner_email)
    known = await portal.post("/password/forgot", {"email": alpha.owner_email.upper()})
    unknown = await portal.post("/password/forgot", {"email": "nobody@example.com"})
    assert "If OWNER-ALPHA@EXAMPLE.COM has a login" in await known.text()
    assert "If nobody@example.com has a login" in await unknown.text()  # the same answer, no mail
    assert await mails_to(db, "nobody@example.com") == []
    [mail] = await mails_to(db, alpha.owner_email)
    assert "Complete your request" in mail["subject"]
    link = link_in(mail["body"])
    token = link.rsplit("/", 1)[1]
    assert (
        await db.fetchval("SELECT count(*) FROM user_tokens WHERE token_hash = sha256($1::bytea)", token.encode()) == 1
    )
    assert token.encode() not in b"".join(r["token_hash"] for r in await db.fetch("SELECT token_hash FROM user_tokens"))

    page = await portal.get(link)
    assert page.status == 200 and "Reset password" in await page.text()
    weak = await portal.post(link, {"password": "weak", "password_confirm": "weak"})
    assert weak.status == 422  # a refused password leaves the link usable
    done = await portal.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.url.path == "/login" and "password is reset" in await done.text()
    assert (await other_portal.get("/dashboard")).url.path == "/login"  # every other session ended
    assert (await portal.login(alpha.owner_email, NEW_PASSWORD)).url.path == "/dashboard"

    reused = await portal.post(link, {"password": "yet another long one", "password_confirm": "yet another long one"})
    assert reused.status == 404 and "not valid any more" in await reused.text()
    assert (await portal.get(link)).status == 404


async def test_reset_links_that_expired_were_altered_or_superseded_are_refused(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.post("/password/forgot", {"email": alpha.owner_email})
    await portal.post("/password/forgot", {"email": alpha.owner_email})
    first, second = (link_in(m["body"]) for m in await mails_to(db, alpha.owner_email))
    assert (await portal.get(first)).status == 404  # superseded by the newer mail
    tampered = second[:-1] + ("A" if second[-1] != "A" else "B")
    assert (await portal.get(tampered)).status == 404
    form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    assert (await portal.post(tampered, form)).status == 404
    await db.execute("UPDATE user_tokens SET expires_at = now() - interval '1 second'")
    assert (await portal.get(second)).status == 404
    assert (await portal.post(second, form)).status == 404
    assert (await portal.login(alpha.owner_email)).url.path == "/dashboard"  # the password never changed


async def test_the_front_door_sends_each_role_home(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    assert (await portal.get("/")).url.path == "/login"
    await portal.login(alpha.owner_email)
    assert (await portal.get("/")).url.path == "/dashboard"
    assert (await portal.get("/login")).url.path == "/dashboard"
    await portal.logout()
    await portal.login("dispatcher@example.com")
    assert (await portal.get("/")).url.path == "/staff"


async def test_login_returns_to_the_page_asked_for_but_never_off_site(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    bounced = await portal.get("/users")
    assert bounced.url.path == "/login" and bounced.url.query["next"] == "/users"
    response = await portal.post("/login", {"email": alpha.owner_email, "password": PASSWORD, "next": "/users"})
    assert response.url.path == "/users"
    await portal.logout()
    response = await portal.post(
        "/login", {"email": alpha.owner_email, "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response.url.path == "/dashboard" and response.url.host == "127.0.0.1"
    # Tabs and line breaks vanish when the Location header is built: "/\t/evil" would become "//evil".
    for target in ("/\t/evil.example/phish", "/\n/evil.example/phish", "/\r\n/evil.example", "/%0a", "/\x7f/x"):
        await portal.logout()
        await portal.get("/login")
        response = await portal.post(
            "/login", {"email": alpha.owner_email, "password": PASSWORD, "next": target}, allow_redirects=False
        )
        assert response.status == 303, target
        location = response.headers["Location"]
        assert location.lower() in ("/dashboard", "/%0a"), (target, location)


async def test_registering_refuses_a_name_with_a_line_break_next_to_the_field(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await db.execute("UPDATE users SET password_hash = NULL WHERE id = $1", alpha.owner_id)
    form = {"account": alpha.account, "proof": alpha.security_code, "name": "Eve\r\nX", "email": "eve@example.com"}
    refused = await portal.post("/register", form | {"password": PASSWORD, "password_confirm": PASSWORD})
    assert refused.status == 422 and 'id="f-name-error"' in await refused.text()
    assert await mails_to(db, "eve@example.com") == []


async def test_parallel_login_guesses_get_no_more_tries_than_the_limit(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.get("/login")

    async def guess(number: int) -> int:
        form = {"email": alpha.owner_email, "password": f"guess {number}", "csrf_token": portal.csrf}
        return (await portal.client.post("/login", data=form, allow_redirects=False)).status

    statuses = await asyncio.gather(*(guess(number) for number in range(30)))
    assert statuses.count(400) == 5 and statuses.count(429) == 25  # the limit is 5 per account
    assert await db.fetchval("SELECT count(*) FROM auth_failures WHERE scope = 'account'") == 5


async def test_parallel_security_code_guesses_get_no_more_tries_than_the_limit(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.get("/register")

    async def guess(number: int) -> int:
        form = {"account": alpha.account, "proof": f"{number:04}", "name": "M", "email": "m@example.com"}
        form |= {"password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": portal.csrf}
        return (await portal.client.post("/register", data=form, allow_redirects=False)).status

    statuses = await asyncio.gather(*(guess(number) for number in range(30)))
    assert statuses.count(400) == 5 and statuses.count(429) == 25


async def test_parallel_guesses_at_the_current_password_get_no_more_tries_than_the_limit(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get("/account")

    async def guess(number: int) -> int:
        form = {"current_password": f"guess {number}", "new_password": NEW_PASSWORD}
        form |= {"new_password_confirm": NEW_PASSWORD, "csrf_token": portal.csrf}
        return (await portal.client.post("/account/password", data=form, allow_redirects=False)).status

    statuses = await asyncio.gather(*(guess(number) for number in range(30)))
    assert statuses.count(400) == 5 and statuses.count(429) == 25


async def test_one_password_policy_for_the_admin_page_registration_reset_and_change(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    weak = "Password2024!"  # long enough and varied, but a common word: /admin/staff took it before
    await portal.login("admin@example.com")
    staff = await portal.post("/admin/staff", {"email": "carol@example.com", "role": "dispatcher", "password": weak})
    assert staff.status == 400 and 'id="f-password-error"' in await staff.text() and "too easy" in await staff.text()
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = 'carol@example.com'") == 0
    await portal.logout()

    await db.execute("UPDATE users SET password_hash = NULL WHERE id = $1", beta.owner_id)
    form = {"account": beta.account, "proof": beta.security_code, "name": "Bea", "email": "bea@example.com"}
    registered = await portal.post("/register", form | {"password": weak, "password_confirm": weak})
    assert registered.status == 422 and "too easy" in await registered.text()

    await portal.post("/password/forgot", {"email": alpha.owner_email})
    [mail] = await mails_to(db, alpha.owner_email)
    reset = await portal.post(link_in(mail["body"]), {"password": weak, "password_confirm": weak})
    assert reset.status == 422 and "too easy" in await reset.text()

    await portal.login(alpha.owner_email)
    changed = await portal.post(
        "/account/password", {"current_password": PASSWORD, "new_password": weak, "new_password_confirm": weak}
    )
    assert changed.status == 422 and 'id="f-new_password-error"' in await changed.text()
