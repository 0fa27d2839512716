"""GET /api/v1/signals on a real PostgreSQL: newest first with every field, each filter, keyset pages that neither
skip nor repeat a row while signals keep arriving, and a 400 naming the parameter for each bad one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import asyncpg
import pytest

from tests.portal.api.contract import Answer, Api
from tests.portal.api.rows import store
from tests.portal.conftest import Customer

URL = "/api/v1/signals"


def ids(answer: Answer) -> list[int]:
    assert answer.status == 200, answer.body
    return [item["id"] for item in answer.body["items"]]


async def test_newest_first_with_every_field_of_known_and_unknown_accounts(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, _ = customers
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    async with db.acquire() as connection:
        fixture_ids = [
            r["id"] for r in await connection.fetch("SELECT id FROM signals ORDER BY received_at DESC, id DESC")
        ]
        opening = await store(
            connection,
            alpha.account,
            hour_ago,
            customer=alpha,
            category="open_close",
            code="401",
            zone=None,
            qualifier="restore",
            description="Opening by user",
        )
        await connection.execute("UPDATE signals SET user_number = '3', partition = '1' WHERE id = $1", opening)
        unknown = await store(connection, "BEEF", hour_ago - timedelta(minutes=5), category="test", code="602")
    answer = await api.get(URL, dispatcher_token)
    assert ids(answer) == [*fixture_ids, opening, unknown] and answer.body["next_after"] is None
    first = answer.body["items"][2]
    assert first == {
        "id": opening,
        "account": alpha.account,
        "customer_id": alpha.customer_id,
        "site_id": alpha.site_id,
        "incident_id": None,
        "received_at": hour_ago.isoformat(),
        "panel_time": None,
        "category": "open_close",
        "format": "ADM-CID",
        "code": "401",
        "qualifier": "restore",
        "description": "Opening by user",
        "zone": None,
        "partition": "1",
        "user": "3",
    }
    stranger = answer.body["items"][3]
    assert (stranger["account"], stranger["customer_id"], stranger["site_id"]) == ("BEEF", None, None)


async def test_each_filter_narrows_the_list(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, beta = customers
    base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    async with db.acquire() as connection:
        await connection.execute("DELETE FROM signals")  # the fixture's signals are received now: only ours count
        a_alarm = await store(connection, alpha.account, base, customer=alpha)
        a_test = await store(connection, alpha.account, base + timedelta(hours=1), customer=alpha, category="test")
        b_alarm = await store(connection, beta.account, base + timedelta(hours=2), customer=beta)
        b_power = await store(connection, beta.account, base + timedelta(hours=3), customer=beta, category="power")
        stranger = await store(connection, "C0FFEE", base + timedelta(hours=4), category="test")
    token = dispatcher_token
    assert ids(await api.get(URL, token)) == [stranger, b_power, b_alarm, a_test, a_alarm]
    assert ids(await api.get(URL, token, {"account": alpha.account})) == [a_test, a_alarm]
    assert ids(await api.get(URL, token, {"account": "#c0ffee"})) == [stranger]  # any case, '#' as panels print
    assert ids(await api.get(URL, token, {"account": "DEAD"})) == []
    assert ids(await api.get(URL, token, {"category": "test"})) == [stranger, a_test]
    assert ids(await api.get(URL, token, {"category": "alarm", "account": beta.account})) == [b_alarm]
    at = (base + timedelta(hours=2)).isoformat()
    assert ids(await api.get(URL, token, {"since": at})) == [stranger, b_power, b_alarm]  # since: inclusive
    assert ids(await api.get(URL, token, {"until": at})) == [a_test, a_alarm]  # until: exclusive
    assert ids(await api.get(URL, token, {"since": "2026-11-20T13:00:00Z", "until": "2026-11-20T16:00:00Z"})) == [
        b_power,
        b_alarm,
        a_test,
    ]
    # The same instants in another zone; a '+' sent encoded as a query string needs.
    lower_case = {"since": "2026-11-20t15:00:00.000001z"}  # RFC 3339 allows it
    assert ids(await api.get(URL, token, lower_case)) == [stranger]
    in_paris = quote("2026-11-20T14:00:00+01:00")
    assert ids(await api.get(URL, token, query=f"since={in_paris}")) == [stranger, b_power, b_alarm, a_test]
    empty = await api.get(URL, token, {"account": "", "category": "", "since": "", "limit": ""})
    assert len(ids(empty)) == 5  # an empty parameter is as good as none
    first = await api.get(URL, token, {"limit": "2"})
    assert ids(first) == [stranger, b_power] and first.body["next_after"] is not None
    second = await api.get(URL, token, {"limit": "2", "after": first.body["next_after"]})
    assert ids(second) == [b_alarm, a_test]
    last = await api.get(URL, token, {"limit": "2", "after": second.body["next_after"]})
    assert ids(last) == [a_alarm] and last.body["next_after"] is None
    exact = await api.get(URL, token, {"limit": "5"})
    assert len(ids(exact)) == 5 and exact.body["next_after"] is None  # no empty page after a full last one
    assert len(ids(await api.get(URL, token, {"limit": "500"}))) == 5
    # A cursor keeps the filter's bounds: the page after it never leaves since/until.
    bounded = await api.get(URL, token, {"until": at, "limit": "1"})
    assert ids(bounded) == [a_test]
    after = bounded.body["next_after"]
    assert ids(await api.get(URL, token, {"until": at, "limit": "1", "after": after})) == [a_alarm]


async def paged_while_arriving(
    api: Api, db: asyncpg.Pool, token: str, params: dict[str, str], arriving: Customer
) -> tuple[list[int], list[int], int | None]:
    """Every page of `params` (7 a page) in order, read while a receiver stores a new signal of `arriving` every
    few milliseconds from the first page on; between the first two pages, one newer signal and one older than
    all (a late commit). The ids seen, those that arrived, and the late one's."""
    stop = asyncio.Event()
    arrived: list[int] = []

    async def receiver() -> None:
        async with db.acquire() as connection:
            while not stop.is_set():  # each in its own transaction, as the receiver stores them
                arrived.append(await store(connection, arriving.account, customer=arriving))
                await asyncio.sleep(0.002)

    answer = await api.get(URL, token, {**params, "limit": "7"})
    seen = ids(answer)
    storing = asyncio.create_task(receiver())
    try:
        async with db.acquire() as connection:
            arrived.append(await store(connection, arriving.account, customer=arriving))
            late = await store(connection, arriving.account, datetime.now(UTC) - timedelta(days=400), customer=arriving)
        after = answer.body["next_after"]
        while after is not None:
            await asyncio.sleep(0.01)  # the receiver stores some between the pages
            answer = await api.get(URL, token, {**params, "limit": "7", "after": after})
            seen += ids(answer)
            after = answer.body["next_after"]
    finally:
        stop.set()
        await storing
    assert len(arrived) > 5, "signals arrived while the pages were read"
    return seen, arrived, late


