"""Payment methods pages (C5): adding a card or bank account, each bad field by its input, default, removal, access."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import asyncpg

from portal.billing.methods import safe_next
from shared.billing.autopay import set_up_autopay
from shared.scope import CustomerScope
from tests.portal.conftest import Customer, Portal

METHODS = "/billing/payment-methods"
NEW = "/billing/payment-methods/new"
NEXT_YEAR = str(date.today().year + 3)


def card(customer: Customer, **changes: str) -> dict[str, str]:
    form = {
        "kind": "card",
        "card_number": "4242 4242 4242 4242",
        "exp_month": "12",
        "exp_year": NEXT_YEAR,
        "card_security_code": "737",
        "holder_name": "Alice Alpha",
        "address_choice": str(customer.site_id),
        "terms": "yes",
    }
    return {**form, **changes}


def bank(**changes: str) -> dict[str, str]:
    form = {
        "kind": "bank_account",
        "routing_number": "110000000",
        "account_number": "000123456789",
        "account_type": "checking",
        "holder_name": "Alice Alpha",
        "address_choice": "new",
        "billing_address": "1 Bank Road, Springfield IL 62701",
        "terms": "yes",
    }
    return {**form, **changes}


async def methods_of(db: asyncpg.Pool, customer: Customer) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT * FROM payment_methods WHERE customer_id = $1 ORDER BY id", customer.customer_id
    )
    return rows


def error_of(text: str, field: str) -> str:
    """The message shown next to `field` (its `f-<field>-error` paragraph), or ''."""
    match = re.search(rf'id="f-{field}(?:-card|-bank)?-error">([^<]*)<', text)
    return match.group(1) if match else ""


def input_value(text: str, field: str) -> str | None:
    """The value attribute of the input `f-<field>` ('' when it has none), or None when there is no such input."""
    tag = re.search(rf'<input id="f-{field}"[^>]*>', text)
    if tag is None:
        return None
    value = re.search(r' value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


async def test_the_add_form_offers_the_seed_steps_and_says_it_is_a_sandbox(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    listing = await (await portal.get(METHODS)).text()
    assert "Payment methods" in listing and "No payment method on file yet" in listing
    assert f'href="{NEW}"' in listing and "Add payment method" in listing
    # The seed: on payment methods "you can update your payment methods on file or click 'request service'".
    assert 'href="/service/request">Request service</a>' in listing
    page = await portal.get(NEW)
    text = await page.text()
    assert page.status == 200
    for words in (
        "Choose your payment type",
        "Choose the billing address",
        "I agree to the",
        "terms and conditions",
        "Make this my default",
        "Sandbox — no real money",
        "4242 4242 4242 4242",
        "000111111116",
        "alpha Street 1",
        "A different address",
    ):
        assert words in text, words
    assert 'autocomplete="cc-number"' in text and 'autocomplete="cc-csc"' in text and 'inputmode="numeric"' in text
    assert 'data-kind="card"' in text and 'data-kind="bank_account"' in text  # both parts, for browsers without JS
    assert 'value="card" checked' in text and f'value="{alpha.site_id}" checked' in text


async def test_add_a_card_keeps_only_the_token_brand_last_four_and_expiry(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    response = await portal.post(NEW, card(alpha))
    assert response.status == 200 and response.url.path == METHODS
    text = await response.text()
    assert "Your new payment method will be available next time you make a payment" in text
    assert "Visa ending in 4242" in text and ">default<" in text and "12/" + NEXT_YEAR in text
    [row] = await methods_of(db, alpha)
    assert (row["kind"], row["brand"], row["last4"], row["exp_month"], row["exp_year"]) == (
        "card",
        "Visa",
        "4242",
        12,
        int(NEXT_YEAR),
    )
    assert row["is_default"] and row["billing_address"] == "alpha Street 1" and row["holder_name"] == "Alice Alpha"
    assert row["added_by"] == alpha.owner_id and row["terms_accepted_at"] is not None
    assert "4242424242424242" not in str(dict(row)) and "737" not in str(dict(row))


async def test_add_a_bank_account_with_a_different_billing_address(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    assert (await portal.post(NEW, card(alpha))).url.path == METHODS
    response = await portal.post(NEW, bank(account_type="savings"))
    assert response.url.path == METHODS
    text = await response.text()
    assert "ending in 6789" in text
    card_row, bank_row = await methods_of(db, alpha)
    assert card_row["is_default"] and not bank_row["is_default"]  # not asked to be the default
    assert (bank_row["kind"], bank_row["last4"], bank_row["account_type"]) == ("bank_account", "6789", "savings")
    assert bank_row["billing_address"] == "1 Bank Road, Springfield IL 62701" and bank_row["exp_month"] is None
    assert "000123456789" not in str(dict(bank_row))


async def test_every_bad_card_field_is_shown_next_to_it_and_nothing_secret_comes_back(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    last_year = str(date.today().year - 1)
    response = await portal.post(
        NEW,
        card(alpha, card_number="4242 4242 4242 4241", exp_month="1", exp_year=last_year, card_security_code="98"),
    )
    assert response.status == 422
    text = await response.text()
    assert "not valid" in error_of(text, "card_number")
    assert "expired" in error_of(text, "exp_year")
    assert "3 digits" in error_of(text, "card_security_code")
    assert error_of(text, "holder_name") == "" and error_of(text, "terms") == ""
    assert "4241" not in text and 'value="98"' not in text  # neither the number nor the code is echoed
    assert input_value(text, "card_number") == "" and input_value(text, "card_security_code") == ""
    assert 'value="Alice Alpha"' in text  # what is not secret is kept, so only the wrong fields need retyping
    assert await methods_of(db, alpha) == []


async def test_every_bad_bank_field_is_shown_next_to_it_and_the_account_number_does_not_come_back(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    response = await portal.post(
        NEW, bank(routing_number="110000001", account_number="12", account_type="", billing_address="", terms="")
    )
    assert response.status == 422
    text = await response.text()
    assert "routing number is not valid" in error_of(text, "routing_number")
    assert "4 to 17 digits" in error_of(text, "account_number")
    assert "checking or savings" in error_of(text, "account_type")
    assert "billing address" in error_of(text, "billing_address")
    assert "terms and conditions" in error_of(text, "terms")
    assert input_value(text, "account_number") == "" and 'value="110000001"' in text
    assert await methods_of(db, alpha) == []


async def test_the_terms_must_be_accepted(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    form = card(alpha)
    del form["terms"]
    response = await portal.post(NEW, form)
    text = await response.text()
    assert response.status == 422 and "agree to the terms" in error_of(text, "terms")
    assert "4242424242424242" not in text and input_value(text, "card_number") == ""
    assert await methods_of(db, alpha) == []


async def test_the_sandbox_refuses_a_real_card_by_its_field(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    response = await portal.post(NEW, card(alpha, card_number="4111 1111 1111 1111"))
    text = await response.text()
    assert response.status == 400 and "sandbox takes only" in error_of(text, "card_number").lower()
    assert "1111" not in text.split('id="method-title"')[1].split("Terms and conditions")[0]
    assert await methods_of(db, alpha) == []


async def test_another_customers_premises_is_not_a_billing_address(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    response = await portal.post(NEW, card(alpha, address_choice=str(beta.site_id)))
    assert response.status == 422 and "billing address" in error_of(await response.text(), "address_choice")
    assert await methods_of(db, alpha) == []


async def test_after_adding_the_customer_goes_back_to_a_billing_page_only(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get(NEW + "?next=/billing/pay%3Finvoice_ids%3D7")).text()
    assert 'name="next" value="/billing/pay?invoice_ids=7"' in page
    back = await portal.post(NEW, {**card(alpha), "next": "/billing/pay?invoice_ids=7"}, allow_redirects=False)
    [row] = await methods_of(db, alpha)
    assert back.status == 303 and back.headers["Location"] == f"/billing/pay?invoice_ids=7&method_id={row['id']}"
    for target in ("https://evil.example/billing/", "//evil.example/billing/", "/billing/../admin", "/dashboard"):
        response = await portal.post(NEW, {**bank(), "next": target}, allow_redirects=False)
        assert response.headers["Location"] == METHODS, target
    hostile = await (await portal.get(NEW + "?next=//evil.example/billing/")).text()
    assert "evil.example" not in hostile
    echoed = await portal.post(NEW, {**bank(terms=""), "next": "javascript:alert(1)//billing/"})
    assert echoed.status == 422 and "javascript" not in await echoed.text()


async def test_default_and_removal_rules(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    await portal.post(NEW, card(alpha))
    await portal.post(NEW, {**bank(), "make_default": "yes"})
    card_row, bank_row = await methods_of(db, alpha)
    assert bank_row["is_default"] and not card_row["is_default"]  # asked to be the default

    made = await portal.post(f"{METHODS}/{card_row['id']}/default")
    assert made.url.path == METHODS and f"Visa ending in 4242 (expires 12/{NEXT_YEAR}) is now your default" in (
        await made.text()
    )
    card_row, bank_row = await methods_of(db, alpha)
    assert card_row["is_default"] and not bank_row["is_default"]

    # Autopay drafts from the bank account: it cannot be removed while autopay uses it.
    async with db.acquire() as connection:
        scope = CustomerScope(alpha.customer_id, alpha.owner_id)
        await set_up_autopay(connection, scope, method_id=bank_row["id"], draft_day=5, today=date.today())
    listing = await (await portal.get(METHODS)).text()
    assert "used by Autopay" in listing
    refused = await portal.post(f"{METHODS}/{bank_row['id']}/remove")
    assert refused.status == 409 and "autopay" in (await refused.text()).lower()
    assert (await methods_of(db, alpha))[1]["removed_at"] is None

    # Removing the default passes the default on to what remains.
    removed = await portal.post(f"{METHODS}/{card_row['id']}/remove")
    text = await removed.text()
    assert removed.url.path == METHODS and f"Visa ending in 4242 (expires 12/{NEXT_YEAR}) is removed" in text
    card_row, bank_row = await methods_of(db, alpha)
    assert card_row["removed_at"] is not None and not card_row["is_default"] and bank_row["is_default"]
    assert "Visa ending in 4242" not in text.split("is removed")[1]
    assert (await portal.post(f"{METHODS}/{card_row['id']}/default")).status == 404  # removed: gone


async def test_another_customers_method_is_not_found(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    await portal.post(NEW, card(alpha))
    [row] = await methods_of(db, alpha)
    await other_portal.login(beta.owner_email)
    for action in ("default", "remove"):
        assert (await other_portal.post(f"{METHODS}/{row['id']}/{action}")).status == 404
    assert "4242" not in await (await other_portal.get(METHODS)).text()
    [row] = await methods_of(db, alpha)
    assert row["removed_at"] is None and row["is_default"]


async def grant(owner: Portal, secondary_id: int, *permissions: str) -> None:
    await owner.get("/users")
    response = await owner.post(f"/users/{secondary_id}/permissions", {"permissions": list(permissions)})
    assert response.status == 200


async def test_a_secondary_user_without_the_grant_sees_the_methods_but_cannot_change_them(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    await portal.post(NEW, card(alpha))
    [row] = await methods_of(db, alpha)

    secondary = other_portal
    await secondary.login(alpha.secondary_email)
    text = await (await secondary.get(METHODS)).text()
    assert "Visa ending in 4242" in text and "Autopay: off" in text
    for button in ("Add payment method", "Set as default", ">Remove<", "/remove", "/default"):
        assert button not in text, button
    assert "Only the account owner" in text
    assert (await secondary.get(NEW)).status == 403
    posts: list[tuple[str, dict[str, Any]]] = [
        (NEW, card(alpha)),
        (f"{METHODS}/{row['id']}/default", {}),
        (f"{METHODS}/{row['id']}/remove", {}),
        ("/billing/autopay", {"method_id": str(row["id"]), "draft_day": "3"}),
        ("/billing/autopay/cancel", {}),
    ]
    for path, form in posts:
        assert (await secondary.post(path, form)).status == 403, path
    assert len(await methods_of(db, alpha)) == 1 and (await methods_of(db, alpha))[0]["removed_at"] is None
    assert await db.fetchval("SELECT count(*) FROM autopay WHERE customer_id = $1", alpha.customer_id) == 0

    # The owner grants it: now the secondary user can add and remove.
    await grant(portal, alpha.secondary_id, "manage_payment_methods")
    text = await (await secondary.get(METHODS)).text()
    assert "Add payment method" in text and "/remove" in text
    await secondary.get(NEW)
    added = await secondary.post(NEW, bank())
    assert added.url.path == METHODS and "ending in 6789" in await added.text()
    assert (await secondary.post(f"{METHODS}/{row['id']}/remove")).url.path == METHODS
    card_row, bank_row = await methods_of(db, alpha)
    assert card_row["removed_at"] is not None and bank_row["added_by"] == alpha.secondary_id


async def test_an_expired_card_is_marked_and_cannot_become_the_default(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    await portal.post(NEW, card(alpha))
    await portal.post(NEW, bank())
    card_row, bank_row = await methods_of(db, alpha)
    # Cards expire while on file: the row is as it was entered years ago.
    await db.execute("UPDATE payment_methods SET exp_year = 2020 WHERE id = $1", card_row["id"])
    await db.execute("UPDATE payment_methods SET is_default = false WHERE customer_id = $1", alpha.customer_id)
    await db.execute("UPDATE payment_methods SET is_default = true WHERE id = $1", bank_row["id"])
    text = await (await portal.get(METHODS)).text()
    card_line = text.split("Visa ending in 4242")[1].split("</tr>")[0]
    assert ">expired<" in card_line and "Set as default" not in card_line
    refused = await portal.post(f"{METHODS}/{card_row['id']}/default")
    assert refused.status == 400 and "has expired" in await refused.text()
    assert not (await methods_of(db, alpha))[0]["is_default"]
    autopay = await portal.post("/billing/autopay", {"method_id": str(card_row["id"]), "draft_day": "4"})
    assert autopay.status == 400 and "expired" in error_of(await autopay.text(), "method_id")
    assert await db.fetchval("SELECT count(*) FROM autopay WHERE customer_id = $1", alpha.customer_id) == 0


async def test_without_the_script_both_parts_are_sent_and_the_chosen_one_counts(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.get(NEW)
    # A browser without JavaScript sends every input: the card part's (empty) name first, then the bank part's.
    form: dict[str, Any] = {**bank(), "card_number": "", "card_security_code": "", "holder_name": ["", "Bo Bank"]}
    response = await portal.post(NEW, form)
    assert response.url.path == METHODS
    [row] = await methods_of(db, alpha)
    assert (row["kind"], row["holder_name"]) == ("bank_account", "Bo Bank")
    refused = await portal.post(NEW, {**card(alpha), "holder_name": ["", "Bo Bank"]})
    assert refused.status == 422 and "name" in error_of(await refused.text(), "holder_name")


def test_next_is_a_billing_path_of_this_site_only() -> None:
    assert safe_next("/billing/pay?invoice_ids=1&invoice_ids=2") == "/billing/pay?invoice_ids=1&invoice_ids=2"
    assert safe_next("/billing/autopay") == "/billing/autopay"
    for hostile in (
        "https://evil.example/billing/",
        "//evil.example/billing/",
        "/billing//evil.example",
        "/billing/../admin",
        "/billing/%2e%2e/admin",
        "/billing/..?x",
        "/billing/\\evil",
        "/billing/ x",
        "/dashboard",
        "javascript:alert(1)//billing/",
    ):
        assert safe_next(hostile) is None, hostile
