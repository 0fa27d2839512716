"""The incident opener end to end on a real PostgreSQL: signals stored by the receiver's batch INSERT (which
NOTIFYs the signals channel) become incidents, joins, restores and mails — once each, across restarts and with two
openers racing.

Other sessions on the shared server may hold the signal horizon back for a moment, so every check waits (briefly)
for what the opener is to have done, then asserts it exactly."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from receiver.accounts import PanelInfo
from receiver.batch_writer import INSERT_BATCH_NEW
from receiver.dc09 import Envelope, Message, cid_data, encode_frame, open_message, parse_envelope
from receiver.signal_rows import message_rows
from shared.branding import Branding
from shared.config import load_config
from shared.enrolment import create_staff_user
from shared.errors import Conflict
from shared.incidents import handling
from shared.incidents.notifications import set_preferences
from shared.incidents.opener import JOB, CursorMoved, Opener, OpenerSettings
from shared.incidents.priority import PrioritySettings
from shared.incidents.queue import open_queue
from shared.jobs import Continuous, Leadership, lock_key, running_jobs
from shared.outbox import RetryPolicy
from tests.portal.conftest import PASSWORD, Customer, cheap_password_hashing, enrol  # noqa: F401 (a fixture)
from tests.portal.dispatch.incidents import staff

SETTINGS = OpenerSettings(
    PrioritySettings(),
    Branding.from_config(
        load_config(
            None,
            environ={
                "ALARMHUB_PORTAL_COMPANY_NAME": "Acme Alarms",
                "ALARMHUB_PORTAL_PUBLIC_URL": "https://portal.acme.example/",
            },
        )
    ),
    ZoneInfo("UTC"),
)
_sequences = itertools.count(1)

# --- storing signals as the receiver does --------------------------------------------------------------------------


def receiver_rows(
    account: str, customer: Customer | None, code: int, qualifier: str = "event", zone: int = 1
) -> list[str]:
    """The rows the receiver builds for one Contact ID frame (signal_rows.message_rows), for an enrolled panel or,
    with `customer` None, an unknown account."""
    now = datetime.now(UTC)
    frame = encode_frame(
        "ADM-CID", next(_sequences), account, cid_data(account, qualifier, code, 1, zone), timestamp=now
    )
    envelope = parse_envelope(frame)
    assert isinstance(envelope, Envelope)
    message = open_message(envelope, None, now, enforce_window=False)
    assert isinstance(message, Message)
    panel = PanelInfo(account, customer.panel_id, customer.site_id, customer.customer_id, None) if customer else None
    return message_rows(message, panel, account, "tcp", "127.0.0.1:4000", now)


async def send(
    db: asyncpg.Pool, customer: Customer | None, code: int, qualifier: str = "event", zone: int = 1, account: str = ""
) -> int:
    """Store one signal with the receiver's batch statement (it NOTIFYs the signals channel); its id."""
    account = account or (customer.account if customer else "FFFF")
    async with db.acquire() as connection:
        row = await connection.fetchrow(INSERT_BATCH_NEW, receiver_rows(account, customer, code, qualifier, zone))
        assert row["stored"] == 1
        signal_id: int = await connection.fetchval("SELECT max(id) FROM signals WHERE account = $1", account)
    return signal_id


# --- running openers -----------------------------------------------------------------------------------------------


