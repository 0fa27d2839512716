"""Working a service request at the staff desk: the page with everything about it, take and release (one holder,
also when two staff take at the same moment), comments for the customer or internal, visits booked in the portal's
time zone, completion into the service history — and the customer record's service sections."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import ClientResponse

from shared.branding import Branding
from shared.config import Config
from shared.scope import CustomerScope
from shared.service.requests import submit_request
from tests.portal.conftest import Customer, Portal, mails_to, portal_config
from tests.portal.service_desk_setup import add_request, staff_id

ZONE = "America/Chicago"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The company's zone is not UTC, so a visit's time shows whether it was read in the zone."""
    return portal_config(tmp_path, portal__timezone=ZONE)


def today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


async def submitted(db: asyncpg.Pool, config: Config, customer: Customer, **changes: object) -> int:
    """A request for service as the customer's form submits it (the domain's own path, confirmation mail too)."""
    fields: dict[str, object] = {
        "kind": "service",
        "topic": "Battery replacement",
        "topics": config["service.service_topics"],
        "site_id": customer.site_id,
        "contact_name": "Alex Alpha",
        "contact_email": customer.owner_email,
        "contact_phone": "555-0142",
        "comments": "The keypad beeps every night.\nBattery low, I think.",
        "preferred_dates": [today() + timedelta(days=3), today() + timedelta(days=4)],
        "preferred_time": "morning",
        "submission_key": f"desk-{customer.account}-{changes.get('topic', 'battery')}",
        "response_promise": config["service.response_promise"],
        **changes,
    }
    async with db.acquire() as connection:
        scope = CustomerScope(customer.customer_id, customer.owner_id)
        return await submit_request(connection, scope, Branding.from_config(config), **fields)  # type: ignore[arg-type]


def page_of(request_id: int) -> str:
    return f"/staff/service/{request_id}"


async def post(portal: Portal, path: str, data: dict[str, str] | None = None) -> ClientResponse:
    """A form posted without following the redirect: 303 is success, anything else is the refusal's page."""
    return await portal.post(path, data or {}, allow_redirects=False)


