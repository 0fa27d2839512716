"""Staff's work on a request: one holder at a time, comments for the customer or internal, visits, completion."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.branding import Branding
from shared.errors import Conflict, DomainError, NotFound
from shared.service.requests import (
    comment,
    complete,
    get_request,
    list_requests,
    open_requests,
    release,
    schedule_visit,
    service_history,
    submit_request,
    take,
    take_over,
)
from tests.portal.conftest import Customer
from tests.shared.service.conftest import Staff, owner_scope, service_fields, staff_scope, submitted

IN_TWO_DAYS = datetime.now(ZoneInfo("America/Chicago")).replace(second=0, microsecond=0) + timedelta(days=2)


async def taken_by(db: asyncpg.Pool, branding: Branding, customer: Customer, member: Staff) -> int:
    async with db.acquire() as connection:
        request_id = await submitted(connection, branding, customer)
        await take(connection, staff_scope(customer, member), request_id, staff_id=member.id, staff_name=member.name)
    return request_id


async def mail_subjects(db: asyncpg.Pool) -> list[str]:
    return [row["subject"] for row in await db.fetch("SELECT subject FROM outbox ORDER BY id")]


async def test_two_staff_taking_at_the_same_moment_one_holds_the_other_is_refused(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    async with db.acquire() as connection:
        request_id = await submitted(connection, branding, alpha)

    async def take_as(member: Staff) -> Staff:
        async with db.acquire() as connection:
            await take(connection, staff_scope(alpha, member), request_id, staff_id=member.id, staff_name=member.name)
        return member

    results = await asyncio.gather(*(take_as(member) for member in staff), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Staff)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(refused) == 1, results
    assert f"{winners[0].name} already holds this request." == refused[0].message
    assert await db.fetchval("SELECT holder_id FROM service_requests") == winners[0].id
    assert await db.fetchval("SELECT count(*) FROM service_request_events WHERE action = 'taken'") == 1


async def test_taking_again_is_harmless_and_release_lets_another_take(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, eli = staff
    request_id = await taken_by(db, branding, alpha, dana)
    async with db.acquire() as connection:
        await take(connection, staff_scope(alpha, dana), request_id, staff_id=dana.id, staff_name=dana.name)
        with pytest.raises(Conflict):
            await release(connection, staff_scope(alpha, eli), request_id, staff_id=eli.id, staff_name=eli.name)
        await release(connection, staff_scope(alpha, dana), request_id, staff_id=dana.id, staff_name=dana.name)
        assert (await list_requests(connection, owner_scope(alpha)))[0].holder_id is None
        await take(connection, staff_scope(alpha, eli), request_id, staff_id=eli.id, staff_name=eli.name)
        request, events, _ = await get_request(connection, owner_scope(alpha), request_id, internal=True)
    assert (request.holder_id, request.holder_name) == (eli.id, "Eli")
    assert [(e.action, e.author_name) for e in events] == [
        ("submitted", "Customer alpha"),
        ("taken", "Dana"),
        ("released", "Dana"),
        ("taken", "Eli"),
    ]


async def test_actions_without_holding_the_request_are_refused(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, eli = staff
    async with db.acquire() as connection:
        unheld = await submitted(connection, branding, alpha, submission_key="unheld")
    held_by_dana = await taken_by(db, branding, alpha, dana)
    scope = staff_scope(alpha, eli)
    async with db.acquire() as connection:
        for request_id in (unheld, held_by_dana):
            with pytest.raises(Conflict):
                await comment(
                    connection,
                    scope,
                    branding,
                    request_id,
                    staff_id=eli.id,
                    staff_name="Eli",
                    body="Hi",
                    internal=False,
                )
            with pytest.raises(Conflict):
                await schedule_visit(
                    connection,
                    scope,
                    branding,
                    request_id,
                    staff_id=eli.id,
                    staff_name="Eli",
                    technician="Sam",
                    scheduled_for=IN_TWO_DAYS,
                )
            with pytest.raises(Conflict):
                await complete(
                    connection,
                    scope,
                    branding,
                    request_id,
                    staff_id=eli.id,
                    staff_name="Eli",
                    performed_on=date.today(),
                    technician="Sam",
                    work_performed="Fixed",
                )
    assert await db.fetchval("SELECT count(*) FROM service_request_events WHERE action <> 'submitted'") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 2  # the two confirmations only


async def test_another_customers_request_is_not_found_for_every_action(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, beta: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    wrong = staff_scope(beta, dana)
    async with db.acquire() as connection:
        with pytest.raises(NotFound):
            await get_request(connection, owner_scope(beta), request_id, internal=False)
        with pytest.raises(NotFound):
            await take(connection, wrong, request_id, staff_id=dana.id, staff_name="Dana")
        with pytest.raises(NotFound):
            await release(connection, wrong, request_id, staff_id=dana.id, staff_name="Dana")
        with pytest.raises(NotFound):
            await comment(
                connection, wrong, branding, request_id, staff_id=dana.id, staff_name="Dana", body="x", internal=True
            )
    assert await db.fetchval("SELECT holder_id FROM service_requests") == dana.id


async def test_a_comment_for_the_customer_answers_and_mails_an_internal_note_does_neither(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    scope = staff_scope(alpha, dana)
    async with db.acquire() as connection:
        await comment(
            connection,
            scope,
            branding,
            request_id,
            staff_id=dana.id,
            staff_name="Dana",
            body="Customer sounded upset; check the zone 3 sensor.",
            internal=True,
        )
        assert (await list_requests(connection, owner_scope(alpha)))[0].status == "open"
        assert len(await mail_subjects(db)) == 1
        await comment(
            connection,
            scope,
            branding,
            request_id,
            staff_id=dana.id,
            staff_name="Dana",
            body="We checked the signals: the back door opened at 2:14.",
            internal=False,
        )
        customer_view = await get_request(connection, owner_scope(alpha), request_id, internal=False)
        staff_view = await get_request(connection, scope, request_id, internal=True)
    assert customer_view[0].status == "answered"
    assert [e.body for e in customer_view[1] if e.action == "comment"] == [
        "We checked the signals: the back door opened at 2:14."
    ]
    assert all(e.visibility == "customer" for e in customer_view[1])
    assert [e.action for e in customer_view[1]] == ["submitted", "comment"]  # taken is staff's business
    assert [e.internal for e in staff_view[1] if e.action == "comment"] == [True, False]
    subjects = await mail_subjects(db)
    assert subjects[-1] == f"Acme Alarms: an answer to your request #{request_id}"
    answer = await db.fetchrow("SELECT * FROM outbox ORDER BY id DESC LIMIT 1")
    assert answer["recipient"] == "pat@example.com"
    assert "the back door opened at 2:14" in answer["body"]
    assert "zone 3" not in answer["body"]


async def test_an_empty_comment_is_refused_by_its_field(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as refused:
            await comment(
                connection,
                staff_scope(alpha, dana),
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                body="  \n ",
                internal=False,
            )
    assert refused.value.field == "body"


async def test_scheduling_a_visit_books_it_and_mails_the_time_in_its_zone(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    async with db.acquire() as connection:
        request_id = await submit_request(connection, owner_scope(alpha), branding, **service_fields(alpha))
        scope = staff_scope(alpha, dana)
        await take(connection, scope, request_id, staff_id=dana.id, staff_name="Dana")
        first = IN_TWO_DAYS
        later = IN_TWO_DAYS + timedelta(days=1)
        for when in (first, later):
            await schedule_visit(
                connection,
                scope,
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                technician="Sam Tech",
                scheduled_for=when,
            )
        request, events, visits = await get_request(connection, owner_scope(alpha), request_id, internal=False)
    assert request.status == "scheduled"
    assert [(v.scheduled_for, v.cancelled_at is not None) for v in visits] == [(first, True), (later, False)]
    assert events[-1].action == "scheduled"
    assert events[-1].body.endswith("This replaces the visit booked before.")
    mail = await db.fetchrow("SELECT * FROM outbox ORDER BY id DESC LIMIT 1")
    when = f"{later:%A} {later.day} {later:%B %Y} at {later:%H:%M}"
    assert mail["subject"] == f"Acme Alarms: a visit is scheduled for {when}"
    assert "Technician: Sam Tech" in mail["body"]
    assert "Premises: Premises, alpha Street 1" in mail["body"]


@pytest.mark.parametrize(
    ("technician", "scheduled_for", "field"),
    [
        ("", IN_TWO_DAYS, "technician"),
        ("Sam", datetime.now(UTC) - timedelta(hours=1), "scheduled_for"),
        ("Sam", IN_TWO_DAYS.replace(tzinfo=None), "scheduled_for"),
    ],
)
async def test_a_visit_needs_a_technician_and_a_time_to_come(
    db: asyncpg.Pool,
    branding: Branding,
    alpha: Customer,
    staff: tuple[Staff, Staff],
    technician: str,
    scheduled_for: datetime,
    field: str,
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as refused:
            await schedule_visit(
                connection,
                staff_scope(alpha, dana),
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                technician=technician,
                scheduled_for=scheduled_for,
            )
    assert refused.value.field == field
    assert await db.fetchval("SELECT count(*) FROM service_visits") == 0


async def test_completing_writes_the_service_history_mails_and_closes_the_request(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, eli = staff
    async with db.acquire() as connection:
        request_id = await submit_request(connection, owner_scope(alpha), branding, **service_fields(alpha))
        scope = staff_scope(alpha, dana)
        await take(connection, scope, request_id, staff_id=dana.id, staff_name="Dana")
        await complete(
            connection,
            scope,
            branding,
            request_id,
            staff_id=dana.id,
            staff_name="Dana",
            performed_on=date(2026, 12, 4),
            technician="Sam Tech",
            work_performed="Replaced the back door contact.",
            today=date(2026, 12, 5),
        )
        history = await service_history(connection, owner_scope(alpha))
        request, events, _ = await get_request(connection, owner_scope(alpha), request_id, internal=False)
        assert await open_requests(connection, owner_scope(alpha)) == []
        # A closed request refuses everything, whoever asks, and writes no second history row.
        for member in (dana, eli):
            with pytest.raises(Conflict):
                await take(connection, scope, request_id, staff_id=member.id, staff_name=member.name)
        with pytest.raises(Conflict):
            await comment(
                connection, scope, branding, request_id, staff_id=dana.id, staff_name="Dana", body="x", internal=True
            )
        with pytest.raises(Conflict):
            await release(connection, scope, request_id, staff_id=dana.id, staff_name="Dana")
        with pytest.raises(Conflict):
            await schedule_visit(
                connection,
                scope,
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                technician="Sam",
                scheduled_for=IN_TWO_DAYS,
            )
        with pytest.raises(Conflict):
            await complete(
                connection,
                scope,
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                performed_on=date(2026, 12, 4),
                technician="Sam Tech",
                work_performed="Again",
                today=date(2026, 12, 5),
            )
    assert [(h.performed_on, h.technician, h.work_performed, h.request_id, h.topic, h.site_name) for h in history] == [
        (date(2026, 12, 4), "Sam Tech", "Replaced the back door contact.", request_id, "Repair", "Premises")
    ]
    assert (request.status, request.closed_at is not None) == ("completed", True)
    assert events[-1].action == "completed"
    assert await db.fetchval("SELECT count(*) FROM service_history") == 1
    mail = await db.fetchrow("SELECT * FROM outbox ORDER BY id DESC LIMIT 1")
    assert mail["subject"] == f"Acme Alarms: your request #{request_id} is completed"
    assert "Replaced the back door contact." in mail["body"]
    assert "Date: Friday 4 December 2026" in mail["body"]


@pytest.mark.parametrize(
    ("technician", "work", "performed_on", "field"),
    [
        ("", "Fixed", date(2026, 12, 4), "technician"),
        ("Sam", " ", date(2026, 12, 4), "work_performed"),
        ("Sam", "Fixed", date(2026, 12, 6), "performed_on"),
    ],
)
async def test_completion_needs_who_what_and_a_day_not_in_the_future(
    db: asyncpg.Pool,
    branding: Branding,
    alpha: Customer,
    staff: tuple[Staff, Staff],
    technician: str,
    work: str,
    performed_on: date,
    field: str,
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as refused:
            await complete(
                connection,
                staff_scope(alpha, dana),
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                performed_on=performed_on,
                technician=technician,
                work_performed=work,
                today=date(2026, 12, 5),
            )
    assert refused.value.field == field
    assert await db.fetchval("SELECT status FROM service_requests") == "open"
    assert await db.fetchval("SELECT count(*) FROM service_history") == 0


async def test_an_answer_and_the_work_performed_may_be_as_long_as_a_customers_comments(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    """Staff answers are not one-liners: 4,000 characters like the customer's comments, not the 200 of a field."""
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    scope = staff_scope(alpha, dana)
    long_answer = "We checked every zone. " * 100  # 2,300 characters
    async with db.acquire() as connection:
        await comment(
            connection,
            scope,
            branding,
            request_id,
            staff_id=dana.id,
            staff_name="Dana",
            body=long_answer,
            internal=False,
        )
        with pytest.raises(DomainError) as refused:
            await comment(
                connection,
                scope,
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                body="x" * 4001,
                internal=False,
            )
        assert refused.value.field == "body"
        with pytest.raises(DomainError) as refused:
            await complete(
                connection,
                scope,
                branding,
                request_id,
                staff_id=dana.id,
                staff_name="Dana",
                performed_on=date(2026, 12, 4),
                technician="T" * 121,
                work_performed="Fixed",
                today=date(2026, 12, 5),
            )
        assert refused.value.field == "technician"
        await complete(
            connection,
            scope,
            branding,
            request_id,
            staff_id=dana.id,
            staff_name="Dana",
            performed_on=date(2026, 12, 4),
            technician="Sam Tech",
            work_performed=long_answer,
            today=date(2026, 12, 5),
        )
    assert await db.fetchval("SELECT work_performed FROM service_history") == long_answer.strip()


