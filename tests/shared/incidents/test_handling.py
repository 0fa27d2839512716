"""Handling incidents on a real PostgreSQL: one holder (a take is a conditional UPDATE on the locked row, so two
dispatchers at the same moment cannot both hold it), take over with a reason and the holder the page showed, the
audit trail of every action (who, when, what) with its NOTIFY, closed incidents refusing everything, the closing
rules, and an unknown account's incident attached to its account once enrolled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from shared.enrolment import create_staff_user
from shared.errors import Conflict, DomainError, NotFound
from shared.events import INCIDENTS
from shared.incidents import handling
from shared.incidents.handling import Staff
from shared.incidents.priority import PrioritySettings
from tests.portal.conftest import PASSWORD, Customer, cheap_password_hashing, enrol  # noqa: F401 (a fixture)
from tests.portal.dispatch.incidents import alarm_incident, contact, incident, signal, staff


@pytest_asyncio.fixture
async def people(db: asyncpg.Pool) -> AsyncIterator[tuple[Customer, Staff, Staff]]:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        await create_staff_user(connection, email="dana@example.com", password=PASSWORD, role="dispatcher")
        await create_staff_user(connection, email="eli@example.com", password=PASSWORD, role="dispatcher")
        await connection.execute("UPDATE users SET name = 'Dana Dispatcher' WHERE email = 'dana@example.com'")
        dana = await staff(connection, "dana@example.com")
        eli = await staff(connection, "eli@example.com")
    yield alpha, dana, eli


async def trail(db: asyncpg.Pool, incident_id: int) -> list[tuple[str, str | None, dict[str, object], bool]]:
    rows = await db.fetch(
        "SELECT kind, user_name, detail, customer_visible, user_id, at FROM incident_actions "
        "WHERE incident_id = $1 AND kind <> 'opened' ORDER BY at, id",
        incident_id,
    )
    assert all(r["at"] is not None for r in rows)
    return [(r["kind"], r["user_name"], dict(r["detail"]), r["customer_visible"]) for r in rows]


async def test_two_dispatchers_taking_at_the_same_moment_exactly_one_holds_it(
    database_url: str, db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, eli = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
    for _ in range(5):  # several rounds: the race must hold every time, not by luck of scheduling
        await db.execute("UPDATE incidents SET holder_id = NULL, taken_at = NULL WHERE id = $1", incident_id)
        first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
        try:
            results = await asyncio.gather(
                handling.take(first, incident_id, dana),
                handling.take(second, incident_id, eli),
                return_exceptions=True,
            )
        finally:
            await first.close()
            await second.close()
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], Conflict), results
        holder = await db.fetchval("SELECT holder_id FROM incidents WHERE id = $1", incident_id)
        winner = dana if results[0] is None else eli
        assert holder == winner.user_id
        assert refused[0].message == f"{winner.name} already holds this incident."
    takes = await db.fetch(
        "SELECT user_id FROM incident_actions WHERE incident_id = $1 AND kind = 'taken'", incident_id
    )
    assert len(takes) == 5  # one per round: the loser wrote nothing


async def test_only_the_holder_acts_and_take_over_needs_a_reason_and_the_holder_shown(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, eli = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        with pytest.raises(Conflict, match="Take the incident first"):
            await handling.note(connection, incident_id, dana, text="Looking")
        await handling.take(connection, incident_id, dana)
        await handling.take(connection, incident_id, dana)  # again: nothing more happens
        with pytest.raises(Conflict, match="Dana Dispatcher holds this incident: only its holder acts on it"):
            await handling.note(connection, incident_id, eli, text="Mine now?")
        with pytest.raises(Conflict, match="Dana Dispatcher already holds this incident"):
            await handling.take(connection, incident_id, eli)
        with pytest.raises(DomainError, match="Say why you take it over") as missing:
            await handling.take_over(connection, incident_id, eli, reason="  ", expected_holder_id=dana.user_id)
        assert missing.value.field == "reason"
        # The page Eli looked at showed nobody holding it: the holder changed since, so look again.
        with pytest.raises(Conflict, match="Dana Dispatcher holds this incident now: look again"):
            await handling.take_over(connection, incident_id, eli, reason="Shift change", expected_holder_id=None)
        await handling.take_over(
            connection, incident_id, eli, reason="Dana is on another call", expected_holder_id=dana.user_id
        )
        with pytest.raises(Conflict, match=r"eli@example\.com holds this incident"):
            await handling.release(connection, incident_id, dana)
        await handling.release(connection, incident_id, eli)
    assert await db.fetchval("SELECT holder_id FROM incidents WHERE id = $1", incident_id) is None
    assert await trail(db, incident_id) == [
        ("taken", "Dana Dispatcher", {}, False),
        (
            "taken_over",
            "eli@example.com",
            {"reason": "Dana is on another call", "from_user_id": dana.user_id, "from_name": "Dana Dispatcher"},
            False,
        ),
        ("released", "eli@example.com", {}, False),
    ]


async def test_every_action_is_audited_with_who_when_what_and_notified(
    database_url: str, db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, _ = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        ann = await contact(connection, alpha, "Ann Keyholder", "555-0100")
    listener = await asyncpg.connect(database_url)
    heard: list[str] = []
    eight = asyncio.Event()

    def hear(*args: object) -> None:
        heard.append(str(args[3]))
        if len(heard) >= 8:
            eight.set()

    await listener.add_listener(INCIDENTS.name, hear)
    try:
        async with db.acquire() as connection:
            await handling.take(connection, incident_id, dana)
            await handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=ann,
                phone="",
                outcome="no_answer",
                note="Rang out",
                passcode_verified=False,
            )
            await handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=None,
                phone="555-0999",
                outcome="answered",
                note="Neighbour",
                passcode_verified=False,
            )
            await handling.note(connection, incident_id, dana, text="Neighbour sees a broken window")
            await handling.dispatch(connection, incident_id, dana, service="police", note="Ref 4711")
            until = await handling.hold(
                connection, incident_id, dana, minutes=15, reason="Police on the way", max_minutes=240
            )
            await handling.take(connection, incident_id, dana)
            await handling.close(
                connection, incident_id, dana, disposition="real_alarm", cause="", note="Burglary confirmed"
            )
        await asyncio.wait_for(eight.wait(), 5)
        await asyncio.sleep(0.2)  # and nothing more
    finally:
        await listener.close()
    assert heard == [f'{{"ids": [{incident_id}]}}'] * 8  # one per action, at its commit
    actions = await trail(db, incident_id)
    assert [(kind, who) for kind, who, _, _ in actions] == [
        ("taken", "Dana Dispatcher"),
        ("call", "Dana Dispatcher"),
        ("call", "Dana Dispatcher"),
        ("note", "Dana Dispatcher"),
        ("dispatch", "Dana Dispatcher"),
        ("hold", "Dana Dispatcher"),
        ("taken", "Dana Dispatcher"),
        ("closed", "Dana Dispatcher"),
    ]
    details = {kind: detail for kind, _, detail, _ in actions}
    assert actions[1][2] == {
        "contact_id": ann,
        "name": "Ann Keyholder",
        "phone": "555-0100",
        "outcome": "no_answer",
        "note": "Rang out",
        "passcode_verified": False,
    }
    assert actions[2][2]["phone"] == "555-0999" and actions[2][2]["contact_id"] is None
    assert details["note"] == {"text": "Neighbour sees a broken window"}
    assert details["dispatch"] == {"service": "police", "note": "Ref 4711"}
    assert details["hold"] == {"minutes": 15, "until": until.isoformat(), "reason": "Police on the way"}
    assert details["closed"] == {"disposition": "real_alarm", "cause": None, "note": "Burglary confirmed"}
    # What the customer's account may tell: calls, the dispatch and the closing; never notes, takes or holds.
    visible = {kind for kind, _, _, shown in actions if shown}
    assert visible == {"call", "dispatch", "closed"}
    closed = await db.fetchrow(
        "SELECT status, disposition, closed_by, closed_at, disposition_note, held_until FROM incidents WHERE id = $1",
        incident_id,
    )
    assert closed["status"] == "closed" and closed["disposition"] == "real_alarm"
    assert closed["closed_by"] == dana.user_id and closed["closed_at"] is not None
    assert closed["disposition_note"] == "Burglary confirmed" and closed["held_until"] is None


async def test_hold_puts_it_back_in_the_queue_until_a_time_within_the_limit(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, eli = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        await handling.take(connection, incident_id, dana)
        for minutes in (0, 241):
            with pytest.raises(DomainError, match="Hold for 1 to 240 minutes") as refused:
                await handling.hold(connection, incident_id, dana, minutes=minutes, reason="x", max_minutes=240)
            assert refused.value.field == "minutes"
        until = await handling.hold(
            connection, incident_id, dana, minutes=30, reason="Keyholder coming", max_minutes=240
        )
        row = await connection.fetchrow(
            "SELECT holder_id, held_until, held_until - now() AS left FROM incidents WHERE id = $1", incident_id
        )
        assert row["holder_id"] is None and row["held_until"] == until
        assert 29 * 60 < row["left"].total_seconds() <= 30 * 60
        # Anyone may take it before the hold ends; taking ends the hold.
        await handling.take(connection, incident_id, eli)
        assert await connection.fetchval("SELECT held_until FROM incidents WHERE id = $1", incident_id) is None


async def test_a_closed_incident_refuses_everything(db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]) -> None:
    alpha, dana, eli = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        await handling.take(connection, incident_id, dana)
        await handling.close(connection, incident_id, dana, disposition="test", cause="", note="")
        before = await connection.fetchval("SELECT count(*) FROM incident_actions WHERE incident_id = $1", incident_id)
        attempts = [
            handling.take(connection, incident_id, eli),
            handling.take_over(connection, incident_id, eli, reason="x", expected_holder_id=dana.user_id),
            handling.release(connection, incident_id, dana),
            handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=None,
                phone="555",
                outcome="answered",
                note="",
                passcode_verified=False,
            ),
            handling.note(connection, incident_id, dana, text="late note"),
            handling.dispatch(connection, incident_id, dana, service="fire", note=""),
            handling.hold(connection, incident_id, dana, minutes=5, reason="x", max_minutes=240),
            handling.close(connection, incident_id, dana, disposition="real_alarm", cause="", note=""),
            handling.attach_unknown(connection, incident_id, dana, account=alpha.account),
        ]
        for attempt in attempts:
            with pytest.raises(Conflict, match="Closed incidents cannot be changed"):
                await attempt
        after = await connection.fetchval("SELECT count(*) FROM incident_actions WHERE incident_id = $1", incident_id)
        assert after == before
        assert await connection.fetchval("SELECT disposition FROM incidents WHERE id = $1", incident_id) == "test"
        with pytest.raises(NotFound):
            await handling.take(connection, incident_id + 1000, dana)


async def test_close_rules_false_alarm_cause_and_cancelled_with_passcode(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, _ = people
    async with db.acquire() as connection:
        incident_id = await alarm_incident(connection, alpha)
        ann = await contact(connection, alpha, "Ann Keyholder", "555-0100")
        await handling.take(connection, incident_id, dana)

        async def refused(field: str, message: str, **kwargs: str) -> None:
            with pytest.raises(DomainError, match=message) as caught:
                await handling.close(connection, incident_id, dana, **{"cause": "", "note": "", **kwargs})  # type: ignore[arg-type]
            assert caught.value.field == field

        await refused("cause", "A false alarm needs its cause", disposition="false_alarm")
        await refused("cause", "Choose the false alarm's cause", disposition="false_alarm", cause="ghosts")
        await refused("disposition", "Choose how the incident ends", disposition="solved")
        await refused("disposition", "Attach an unknown account", disposition="attached")
        await refused(
            "disposition",
            "Cancelled by the customer needs a call with the passcode verified",
            disposition="cancelled_by_customer",
        )
        # A call in which nobody gave the passcode is not enough; nor may a passcode come from an unanswered call.
        await handling.record_call(
            connection,
            incident_id,
            dana,
            contact_id=ann,
            phone="",
            outcome="answered",
            note="",
            passcode_verified=False,
        )
        await refused(
            "disposition",
            "Cancelled by the customer needs a call with the passcode verified",
            disposition="cancelled_by_customer",
        )
        with pytest.raises(DomainError, match="Only someone who answered") as caught:
            await handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=ann,
                phone="",
                outcome="voicemail",
                note="",
                passcode_verified=True,
            )
        assert caught.value.field == "passcode_verified"
        assert await connection.fetchval("SELECT status FROM incidents WHERE id = $1", incident_id) == "open"
        await handling.record_call(
            connection,
            incident_id,
            dana,
            contact_id=ann,
            phone="",
            outcome="answered",
            note="Gave the passcode",
            passcode_verified=True,
        )
        await handling.close(connection, incident_id, dana, disposition="cancelled_by_customer", cause="", note="")
        assert await connection.fetchval("SELECT disposition FROM incidents WHERE id = $1", incident_id) == (
            "cancelled_by_customer"
        )

        # A false alarm with its cause: stored on the incident and in the trail.
        second = await alarm_incident(connection, alpha)
        await handling.take(connection, second, dana)
        await handling.close(connection, second, dana, disposition="false_alarm", cause="animal", note="The cat")
        row = await connection.fetchrow("SELECT disposition, false_alarm_cause FROM incidents WHERE id = $1", second)
        assert dict(row) == {"disposition": "false_alarm", "false_alarm_cause": "animal"}


async def test_a_call_to_a_contact_of_another_premises_is_refused(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, _ = people
    async with db.acquire() as connection:
        beta = await enrol(connection, "beta", "B2B2")
        stranger = await contact(connection, beta, "Bob Beta", "555-0200")
        incident_id = await alarm_incident(connection, alpha)
        await handling.take(connection, incident_id, dana)
        with pytest.raises(DomainError, match="not on this premises' call list") as caught:
            await handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=stranger,
                phone="",
                outcome="answered",
                note="",
                passcode_verified=False,
            )
        assert caught.value.field == "contact_id"
        with pytest.raises(DomainError, match="Choose how the call went"):
            await handling.record_call(
                connection,
                incident_id,
                dana,
                contact_id=None,
                phone="555",
                outcome="maybe",
                note="",
                passcode_verified=False,
            )


async def test_attach_unknown_merges_into_the_premises_open_incident(
    database_url: str, db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    _, dana, eli = people
    async with db.acquire() as connection:
        # Signals from account C3C3 before it was enrolled: a fire alarm and a trouble report.
        fire = await signal(
            connection, account="C3C3", code="110", alarm_type="fire", priority=1, description="Fire alarm"
        )
        trouble = await signal(
            connection,
            account="C3C3",
            code="300",
            category="trouble",
            alarm_type=None,
            priority=6,
            description="System trouble",
            seconds_ago=30,
        )
        unknown = await incident(connection, None, [fire, trouble], account="C3C3", priority=4, title="Fire alarm")
        await handling.take(connection, unknown, dana)
        with pytest.raises(DomainError, match="No panel is enrolled with account C3C3") as caught:
            await handling.attach_unknown(connection, unknown, dana, account="c3c3")
        assert caught.value.field == "account"
        # Then the account is enrolled, and its premises has an open burglary incident held by Eli.
        gamma = await enrol(connection, "gamma", "C3C3")
        premises = await alarm_incident(connection, gamma, holder_id=eli.user_id)
        with pytest.raises(DomainError, match="Only an unknown account's incident"):
            await handling.take_over(connection, premises, dana, reason="x", expected_holder_id=eli.user_id)
            await handling.attach_unknown(connection, premises, dana, account="C3C3")
        attached = await handling.attach_unknown(connection, unknown, dana, account="c3c3")
    assert attached == handling.Attached(premises, True, gamma.customer_id, gamma.site_id)
    signals = await db.fetch(
        "SELECT id, panel_id, site_id, customer_id FROM signals WHERE id = ANY($1::bigint[]) ORDER BY id",
        [fire, trouble],
    )
    assert [tuple(r.values())[1:] for r in signals] == [(gamma.panel_id, gamma.site_id, gamma.customer_id)] * 2
    members = await db.fetch(
        "SELECT signal_id, role FROM incident_signals WHERE incident_id = $1 ORDER BY signal_id", premises
    )
    roles = {r["signal_id"]: r["role"] for r in members}
    assert roles[fire] == roles[trouble] == "joined" and sorted(roles.values()) == ["joined", "joined", "opened"]
    merged = await db.fetchrow(
        "SELECT status, disposition, signal_count, priority, title, alarm_type, holder_id FROM incidents WHERE id = $1",
        premises,
    )
    # The fire alarm is more urgent than the burglary: the premises' incident takes its priority and title.
    assert dict(merged) == {
        "status": "open",
        "disposition": None,
        "signal_count": 3,
        "priority": 1,
        "title": "Fire alarm",
        "alarm_type": "fire",
        "holder_id": dana.user_id,
    }
    gone = await db.fetchrow(
        "SELECT status, disposition, closed_by, disposition_note FROM incidents WHERE id = $1", unknown
    )
    assert dict(gone) == {
        "status": "closed",
        "disposition": "attached",
        "closed_by": dana.user_id,
        "disposition_note": f"Attached to incident #{premises}",
    }
    assert [kind for kind, *_ in await trail(db, unknown)] == ["taken", "attached", "closed"]
    target_trail = await trail(db, premises)
    assert target_trail[-1][:2] == ("attached", "Dana Dispatcher")
    assert target_trail[-1][2]["from"] == unknown and target_trail[-1][2]["signal_ids"] == [fire, trouble]


async def test_attach_unknown_refuses_any_account_but_the_signals_own(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    alpha, dana, _ = people  # alpha (A1A1) is enrolled, with an open incident
    async with db.acquire() as connection:
        theirs = await alarm_incident(connection, alpha)
        stray = await signal(connection, account="F6F6", code="130", description="Burglary alarm")
        unknown = await incident(connection, None, [stray], account="F6F6", priority=4, title="Burglary alarm")
        await handling.take(connection, unknown, dana)
        before = await connection.fetchval("SELECT count(*) FROM incident_actions")
        for typed in (alpha.account, alpha.account.lower(), "F6F7"):  # another enrolled account, or a typo
            with pytest.raises(
                DomainError, match="came from account F6F6: they can only be attached to F6F6"
            ) as caught:
                await handling.attach_unknown(connection, unknown, dana, account=typed)
            assert caught.value.field == "account"
        assert await connection.fetchval("SELECT count(*) FROM incident_actions") == before
    row = await db.fetchrow("SELECT panel_id, site_id, customer_id FROM signals WHERE id = $1", stray)
    assert tuple(row.values()) == (None, None, None), "the stray signal stays nobody's"
    assert await db.fetchval("SELECT signal_count FROM incidents WHERE id = $1", theirs) == 1
    assert await db.fetchval("SELECT status FROM incidents WHERE id = $1", unknown) == "open"


async def test_attach_unknown_with_nothing_open_makes_it_the_premises_incident(
    db: asyncpg.Pool, people: tuple[Customer, Staff, Staff]
) -> None:
    _, dana, _ = people
    async with db.acquire() as connection:
        panic = await signal(
            connection, account="E5E5", code="120", alarm_type="panic", priority=2, description="Panic alarm"
        )
        unknown = await incident(connection, None, [panic], account="E5E5", priority=4, title="Panic alarm")
        await handling.take(connection, unknown, dana)
        epsilon = await enrol(connection, "epsilon", "E5E5")
        attached = await handling.attach_unknown(
            connection, unknown, dana, account="E5E5", priorities=PrioritySettings(overrides={"panic": 1})
        )
    assert attached == handling.Attached(unknown, False, epsilon.customer_id, epsilon.site_id)
    row = await db.fetchrow(
        "SELECT kind, status, premises_key, panel_id, site_id, customer_id, priority, alarm_type, holder_id "
        "FROM incidents WHERE id = $1",
        unknown,
    )
    assert dict(row) == {
        "kind": "alarm",
        "status": "open",
        "premises_key": f"site:{epsilon.site_id}",
        "panel_id": epsilon.panel_id,
        "site_id": epsilon.site_id,
        "customer_id": epsilon.customer_id,
        "priority": 1,  # the panic override, now that it is an alarm of a known premises
        "alarm_type": "panic",
        "holder_id": dana.user_id,
    }
    assert await db.fetchval("SELECT customer_id FROM signals WHERE id = $1", panic) == epsilon.customer_id
    assert [kind for kind, *_ in await trail(db, unknown)] == ["taken", "attached"]