@asynccontextmanager
async def opener(db: asyncpg.Pool, url: str) -> AsyncIterator[Opener]:
    """An opener running (as its job runs it while leading) until the block exits, then cancelled."""
    running = Opener(db, SETTINGS, page_size=50)
    task = asyncio.create_task(running.run(url))
    try:
        await eventually(lambda: cursor_stored(db), "the opener stores its cursor")
        yield running
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def cursor_stored(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM job_cursors WHERE job = $1", JOB))


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out: {what}") from None


async def handled(db: asyncpg.Pool, *signal_ids: int) -> None:
    """Wait until the opener's cursor is past every signal given (handled, whatever it did with them)."""

    async def past() -> bool:
        return bool(
            await db.fetchval(
                "SELECT bool_and((g.xact, g.id) <= (c.xact, c.id)) FROM signals g, job_cursors c "
                "WHERE c.job = $1 AND g.id = ANY($2::bigint[])",
                JOB,
                list(signal_ids),
            )
        )

    await eventually(past, f"the opener handles signals {signal_ids}")


async def incidents(db: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch("SELECT * FROM incidents ORDER BY id")
    return rows


async def members(db: asyncpg.Pool, incident_id: int) -> list[tuple[int, str]]:
    rows = await db.fetch(
        "SELECT signal_id, role FROM incident_signals WHERE incident_id = $1 ORDER BY signal_id", incident_id
    )
    return [(row["signal_id"], row["role"]) for row in rows]


async def actions(db: asyncpg.Pool, incident_id: int) -> list[str]:
    rows = await db.fetch("SELECT kind FROM incident_actions WHERE incident_id = $1 ORDER BY id", incident_id)
    return [row["kind"] for row in rows]


async def mails(db: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch("SELECT recipient, subject, body, html FROM outbox ORDER BY id")
    return rows


async def two_customers(db: asyncpg.Pool) -> tuple[Customer, Customer]:
    async with db.acquire() as connection:
        return await enrol(connection, "alpha", "A1A1"), await enrol(connection, "beta", "B2B2")


# --- the tests -----------------------------------------------------------------------------------------------------


async def test_an_alarm_opens_one_incident_the_next_joins_and_restores_attach(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, beta = await two_customers(db)
    async with db.acquire() as connection:
        await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["alarm"], alpha.owner_id)
    notices: list[str] = []
    listening = await asyncpg.connect(database_url)
    await listening.add_listener("incidents_changed", lambda *args: notices.append(args[3]))
    try:
        async with opener(db, database_url):
            burglary = await send(db, alpha, 130)
            await handled(db, burglary)
            [incident] = await incidents(db)
            assert (incident["kind"], incident["status"], incident["premises_key"]) == (
                "alarm",
                "open",
                f"site:{alpha.site_id}",
            )
            assert (incident["priority"], incident["title"], incident["alarm_type"]) == (
                3,
                "Burglary alarm",
                "burglary",
            )
            assert (incident["account"], incident["panel_id"], incident["customer_id"]) == (
                alpha.account,
                alpha.panel_id,
                alpha.customer_id,
            )
            assert incident["first_signal_id"] == burglary and incident["signal_count"] == 1
            assert await members(db, incident["id"]) == [(burglary, "opened")]

            fire = await send(db, alpha, 110, zone=2)  # more urgent: the incident follows it
            await handled(db, fire)
            [incident] = await incidents(db)
            assert (incident["priority"], incident["title"], incident["alarm_type"]) == (1, "Fire alarm", "fire")
            assert incident["signal_count"] == 2 and incident["restored_at"] is None
            second_burglary = await send(db, alpha, 130, zone=3)  # less urgent: joins, the incident stays fire
            await handled(db, second_burglary)
            [incident] = await incidents(db)
            assert (incident["priority"], incident["title"], incident["signal_count"]) == (1, "Fire alarm", 3)

            restores = [await send(db, alpha, code, "restore", zone) for code, zone in ((130, 1), (110, 2))]
            await handled(db, *restores)
            [incident] = await incidents(db)
            assert incident["restored_at"] is None, "zone 3 is not restored yet"
            last = await send(db, alpha, 130, "restore", 3)
            await handled(db, last)
            [incident] = await incidents(db)
            assert incident["restored_at"] is not None and incident["status"] == "open", "a restored alarm stays open"
            assert await members(db, incident["id"]) == [
                (burglary, "opened"), (fire, "joined"), (second_burglary, "joined"),
                (restores[0], "restore"), (restores[1], "restore"), (last, "restore"),
            ]  # fmt: skip
            assert await actions(db, incident["id"]) == [
                "opened", "notified", "signal", "signal", "restored", "restored", "restored",
            ]  # fmt: skip

            # Another premises' restore with nothing open, and an opening: nothing.
            quiet = [await send(db, beta, 130, "restore"), await send(db, beta, 401)]
            await handled(db, *quiet)
            assert len(await incidents(db)) == 1
    finally:
        await listening.close()
    assert notices and all(f'"ids": [{incident["id"]}]' in notice for notice in notices)
    [mail] = await mails(db)  # one alarm mail, when it opened; none for what joined
    assert mail["recipient"] == alpha.owner_email
    assert mail["subject"] == "Acme Alarms: alarm at Premises"
    assert "Burglary alarm" in mail["body"] and "alpha Street 1" in mail["body"]
    assert alpha.security_code not in mail["body"] + mail["html"] + mail["subject"], "never a passcode"


async def test_a_new_alarm_on_a_held_incident_ends_the_hold_a_restore_does_not(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, _ = await two_customers(db)
    async with db.acquire() as connection:
        await create_staff_user(connection, email="dana@example.com", password=PASSWORD, role="dispatcher")
        dana = await staff(connection, "dana@example.com")
    async with opener(db, database_url):
        burglary = await send(db, alpha, 130)
        await handled(db, burglary)
        [incident] = await incidents(db)
        async with db.acquire() as connection:
            await handling.take(connection, incident["id"], dana)
            until = await handling.hold(
                connection, incident["id"], dana, minutes=240, reason="Keyholder on the way", max_minutes=240
            )
        restore = await send(db, alpha, 130, "restore")  # the burglary restores: still waiting for the keyholder
        await handled(db, restore)
        [incident] = await incidents(db)
        assert incident["held_until"] == until and incident["restored_at"] is not None
        fire = await send(db, alpha, 110, zone=2)  # a fire alarm joins: presented again at once, not in 4 hours
        await handled(db, fire)
    [incident] = await incidents(db)
    assert incident["held_until"] is None and incident["holder_id"] is None
    assert (incident["priority"], incident["signal_count"], incident["restored_at"]) == (1, 3, None)
    async with db.acquire() as connection:
        [entry] = (await open_queue(connection)).incidents
    assert not entry.held
    details = await db.fetch(
        "SELECT detail FROM incident_actions WHERE incident_id = $1 AND kind = 'signal' ORDER BY id", incident["id"]
    )
    [joined] = [dict(row["detail"]) for row in details]
    assert joined["signal_id"] == fire
    assert datetime.fromisoformat(joined["hold_ended"]) == until, "the trail says the new alarm ended the hold"


async def test_closing_or_holding_an_incident_a_signal_joined_since_the_page_was_read_is_refused(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, _ = await two_customers(db)
    async with db.acquire() as connection:
        await create_staff_user(connection, email="dana@example.com", password=PASSWORD, role="dispatcher")
        dana = await staff(connection, "dana@example.com")
    async with opener(db, database_url):
        burglary = await send(db, alpha, 130)
        await handled(db, burglary)
        [incident] = await incidents(db)
        async with db.acquire() as connection:
            await handling.take(connection, incident["id"], dana)
        seen = incident["signal_count"]  # Dana's page shows the burglary; she decides "false alarm" ...
        fire = await send(db, alpha, 110, zone=2)  # ... meanwhile a fire alarm joins
        await handled(db, fire)
    before = await actions(db, incident["id"])
    async with db.acquire() as connection:
        refused = r"New signals arrived since you opened this page \(2 now\): look at them again before you close it\."
        with pytest.raises(Conflict, match=refused):
            await handling.close(
                connection,
                incident["id"],
                dana,
                disposition="false_alarm",
                cause="user_error",
                note="",
                seen_signal_count=seen,
            )
        with pytest.raises(Conflict, match="look at them again before you put it on hold"):
            await handling.hold(
                connection, incident["id"], dana, minutes=5, reason="x", max_minutes=240, seen_signal_count=seen
            )
    [incident] = await incidents(db)
    assert (incident["status"], incident["holder_id"], incident["held_until"]) == ("open", dana.user_id, None)
    assert await actions(db, incident["id"]) == before
    assert await db.fetchval("SELECT incident_id FROM incident_signals WHERE signal_id = $1", fire) == incident["id"]
    # With the count the page shows now, it closes.
    async with db.acquire() as connection:
        await handling.close(
            connection, incident["id"], dana, disposition="real_alarm", cause="", note="", seen_signal_count=2
        )
    assert await db.fetchval("SELECT status FROM incidents WHERE id = $1", incident["id"]) == "closed"


async def test_an_unknown_account_goes_to_its_own_lane(db: asyncpg.Pool, database_url: str) -> None:
    alpha, _ = await two_customers(db)
    async with opener(db, database_url):
        first = await send(db, None, 130, account="FFFF")
        second = await send(db, None, 401, account="FFFF")  # any category joins it
        other = await send(db, None, 110, account="EEEE")
        known = await send(db, alpha, 130)
        await handled(db, first, second, other, known)
    by_key = {row["premises_key"]: row for row in await incidents(db)}
    assert set(by_key) == {"account:FFFF", "account:EEEE", f"site:{alpha.site_id}"}
    unknown = by_key["account:FFFF"]
    assert (unknown["kind"], unknown["priority"], unknown["signal_count"], unknown["site_id"]) == (
        "unknown_account", 4, 2, None,
    )  # fmt: skip
    assert await members(db, unknown["id"]) == [(first, "opened"), (second, "joined")]
    assert by_key["account:EEEE"]["priority"] == 4, "an unknown account's fire is the unknown lane's priority"
    assert await mails(db) == []


async def test_a_premises_on_test_opens_no_incident_and_mails_nobody(db: asyncpg.Pool, database_url: str) -> None:
    alpha, beta = await two_customers(db)
    async with db.acquire() as connection:
        await connection.execute(
            "INSERT INTO system_tests (site_id, customer_id, starts_at, ends_at) "
            "VALUES ($1, $2, now() - interval '1 minute', now() + interval '1 hour')",
            alpha.site_id,
            alpha.customer_id,
        )
        for customer in (alpha, beta):
            await set_preferences(connection, customer.customer_id, customer.owner_id, ["alarm", "power"], None)
    async with opener(db, database_url):
        on_test = [await send(db, alpha, 130), await send(db, alpha, 301)]
        off_test = await send(db, beta, 130)
        await handled(db, *on_test, off_test)
    [incident] = await incidents(db)
    assert incident["site_id"] == beta.site_id
    assert await db.fetchval("SELECT count(*) FROM signals WHERE id = ANY($1::bigint[])", on_test) == 2, "stored"
    assert [mail["recipient"] for mail in await mails(db)] == [beta.owner_email]


async def test_power_loss_mails_the_subscribers_once(db: asyncpg.Pool, database_url: str) -> None:
    alpha, _ = await two_customers(db)
    async with db.acquire() as connection:
        await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["power"], None)
        await set_preferences(connection, alpha.customer_id, alpha.secondary_id, ["power", "alarm"], None)
    async with opener(db, database_url):
        loss = await send(db, alpha, 301)
        restored = await send(db, alpha, 301, "restore")
        await handled(db, loss, restored)
    async with opener(db, database_url):  # started again: nothing is mailed twice
        battery = await send(db, alpha, 302)
        await handled(db, battery)
    sent = await mails(db)
    assert await incidents(db) == [], "power opens no incident"
    loss_mails = [mail for mail in sent if "AC power loss" in mail["body"]]
    assert sorted(mail["recipient"] for mail in loss_mails) == sorted([alpha.owner_email, alpha.secondary_email])
    assert all(mail["subject"] == "Acme Alarms: power problem at Premises" for mail in sent)
    assert len(sent) == 4, "the loss and the low battery, to both subscribers; the restore mails nobody"


async def test_a_restart_handles_nothing_twice_and_misses_nothing(db: asyncpg.Pool, database_url: str) -> None:
    alpha, beta = await two_customers(db)
    async with opener(db, database_url):
        before = [await send(db, alpha, 130), await send(db, alpha, 110, zone=2)]
        await handled(db, *before)
    # Stopped: what arrives now waits for the next start.
    while_stopped = [
        await send(db, beta, 130),
        await send(db, alpha, 130, "restore"),
        await send(db, None, 130, account="FFFF"),
        await send(db, alpha, 130, zone=4),
    ]
    async with opener(db, database_url):
        await handled(db, *while_stopped)
        after = await send(db, beta, 120)
        await handled(db, after)
    rows = await db.fetch("SELECT signal_id, count(*) AS n FROM incident_signals GROUP BY signal_id")
    assert {row["signal_id"]: row["n"] for row in rows} == {signal: 1 for signal in before + while_stopped + [after]}
    by_key = {row["premises_key"]: row for row in await incidents(db)}
    assert by_key[f"site:{alpha.site_id}"]["signal_count"] == 4
    assert by_key[f"site:{beta.site_id}"]["signal_count"] == 2
    assert by_key["account:FFFF"]["signal_count"] == 1
    counted = await db.fetchval("SELECT count(*) FROM incident_actions WHERE kind IN ('opened', 'signal', 'restored')")
    assert counted == 7


async def test_signals_before_the_first_start_open_nothing(db: asyncpg.Pool, database_url: str) -> None:
    alpha, _ = await two_customers(db)
    old = await send(db, alpha, 130)

    async def final() -> bool:  # "now" starts after what has committed and is visible to all (cursor_now)
        return bool(
            await db.fetchval(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > xact FROM signals WHERE id = $1", old
            )
        )

    await eventually(final, "the old signal is behind every snapshot")
    async with opener(db, database_url):
        new = await send(db, alpha, 110)
        await handled(db, new)
    [incident] = await incidents(db)
    assert await members(db, incident["id"]) == [(new, "opened")]
    assert old < new


async def test_a_stale_opener_changes_nothing_and_stops(db: asyncpg.Pool, database_url: str) -> None:
    """Two openers without the job's lock (as a holder cut off and its successor could be for a moment): the
    compare-and-set lets one handle each page; the other's transaction rolls back and it stops."""
    alpha, beta = await two_customers(db)
    first, second = Opener(db, SETTINGS), Opener(db, SETTINGS)
    tasks = [asyncio.create_task(first.run(database_url)), asyncio.create_task(second.run(database_url))]
    try:
        await eventually(lambda: cursor_stored(db), "a cursor")
        sent = [await send(db, customer, 130, zone=zone) for zone in range(1, 6) for customer in (alpha, beta)]
        await handled(db, *sent)
        await eventually(lambda: asyncio.sleep(0, any(task.done() for task in tasks)), "one opener stops")
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert any(isinstance(result, CursorMoved) for result in results)
    rows = await db.fetch("SELECT signal_id, count(*) AS n FROM incident_signals GROUP BY signal_id")
    assert {row["signal_id"]: row["n"] for row in rows} == {signal: 1 for signal in sent}
    assert sorted(row["signal_count"] for row in await incidents(db)) == [5, 5]


FAST = Leadership(retry=0.1, heartbeat=0.2, heartbeat_timeout=1.0)


async def test_two_workers_racing_handle_each_signal_once_across_a_takeover(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, beta = await two_customers(db)

    async def run(pool: asyncpg.Pool, url: str) -> None:
        await Opener(pool, SETTINGS, page_size=3).run(url)

    job = Continuous(JOB, run)
    sent: list[int] = []
    async with AsyncExitStack() as stack:
        for holder in ("a:1", "b:2"):
            await stack.enter_async_context(
                running_jobs(db, database_url, [job], holder=holder, leadership=FAST,
                             restarts=RetryPolicy(base_delay=0.05, max_delay=0.2))
            )  # fmt: skip
        await eventually(lambda: cursor_stored(db), "a leader's cursor")
        for round_ in range(3):
            sent += [
                await send(db, customer, 130, zone=round_ * 10 + z) for z in range(4) for customer in (alpha, beta)
            ]
            sent.append(await send(db, None, 130, account="FFFF"))
            # The leader's lock connection dies while it works: the other takes over from the stored cursor.
            await db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
                "AND objid = $2 AND objsubid = 2 AND granted",
                *lock_key(JOB),
            )
        await handled(db, *sent)
    rows = await db.fetch("SELECT signal_id, count(*) AS n FROM incident_signals GROUP BY signal_id")
    assert {row["signal_id"]: row["n"] for row in rows} == {signal: 1 for signal in sent}
    assert sorted(row["signal_count"] for row in await incidents(db)) == [3, 12, 12]
    assert await db.fetchval("SELECT count(*) FROM incident_actions WHERE kind = 'opened'") == 3


async def test_pages_of_one_signal_each_move_the_cursor_with_their_incident(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, _ = await two_customers(db)
    running = Opener(db, SETTINGS, page_size=1)
    task = asyncio.create_task(running.run(database_url))
    try:
        await eventually(lambda: cursor_stored(db), "a cursor")
        sent = [await send(db, alpha, 130, zone=zone) for zone in range(1, 4)]
        await handled(db, *sent)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    cursor = await db.fetchrow("SELECT xact, id FROM job_cursors WHERE job = $1", JOB)
    last = await db.fetchrow("SELECT xact, id FROM signals WHERE id = $1", sent[-1])
    assert (cursor["xact"], cursor["id"]) >= (last["xact"], last["id"])
    [incident] = await incidents(db)
    assert incident["signal_count"] == 3


async def test_a_restore_joins_only_the_incident_whose_alarm_it_ends(db: asyncpg.Pool, database_url: str) -> None:
    # A burglary's incident was closed; a fire opened another. The burglary's restore ends nothing of the fire
    # incident: it is not attached there (the customer's "What we did" would show it under the fire).
    alpha, _ = await two_customers(db)
    async with opener(db, database_url):
        fire = await send(db, alpha, 110, zone=2)
        await handled(db, fire)
        stray = await send(db, alpha, 130, "restore", zone=1)
        await handled(db, stray)
        fire_restore = await send(db, alpha, 110, "restore", zone=2)
        await handled(db, fire_restore)
    [incident] = await incidents(db)
    attached = await db.fetch("SELECT signal_id FROM incident_signals WHERE incident_id = $1", incident["id"])
    assert {row["signal_id"] for row in attached} == {fire, fire_restore}