async def test_the_page_shows_everything_about_the_request_and_a_take_button_while_nobody_holds_it(
    portal: Portal, db: asyncpg.Pool, config: Config, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await submitted(db, config, alpha)
    await db.execute(
        "INSERT INTO service_request_events (request_id, author_name, action, visibility, body) "
        "VALUES ($1, 'Dana Dispatch', 'comment', 'internal', 'Customer called twice about this')",
        request_id,
    )
    await portal.login("dispatcher@example.com")
    response = await portal.get(page_of(request_id))
    page = await response.text()
    assert response.status == 200
    assert f'Battery replacement <span class="muted">#{request_id}</span>' in page
    assert f'href="/staff/customers/{alpha.customer_id}">Customer alpha</a>' in page
    assert "Alex Alpha" in page and alpha.owner_email in page and "555-0142" in page
    assert "The keypad beeps every night.<br>Battery low, I think." in page
    assert (today() + timedelta(days=3)).isoformat() in page and "Morning" in page
    assert "alpha Street 1" in page
    assert "Customer called twice about this" in page and "Internal note" in page  # staff read internal notes
    assert "Nobody holds this request yet." in page and ">Take</button>" in page
    assert "Add comment" not in page and "Schedule the visit" not in page  # forms are the holder's
    # An id that is nobody's request is simply not found.
    assert (await portal.get(page_of(request_id + 1000))).status == 404
    assert (await post(portal, page_of(request_id + 1000) + "/take")).status == 404


async def test_the_holder_works_it_and_others_see_who_holds_it(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await add_request(db, alpha, minutes_ago=30)
    await portal.login("dispatcher@example.com")
    taken = await post(portal, page_of(request_id) + "/take")
    assert taken.status == 303 and taken.headers["Location"] == page_of(request_id)
    page = await (await portal.get(page_of(request_id))).text()
    assert "You hold this request now" in page and "You hold this request since" in page
    assert "Add comment" in page and "Schedule the visit" in page and "Complete the request" in page
    assert ">Release</button>" in page and ">Take</button>" not in page
    assert await db.fetchval("SELECT holder_id FROM service_requests WHERE id = $1", request_id) == await staff_id(
        db, "dispatcher@example.com"
    )

    await other_portal.login("admin@example.com")
    page = await (await other_portal.get(page_of(request_id))).text()
    assert "Held by dispatcher@example.com since" in page
    assert ">Take</button>" not in page and "Add comment" not in page and ">Release</button>" not in page
    # The forms are not shown, and posting them anyway is refused with the holder named, never a 500.
    refused = await post(other_portal, page_of(request_id) + "/take")
    assert refused.status == 409
    assert "dispatcher@example.com already holds this request" in await refused.text()
    refused = await post(other_portal, page_of(request_id) + "/comment", {"body": "Hi", "visibility": "customer"})
    assert refused.status == 409 and "only its holder works on it" in await refused.text()
    assert await db.fetchval("SELECT count(*) FROM service_request_events WHERE action = 'comment'") == 0

    released = await post(portal, page_of(request_id) + "/release")
    assert released.status == 303
    assert "back in the queue" in await (await portal.get(page_of(request_id))).text()
    assert await db.fetchval("SELECT holder_id FROM service_requests WHERE id = $1", request_id) is None
    assert (await post(other_portal, page_of(request_id) + "/take")).status == 303  # now the admin may
    actions = await db.fetch(
        "SELECT action, author_name, visibility FROM service_request_events WHERE request_id = $1 ORDER BY id",
        request_id,
    )
    assert [(r["action"], r["author_name"]) for r in actions][1:] == [
        ("taken", "dispatcher@example.com"),
        ("released", "dispatcher@example.com"),
        ("taken", "admin@example.com"),
    ]


async def test_two_staff_taking_one_request_at_the_same_moment_one_holds_it(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    _, beta = customers
    request_id = await add_request(db, beta, minutes_ago=5)
    await portal.login("dispatcher@example.com")
    await other_portal.login("admin@example.com")
    await portal.get(page_of(request_id))
    await other_portal.get(page_of(request_id))
    first, second = await asyncio.gather(
        post(portal, page_of(request_id) + "/take"), post(other_portal, page_of(request_id) + "/take")
    )
    assert sorted([first.status, second.status]) == [303, 409]
    winner, loser = ("dispatcher", second) if first.status == 303 else ("admin", first)
    holder = await db.fetchval(
        "SELECT u.email FROM service_requests r JOIN users u ON u.id = r.holder_id WHERE r.id = $1", request_id
    )
    assert holder == f"{winner}@example.com"
    text = await loser.text()
    assert f"{winner}@example.com already holds this request" in text
    assert f"Held by {winner}@example.com since" in text
    assert (
        await db.fetchval(
            "SELECT count(*) FROM service_request_events WHERE request_id = $1 AND action = 'taken'", request_id
        )
        == 1
    )


async def test_another_staff_member_takes_over_with_a_reason_the_timeline_keeps(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await add_request(db, alpha, minutes_ago=5)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, page_of(request_id) + "/take")).status == 303
    await other_portal.login("admin@example.com")
    page = await (await other_portal.get(page_of(request_id))).text()
    assert "Held by dispatcher@example.com" in page and "Take over" in page
    refused = await post(other_portal, page_of(request_id) + "/take-over", {"reason": ""})
    assert refused.status == 400 and "Say why you take it over" in await refused.text()
    taken = await post(other_portal, page_of(request_id) + "/take-over", {"reason": "Dispatcher is off sick"})
    assert taken.status == 303
    holder = await db.fetchval(
        "SELECT u.email FROM service_requests r JOIN users u ON u.id = r.holder_id WHERE r.id = $1", request_id
    )
    assert holder == "admin@example.com"
    last = await db.fetchrow(
        "SELECT action, visibility, author_name, body FROM service_request_events WHERE request_id = $1 "
        "ORDER BY id DESC LIMIT 1",
        request_id,
    )
    assert dict(last) == {
        "action": "taken",
        "visibility": "internal",
        "author_name": "admin@example.com",
        "body": "Taken over from dispatcher@example.com: Dispatcher is off sick",
    }
    # The former holder may no longer work it.
    answer = await post(portal, page_of(request_id) + "/comment", {"body": "On it", "visibility": "customer"})
    assert answer.status == 409


async def test_a_comment_for_the_customer_answers_and_is_mailed_an_internal_note_is_neither(
    portal: Portal, db: asyncpg.Pool, config: Config, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await submitted(db, config, alpha)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, page_of(request_id) + "/take")).status == 303
    mailed = len(await mails_to(db, alpha.owner_email))  # the confirmation of the request

    # Each field's error next to it; nothing stored.
    refused = await post(portal, page_of(request_id) + "/comment", {"body": "  ", "visibility": "everyone"})
    text = await refused.text()
    assert refused.status == 422
    assert 'id="f-body-error">Write the comment' in text
    assert 'id="f-visibility-error">Choose whether the customer may read it' in text

    note = await post(
        portal,
        page_of(request_id) + "/comment",
        {"body": "Ask the warehouse for a 12 V 7 Ah", "visibility": "internal"},
    )
    assert note.status == 303
    assert await db.fetchval("SELECT status FROM service_requests WHERE id = $1", request_id) == "open"
    assert len(await mails_to(db, alpha.owner_email)) == mailed

    answer = await post(
        portal,
        page_of(request_id) + "/comment",
        {"body": "We will replace the battery.\nPlease keep the keypad reachable.", "visibility": "customer"},
    )
    assert answer.status == 303
    assert await db.fetchval("SELECT status FROM service_requests WHERE id = $1", request_id) == "answered"
    mails = await mails_to(db, alpha.owner_email)
    assert len(mails) == mailed + 1 and "We will replace the battery." in mails[-1]["body"]
    assert "12 V 7 Ah" not in mails[-1]["body"]
    page = await (await portal.get(page_of(request_id))).text()
    assert "Your answer is added and e-mailed to the customer." in page
    assert "Ask the warehouse for a 12 V 7 Ah" in page and "Visible to the customer" in page

    # The customer's own view never holds the internal note.
    await portal.logout()
    await portal.login(alpha.owner_email)
    customer_page = await (await portal.get(f"/service/requests/{request_id}")).text()
    assert "We will replace the battery." in customer_page
    assert "12 V 7 Ah" not in customer_page
    visible = await db.fetch(
        "SELECT body FROM service_request_events WHERE request_id = $1 AND visibility = 'customer'", request_id
    )
    assert all("12 V 7 Ah" not in row["body"] for row in visible)
    assert (await portal.get(page_of(request_id))).status == 403


async def test_a_visit_is_booked_in_the_portals_time_zone_and_mailed(
    portal: Portal, db: asyncpg.Pool, config: Config, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    request_id = await submitted(db, config, alpha)
    await portal.login("dispatcher@example.com")
    await post(portal, page_of(request_id) + "/take")
    page = await (await portal.get(page_of(request_id))).text()
    first_choice = (today() + timedelta(days=3)).isoformat()
    assert f'id="f-visit_date" name="visit_date" type="date" value="{first_choice}"' in page  # the customer's day
    assert 'name="visit_time" type="time" value="09:00"' in page  # … and part of it

    schedule = page_of(request_id) + "/schedule"
    refused = await post(portal, schedule, {"visit_technician": "", "visit_date": "next friday", "visit_time": "9"})
    text = await refused.text()
    assert refused.status == 422
    assert 'id="f-visit_technician-error">Enter the technician' in text
    assert 'id="f-visit_date-error">Enter the date as YYYY-MM-DD' in text
    assert 'id="f-visit_time-error">Enter the time as HH:MM' in text
    yesterday = (today() - timedelta(days=1)).isoformat()
    refused = await post(portal, schedule, {"visit_technician": "Sam", "visit_date": yesterday, "visit_time": "10:00"})
    assert refused.status == 422 and "Choose today or a later day" in await refused.text()

    day = today() + timedelta(days=4)
    booked = await post(
        portal, schedule, {"visit_technician": "Sam Okafor", "visit_date": day.isoformat(), "visit_time": "14:30"}
    )
    assert booked.status == 303
    visit = await db.fetchrow("SELECT technician, scheduled_for FROM service_visits WHERE request_id = $1", request_id)
    assert visit["technician"] == "Sam Okafor"
    assert visit["scheduled_for"] == datetime(day.year, day.month, day.day, 14, 30, tzinfo=ZoneInfo(ZONE))
    assert await db.fetchval("SELECT status FROM service_requests WHERE id = $1", request_id) == "scheduled"
    mail = (await mails_to(db, alpha.owner_email))[-1]
    assert "Sam Okafor" in mail["body"] and "14:30" in mail["body"]
    page = await (await portal.get(page_of(request_id))).text()
    assert f"{day.isoformat()} 14:30" in page and "Sam Okafor" in page and "booked" in page
    assert 'name="technician" type="text" value="Sam Okafor"' in page  # the completion form suggests the technician
    # Another request's forms offer the technicians booked lately, so a name is written one way everywhere.
    other = await add_request(db, alpha, minutes_ago=1)
    await post(portal, page_of(other) + "/take")
    page = await (await portal.get(page_of(other))).text()
    assert '<datalist id="technicians"><option value="Sam Okafor"></datalist>' in page
    assert 'name="visit_technician" type="text" value="" maxlength="200" required list="technicians"' in page


async def test_completing_fills_the_service_history_and_mails_the_customer(
    portal: Portal, db: asyncpg.Pool, config: Config, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    request_id = await submitted(db, config, alpha)
    await portal.login("dispatcher@example.com")
    await post(portal, page_of(request_id) + "/take")
    complete = page_of(request_id) + "/complete"
    tomorrow = (today() + timedelta(days=1)).isoformat()
    refused = await post(portal, complete, {"performed_on": tomorrow, "technician": "", "work_performed": ""})
    text = await refused.text()
    assert refused.status == 422
    assert 'id="f-performed_on-error">The work cannot be dated after today' in text
    assert 'id="f-technician-error">Enter who performed the work' in text
    assert 'id="f-work_performed-error">Describe the work performed' in text
    assert 'name="visit_time" type="time" value="09:00"' in text  # the other forms keep their suggestions
    assert f'action="/staff/service/{request_id}/complete#complete-title"' in text  # lands on the refused form
    assert await db.fetchval("SELECT count(*) FROM service_history") == 0

    done = await post(
        portal,
        complete,
        {
            "performed_on": today().isoformat(),
            "technician": "Sam Okafor",
            "work_performed": "Replaced the panel battery (12 V 7 Ah).\nTested the siren.",
        },
    )
    assert done.status == 303
    entry = await db.fetchrow("SELECT * FROM service_history WHERE request_id = $1", request_id)
    assert entry["customer_id"] == alpha.customer_id and entry["site_id"] == alpha.site_id
    assert entry["performed_on"] == today() and entry["technician"] == "Sam Okafor"
    assert entry["work_performed"] == "Replaced the panel battery (12 V 7 Ah).\nTested the siren."
    row = await db.fetchrow("SELECT status, closed_at FROM service_requests WHERE id = $1", request_id)
    assert row["status"] == "completed" and row["closed_at"] is not None
    mail = (await mails_to(db, alpha.owner_email))[-1]
    assert "completed" in mail["subject"] and "Replaced the panel battery" in mail["body"]

    page = await (await portal.get(page_of(request_id))).text()
    assert "This request is completed" in page and "Complete the request" not in page and ">Take</button>" not in page
    again = await post(
        portal, complete, {"performed_on": today().isoformat(), "technician": "Sam", "work_performed": "Again"}
    )
    assert again.status == 409 and "nothing more can be done" in await again.text()
    assert await db.fetchval("SELECT count(*) FROM service_history") == 1

    # The customer's staff record: the request among the closed ones, the work in the service history.
    open_one = await add_request(db, alpha, minutes_ago=10, kind="inquiry", topic="Moving", with_site=False)
    beta_one = await add_request(db, beta, minutes_ago=10, topic="Inspection")
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    requests_part = record.split('id="service-requests"')[1].split("</section>")[0]
    history_part = record.split('id="service-history"')[1].split("</section>")[0]
    opened, closed = requests_part.split("Recently closed")
    assert f'href="/staff/service/{open_one}">Moving</a>' in opened and f"/staff/service/{request_id}" not in opened
    assert f'href="/staff/service/{request_id}">Battery replacement</a>' in closed
    assert f"/staff/service/{beta_one}" not in record and "Inspection" not in requests_part
    assert today().isoformat() in history_part and "Sam Okafor" in history_part
    assert "Replaced the panel battery (12 V 7 Ah).<br>Tested the siren." in history_part
    assert f'href="/staff/service/{request_id}">Battery replacement #{request_id}</a>' in history_part


async def test_customers_are_refused_every_desk_route(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    own = await add_request(db, alpha, minutes_ago=5, comments="our own request")
    others = await add_request(db, beta, minutes_ago=5, comments="their request")
    for email in (alpha.owner_email, alpha.secondary_email):
        await portal.login(email)
        for request_id in (own, others):
            assert (await portal.get(page_of(request_id))).status == 403
            for action in ("take", "release", "comment", "schedule", "complete"):
                form = {"body": "x", "visibility": "customer", "visit_technician": "x", "technician": "x"}
                assert (await post(portal, f"{page_of(request_id)}/{action}", form)).status == 403
        await portal.logout()
    assert await db.fetchval("SELECT count(*) FROM service_requests WHERE holder_id IS NOT NULL") == 0
    assert await db.fetchval("SELECT count(*) FROM service_request_events WHERE action <> 'submitted'") == 0