async def newest_first(db: asyncpg.Pool, account: str | None = None) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM signals WHERE $1::text IS NULL OR account = $1 ORDER BY received_at DESC, id DESC", account
    )
    return [row["id"] for row in rows]


async def test_pages_skip_and_repeat_nothing_while_signals_keep_arriving(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, beta = customers
    now = datetime.now(UTC)
    async with db.acquire() as connection:
        await connection.execute("DELETE FROM signals")
        for i in range(1, 25):  # from 7 hours to a week old: the search widens its window to find each page
            customer = (alpha, beta)[i % 2]
            await store(connection, customer.account, now - timedelta(hours=i * 7), customer=customer)
        # Ten at the very same instant: only the id orders them, and page boundaries fall among them.
        for _ in range(10):
            await store(connection, "F00D", now - timedelta(hours=30, microseconds=1), category="test")
    at_start = await newest_first(db)
    assert len(at_start) == 34

    seen, arrived, late = await paged_while_arriving(api, db, dispatcher_token, {}, alpha)
    assert len(seen) == len(set(seen)), "no row twice"
    assert seen == [*at_start, late], "every row there at the start, in order, then the older one that came late"
    assert not set(arrived) & set(seen), "what arrived after the first page is newer than all of it"


async def test_filtered_pages_skip_and_repeat_nothing_while_signals_keep_arriving(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    alpha, beta = customers
    now = datetime.now(UTC)
    async with db.acquire() as connection:
        for i in range(1, 31):
            customer = (alpha, beta)[i % 2]
            await store(connection, customer.account, now - timedelta(minutes=i * 97), customer=customer)
    alphas_at_start = await newest_first(db, alpha.account)
    assert len(alphas_at_start) == 16  # 15 and the fixture's

    seen, arrived, late = await paged_while_arriving(api, db, dispatcher_token, {"account": alpha.account}, alpha)
    assert seen == [*alphas_at_start, late]
    assert len(arrived) == len(set(await newest_first(db, alpha.account)) - set(seen))


BAD_PARAMETERS = [
    ({"account": "zz"}, "account"),
    ({"account": "12"}, "account"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-12-01T08:00:00"}, "since"),  # no time zone
    ({"since": "2026-12-01"}, "since"),
    ({"since": "2026-13-01T08:00:00Z"}, "since"),  # the shape of one, but no such month
    ({"since": "2026-12-01T08:00:00+25:00"}, "since"),
    ({"until": "0001-01-01T00:00:00+14:00"}, "until"),  # out of range
    ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
    ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
    ({"since": "2026-12-01T00:00:00Z", "until": "2026-12-01T01:00:00+01:00"}, "until"),  # the same instant
    ({"category": "fire"}, "category"),
    ({"category": "ALARM"}, "category"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1e2"}, "limit"),
    ({"limit": "９"}, "limit"),
    ({"limit": "99999999999999999999999"}, "limit"),
    ({"after": "garbage"}, "after"),
    ({"after": "A" * 40}, "after"),
    ({"acount": "A1A1"}, "acount"),  # a misspelt filter is not ignored
]


@pytest.mark.parametrize(("params", "parameter"), BAD_PARAMETERS, ids=[f"{p}" for _, p in BAD_PARAMETERS])
async def test_a_bad_parameter_is_400_naming_it(
    api: Api, dispatcher_token: str, params: dict[str, str], parameter: str
) -> None:
    answer = await api.get(URL, dispatcher_token, params)
    assert answer.status == 400 and answer.body["parameter"] == parameter, answer.body
    assert parameter in answer.body["error"]


async def test_an_unencoded_plus_a_repeated_parameter_and_an_edited_or_foreign_cursor_are_400(
    api: Api, db: asyncpg.Pool, customers: tuple[Customer, Customer], dispatcher_token: str
) -> None:
    token = dispatcher_token
    plus = await api.get(URL, token, query="since=2026-12-01T08:00:00+01:00")  # the '+' arrives as a space
    assert plus.status == 400 and plus.body["parameter"] == "since" and "%2B" in plus.body["error"]
    twice = await api.get(URL, token, [("category", "alarm"), ("category", "test")])
    assert twice.status == 400 and twice.body["parameter"] == "category"

    alpha, _ = customers
    async with db.acquire() as connection:
        for _ in range(3):
            await store(connection, alpha.account, customer=alpha)
    cursor = (await api.get(URL, token, {"limit": "1"})).body["next_after"]
    assert cursor is not None and len(cursor) == 40
    assert (await api.get(URL, token, {"limit": "1", "after": cursor})).status == 200
    for position in (0, 10, 20, 39):  # in the position and in the signature
        swapped = "B" if cursor[position] != "B" else "C"
        edited = cursor[:position] + swapped + cursor[position + 1 :]
        answer = await api.get(URL, token, {"after": edited})
        assert answer.status == 400 and answer.body["parameter"] == "after", position
    assert (await api.get(URL, token, {"after": cursor[:-1]})).status == 400


NASTY = ["\x00", "A1A1\x00", "é", "' OR 1=1 --", "9" * 2000, "\u202e1A1A", "１２３４", "{}", "2026-12-01T08:00:00Z\x00"]


@pytest.mark.parametrize("parameter", ["account", "since", "until", "category", "limit", "after"])
async def test_no_input_makes_a_500(
    api: Api, customers: tuple[Customer, Customer], dispatcher_token: str, parameter: str
) -> None:
    for value in NASTY:
        answer = await api.get(URL, dispatcher_token, {parameter: value})
        assert answer.status == 400 and answer.body["parameter"] == parameter, (value, answer.body)
    assert (await api.get(URL, dispatcher_token, {parameter: "   "})).status == 200  # blank: as if left out
