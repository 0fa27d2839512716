"""General Inquiries and Request service in the portal: the forms pre-filled, errors next to their fields, one
request per form whatever the clicks, the confirmation's promise and its mail."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from tests.portal.conftest import Customer, Portal, mails_to
from tests.portal.service_setup import submission_key

INQUIRY = "/service/inquiry"
REQUEST = "/service/request"
PROMISE = "A customer service representative will be in touch within 24 to 48 hours to complete your request"


def inquiry_form(key: str, **overrides: str) -> dict[str, str]:
    return {
        "submission_key": key,
        "topic": "System trouble",
        "contact_name": "Pat Alpha",
        "contact_email": "pat@example.com",
        "contact_phone": "+1 555 0100",
        "comments": "The keypad beeps every minute.",
        **overrides,
    }


async def test_the_service_center_is_in_the_top_navigation_with_its_options(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    dashboard = await (await portal.get("/dashboard")).text()
    assert '<a href="/service">Service Center</a>' in dashboard
    page = await (await portal.get("/service")).text()
    for link in ("/service/inquiry", "/service/request", "/service/requests", "/service/history"):
        assert f'href="{link}"' in page
    assert "General Inquiries" in page and "Request service" in page and "Service history" in page


async def test_the_inquiry_form_offers_the_configured_issues_and_the_contact_on_file(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await db.execute("UPDATE customers SET phone = '+1 555 0142' WHERE id = $1", alpha.customer_id)
    await db.execute("UPDATE users SET name = 'Alex Owner' WHERE id = $1", alpha.owner_id)
    await portal.login(alpha.owner_email)
    page = await (await portal.get(INQUIRY)).text()
    assert '<label for="f-topic">Select an issue</label>' in page
    for topic in ("False alarm", "System trouble", "Billing question", "Moving", "Add equipment", "Cancel service"):
        assert f'<option value="{topic}">{topic}</option>' in page
    assert 'id="f-contact_name" name="contact_name" type="text" value="Alex Owner"' in page
    assert f'id="f-contact_email" name="contact_email" type="email" value="{alpha.owner_email}"' in page
    assert 'id="f-contact_phone" name="contact_phone" type="tel" value="+1 555 0142"' in page
    assert '<textarea id="f-comments" name="comments"' in page
    first_key = submission_key(page)
    assert submission_key(await (await portal.get(INQUIRY)).text()) != first_key  # a new key for each form


async def test_an_inquiry_is_confirmed_on_the_page_and_by_mail(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    key = submission_key(await (await portal.get(INQUIRY)).text())
    response = await portal.post(INQUIRY, inquiry_form(key))
    request_id = await db.fetchval("SELECT id FROM service_requests WHERE customer_id = $1", alpha.customer_id)
    assert response.status == 200
    assert response.url.path == f"/service/requests/{request_id}"
    page = await response.text()
    assert PROMISE in page
    # pat@example.com is nobody's address on file: the confirmation goes to the login that submitted.
    assert f"We e-mailed a confirmation to {alpha.owner_email}." in page
    assert "System trouble" in page and "Received" in page
    row = await db.fetchrow("SELECT * FROM service_requests WHERE id = $1", request_id)
    assert (row["kind"], row["topic"], row["contact_phone"], row["submitted_by"]) == (
        "inquiry",
        "System trouble",
        "+1 555 0100",
        alpha.owner_id,
    )
    assert await mails_to(db, "pat@example.com") == []
    mails = await mails_to(db, alpha.owner_email)
    assert len(mails) == 1
    assert PROMISE in mails[0]["body"]
    assert f"/service/requests/{request_id}" in mails[0]["body"]


async def test_a_double_submit_or_a_resent_form_stores_one_request_and_one_mail(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    key = submission_key(await (await portal.get(INQUIRY)).text())
    first = await portal.post(INQUIRY, inquiry_form(key))
    again = await portal.post(INQUIRY, inquiry_form(key))
    assert first.url.path == again.url.path
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 1
    assert len(await mails_to(db, alpha.owner_email)) == 1


async def test_every_wrong_field_is_shown_next_to_it_and_nothing_is_stored(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    key = submission_key(await (await portal.get(INQUIRY)).text())
    response = await portal.post(
        INQUIRY,
        inquiry_form(key, topic="", contact_name=" ", contact_email="pat-at-example", contact_phone="555\n0100"),
    )
    assert response.status == 422
    page = await response.text()
    assert '<p class="field__error" id="f-topic-error">Select an issue.</p>' in page
    assert '<p class="field__error" id="f-contact_name-error">Enter the name of the person to contact.</p>' in page
    assert 'id="f-contact_email-error">Enter an e-mail address like name@example.com</p>' in page
    assert 'id="f-contact_phone-error">Use letters, digits and punctuation only, on one line</p>' in page
    assert 'aria-describedby="f-contact_email-error" aria-invalid="true"' in page
    assert "The keypad beeps every minute." in page  # what was typed stays
    assert submission_key(page) == key  # the same form: a fixed resubmission is still one request
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE recipient = 'pat@example.com'") == 0


async def test_an_issue_not_in_the_list_is_refused_next_to_the_drop_down(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    key = submission_key(await (await portal.get(INQUIRY)).text())
    page = await (await portal.post(INQUIRY, inquiry_form(key, topic="Free pizza"))).text()
    assert 'id="f-topic-error">Select one of the issues in the list.</p>' in page
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 0


async def test_request_service_preselects_the_only_premises_and_keeps_dates_and_time(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get(REQUEST)).text()
    assert f'<option value="{alpha.site_id}" selected>Premises — alpha Street 1</option>' in page
    assert '<label for="f-preferred_date_1">First choice</label>' in page
    assert 'name="preferred_time" value="any" checked' in page
    day = date.today() + timedelta(days=2)
    response = await portal.post(
        REQUEST,
        inquiry_form(
            submission_key(page),
            topic="Repair",
            site_id=str(alpha.site_id),
            preferred_date_1=day.isoformat(),
            preferred_date_3=(day + timedelta(days=1)).isoformat(),
            preferred_time="afternoon",
        ),
    )
    row = await db.fetchrow("SELECT * FROM service_requests")
    assert response.url.path == f"/service/requests/{row['id']}"
    assert (row["kind"], row["site_id"], row["preferred_time"]) == ("service", alpha.site_id, "afternoon")
    assert row["preferred_dates"] == [day, day + timedelta(days=1)]
    page = await response.text()
    assert PROMISE in page and "Premises" in page and "Afternoon" in page


async def test_request_service_errors_by_field_and_another_customers_premises_refused(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    key = submission_key(await (await portal.get(REQUEST)).text())
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    page = await (
        await portal.post(REQUEST, inquiry_form(key, topic="Repair", site_id="", preferred_date_1=yesterday))
    ).text()
    assert 'id="f-site_id-error">Choose the premises the visit is for.</p>' in page
    assert 'id="f-preferred_dates-error">Choose days from today on.</p>' in page
    page = await (
        await portal.post(REQUEST, inquiry_form(key, topic="Repair", site_id="", preferred_date_1="24/12/2026"))
    ).text()
    assert 'id="f-preferred_dates-error">Enter each day as a date, e.g. 2026-12-24.</p>' in page
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    response = await portal.post(
        REQUEST, inquiry_form(key, topic="Repair", site_id=str(beta.site_id), preferred_date_1=tomorrow)
    )
    assert response.status == 400
    page = await response.text()
    assert 'id="f-site_id-error">Choose one of your premises.</p>' in page
    assert "beta Street 1" not in page
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 0


async def test_a_secondary_user_sends_a_request_for_the_account(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.secondary_email)
    page = await (await portal.get(INQUIRY)).text()
    assert f'value="{alpha.secondary_email}"' in page
    await portal.post(INQUIRY, inquiry_form(submission_key(page), contact_email=alpha.secondary_email))
    row = await db.fetchrow("SELECT customer_id, submitted_by FROM service_requests")
    assert (row["customer_id"], row["submitted_by"]) == (alpha.customer_id, alpha.secondary_id)
    owner_view = Portal(portal.client)
    await owner_view.logout()
    await owner_view.login(alpha.owner_email)
    assert "System trouble" in await (await owner_view.get("/service/requests")).text()


async def test_request_service_is_reachable_beside_the_payment_methods(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    """Seed 000: "click 'payment methods' … or click 'request service'"."""
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/billing/payment-methods")).text()
    assert '<a class="button button--quiet" href="/service/request">Request service</a>' in page
