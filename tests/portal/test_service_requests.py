"""My requests, one request's timeline, Service history and the dashboard's tab and card: the customer sees every
answer but never staff's internal notes, and another customer's request is not found."""

from __future__ import annotations

import asyncpg
import pytest

from tests.portal.conftest import Customer, Portal
from tests.portal.service_setup import inquiry, staff_answers

NOTE = "Internal: customer was rude on the phone, check the billing dispute first."
ANSWER = "We found a loose contact on the back door; a technician can fix it."


async def test_my_requests_lists_each_request_newest_first_with_its_state(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    older = await inquiry(db, alpha, "k1", topic="False alarm")
    newer = await inquiry(db, alpha, "k2", topic="Billing question")
    await inquiry(db, beta, "k3", topic="Moving")
    await staff_answers(db, alpha, older, note=NOTE, answer=ANSWER)
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/service/requests")).text()
    assert page.index(f"#{newer}") < page.index(f"#{older}")
    row_of_older = page[page.index(f'href="/service/requests/{older}"') :].split("</tr>")[0]
    assert "False alarm" in row_of_older and "Answered" in row_of_older
    row_of_newer = page[page.index(f'href="/service/requests/{newer}"') :].split("</tr>")[0]
    assert "Billing question" in row_of_newer and "Received" in row_of_newer
    assert "Moving" not in page


async def test_a_request_shows_every_answer_and_never_an_internal_note(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await inquiry(db, alpha, "k1")
    await staff_answers(db, alpha, request_id, note=NOTE, answer=ANSWER, work="Tightened the back door contact.")
    for email in (alpha.owner_email, alpha.secondary_email):
        viewer = Portal(portal.client)
        await viewer.logout()
        await viewer.login(email)
        page = await (await viewer.get(f"/service/requests/{request_id}")).text()
        assert ANSWER in page
        assert "Tightened the back door contact." in page
        # A staff member without a name on file is the service desk to customers, never their login e-mail.
        assert "Completed" in page and "Service desk" in page
        assert "dispatcher@example.com" not in page and "Dana Dispatcher" not in page
        assert "Siren at 3 am." in page
        assert NOTE not in page and "rude" not in page
        assert "Taken" not in page  # who picked it up from the queue is staff's business
    history = await (await portal.get("/service/history")).text()
    assert "Tightened the back door contact." in history
    assert "Sam Tech" in history
    assert f'<a href="/service/requests/{request_id}">#{request_id}</a> False alarm' in history


@pytest.mark.parametrize("who", ["owner", "secondary"])
async def test_another_customers_request_is_not_found(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer], who: str
) -> None:
    alpha, beta = customers
    theirs = await inquiry(db, alpha, "k1")
    await staff_answers(db, alpha, theirs, note=NOTE, answer=ANSWER)
    await portal.login(beta.owner_email if who == "owner" else beta.secondary_email)
    response = await portal.get(f"/service/requests/{theirs}")
    assert response.status == 404
    page = await response.text()
    assert ANSWER not in page and "Siren" not in page
    assert (await portal.get(f"/service/requests/{theirs}?sent=1")).status == 404
    assert (await portal.get("/service/requests/99999999")).status == 404
    assert (await portal.get("/service/requests/0")).status == 404


async def test_the_dashboard_has_the_service_history_tab_and_the_open_requests_card(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    done = await inquiry(db, alpha, "k1", topic="False alarm")
    await staff_answers(db, alpha, done, note=NOTE, answer=ANSWER, work="Replaced the siren's battery.")
    still_open = await inquiry(db, alpha, "k2", topic="Add equipment")
    await inquiry(db, beta, "k3", topic="Cancel service")
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/dashboard")).text()
    card = page[page.index('id="service-requests-title"') :].split("</section>")[0]
    assert f'<a href="/service/requests/{still_open}">#{still_open} Add equipment</a>' in card
    assert "Received" in card
    assert f"#{done} " not in card  # completed: no longer open
    assert "Cancel service" not in page
    assert '<a href="/dashboard?tab=service-history">Service history</a>' in page
    tab = await (await portal.get("/dashboard?tab=service-history")).text()
    panel = tab[tab.index('class="tabs__panel"') :]
    assert "Replaced the siren&#39;s battery." in panel
    assert '<a href="/service/history">All service history</a>' in panel


async def test_pages_before_any_request_say_so(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    await portal.login(alpha.secondary_email)
    assert "You have not sent a request yet." in await (await portal.get("/service/requests")).text()
    assert "No service calls yet." in await (await portal.get("/service/history")).text()
    assert "You have no open requests." in await (await portal.get("/service")).text()
    page = await (await portal.get("/dashboard")).text()
    assert "No open requests." in page


async def test_staff_and_visitors_do_not_reach_the_customers_service_pages(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    for path in ("/service", "/service/inquiry", "/service/request", "/service/requests", "/service/history"):
        response = await portal.get(path, allow_redirects=False)
        assert response.status in (302, 303) and "/login" in response.headers["Location"], path
    await portal.login("dispatcher@example.com")
    for path in ("/service", "/service/inquiry", "/service/requests"):
        assert (await portal.get(path)).status in (403, 404), path
