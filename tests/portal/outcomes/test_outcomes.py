"""What we did: the signal history links an incident's signals to /signals/incidents/{id}, which tells the customer
what was done — dispatches, calls' outcomes, the disposition — and never a phone number, passcode or note."""

from __future__ import annotations

import re

import asyncpg

from tests.portal.conftest import Customer, Portal
from tests.portal.outcomes.incidents import CLOSING_NOTE, INTERNAL_NOTE, PASSCODE, PHONE, make_incident


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_history_links_an_incidents_signals_to_what_we_did(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha)
    await portal.login(alpha.secondary_email)  # any user of the customer, no permission needed
    html = await (await portal.get("/signals")).text()
    links = re.findall(r'<a class="signal__outcome" href="([^"]+)">What we did</a>', html)
    assert links == [f"/signals/incidents/{incident_id}"] * 2  # the alarm and its restore; not the fixture's signal
    rows = re.findall(r'<tr class="signal[^"]*">(.*?)</tr>', html, re.S)
    assert len(rows) == 3 and "What we did" not in rows[0]  # the fixture's own (newest) is in no incident
    dashboard = await (await portal.get("/dashboard?tab=signal-history")).text()
    assert f'href="/signals/incidents/{incident_id}">What we did' in dashboard


async def test_the_outcome_shows_dispatches_calls_and_the_disposition_but_no_phone_passcode_or_note(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha)
    await portal.login(alpha.owner_email)
    response = await portal.get(f"/signals/incidents/{incident_id}")
    html = await response.text()
    assert response.status == 200
    text = text_of(html)
    assert "What we did" in text and "Burglary alarm" in text and "Premises" in text
    assert "Police dispatched" in text  # the dispatch, in the model's words
    assert "We called Ann Keyholder: answered" in text and "We made a call: no answer" in text
    assert "Outcome False alarm — cause: User error" in text
    assert "Burglary alarm restored" in text and "Zone 004" in text  # its signals
    assert 'aria-current="page">Signal history</a>' in html  # under the Signal history entry
    for secret in (PHONE, "0123", PASSCODE, INTERNAL_NOTE, CLOSING_NOTE, "Dana Dispatcher"):
        assert secret not in html, secret


async def test_an_open_incident_is_being_handled_now(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha, closed=False)
    await portal.login(alpha.owner_email)
    text = text_of(await (await portal.get(f"/signals/incidents/{incident_id}")).text())
    assert "Being handled now" in text and "being handled now" in text
    assert "Police dispatched" in text and "Outcome" not in text and "False alarm" not in text


async def test_another_customers_incident_is_not_found_and_staff_are_refused(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, beta = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha)
        unknown = await connection.fetchval(
            "INSERT INTO incidents (kind, account, premises_key, priority, title, first_signal_id, last_signal_at) "
            "VALUES ('unknown_account', 'FFFF', 'account:FFFF', 4, 'Unknown account', 1, now()) RETURNING id"
        )
    for email in (beta.owner_email, beta.secondary_email):
        await portal.login(email)
        for path in (f"/signals/incidents/{incident_id}", f"/signals/incidents/{unknown}", "/signals/incidents/0"):
            response = await portal.get(path)
            assert response.status == 404, (email, path)
            assert "Burglary" not in await response.text()
        await portal.logout()
    await portal.login("dispatcher@example.com")
    assert (await portal.get(f"/signals/incidents/{incident_id}")).status == 403  # staff use /dispatch/incidents


async def test_a_failure_to_communicate_closed_by_the_system_reads_as_restored(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        signal_id = await connection.fetchval("SELECT id FROM signals WHERE customer_id = $1", alpha.customer_id)
        incident_id = await connection.fetchval(
            "INSERT INTO incidents (kind, account, panel_id, site_id, customer_id, premises_key, priority, title, "
            "first_signal_id, last_signal_at, status, closed_at, disposition) VALUES ('failure_to_communicate', $1, "
            "$2, $3, $4, $5, 5, 'Failure to communicate', $6, now(), 'closed', now(), 'restored') RETURNING id",
            alpha.account,
            alpha.panel_id,
            alpha.site_id,
            alpha.customer_id,
            f"site:{alpha.site_id}",
            signal_id,
        )
        await connection.execute(
            "INSERT INTO incident_signals (incident_id, signal_id, received_at, role) "
            "SELECT $1, id, received_at, 'opened' FROM signals WHERE id = $2",
            incident_id,
            signal_id,
        )
    await portal.login(alpha.owner_email)
    text = text_of(await (await portal.get(f"/signals/incidents/{incident_id}")).text())
    assert "Communication lost" in text and "Outcome Communication restored" in text and "Help sent none" in text
    assert "Nothing further was needed." in text


async def test_what_a_dispatcher_records_through_handling_is_what_the_customer_reads(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    """The real writer (shared.incidents.handling): a call to a call-list contact with the passcode given and a
    note, another to a typed number, a note, a dispatch with a note, and the close as cancelled by the customer."""
    from shared.incidents import handling

    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha, closed=False, actions=False)
        contact_id = await connection.fetchval("SELECT id FROM call_list_contacts WHERE site_id = $1", alpha.site_id)
        dispatcher = await connection.fetchval("SELECT id FROM users WHERE email = 'dispatcher@example.com'")
        staff = handling.Staff(dispatcher, "Dana Dispatcher")
        await handling.take(connection, incident_id, staff)
        await handling.record_call(
            connection,
            incident_id,
            staff,
            contact_id=contact_id,
            phone="",
            outcome="answered",
            note=INTERNAL_NOTE,
            passcode_verified=True,
        )
        await handling.record_call(
            connection,
            incident_id,
            staff,
            contact_id=None,
            phone="+1 555 0123 999",
            outcome="voicemail",
            note=INTERNAL_NOTE,
            passcode_verified=False,
        )
        await handling.note(connection, incident_id, staff, text=INTERNAL_NOTE)
        await handling.dispatch(connection, incident_id, staff, service="fire", note=INTERNAL_NOTE)
        await handling.close(
            connection, incident_id, staff, disposition="cancelled_by_customer", cause="", note=CLOSING_NOTE
        )
    await portal.login(alpha.owner_email)
    html = await (await portal.get(f"/signals/incidents/{incident_id}")).text()
    text = text_of(html)
    assert "We called Ann Keyholder: answered" in text and "We made a call: left a voicemail" in text
    assert "Fire brigade dispatched" in text and "Outcome Cancelled by the customer (passcode given)" in text
    for secret in (PHONE, "0123", PASSCODE, INTERNAL_NOTE, CLOSING_NOTE, "Dana Dispatcher"):
        assert secret not in html, secret
