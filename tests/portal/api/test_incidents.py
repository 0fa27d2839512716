"""GET /api/v1/incidents and /api/v1/incidents/{id} on a real PostgreSQL: open and closed lists newest first in
keyset pages that neither skip nor repeat one while incidents open and close; one incident made by the real opener
and handled through the real writer, with its signals, their roles and its audit trail; never the verbal passcode
or any detail field the API does not list; 404 for an unknown id, 400 naming a bad parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.incidents import handling
from tests.portal.api.contract import Answer, Api
from tests.portal.api.rows import store
from tests.portal.conftest import Customer
from tests.portal.dispatch.incidents import PASSCODE, contact, incident, set_passcode, signal, staff
from tests.portal.outcomes.incidents import INTERNAL_NOTE, make_incident
from tests.portal.outcomes.incidents import PASSCODE as STORED_PASSCODE
from tests.shared.incidents.test_opener import eventually, handled, opener, send

URL = "/api/v1/incidents"


def ids(answer: Answer) -> list[int]:
    assert answer.status == 200, answer.body
    return [item["id"] for item in answer.body["items"]]


async def unknown_incident(connection: asyncpg.Connection, account: str, seconds_ago: float) -> int:
    """An open incident of an unknown account, opened `seconds_ago`."""
    first = await signal(connection, account=account, seconds_ago=seconds_ago)
    return await incident(connection, None, [first], account=account)


async def close(connection: asyncpg.Connection, incident_id: int, email: str = "dispatcher@example.com") -> None:
    """Taken and closed through the real writer, as a dispatcher does."""
    dispatcher = await staff(connection, email)
    await handling.take(connection, incident_id, dispatcher)
    await handling.close(connection, incident_id, dispatcher, disposition="duplicate", cause="", note="")


async def test_open_and_closed_lists_page_newest_first_while_incidents_open_and_close(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    token = dispatcher_token
    async with db.acquire() as connection:
        opened = [await unknown_incident(connection, f"E{n:03d}", 600 - n * 60) for n in range(7)]  # newest last
        for incident_id in opened[:3]:
            await close(connection, incident_id)
    still_open, closed = opened[3:][::-1], opened[:3][::-1]
    assert ids(await api.get(URL, token)) == still_open  # open is the default
    assert ids(await api.get(URL, token, {"status": "open"})) == still_open
    assert ids(await api.get(URL, token, {"status": "closed"})) == closed  # newest closed first

    first = await api.get(URL, token, {"limit": "2"})
    assert ids(first) == still_open[:2]
    async with db.acquire() as connection:
        newer = await unknown_incident(connection, "E100", 1)  # opened after the first page: newer than all of it
        await close(connection, still_open[0])  # one already listed leaves the open list
    second = await api.get(URL, token, {"limit": "2", "after": first.body["next_after"]})
    assert ids(second) == still_open[2:] and second.body["next_after"] is None
    assert newer not in ids(second)
    assert ids(await api.get(URL, token)) == [newer, *still_open[1:]]

    closed_first = await api.get(URL, token, {"status": "closed", "limit": "2"})
    assert ids(closed_first) == [still_open[0], closed[0]]
    async with db.acquire() as connection:
        await close(connection, still_open[1])  # closed after that page: newer than all of it
    closed_rest = await api.get(
        URL, token, {"status": "closed", "limit": "2", "after": closed_first.body["next_after"]}
    )
    assert ids(closed_rest) == closed[1:] and closed_rest.body["next_after"] is None

    item = (await api.get(URL, token, {"status": "closed", "limit": "1"})).body["items"][0]
    assert item["status"] == "closed" and item["disposition"] == "duplicate" and item["kind"] == "unknown_account"
    assert item["closed_by"]["name"] == "dispatcher@example.com" and item["closed_by"]["user_id"] > 0
    assert item["customer"] is None and item["site"] is None and item["panel_account"] is None
    assert item["holder"] == {"user_id": item["closed_by"]["user_id"], "name": "dispatcher@example.com"}


async def test_one_incident_from_the_opener_through_its_handling_with_its_signals_and_trail(
    api: Api, db: asyncpg.Pool, database_url: str, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        await connection.execute("UPDATE users SET name = 'Dana Dispatcher' WHERE email = 'dispatcher@example.com'")
        await connection.execute("UPDATE sites SET name = 'Warehouse' WHERE id = $1", alpha.site_id)
        await set_passcode(connection, alpha)
        keyholder = await contact(connection, alpha, "Ann Keyholder", "555-0100")
        dana = await staff(connection, "dispatcher@example.com")

    async def fixtures_signals_behind() -> bool:
        # The customers fixture stores a burglary alarm of its own. An opener's first cursor ("now", cursor_now) is
        # the oldest transaction still open on the server, so while another session's transaction is older than
        # that signal the opener would take it up, open the incident with it and join this test's alarm to it.
        query = "SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot())::text::bigint > max(xact), true) FROM signals"
        return bool(await db.fetchval(query))

    await eventually(fixtures_signals_behind, "the fixture's signals are behind every snapshot")
    async with opener(db, database_url):
        alarm = await send(db, alpha, 130)
        restore = await send(db, alpha, 130, "restore")
        await handled(db, alarm, restore)
    incident_id = await db.fetchval("SELECT incident_id FROM incident_signals WHERE signal_id = $1", alarm)
    async with db.acquire() as connection:
        await handling.take(connection, incident_id, dana)
        await handling.record_call(
            connection,
            incident_id,
            dana,
            contact_id=keyholder,
            phone="",
            outcome="answered",
            note="Keyholder on the way",
            passcode_verified=True,
        )
        await handling.note(connection, incident_id, dana, text="Cat inside again")
        await handling.dispatch(connection, incident_id, dana, service="guard", note="")
        await handling.close(
            connection, incident_id, dana, disposition="false_alarm", cause="animal", note="The cat, again"
        )

    answer = await api.get(f"{URL}/{incident_id}", dispatcher_token)
    assert answer.status == 200
    body = answer.body
    summary = body["incident"]
    assert (summary["id"], summary["kind"], summary["status"], summary["account"]) == (
        incident_id,
        "alarm",
        "closed",
        alpha.account,
    )
    assert (summary["title"], summary["alarm_type"], summary["priority"], summary["signal_count"]) == (
        "Burglary alarm",
        "burglary",
        3,
        2,
    )
    assert summary["customer"] == {"id": alpha.customer_id, "name": "Customer alpha"}
    assert summary["site"] == {"id": alpha.site_id, "name": "Warehouse", "address": "alpha Street 1"}
    assert summary["panel_account"] == alpha.account and summary["restored_at"] is not None
    assert (summary["disposition"], summary["false_alarm_cause"], summary["disposition_note"]) == (
        "false_alarm",
        "animal",
        "The cat, again",
    )
    assert summary["closed_by"] == {"user_id": dana.user_id, "name": "Dana Dispatcher"}
    assert datetime.fromisoformat(summary["closed_at"]) >= datetime.fromisoformat(summary["opened_at"])

    assert [(entry["role"], entry["signal"]["id"]) for entry in body["timeline"]] == [
        ("opened", alarm),
        ("restore", restore),
    ]
    opening = body["timeline"][0]["signal"]
    assert (opening["code"], opening["qualifier"], opening["zone"], opening["incident_id"]) == (
        "130",
        "event",
        "001",
        incident_id,
    )
    assert opening["panel_time"] is not None  # the receiver's frame had its timestamp

    trail = [(action["kind"], action["by"], action["detail"]) for action in body["actions"]]
    by_dana = {"user_id": dana.user_id, "name": "Dana Dispatcher"}
    assert trail == [
        ("opened", None, {"signal_id": alarm, "kind": "alarm", "title": "Burglary alarm", "priority": 3}),
        ("restored", None, {"signal_id": restore, "title": "Burglary alarm restored"}),
        ("taken", by_dana, {}),
        (
            "call",
            by_dana,
            {
                "contact_id": keyholder,
                "name": "Ann Keyholder",
                "phone": "555-0100",
                "outcome": "answered",
                "note": "Keyholder on the way",
                "passcode_verified": True,
            },
        ),
        ("note", by_dana, {"text": "Cat inside again"}),
        ("dispatch", by_dana, {"service": "guard", "note": ""}),
        ("closed", by_dana, {"disposition": "false_alarm", "cause": "animal", "note": "The cat, again"}),
    ]
    assert [action["customer_visible"] for action in body["actions"]] == [False, False, False, True, False, True, True]
    times = [datetime.fromisoformat(action["at"]) for action in body["actions"]]
    assert times == sorted(times)
    assert PASSCODE not in str(body)  # the premises has one; the API never gives it

    listed = await api.get(URL, dispatcher_token, {"status": "closed"})
    assert listed.body["items"] == [summary]  # the list's row is the detail's incident
    signals = await api.get("/api/v1/signals", dispatcher_token, {"account": alpha.account})
    assert {item["id"]: item["incident_id"] for item in signals.body["items"]}[alarm] == incident_id
    assert signals.body["items"][0] == body["timeline"][1]["signal"]  # the restore, newest: the same everywhere


async def test_a_trail_stored_with_more_than_the_api_lists_gives_only_the_listed_fields(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        incident_id = await make_incident(connection, alpha)  # its call's detail holds the passcode itself
        await connection.execute(
            "INSERT INTO incident_actions (incident_id, kind, detail) VALUES ($1, 'hold', $2::text::jsonb)",
            incident_id,
            '{"minutes": "ten", "until": 5, "reason": "Keyholder driving", "secret": "x"}',
        )
    answer = await api.get(f"{URL}/{incident_id}", dispatcher_token)
    assert answer.status == 200
    assert STORED_PASSCODE not in str(answer.body) and "secret" not in str(answer.body)
    calls = [action["detail"] for action in answer.body["actions"] if action["kind"] == "call"]
    assert calls[0] == {
        "contact_id": calls[0]["contact_id"],
        "phone": "555-0123-999",
        "outcome": "answered",
        "note": INTERNAL_NOTE,
        "passcode_verified": True,
    }
    held = [action for action in answer.body["actions"] if action["kind"] == "hold"]
    assert held[0]["detail"] == {"reason": "Keyholder driving"}  # values of the wrong type are left out
    assert held[0]["by"] is None
    named = [action["by"] for action in answer.body["actions"] if action["kind"] == "taken"]
    assert named == [{"user_id": None, "name": "Dana Dispatcher"}]  # a name kept after the login went


@pytest.mark.parametrize("incident_id", ["999999", "0", "abc", "-1", "99999999999999999999"])
async def test_an_unknown_incident_is_404_json(
    api: Api, customers: tuple[Customer, Customer], dispatcher_token: str, incident_id: str
) -> None:
    answer = await api.get(f"{URL}/{incident_id}", dispatcher_token)
    assert answer.status == 404 and answer.body["error"]


async def test_an_unknown_accounts_open_incident_in_detail(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    async with db.acquire() as connection:
        first = await store(connection, "ABCDEF", datetime.now(UTC) - timedelta(minutes=3))
        second = await store(connection, "ABCDEF", code="131", description="Perimeter alarm")
        incident_id = await incident(connection, None, [first, second], account="ABCDEF")
    body = (await api.get(f"{URL}/{incident_id}", dispatcher_token)).body
    assert body["incident"]["status"] == "open" and body["incident"]["closed_at"] is None
    assert body["incident"]["customer"] is None and body["incident"]["holder"] is None
    assert [(e["role"], e["signal"]["id"], e["signal"]["customer_id"]) for e in body["timeline"]] == [
        ("opened", first, None),
        ("joined", second, None),
    ]
    assert [(a["kind"], a["by"], a["detail"]) for a in body["actions"]] == [("opened", None, {})]


BAD_PARAMETERS = [
    ({"status": "pending"}, "status"),
    ({"status": "OPEN"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"after": "nonsense"}, "after"),
    ({"after": "_" * 40}, "after"),
    ({"account": "A1A1"}, "account"),  # not a filter of this list
]


@pytest.mark.parametrize(("params", "parameter"), BAD_PARAMETERS, ids=[f"{p}" for p, _ in BAD_PARAMETERS])
async def test_a_bad_parameter_is_400_naming_it(
    api: Api, dispatcher_token: str, params: dict[str, str], parameter: str
) -> None:
    answer = await api.get(URL, dispatcher_token, params)
    assert answer.status == 400 and answer.body["parameter"] == parameter, answer.body
    twice = await api.get(URL, dispatcher_token, [("status", "open"), ("status", "closed")])
    assert twice.status == 400 and twice.body["parameter"] == "status"


async def test_a_cursor_serves_only_the_list_that_made_it(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    token = dispatcher_token
    async with db.acquire() as connection:
        for n in range(2):
            await unknown_incident(connection, f"D00{n}", 60 - n)
            await close(connection, await unknown_incident(connection, f"D10{n}", 60 - n))
    open_cursor = (await api.get(URL, token, {"limit": "1"})).body["next_after"]
    closed_cursor = (await api.get(URL, token, {"status": "closed", "limit": "1"})).body["next_after"]
    signals_cursor = (await api.get("/api/v1/signals", token, {"limit": "1"})).body["next_after"]
    assert None not in (open_cursor, closed_cursor, signals_cursor)
    assert (await api.get(URL, token, {"after": open_cursor})).status == 200
    for status, cursor in (("open", closed_cursor), ("closed", open_cursor), ("open", signals_cursor)):
        refused = await api.get(URL, token, {"status": status, "after": cursor})
        assert refused.status == 400 and refused.body["parameter"] == "after", (status, cursor)
    for cursor in (open_cursor, closed_cursor):
        refused = await api.get("/api/v1/signals", token, {"after": cursor})
        assert refused.status == 400 and refused.body["parameter"] == "after"
