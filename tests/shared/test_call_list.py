"""The call list's rules on a real database: validation, scoping, positions 1..n, the audit and the NOTIFY."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from shared.call_list import (
    MAX_CONTACTS,
    CallListChanged,
    ContactDetails,
    InvalidContact,
    add_contact,
    changes_of,
    clean_contact,
    clean_passcode,
    clear_passcode,
    contact_of,
    contacts_of,
    edit_contact,
    move_contact,
    passcode_of,
    remove_contact,
    reorder,
    set_passcode,
)
from shared.call_list.changes import _dragged
from shared.enrolment import create_customer
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.events import CALL_LIST_CHANNEL
from shared.fields import limit_of
from shared.scope import CustomerScope

PASSCODE = "blue heron 42"


@dataclass(frozen=True)
class World:
    alpha: CustomerScope  # alpha's owner
    alpha_site: int
    alpha_second_site: int
    helper: CustomerScope  # alpha's secondary user, granted manage_call_list
    viewer: CustomerScope  # alpha's secondary user without it
    beta: CustomerScope
    beta_site: int


async def _secondary(connection: asyncpg.Connection, customer_id: int, email: str, permissions: list[str]) -> int:
    user_id: int = await connection.fetchval(
        "INSERT INTO users (customer_id, email, name, role, permissions) VALUES ($1, $2, $3, 'secondary', $4) "
        "RETURNING id",
        customer_id,
        email,
        email.split("@", maxsplit=1)[0].title(),
        permissions,
    )
    return user_id


@pytest_asyncio.fixture
async def world(db: asyncpg.Pool) -> World:
    async with db.acquire() as connection:
        alpha = await create_customer(
            connection, name="Alpha", email="alpha@example.com", password=None, account="AA01", address="1 Elm St"
        )
        await connection.execute("UPDATE users SET name = 'Ada Owner' WHERE id = $1", alpha.user_id)
        second_site = await connection.fetchval(
            "INSERT INTO sites (customer_id, name, address) VALUES ($1, 'Cabin', '9 Lake Rd') RETURNING id",
            alpha.customer_id,
        )
        helper = await _secondary(connection, alpha.customer_id, "helper@example.com", ["manage_call_list"])
        viewer = await _secondary(connection, alpha.customer_id, "viewer@example.com", [])
        beta = await create_customer(
            connection, name="Beta", email="beta@example.com", password=None, account="BB02", address="2 Oak St"
        )
    return World(
        CustomerScope(alpha.customer_id, alpha.user_id),
        alpha.site_id,
        second_site,
        CustomerScope(alpha.customer_id, helper),
        CustomerScope(alpha.customer_id, viewer),
        CustomerScope(beta.customer_id, beta.user_id),
        beta.site_id,
    )


def person(name: str, phone: str = "(555) 010-0199", **more: object) -> ContactDetails:
    return ContactDetails(name=name, phone=phone, **more)  # type: ignore[arg-type]


async def names(connection: asyncpg.Connection, scope: CustomerScope, site_id: int) -> list[str]:
    contacts = await contacts_of(connection, scope, site_id)
    assert [c.position for c in contacts] == list(range(1, len(contacts) + 1))  # always 1..n, no gaps
    return [c.name for c in contacts]


# -- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "555-0100 12",
        "(555) 010-0199",
        "+1 555 010 0199",
        "555.010.0199 x12",
        "555 010 0199 ext. 7",
        "+44 (0)20 7946 0958",
    ],
)
def test_phones_are_taken_as_people_type_them(phone: str) -> None:
    assert clean_contact(person("Ann", phone)).phone == phone


@pytest.mark.parametrize(
    ("phone", "why"),
    [("555-01", "digits"), ("call me maybe", "digits"), ("555 0100 #12", "digits"), ("1" * 21, "digits")],
)
def test_a_phone_with_too_few_or_too_many_digits_or_other_signs_is_refused(phone: str, why: str) -> None:
    with pytest.raises(InvalidContact) as refused:
        clean_contact(person("Ann", phone))
    assert set(refused.value.errors) == {"phone"} and why in refused.value.errors["phone"]


def test_every_wrong_field_is_named_at_once_and_text_is_trimmed() -> None:
    with pytest.raises(InvalidContact) as refused:
        clean_contact(
            ContactDetails(name="  ", phone="", phone_alt="12", relation="a\nb", notes="x" * (limit_of("notes") + 1))
        )
    errors = refused.value.errors
    assert set(errors) == {"name", "phone", "phone_alt", "relation", "notes"}
    assert "name" in errors["name"] and "phone number" in errors["phone"]
    cleaned = clean_contact(ContactDetails(name="  Ann Lee ", phone=" 555 010 0199 ", notes=" back door\r\nkey "))
    assert (cleaned.name, cleaned.phone, cleaned.notes) == ("Ann Lee", "555 010 0199", "back door\nkey")


def test_the_second_phone_is_as_long_as_the_first_may_be() -> None:
    with pytest.raises(InvalidContact) as refused:
        clean_contact(person("Ann", phone_alt="555" + " " * 40 + "010 0199"))
    assert refused.value.errors == {"phone_alt": "use at most 40 characters (this has 51)"}


@pytest.mark.parametrize(("passcode", "ok"), [("ab", False), ("abc", True), ("x" * 40, True), ("x" * 41, False)])
def test_a_passcode_has_3_to_40_characters_on_one_line(passcode: str, ok: bool) -> None:
    if ok:
        assert clean_passcode(f" {passcode} ") == passcode
    else:
        with pytest.raises(DomainError) as refused:
            clean_passcode(passcode)
        assert refused.value.field == "passcode"
    with pytest.raises(DomainError):
        clean_passcode("two\nlines")


# -- contacts ------------------------------------------------------------------------------------------------------


async def test_add_edit_move_and_remove_keep_positions_one_to_n(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        ann = await add_contact(connection, world.alpha, world.alpha_site, person("Ann", relation="Neighbour"))
        bob = await add_contact(connection, world.helper, world.alpha_site, person("Bob", has_keys=True))
        cat = await add_contact(connection, world.alpha, world.alpha_site, person("Cat"))
        assert (ann.position, bob.position, cat.position) == (1, 2, 3)
        assert await names(connection, world.alpha, world.alpha_site) == ["Ann", "Bob", "Cat"]
        assert await contacts_of(connection, world.alpha, world.alpha_second_site) == []  # lists are per premises

        edited = await edit_contact(connection, world.alpha, bob.id, person("Bob Ray", "555 222 3333", has_keys=True))
        assert (edited.name, edited.phone, edited.position, edited.has_keys) == ("Bob Ray", "555 222 3333", 2, True)

        moved = await move_contact(connection, world.alpha, cat.id, "up")
        assert moved.position == 2
        assert await names(connection, world.alpha, world.alpha_site) == ["Ann", "Cat", "Bob Ray"]
        await move_contact(connection, world.alpha, ann.id, "down")
        assert await names(connection, world.alpha, world.alpha_site) == ["Cat", "Ann", "Bob Ray"]
        with pytest.raises(DomainError, match="already first"):
            await move_contact(connection, world.alpha, cat.id, "up")
        with pytest.raises(DomainError, match="already last"):
            await move_contact(connection, world.alpha, bob.id, "down")

        removed = await remove_contact(connection, world.alpha, cat.id)
        assert removed.name == "Cat"
        assert await names(connection, world.alpha, world.alpha_site) == ["Ann", "Bob Ray"]
        with pytest.raises(NotFound):
            await contact_of(connection, world.alpha, cat.id)


async def test_reorder_takes_exactly_the_lists_contacts(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        ids = [
            (await add_contact(connection, world.alpha, world.alpha_site, person(name))).id
            for name in ("Ann", "Bob", "Cat", "Dan")
        ]
        other = await add_contact(connection, world.alpha, world.alpha_second_site, person("Eve"))
        assert await reorder(connection, world.alpha, world.alpha_site, [ids[3], ids[0], ids[1], ids[2]], loaded=ids)
        now = [ids[3], ids[0], ids[1], ids[2]]
        assert await names(connection, world.alpha, world.alpha_site) == ["Dan", "Ann", "Bob", "Cat"]
        assert not await reorder(connection, world.alpha, world.alpha_site, now, loaded=now)
        for wrong in (
            ids[:3],  # one left out
            [*ids, ids[0]],  # one twice
            [ids[0], ids[1], ids[2], other.id],  # another premises' contact
            [ids[0], ids[1], ids[2], ids[3], other.id],
        ):
            with pytest.raises(Conflict, match="has changed"):
                await reorder(connection, world.alpha, world.alpha_site, wrong, loaded=now)
        assert await names(connection, world.alpha, world.alpha_site) == ["Dan", "Ann", "Bob", "Cat"]
        assert await names(connection, world.alpha, world.alpha_second_site) == ["Eve"]


async def test_a_drag_on_a_page_older_than_the_list_changes_nothing(db: asyncpg.Pool, world: World) -> None:
    """Two people open the list Ann, Bob, Cat; one moves Cat up; the other's drag, made on the list as they saw it,
    must not silently put Cat back below Bob: it is refused, and the list stays as the first person left it."""
    async with db.acquire() as connection:
        ann, bob, cat = [
            (await add_contact(connection, world.alpha, world.alpha_site, person(name))).id
            for name in ("Ann", "Bob", "Cat")
        ]
        seen = [ann, bob, cat]
        await move_contact(connection, world.helper, cat, "up")
        history = await connection.fetchval("SELECT count(*) FROM call_list_changes")
        for stale in ([cat, ann, bob], [bob, ann, cat], [ann, bob, cat]):
            with pytest.raises(Conflict, match="has changed since you opened it: here it is as it is now"):
                await reorder(connection, world.alpha, world.alpha_site, stale, loaded=seen, dragged=stale[0])
        assert await names(connection, world.alpha, world.alpha_site) == ["Ann", "Cat", "Bob"]
        assert await connection.fetchval("SELECT count(*) FROM call_list_changes") == history
        # On the page as it is now, the same drag is saved.
        assert await reorder(connection, world.alpha, world.alpha_site, [cat, ann, bob], loaded=[ann, cat, bob])
        assert await names(connection, world.alpha, world.alpha_site) == ["Cat", "Ann", "Bob"]


def test_the_history_of_a_drag_names_the_contact_dragged() -> None:
    assert _dragged([1, 2, 3, 4], [4, 1, 2, 3]) == {4}
    assert _dragged([1, 2, 3, 4], [2, 3, 4, 1]) == {1}
    assert _dragged([1, 2, 3, 4], [1, 3, 2, 4]) in ({2}, {3})
    assert len(_dragged([1, 2, 3, 4], [4, 3, 2, 1])) == 3
    # The page says which one was dragged: a swap of two then reads right; a hint that cannot be true is ignored.
    assert _dragged([1, 2], [2, 1], hint=2) == {2} and _dragged([1, 2], [2, 1], hint=1) == {1}
    assert _dragged([1, 2, 3, 4], [4, 1, 2, 3], hint=1) == {4}
    assert _dragged([1, 2, 3], [3, 1, 2], hint=99) == {3}


async def test_a_list_holds_at_most_twenty_contacts(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        for number in range(MAX_CONTACTS):
            await add_contact(connection, world.alpha, world.alpha_site, person(f"Person {number + 1}"))
        with pytest.raises(DomainError, match="at most 20"):
            await add_contact(connection, world.alpha, world.alpha_site, person("One too many"))
        assert len(await contacts_of(connection, world.alpha, world.alpha_site)) == MAX_CONTACTS


async def test_another_customers_premises_and_contacts_are_not_found(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        ann = await add_contact(connection, world.alpha, world.alpha_site, person("Ann"))
        await set_passcode(connection, world.alpha, world.alpha_site, PASSCODE)
        before = await connection.fetch("SELECT * FROM call_list_contacts ORDER BY id")
        for attempt in (
            contacts_of(connection, world.beta, world.alpha_site),
            passcode_of(connection, world.beta, world.alpha_site),
            changes_of(connection, world.beta, world.alpha_site, with_passcode=True),
            add_contact(connection, world.beta, world.alpha_site, person("Intruder")),
            edit_contact(connection, world.beta, ann.id, person("Intruder")),
            move_contact(connection, world.beta, ann.id, "down"),
            remove_contact(connection, world.beta, ann.id),
            reorder(connection, world.beta, world.alpha_site, [ann.id], loaded=[ann.id]),
            set_passcode(connection, world.beta, world.alpha_site, "stolen"),
            clear_passcode(connection, world.beta, world.alpha_site),
            contact_of(connection, world.beta, ann.id),
        ):
            with pytest.raises(NotFound):
                await attempt
        assert await connection.fetch("SELECT * FROM call_list_contacts ORDER BY id") == before
        assert await passcode_of(connection, world.alpha, world.alpha_site) == PASSCODE
        # Beta's own premises with alpha's contact in the order: refused, nothing of alpha's changes.
        with pytest.raises(Conflict):
            await reorder(connection, world.beta, world.beta_site, [ann.id], loaded=[])


async def test_who_may_change_it(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        ann = await add_contact(connection, world.helper, world.alpha_site, person("Ann"))
        for attempt in (
            add_contact(connection, world.viewer, world.alpha_site, person("Bob")),
            edit_contact(connection, world.viewer, ann.id, person("Ann B")),
            remove_contact(connection, world.viewer, ann.id),
            set_passcode(connection, world.helper, world.alpha_site, PASSCODE),  # the owner's alone
            set_passcode(connection, world.viewer, world.alpha_site, PASSCODE),
        ):
            with pytest.raises(Forbidden):
                await attempt
        assert await names(connection, world.alpha, world.alpha_site) == ["Ann"]
        assert await passcode_of(connection, world.alpha, world.alpha_site) is None


# -- audit and notice ----------------------------------------------------------------------------------------------


async def test_every_change_is_audited_with_who_and_before_and_after(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        ann = await add_contact(connection, world.alpha, world.alpha_site, person("Ann", relation="Sister"))
        bob = await add_contact(connection, world.helper, world.alpha_site, person("Bob"))
        await edit_contact(connection, world.helper, ann.id, person("Ann", "555 999 0000", relation="Sister"))
        await edit_contact(connection, world.helper, ann.id, person("Ann", "555 999 0000", relation="Sister"))
        await move_contact(connection, world.alpha, bob.id, "up")
        await reorder(connection, world.alpha, world.alpha_site, [ann.id, bob.id], loaded=[bob.id, ann.id])
        await remove_contact(connection, world.alpha, bob.id)
        rows = await connection.fetch(
            "SELECT * FROM call_list_changes WHERE site_id = $1 ORDER BY id", world.alpha_site
        )
    assert [r["action"] for r in rows] == ["added", "added", "edited", "moved", "moved", "removed"]  # no-op edit: none
    assert [r["changed_by_name"] for r in rows] == [
        "Ada Owner",
        "Helper",
        "Helper",
        "Ada Owner",
        "Ada Owner",
        "Ada Owner",
    ]
    assert [r["changed_by"] for r in rows][:3] == [world.alpha.user_id, world.helper.user_id, world.helper.user_id]
    added = rows[0]
    assert added["before"] is None and added["contact_id"] == ann.id
    assert added["after"] == {
        "position": 1,
        "name": "Ann",
        "phone": "(555) 010-0199",
        "phone_alt": "",
        "relation": "Sister",
        "has_keys": False,
        "notes": "",
    }
    edited = rows[2]
    assert (edited["before"]["phone"], edited["after"]["phone"]) == ("(555) 010-0199", "555 999 0000")
    assert (rows[3]["before"]["position"], rows[3]["after"]["position"]) == (2, 1)  # Bob up
    assert rows[4]["contact_id"] in (ann.id, bob.id)
    assert rows[5]["before"]["name"] == "Bob" and rows[5]["after"] is None


async def test_the_passcode_value_never_reaches_the_audit(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        assert await set_passcode(connection, world.alpha, world.alpha_site, PASSCODE)
        assert not await set_passcode(connection, world.alpha, world.alpha_site, PASSCODE)  # unchanged: no row
        await set_passcode(connection, world.alpha, world.alpha_site, "new one 7")
        assert await passcode_of(connection, world.alpha, world.alpha_site) == "new one 7"
        await clear_passcode(connection, world.alpha, world.alpha_site)
        assert await passcode_of(connection, world.alpha, world.alpha_site) is None
        with pytest.raises(DomainError, match="no verbal passcode"):
            await clear_passcode(connection, world.alpha, world.alpha_site)
        rows = await connection.fetch(
            "SELECT action, before, after, to_jsonb(c)::text AS whole FROM call_list_changes c"
        )
        history = await changes_of(connection, world.alpha, world.alpha_site, with_passcode=True)
        hidden = await changes_of(connection, world.viewer, world.alpha_site, with_passcode=False)
    assert [(r["action"], r["before"], r["after"]) for r in rows] == [
        ("passcode_set", None, {"passcode": "set"}),
        ("passcode_set", {"passcode": "set"}, {"passcode": "set"}),
        ("passcode_cleared", {"passcode": "set"}, {"passcode": "cleared"}),
    ]
    for row in rows:
        assert PASSCODE not in row["whole"] and "new one 7" not in row["whole"]
        assert "heron" not in json.dumps([row["before"], row["after"]])
    assert [c.action for c in history] == ["passcode_cleared", "passcode_set", "passcode_set"]
    assert hidden == []  # a secondary user's history does not even say a passcode exists


async def test_a_change_is_announced_at_commit_and_not_on_rollback(
    db: asyncpg.Pool, database_url: str, world: World
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CALL_LIST_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        async with db.acquire() as connection:
            ann = await add_contact(connection, world.alpha, world.alpha_site, person("Ann"))
            payload = await asyncio.wait_for(heard.get(), 5)
            assert payload == f"{world.alpha.customer_id}:{world.alpha_site}"
            assert CallListChanged.decode(payload) == CallListChanged(world.alpha.customer_id, world.alpha_site)
            with pytest.raises(RuntimeError):
                async with connection.transaction():
                    await edit_contact(connection, world.alpha, ann.id, person("Ann Changed"))
                    raise RuntimeError("rolled back")
            await set_passcode(connection, world.alpha, world.alpha_second_site, PASSCODE)
            payload = await asyncio.wait_for(heard.get(), 5)
        assert payload == f"{world.alpha.customer_id}:{world.alpha_second_site}"  # the rolled-back edit said nothing
        assert PASSCODE not in payload
        assert heard.empty()
    finally:
        await listener.close()


def test_the_notice_payload_reads_back_or_is_refused() -> None:
    assert CallListChanged(12, 34).encode() == "12:34"
    for bad in ("", "12", "12:", "a:1", "1:2:3"):
        with pytest.raises(ValueError):
            CallListChanged.decode(bad)


async def test_changes_at_the_same_moment_are_served_one_at_a_time(db: asyncpg.Pool, world: World) -> None:
    async with db.acquire() as connection:
        for name in ("Ann", "Bob", "Cat", "Dan", "Eve"):
            await add_contact(connection, world.alpha, world.alpha_site, person(name))
        eve = (await contacts_of(connection, world.alpha, world.alpha_site))[-1].id

    async def move_up() -> None:
        async with db.acquire() as connection:
            await move_contact(connection, world.alpha, eve, "up")

    # Four people press "Move up" for Eve at once: each move reads her place after the one before it committed, so
    # she climbs four places (without the premises' lock two would swap her with the same neighbour).
    await asyncio.gather(*(move_up() for _ in range(4)))
    async with db.acquire() as connection:
        assert await names(connection, world.alpha, world.alpha_site) == ["Eve", "Ann", "Bob", "Cat", "Dan"]
        moves = await connection.fetch("SELECT before, after FROM call_list_changes WHERE action = 'moved' ORDER BY id")
    assert [(m["before"]["position"], m["after"]["position"]) for m in moves] == [(5, 4), (4, 3), (3, 2), (2, 1)]