async def test_two_take_overs_at_once_one_wins_the_other_is_told_who_holds_it_now(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, eli = staff
    async with db.acquire() as connection:
        zed = await connection.fetchval(
            "INSERT INTO users (email, name, role) VALUES ('zed@example.com', 'Zed', 'dispatcher') RETURNING id"
        )
    request_id = await taken_by(db, branding, alpha, Staff(zed, "Zed"))

    async def take_over_as(member: Staff) -> Staff:
        async with db.acquire() as connection:
            await take_over(
                connection,
                staff_scope(alpha, member),
                request_id,
                staff_id=member.id,
                staff_name=member.name,
                reason="Zed is away",
                expected_holder_id=zed,  # both pages showed Zed as the holder
            )
        return member

    results = await asyncio.gather(take_over_as(dana), take_over_as(eli), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Staff)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(refused) == 1, results
    assert refused[0].message.startswith(f"{winners[0].name} holds this request now")
    assert await db.fetchval("SELECT holder_id FROM service_requests") == winners[0].id
    bodies = await db.fetch("SELECT body FROM service_request_events WHERE action = 'taken' ORDER BY id")
    assert [b["body"] for b in bodies][1:] == ["Taken over from Zed: Zed is away"]


async def test_completing_cancels_a_visit_still_to_come_and_dates_stay_within_a_year(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    request_id = await taken_by(db, branding, alpha, dana)
    scope = staff_scope(alpha, dana)
    common = {"staff_id": dana.id, "staff_name": dana.name}
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as too_far:
            await schedule_visit(
                connection,
                scope,
                branding,
                request_id,
                technician="Sam",
                scheduled_for=IN_TWO_DAYS + timedelta(days=400),
                **common,
            )
        assert too_far.value.field == "scheduled_for"
        await schedule_visit(
            connection, scope, branding, request_id, technician="Sam", scheduled_for=IN_TWO_DAYS, **common
        )
        today = datetime.now(UTC).date()
        with pytest.raises(DomainError) as too_old:
            await complete(
                connection,
                scope,
                branding,
                request_id,
                performed_on=today - timedelta(days=400),
                technician="Sam",
                work_performed="Fixed it",
                today=today,
                **common,
            )
        assert too_old.value.field == "performed_on"
        # Fixed over the phone before the visit: the visit is no longer booked.
        await complete(
            connection,
            scope,
            branding,
            request_id,
            performed_on=today,
            technician="Sam",
            work_performed="Talked the customer through it",
            today=today,
            **common,
        )
        _, _, visits = await get_request(connection, owner_scope(alpha), request_id, internal=False)
    assert len(visits) == 1 and visits[0].cancelled_at is not None


async def test_the_customer_reads_a_staff_members_name_or_the_service_desk_never_a_login(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, _ = staff
    async with db.acquire() as connection:
        nameless = await connection.fetchval(
            "INSERT INTO users (email, role) VALUES ('nameless-staff@example.com', 'dispatcher') RETURNING id"
        )
    for member in (dana, Staff(nameless, "nameless-staff@example.com")):
        async with db.acquire() as connection:
            request_id = await submitted(connection, branding, alpha, submission_key=f"key-{member.id}")
            await take(connection, staff_scope(alpha, member), request_id, staff_id=member.id, staff_name=member.name)
            await comment(
                connection,
                staff_scope(alpha, member),
                branding,
                request_id,
                staff_id=member.id,
                staff_name=member.name,
                body="We will call you.",
                internal=False,
            )
            _, customer_events, _ = await get_request(connection, owner_scope(alpha), request_id, internal=False)
            _, staff_events, _ = await get_request(connection, owner_scope(alpha), request_id, internal=True)
        answered = [e.author_name for e in customer_events if e.action == "comment"]
        assert answered == (["Dana"] if member is dana else ["Service desk"])
        assert [e.author_name for e in staff_events if e.action == "comment"] == [member.name]
    bodies = " ".join(r["body"] for r in await db.fetch("SELECT body FROM outbox WHERE subject LIKE '%answer%'"))
    assert "Dana answered" in bodies and "Service desk answered" in bodies
    assert "nameless-staff@example.com" not in bodies


async def test_removing_a_staff_login_gives_its_requests_back_to_the_queue(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, staff: tuple[Staff, Staff]
) -> None:
    dana, eli = staff
    request_id = await taken_by(db, branding, alpha, dana)
    await db.execute("DELETE FROM users WHERE id = $1", dana.id)
    assert await db.fetchval("SELECT holder_id FROM service_requests WHERE id = $1", request_id) is None
    async with db.acquire() as connection:
        await take(connection, staff_scope(alpha, eli), request_id, staff_id=eli.id, staff_name=eli.name)
    assert await db.fetchval("SELECT holder_id FROM service_requests WHERE id = $1", request_id) == eli.id
