"""Supervision on a real PostgreSQL, with the opener running: a panel past its deadline gets exactly one failure to
communicate (one 354 signal, one incident, one mail) however many checks run; its next traffic one restore, which
closes the incident when nobody holds it; a panel on test opens none. The worker runs both jobs."""

from __future__ import annotations

import asyncpg

from alarmhub.worker import worker_jobs, worker_service
from shared.config import load_config
from shared.incidents.notifications import set_preferences
from shared.incidents.opener import JOB as OPENER
from shared.incidents.supervision import JOB as SUPERVISION
from shared.incidents.supervision import supervise
from shared.jobs import Continuous, Singleton
from tests.portal.conftest import cheap_password_hashing  # noqa: F401 (a fixture)
from tests.shared.incidents.test_opener import (
    cursor_stored,
    eventually,
    handled,
    incidents,
    mails,
    members,
    opener,
    send,
    two_customers,
)

GRACE = 60.0


async def supervision_signals(db: asyncpg.Pool, panel_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT id, code, qualifier, transport, sequence, category, description, raw_frame, panel_id, site_id, "
        "customer_id FROM signals WHERE transport = 'supervision' AND panel_id = $1 ORDER BY id",
        panel_id,
    )
    return rows


async def silent_since(db: asyncpg.Pool, panel_id: int, interval: str) -> None:
    await db.execute(
        "UPDATE panels SET last_seen_at = now() - $2::text::interval, created_at = now() - interval '30 days' "
        "WHERE id = $1",
        panel_id,
        interval,
    )


async def test_a_silent_panel_fails_once_and_its_next_traffic_restores_it(db: asyncpg.Pool, database_url: str) -> None:
    alpha, beta = await two_customers(db)
    async with db.acquire() as connection:
        await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["failure_to_communicate"], None)
    # alpha missed its daily test (24 h + the grace); beta's link supervision (5 min) has not lapsed yet.
    await silent_since(db, alpha.panel_id, "25 hours")
    await db.execute("UPDATE panels SET supervision_interval = '5 minutes' WHERE id = $1", beta.panel_id)
    await silent_since(db, beta.panel_id, "4 minutes")
    async with opener(db, database_url):
        for check in range(3):
            failed, heard = await supervise(db, grace=GRACE)
            assert heard == []
            assert failed == ([alpha.panel_id] if check == 0 else []), "once per lapse"
        [lapse] = await supervision_signals(db, alpha.panel_id)
        assert (lapse["code"], lapse["qualifier"], lapse["transport"], lapse["sequence"]) == (
            "354", "event", "supervision", "0000",
        )  # fmt: skip
        assert (lapse["description"], lapse["category"], bytes(lapse["raw_frame"])) == (
            "Failure to communicate event", "trouble", b"",
        )  # fmt: skip
        assert (lapse["site_id"], lapse["customer_id"]) == (alpha.site_id, alpha.customer_id)
        assert await db.fetchval("SELECT communication_failed_at IS NOT NULL FROM panels WHERE id = $1", alpha.panel_id)
        await handled(db, lapse["id"])
        [incident] = await incidents(db)
        assert (incident["kind"], incident["priority"], incident["title"], incident["site_id"]) == (
            "failure_to_communicate", 5, "Failure to communicate event", alpha.site_id,
        )  # fmt: skip

        # beta's link supervision lapses later: its deadline is the shorter interval, not its daily test.
        await silent_since(db, beta.panel_id, "7 minutes")
        failed, _ = await supervise(db, grace=GRACE)
        assert failed == [beta.panel_id]

        # alpha is heard again (any traffic moves last_seen_at): one restore, the incident closed as restored.
        await db.execute("UPDATE panels SET last_seen_at = now() WHERE id = $1", alpha.panel_id)
        for check in range(3):
            failed, heard = await supervise(db, grace=GRACE)
            assert heard == ([alpha.panel_id] if check == 0 else []) and failed == []
        lapse_again, restore = await supervision_signals(db, alpha.panel_id)
        assert lapse_again["id"] == lapse["id"]
        assert (restore["code"], restore["qualifier"], restore["description"]) == (
            "354", "restore", "Failure to communicate event restored",
        )  # fmt: skip
        await handled(db, restore["id"])
        incident = (await incidents(db))[0]
        assert (incident["status"], incident["disposition"], incident["closed_by"]) == ("closed", "restored", None)
        assert await members(db, incident["id"]) == [(lapse["id"], "opened"), (restore["id"], "restore")]
        closed = await db.fetchrow(
            "SELECT customer_visible, detail FROM incident_actions WHERE incident_id = $1 AND kind = 'closed'",
            incident["id"],
        )
        assert closed["customer_visible"] and closed["detail"]["disposition"] == "restored"
        assert not await db.fetchval(
            "SELECT communication_failed_at IS NOT NULL FROM panels WHERE id = $1", alpha.panel_id
        )

        # Silent again later: a new lapse, a new incident.
        await silent_since(db, alpha.panel_id, "25 hours")
        failed, _ = await supervise(db, grace=GRACE)
        assert failed == [alpha.panel_id]
        third = (await supervision_signals(db, alpha.panel_id))[-1]
        await handled(db, third["id"])
        assert [row["status"] for row in await incidents(db) if row["site_id"] == alpha.site_id] == ["closed", "open"]
    sent = [mail for mail in await mails(db) if mail["recipient"] == alpha.owner_email]
    assert len(sent) == 2, "one mail per lapse"
    assert sent[0]["subject"] == "Acme Alarms: Premises is not communicating"
    assert alpha.security_code not in sent[0]["body"] + sent[0]["html"]


