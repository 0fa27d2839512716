"""The dispatcher's incident page over HTTP on a real database: who may open it (staff with take_incidents; customers
and their secondary users 403), everything about the incident on one page, one holder when two dispatchers take at
once (the other is told who), take over, CSRF, each refused field shown next to it in its own form, and the whole
handling from take to close, each step in the trail."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import asyncpg
import pytest_asyncio
from aiohttp import ClientResponse

from shared.enrolment import create_staff_user
from shared.incidents.model import IncidentKind
from shared.incidents.queries import join_incident
from tests.portal.conftest import PASSWORD, Customer, Portal, enrol
from tests.portal.dispatch.incidents import (
    PASSCODE,
    alarm_incident,
    contact,
    incident,
    set_passcode,
    signal,
)


def page_of(incident_id: int) -> str:
    return f"/dispatch/incidents/{incident_id}"


async def post(portal: Portal, path: str, data: dict[str, str] | None = None, **kw: object) -> ClientResponse:
    """A form posted without following the redirect: 303 is success, anything else is the refusal's page."""
    return await portal.post(path, data or {}, allow_redirects=False, **kw)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def second_dispatcher(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> str:
    async with db.acquire() as connection:
        await create_staff_user(connection, email="dispatcher2@example.com", password=PASSWORD, role="dispatcher")
        await connection.execute("UPDATE users SET name = 'Eli Second' WHERE email = 'dispatcher2@example.com'")
    return "dispatcher2@example.com"


async def test_customers_and_secondary_users_get_403_and_strangers_the_login(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    actions = ["take", "take-over", "release", "call", "note", "dispatch", "hold", "close", "attach"]
    anonymous = await portal.get(page_of(incident_id), allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/login")
    for email in (alpha.owner_email, alpha.secondary_email):  # even the incident's own customer
        await portal.login(email)
        assert (await portal.get(page_of(incident_id))).status == 403
        for action in actions:
            assert (await post(portal, f"{page_of(incident_id)}/{action}")).status == 403, action
        await portal.logout()
    assert await db.fetchval("SELECT holder_id FROM incidents WHERE id = $1", incident_id) is None
    assert await db.fetchval("SELECT count(*) FROM incident_actions WHERE kind <> 'opened'") == 0


async def test_the_page_tells_the_whole_story_and_offers_take_while_nobody_holds_it(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        await connection.execute(
            "UPDATE sites SET name = 'Alpha Warehouse', address = '1 Dock Road' WHERE id = $1", alpha.site_id
        )
        first = await signal(connection, account=alpha.account, customer=alpha, seconds_ago=120)
        restore = await signal(
            connection,
            account=alpha.account,
            customer=alpha,
            qualifier="restore",
            description="Burglary alarm restored",
            seconds_ago=60,
        )
        await signal(
            connection,
            account=alpha.account,
            customer=alpha,
            code="401",
            category="open_close",
            alarm_type=None,
            description="Opening by user",
            seconds_ago=30,
        )
        incident_id = await incident(connection, alpha, [first, restore])
        await contact(connection, alpha, "Ann Keyholder", "555-0100")
        await contact(connection, alpha, "Bob Backup", "555-0200")
        await set_passcode(connection, alpha)
    await portal.login("dispatcher@example.com")
    response = await portal.get(page_of(incident_id))
    page = await response.text()
    assert response.status == 200
    assert f'Burglary alarm <span class="muted">#{incident_id}</span>' in page
    assert "Customer alpha" in page and "Alpha Warehouse" in page and "1 Dock Road" in page
    assert alpha.account in page and "<dt>Test interval</dt><dd>24 h</dd>" in page
    # The signal timeline (its opening signal and its restore), and the premises' other signal around it.
    assert "Opened it" in page and "Burglary alarm restored" in page and "Restore</td>" in page
    assert "Opening by user" in page
    # The call list in order, with the verbal passcode for staff.
    assert page.index("1. Ann Keyholder") < page.index("2. Bob Backup")
    assert "555-0100" in page and PASSCODE in page
    assert "Nobody holds this incident" in page and ">Take</button>" in page
    assert "Record the call" not in page and "Close the incident" not in page  # the holder's forms
    assert (await portal.get(page_of(incident_id + 1000))).status == 404
    assert (await post(portal, page_of(incident_id + 1000) + "/take")).status == 404


async def test_two_dispatchers_taking_at_once_one_wins_and_the_other_sees_who_holds_it(
    portal: Portal,
    other_portal: Portal,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    second_dispatcher: str,
) -> None:
    _, beta = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, beta)
    await portal.login("dispatcher@example.com")
    await other_portal.login(second_dispatcher)
    await portal.get(page_of(incident_id))
    await other_portal.get(page_of(incident_id))
    first, second = await asyncio.gather(
        post(portal, page_of(incident_id) + "/take"), post(other_portal, page_of(incident_id) + "/take")
    )
    assert sorted([first.status, second.status]) == [303, 409]
    winner, loser = ("dispatcher@example.com", second) if first.status == 303 else ("Eli Second", first)
    text = await loser.text()
    assert f"{winner} already holds this incident." in text
    assert f"Held by {winner} since" in text and "Take over" in text and "Record the call" not in text
    holder = await db.fetchval(
        "SELECT coalesce(nullif(u.name, ''), u.email) FROM incidents i JOIN users u ON u.id = i.holder_id "
        "WHERE i.id = $1",
        incident_id,
    )
    assert holder == winner
    assert await db.fetchval("SELECT count(*) FROM incident_actions WHERE kind = 'taken'") == 1


async def test_forms_without_the_csrf_token_are_refused(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    await portal.login("dispatcher@example.com")
    refused = await portal.post(page_of(incident_id) + "/take", {}, csrf=False, allow_redirects=False)
    assert refused.status == 403
    forged = await portal.post(
        page_of(incident_id) + "/take", {"csrf_token": "forged"}, csrf=False, allow_redirects=False
    )
    assert forged.status == 403
    assert await db.fetchval("SELECT holder_id FROM incidents WHERE id = $1", incident_id) is None
    # Every form of the page carries the token.
    assert (await post(portal, page_of(incident_id) + "/take")).status == 303
    page = await (await portal.get(page_of(incident_id))).text()
    forms = page.count("<form")
    assert forms >= 6 and page.count('name="csrf_token"') >= forms - 1  # the log-out form's token is the same


async def test_take_over_needs_a_reason_and_the_trail_keeps_it(
    portal: Portal,
    other_portal: Portal,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    second_dispatcher: str,
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, page_of(incident_id) + "/take")).status == 303
    await other_portal.login(second_dispatcher)
    page = await (await other_portal.get(page_of(incident_id))).text()
    holder = re.search(r'name="holder" value="(\d+)"', page)
    assert holder is not None
    refused = await post(other_portal, page_of(incident_id) + "/take-over", {"reason": "", "holder": holder[1]})
    text = await refused.text()
    assert refused.status == 400 and 'id="f-take-over-reason-error">Say why you take it over' in text
    taken = await post(
        other_portal, page_of(incident_id) + "/take-over", {"reason": "Dana went home", "holder": holder[1]}
    )
    assert taken.status == 303
    page = await (await other_portal.get(page_of(incident_id))).text()
    assert "You hold this incident" in page and "From dispatcher@example.com: Dana went home" in page
    # The former holder's forms are refused now, with the holder named.
    late = await post(portal, page_of(incident_id) + "/note", {"text": "Still mine?"})
    assert late.status == 409 and "Eli Second holds this incident" in await late.text()


async def test_the_holder_calls_dispatches_holds_and_closes_with_errors_next_to_their_fields(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        ann = await contact(connection, alpha, "Ann Keyholder", "555-0100")
        await set_passcode(connection, alpha)
    path = page_of(incident_id)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, path + "/take")).status == 303
    page = await (await portal.get(path)).text()
    assert "Record the call" in page and "Close the incident" in page and ">Release</button>" in page

    # A call without its outcome: the error is in Ann's form, not in the other number's.
    refused = await post(portal, path + "/call", {"contact_id": str(ann), "outcome": "", "note": "typed"})
    text = await refused.text()
    assert refused.status == 400
    assert f'id="f-call-{ann}-outcome-error">Choose how the call went' in text
    assert (
        "f-call-other-outcome-error" not in text
        and f'id="f-call-{ann}-note" name="note" type="text" value="typed"' in text
    )
    # A number called needs the number.
    refused = await post(portal, path + "/call", {"contact_id": "", "phone": "", "outcome": "busy"})
    assert 'id="f-call-other-phone-error">Enter the number you called' in await refused.text()
    assert (
        await post(portal, path + "/call", {"contact_id": str(ann), "outcome": "answered", "passcode_verified": "yes"})
    ).status == 303
    refused = await post(portal, path + "/dispatch", {"service": "navy"})
    assert 'id="f-dispatch-service-error">Choose whom you sent' in await refused.text()
    assert (await post(portal, path + "/dispatch", {"service": "police", "dispatch_note": "Ref 9"})).status == 303
    assert (await post(portal, path + "/note", {"text": "Window broken at the back"})).status == 303

    refused = await post(portal, path + "/hold", {"minutes": "9999", "hold_reason": "x"})
    assert 'id="f-hold-minutes-error">Hold for 1 to 240 minutes' in await refused.text()
    refused = await post(portal, path + "/close", {"disposition": "false_alarm", "cause": ""})
    text = await refused.text()
    assert refused.status == 400 and 'id="f-close-cause-error">A false alarm needs its cause' in text
    assert '<option value="false_alarm" selected>' in text  # what was chosen stays chosen
    assert (
        await post(
            portal,
            path + "/close",
            {"disposition": "false_alarm", "cause": "animal", "close_note": "Cat", "signal_count": "1"},
        )
    ).status == 303

    page = await (await portal.get(path)).text()
    assert "False alarm</strong> (Animal or pet)" in page and "A closed incident cannot be changed" in page
    assert "Record the call" not in page and ">Take</button>" not in page
    # The trail: who did what, the call with its outcome and passcode, the dispatch, the note.
    assert "Ann Keyholder (555-0100): Answered · passcode verified" in page
    assert "Police — Ref 9" in page and "Window broken at the back" in page
    assert re.search(r"<strong>Police</strong> · \d\d:\d\d:\d\d · dispatcher@example\.com — Ref 9", page)
    late = await post(portal, path + "/note", {"text": "After closing"})
    assert late.status == 409 and "Closed incidents cannot be changed." in await late.text()
    kinds = [
        r["kind"]
        for r in await db.fetch(
            "SELECT kind FROM incident_actions WHERE incident_id = $1 AND user_name = 'dispatcher@example.com' "
            "ORDER BY id",
            incident_id,
        )
    ]
    assert kinds == ["taken", "call", "dispatch", "note", "closed"]


async def test_hold_releases_it_until_the_time_and_shows_the_countdown(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, page_of(incident_id) + "/take")).status == 303
    held = await post(
        portal,
        page_of(incident_id) + "/hold",
        {"minutes": "20", "hold_reason": "Keyholder on the way", "signal_count": "1"},
    )
    assert held.status == 303
    page = await (await portal.get(page_of(incident_id))).text()
    assert "The incident is on hold for 20 min" in page and "On hold until" in page and "data-countdown=" in page
    assert ">Take</button>" in page  # back in the queue: anyone may take it before the time


async def test_close_and_hold_are_refused_when_a_signal_joined_after_the_page_was_read(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    path = page_of(incident_id)
    await portal.login("dispatcher@example.com")
    assert (await post(portal, path + "/take")).status == 303
    page = await (await portal.get(path)).text()
    shown = re.findall(r'name="signal_count" value="(\d+)"', page)
    assert shown == ["1", "1"]  # the hold form's and the close form's
    # While the dispatcher decides "false alarm" on the burglary, a fire alarm joins (the opener's statement).
    async with db.acquire() as connection:
        fire = await signal(
            connection, account=alpha.account, customer=alpha, code="110", alarm_type="fire", priority=1,
            description="Fire alarm", seconds_ago=1,
        )  # fmt: skip
        assert await join_incident(
            connection, incident_id, signal_id=fire, role="joined", at=datetime.now(UTC), priority=1,
            title="Fire alarm", alarm_type="fire", kind=IncidentKind.ALARM,
        )  # fmt: skip
    closing = {"disposition": "false_alarm", "cause": "animal", "close_note": "", "signal_count": shown[1]}
    refused = await post(portal, path + "/close", closing)
    text = await refused.text()
    assert refused.status == 409
    assert 'role="alert">New signals arrived since you opened this page (2 now): look at them again' in text
    assert "Fire alarm" in text and re.findall(r'name="signal_count" value="(\d+)"', text) == ["2", "2"]
    refused = await post(portal, path + "/hold", {"minutes": "20", "hold_reason": "x", "signal_count": shown[0]})
    assert refused.status == 409 and "New signals arrived since you opened this page" in await refused.text()
    refused = await post(portal, path + "/close", {**closing, "signal_count": ""})  # a form without the count
    assert refused.status == 409
    row = await db.fetchrow("SELECT status, holder_id, held_until FROM incidents WHERE id = $1", incident_id)
    assert row["status"] == "open" and row["holder_id"] is not None and row["held_until"] is None
    # Having looked again (the page now shows 2 signals), the dispatcher closes it.
    assert (
        await post(portal, path + "/close", {**closing, "disposition": "real_alarm", "signal_count": "2"})
    ).status == 303
    assert await db.fetchval("SELECT disposition FROM incidents WHERE id = $1", incident_id) == "real_alarm"


async def test_an_unknown_accounts_incident_is_attached_once_the_account_is_enrolled(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        stray = await signal(connection, account="F6F6", description="Burglary alarm", priority=3)
        unknown = await incident(connection, None, [stray], account="F6F6", priority=4)
        premises = await alarm_incident(connection, alpha)
    await portal.login("dispatcher@example.com")
    page = await (await portal.get(page_of(unknown))).text()
    assert "is not enrolled" in page and "Attach to an account" not in page  # the holder's form
    assert "Verbal passcode" not in page  # no premises, no call list
    assert (await post(portal, page_of(premises) + "/take")).status == 303
    refused = await post(portal, page_of(premises) + "/attach", {"account": alpha.account})
    assert refused.status == 409 and "Only an unknown account&#39;s incident" in await refused.text()
    assert (await post(portal, page_of(premises) + "/release")).status == 303
    assert (await post(portal, page_of(unknown) + "/take")).status == 303
    page = await (await portal.get(page_of(unknown))).text()
    assert 'Account <span class="mono">F6F6</span> is not enrolled' in page and "Attach to an account" in page
    refused = await post(portal, page_of(unknown) + "/attach", {"account": "F6F6"})
    assert 'id="f-attach-account-error">No panel is enrolled with account F6F6' in await refused.text()
    # Another enrolled account is refused: F6F6's signals are F6F6's, never Alpha's.
    refused = await post(portal, page_of(unknown) + "/attach", {"account": alpha.account})
    assert refused.status == 400
    assert 'id="f-attach-account-error">These signals came from account F6F6' in await refused.text()
    assert await db.fetchval("SELECT customer_id FROM signals WHERE id = $1", stray) is None
    # Once F6F6 is enrolled (Gamma's panel), its signals join Gamma's open incident.
    async with db.acquire() as connection:
        gamma = await enrol(connection, "gamma", "F6F6")
        theirs = await alarm_incident(connection, gamma)
    attached = await post(portal, page_of(unknown) + "/attach", {"account": "f6f6"})
    assert attached.status == 303 and attached.headers["Location"] == page_of(theirs)
    page = await (await portal.get(page_of(theirs))).text()
    assert "part of incident #" in page and f"the signals of incident #{unknown} joined" in page
    assert await db.fetchval("SELECT customer_id FROM signals WHERE id = $1", stray) == gamma.customer_id