async def test_a_held_failure_stays_open_when_restored_and_an_alarm_makes_it_an_alarm(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, beta = await two_customers(db)
    staff_id = await db.fetchval(
        "INSERT INTO users (email, name, role) VALUES ('dispatch@example.com', 'Dana', 'dispatcher') RETURNING id"
    )
    for customer in (alpha, beta):
        await silent_since(db, customer.panel_id, "25 hours")
    async with opener(db, database_url):
        await supervise(db, grace=GRACE)
        lapses = [(await supervision_signals(db, c.panel_id))[0]["id"] for c in (alpha, beta)]
        await handled(db, *lapses)
        by_site = {row["site_id"]: row for row in await incidents(db)}
        await db.execute(
            "UPDATE incidents SET holder_id = $2, taken_at = now() WHERE id = $1",
            by_site[alpha.site_id]["id"],
            staff_id,
        )
        fire = await send(db, beta, 110)  # beta's failing premises now sends an alarm: the incident becomes one
        await handled(db, fire)
        await db.execute(
            "UPDATE panels SET last_seen_at = now() WHERE id = ANY($1::bigint[])", [alpha.panel_id, beta.panel_id]
        )
        await supervise(db, grace=GRACE)
        restores = [(await supervision_signals(db, c.panel_id))[-1]["id"] for c in (alpha, beta)]
        await handled(db, *restores)
    by_site = {row["site_id"]: row for row in await incidents(db)}
    held, alarm = by_site[alpha.site_id], by_site[beta.site_id]
    assert (held["status"], held["kind"]) == ("open", "failure_to_communicate"), "someone holds it: they close it"
    assert held["restored_at"] is not None
    assert (alarm["status"], alarm["kind"], alarm["priority"], alarm["title"]) == ("open", "alarm", 1, "Fire alarm")


async def test_a_panel_on_test_opens_no_failure_incident_until_its_test_ends(
    db: asyncpg.Pool, database_url: str
) -> None:
    alpha, _ = await two_customers(db)
    test_id = await db.fetchval(
        "INSERT INTO system_tests (site_id, customer_id, starts_at, ends_at) "
        "VALUES ($1, $2, now() - interval '1 minute', now() + interval '1 hour') RETURNING id",
        alpha.site_id,
        alpha.customer_id,
    )
    await silent_since(db, alpha.panel_id, "25 hours")
    async with opener(db, database_url):
        for _ in range(2):
            assert await supervise(db, grace=GRACE) == ([], [])
        assert await supervision_signals(db, alpha.panel_id) == []
        # The test is ended early; the panel is still silent: now it fails, once.
        await db.execute("UPDATE system_tests SET ended_at = now() WHERE id = $1", test_id)
        assert await supervise(db, grace=GRACE) == ([alpha.panel_id], [])
        [lapse] = await supervision_signals(db, alpha.panel_id)
        await handled(db, lapse["id"])
    [incident] = await incidents(db)
    assert incident["kind"] == "failure_to_communicate" and incident["first_signal_id"] == lapse["id"]


async def test_the_worker_runs_the_opener_and_the_supervision(db: asyncpg.Pool, database_url: str) -> None:
    config = load_config(None, environ={"ALARMHUB_DISPATCH_SUPERVISION_INTERVAL": "1"})
    jobs = {job.name: job for job in worker_jobs(config)}
    assert isinstance(jobs[OPENER], Continuous)
    assert isinstance(jobs[SUPERVISION], Singleton) and jobs[SUPERVISION].interval == 1.0
    alpha, _ = await two_customers(db)
    async with worker_service(config, database_url):  # as `alarmhub worker` and `alarmhub run` run it
        await eventually(lambda: cursor_stored(db), "the worker's opener stores its cursor")
        await silent_since(db, alpha.panel_id, "25 hours")

        async def opened() -> bool:
            return any(row["kind"] == "failure_to_communicate" for row in await incidents(db))

        await eventually(opened, "the worker's supervision and opener open the failure to communicate")
    assert len(await supervision_signals(db, alpha.panel_id)) == 1
    leaders = {row["job"] for row in await db.fetch("SELECT job FROM job_leaders")}
    assert {OPENER, SUPERVISION} <= leaders


async def test_traffic_that_reaches_the_table_just_after_the_check_restores_the_panel(db: asyncpg.Pool) -> None:
    # The receivers write last_seen_at (the frame's arrival, by their clock) about once a second: a late test frame
    # that arrived a moment before the check lands after it. The failure counts from the last traffic the check
    # saw, so any later traffic restores the panel — before, it stayed failed until its next test.
    alpha, _ = await two_customers(db)
    await silent_since(db, alpha.panel_id, "25 hours")
    failed, _ = await supervise(db, grace=GRACE)
    assert failed == [alpha.panel_id]
    await db.execute("UPDATE panels SET last_seen_at = now() - interval '0.5 s' WHERE id = $1", alpha.panel_id)
    failed, heard = await supervise(db, grace=GRACE)
    assert (failed, heard) == ([], [alpha.panel_id])
    assert await db.fetchval("SELECT communication_failed_at FROM panels WHERE id = $1", alpha.panel_id) is None


async def test_a_failure_joining_an_open_alarm_still_mails_its_subscribers(db: asyncpg.Pool, database_url: str) -> None:
    # The intruder smashed the panel: a burglary is open, then the panel goes silent. The 354 joins the alarm
    # incident (it stays an alarm); whoever chose "failure to communicate" is mailed all the same.
    alpha, _ = await two_customers(db)
    async with db.acquire() as connection:
        await set_preferences(connection, alpha.customer_id, alpha.owner_id, ["failure_to_communicate"], None)
    async with opener(db, database_url):
        burglary = await send(db, alpha, 130)
        await handled(db, burglary)
        await silent_since(db, alpha.panel_id, "25 hours")
        failed, _ = await supervise(db, grace=GRACE)
        assert failed == [alpha.panel_id]
        [lapse] = await supervision_signals(db, alpha.panel_id)
        await handled(db, lapse["id"])
    [incident] = await incidents(db)
    assert incident["kind"] == "alarm"
    subjects = [mail["subject"] for mail in await mails(db) if mail["recipient"] == alpha.owner_email]
    assert len([subject for subject in subjects if "not communicating" in subject]) == 1, subjects
