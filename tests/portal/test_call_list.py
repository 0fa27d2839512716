"""The Call list pages: the owner adds, edits, moves, reorders and removes contacts and keeps the verbal passcode;
secondary users see the list (and change it only when allowed) but never the passcode; staff see it all."""

from __future__ import annotations

import re

import asyncpg
import pytest
from multidict import MultiDict, MultiDictProxy

from portal.forms import Form
from tests.portal.conftest import Customer, Portal
from tests.secrets_scan import debug_json_logs

PASSCODE = "purple walrus 1987"


async def add(portal: Portal, site_id: int, name: str, phone: str = "(555) 010-0199", **more: str) -> None:
    response = await portal.post(f"/call-list/{site_id}/contacts", {"name": name, "phone": phone, **more})
    assert response.status == 200, await response.text()
    assert f"{name} is added to the call list" in await response.text()


async def order(db: asyncpg.Pool, site_id: int) -> list[tuple[int, str]]:
    rows = await db.fetch("SELECT position, name FROM call_list_contacts WHERE site_id = $1 ORDER BY position", site_id)
    return [(row["position"], row["name"]) for row in rows]


async def contact_id(db: asyncpg.Pool, name: str) -> int:
    found: int = await db.fetchval("SELECT id FROM call_list_contacts WHERE name = $1", name)
    return found


def loaded_of(page: str) -> list[str]:
    """The order the page was opened with, as its reorder form posts it."""
    return re.findall(r'name="loaded" value="(\d+)"', page)


def names_in_order(page: str) -> list[str]:
    """The contacts as the page lists them, top to bottom."""
    return re.findall(r'data-contact-name="([^"]+)"', page)


async def test_the_owner_adds_edits_moves_reorders_and_removes_contacts(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/call-list")).text()
    assert "Anyone you've indicated as an emergency contact" in page and "Nobody is on the call list" in page
    assert 'href="/call-list"' in page  # the left menu's entry

    await add(portal, alpha.site_id, "Ann Lee", relation="Neighbour", has_keys="yes", notes="Back door key")
    await add(portal, alpha.site_id, "Bob Ray", "+1 555 222 3333 ext. 4", phone_alt="555.444.5555")
    page = await (await portal.get("/call-list")).text()
    assert names_in_order(page) == ["Ann Lee", "Bob Ray"]
    assert "has keys" in page and "Back door key" in page and "555.444.5555" in page
    assert await order(db, alpha.site_id) == [(1, "Ann Lee"), (2, "Bob Ray")]
    ann, bob = await contact_id(db, "Ann Lee"), await contact_id(db, "Bob Ray")

    # Move up without JavaScript: a form, and back to the moved contact's button.
    response = await portal.post(f"/call-list/contacts/{bob}/move", {"direction": "up"}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/call-list?site={alpha.site_id}#move-down-{bob}"  # "up" is gone now
    assert await order(db, alpha.site_id) == [(1, "Bob Ray"), (2, "Ann Lee")]
    response = await portal.post(f"/call-list/contacts/{bob}/move", {"direction": "up"})
    assert response.status == 400 and "Bob Ray is already first" in await response.text()

    # The drag and drop's order, as call-list.js posts it.
    page = await (await portal.get("/call-list")).text()
    assert loaded_of(page) == [str(bob), str(ann)]  # the order the page shows, sent along with the new one
    await portal.post(f"/call-list/{alpha.site_id}/order", {"order": [str(ann), str(bob)], "loaded": loaded_of(page)})
    assert await order(db, alpha.site_id) == [(1, "Ann Lee"), (2, "Bob Ray")]

    # Edit: the page is filled in; a wrong phone is said next to its field and nothing changes.
    page = await (await portal.get(f"/call-list/contacts/{ann}/edit")).text()
    assert 'value="Ann Lee"' in page and 'value="Neighbour"' in page and "checked" in page
    response = await portal.post(f"/call-list/contacts/{ann}/edit", {"name": "Ann Lee", "phone": "12"})
    text = await response.text()
    assert response.status == 422 and 'id="f-phone-error"' in text and "7 to 20 digits" in text
    await portal.post(f"/call-list/contacts/{ann}/edit", {"name": "Ann Lee-Ray", "phone": "555 999 0000"})
    row = await db.fetchrow("SELECT name, phone, relation, has_keys FROM call_list_contacts WHERE id = $1", ann)
    assert tuple(row) == ("Ann Lee-Ray", "555 999 0000", "", False)

    # Remove, after a confirmation page.
    page = await (await portal.get(f"/call-list/contacts/{ann}/remove")).text()
    assert "Remove Ann Lee-Ray from the call list?" in page
    page = await (await portal.post(f"/call-list/contacts/{ann}/remove")).text()
    assert "Ann Lee-Ray is removed from the call list" in page
    assert await order(db, alpha.site_id) == [(1, "Bob Ray")]

    # The history, newest first: who, what, before → after.
    history = page[page.index("Changes to this call list") :]
    assert (
        history.count('<td data-label="Who">Customer alpha</td>') == 6
    )  # who: the owner's name, on each of the six changes
    for said in (
        "Removed Ann Lee-Ray",
        "Changed Ann Lee",
        "Phone: (555) 010-0199",
        "Phone: 555 999 0000",
        "Moved Bob Ray from position 2 to 1",
        "Added Bob Ray",
    ):
        assert said in history, said


async def test_a_contact_form_with_mistakes_names_each_field(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    response = await portal.post(
        f"/call-list/{alpha.site_id}/contacts", {"name": "", "phone": "call me", "phone_alt": "1", "notes": "ok"}
    )
    text = await response.text()
    assert response.status == 422
    for field in ("name", "phone", "phone_alt"):
        assert f'id="f-{field}-error"' in text, field
    assert 'id="f-relation-error"' not in text and ">ok</textarea>" in text  # what was typed stays
    assert await order(db, alpha.site_id) == []


async def test_a_reorder_with_the_wrong_contacts_is_refused_and_changes_nothing(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    for name in ("Ann", "Bob", "Cat"):
        await add(portal, alpha.site_id, name)
    ann, bob, cat = [await contact_id(db, name) for name in ("Ann", "Bob", "Cat")]
    seen = [str(ann), str(bob), str(cat)]
    for wrong in ([str(cat), str(bob)], [str(cat), str(bob), str(ann), str(ann)], ["x", str(bob), str(ann)], []):
        response = await portal.post(f"/call-list/{alpha.site_id}/order", {"order": wrong, "loaded": seen})
        assert response.status == 409, wrong
        assert "please reload the page" in await response.text() or "has changed" in await response.text()
    assert await order(db, alpha.site_id) == [(1, "Ann"), (2, "Bob"), (3, "Cat")]
    await portal.post(f"/call-list/{alpha.site_id}/order", {"order": [str(cat), str(ann), str(bob)], "loaded": seen})
    assert await order(db, alpha.site_id) == [(1, "Cat"), (2, "Ann"), (3, "Bob")]
    moved = await db.fetch("SELECT contact_id, before, after FROM call_list_changes WHERE action = 'moved'")
    assert [(r["contact_id"], r["before"]["position"], r["after"]["position"]) for r in moved] == [(cat, 3, 1)]


async def test_a_drag_on_a_page_older_than_the_list_is_refused_and_shows_the_list_as_it_is_now(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    for name in ("Ann", "Bob", "Cat"):
        await add(portal, alpha.site_id, name)
    ann, bob, cat = [await contact_id(db, name) for name in ("Ann", "Bob", "Cat")]
    stale = await (await portal.get("/call-list")).text()
    assert loaded_of(stale) == [str(ann), str(bob), str(cat)]
    # Meanwhile someone moves Cat up (Move up works as before: one place, no order needed).
    moved = await portal.post(f"/call-list/contacts/{cat}/move", {"direction": "up"}, allow_redirects=False)
    assert moved.status == 303
    history = await db.fetchval("SELECT count(*) FROM call_list_changes")

    # The drag on the old page: Cat dropped on top of Ann, Bob, Cat as that page showed them.
    response = await portal.post(
        f"/call-list/{alpha.site_id}/order",
        {"order": [str(cat), str(ann), str(bob)], "loaded": loaded_of(stale), "dragged": str(cat)},
    )
    text = await response.text()
    assert response.status == 409
    assert "The call list has changed since you opened it: here it is as it is now" in text
    assert names_in_order(text) == ["Ann", "Cat", "Bob"] and loaded_of(text) == [str(ann), str(cat), str(bob)]
    assert await order(db, alpha.site_id) == [(1, "Ann"), (2, "Cat"), (3, "Bob")]
    assert await db.fetchval("SELECT count(*) FROM call_list_changes") == history
    # A page older than the `loaded` field itself says the same and changes nothing.
    old = await portal.post(f"/call-list/{alpha.site_id}/order", {"order": [str(cat), str(ann), str(bob)]})
    assert old.status == 409 and "has changed since you opened it" in await old.text()
    # On the page as it is now, the drag is saved.
    await portal.post(
        f"/call-list/{alpha.site_id}/order", {"order": [str(cat), str(ann), str(bob)], "loaded": loaded_of(text)}
    )
    assert await order(db, alpha.site_id) == [(1, "Cat"), (2, "Ann"), (3, "Bob")]


@pytest.mark.parametrize("attacker", ["owner", "secondary"])
async def test_another_customers_premises_and_contacts_are_not_found(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer], attacker: str
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    await add(portal, alpha.site_id, "Alpha Contact")
    await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
    await portal.logout()
    victim = await contact_id(db, "Alpha Contact")
    before = await db.fetch("SELECT * FROM call_list_contacts ORDER BY id")
    await db.execute("UPDATE users SET permissions = '{manage_call_list}' WHERE id = $1", beta.secondary_id)
    await portal.login(beta.owner_email if attacker == "owner" else beta.secondary_email)
    site, contact = alpha.site_id, victim
    for method, path, form in (
        ("GET", f"/call-list?site={site}", {}),
        ("GET", f"/call-list/contacts/{contact}/edit", {}),
        ("GET", f"/call-list/contacts/{contact}/remove", {}),
        ("GET", f"/call-list/{site}/passcode/clear", {}),
        ("POST", f"/call-list/{site}/contacts", {"name": "Intruder", "phone": "555 010 0199"}),
        ("POST", f"/call-list/contacts/{contact}/edit", {"name": "Intruder", "phone": "555 010 0199"}),
        ("POST", f"/call-list/contacts/{contact}/move", {"direction": "down"}),
        ("POST", f"/call-list/contacts/{contact}/remove", {}),
        ("POST", f"/call-list/{site}/order", {"order": str(contact)}),
        ("POST", f"/call-list/{site}/passcode", {"passcode": "stolen"}),
        ("POST", f"/call-list/{site}/passcode/clear", {}),
    ):
        response = await (portal.get(path) if method == "GET" else portal.post(path, form))
        text = await response.text()
        assert response.status == 404, (method, path, response.status)
        assert "Alpha Contact" not in text and PASSCODE not in text and "alpha Street" not in text
    # Beta's own premises with alpha's contact in the order: refused without a word about alpha.
    response = await portal.post(f"/call-list/{beta.site_id}/order", {"order": str(contact)})
    assert response.status in (403, 409) and "Alpha Contact" not in await response.text()
    assert await db.fetch("SELECT * FROM call_list_contacts ORDER BY id") == before
    assert await db.fetchval("SELECT passcode FROM site_passcodes WHERE site_id = $1", alpha.site_id) == PASSCODE


async def test_a_secondary_user_without_the_permission_sees_the_list_and_cannot_change_it(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await add(portal, alpha.site_id, "Ann")
    await add(portal, alpha.site_id, "Bob")
    await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
    await portal.logout()
    ann, bob = await contact_id(db, "Ann"), await contact_id(db, "Bob")
    before = await db.fetch("SELECT * FROM call_list_contacts ORDER BY id")

    await portal.login(alpha.secondary_email)
    page = await (await portal.get("/call-list")).text()
    assert names_in_order(page) == ["Ann", "Bob"]
    assert 'action="/call-list' not in page and "Move up" not in page and "Add contact" not in page
    assert 'draggable="true"' not in page and "Only the account owner, or a user the owner allows" in page
    for method, path, form in (
        ("GET", f"/call-list/contacts/{ann}/edit", {}),
        ("GET", f"/call-list/contacts/{ann}/remove", {}),
        ("GET", f"/call-list/{alpha.site_id}/passcode/clear", {}),
        ("POST", f"/call-list/{alpha.site_id}/contacts", {"name": "Eve", "phone": "555 010 0199"}),
        ("POST", f"/call-list/contacts/{ann}/edit", {"name": "Eve", "phone": "555 010 0199"}),
        ("POST", f"/call-list/contacts/{bob}/move", {"direction": "up"}),
        ("POST", f"/call-list/contacts/{ann}/remove", {}),
        ("POST", f"/call-list/{alpha.site_id}/order", {"order": [str(bob), str(ann)]}),
        ("POST", f"/call-list/{alpha.site_id}/passcode", {"passcode": "mine now"}),
        ("POST", f"/call-list/{alpha.site_id}/passcode/clear", {}),
    ):
        response = await (portal.get(path) if method == "GET" else portal.post(path, form))
        text = await response.text()
        assert response.status == 403, (method, path, response.status)
        assert PASSCODE not in text
    assert await db.fetch("SELECT * FROM call_list_contacts ORDER BY id") == before
    assert await db.fetchval("SELECT passcode FROM site_passcodes WHERE site_id = $1", alpha.site_id) == PASSCODE


async def test_a_secondary_user_never_sees_the_passcode_even_when_allowed_to_change_the_list(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})).text()
    assert "The verbal passcode is saved." in page and PASSCODE in page  # the owner sees it
    await add(portal, alpha.site_id, "Ann")
    # The owner grants the permission on the Users page, where it is offered by its label.
    assert "Manage the call list" in await (await portal.get("/users")).text()
    await portal.post(f"/users/{alpha.secondary_id}/permissions", {"permissions": "manage_call_list"})
    await portal.logout()
    ann = await contact_id(db, "Ann")

    await portal.login(alpha.secondary_email)
    await add(portal, alpha.site_id, "Added by the secondary user")
    pages = [
        "/call-list",
        f"/call-list?site={alpha.site_id}",
        f"/call-list/contacts/{ann}/edit",
        f"/call-list/contacts/{ann}/remove",
        "/dashboard?tab=call-list",
    ]
    for path in pages:
        response = await portal.get(path)
        text = await response.text()
        assert response.status == 200, path
        assert PASSCODE not in text and "purple" not in text, path
        assert "Verbal passcode" not in text and "passcode_set" not in text, path
    page = await (await portal.get("/call-list")).text()
    assert names_in_order(page) == ["Ann", "Added by the secondary user"]
    assert "Set the verbal passcode" not in page  # not even that there is one
    assert "kept by the account owner" in page
    # A refused add shows the page again: still without it.
    text = await (await portal.post(f"/call-list/{alpha.site_id}/contacts", {"name": "", "phone": ""})).text()
    assert PASSCODE not in text
    response = await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": "mine now"})
    assert response.status == 403 and PASSCODE not in await response.text()
    audit = await db.fetchval("SELECT string_agg(to_jsonb(c)::text, ' ') FROM call_list_changes c")
    assert PASSCODE not in audit and '"passcode": "set"' in audit


async def test_the_owner_sets_changes_and_clears_the_passcode(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    response = await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": "ab"})
    text = await response.text()
    assert response.status == 400 and 'id="f-passcode-error"' in text and "3 to 40 characters" in text
    assert 'value="ab"' not in text  # what was typed is not written back into the page
    await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
    page = await (await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": "second word"})).text()
    assert "second word" in page and "Changed the verbal passcode" in page and "Set the verbal passcode" in page
    page = await (await portal.get(f"/call-list/{alpha.site_id}/passcode/clear")).text()
    assert "Clear the verbal passcode for" in page
    page = await (await portal.post(f"/call-list/{alpha.site_id}/passcode/clear")).text()
    assert "The verbal passcode is cleared" in page and "none set" in page and "second word" not in page
    assert await db.fetchval("SELECT count(*) FROM site_passcodes") == 0


def test_a_refused_form_never_keeps_a_typed_passcode_to_show_again() -> None:
    """Whatever template shows a refused form again, the passcode typed into it is not among its values."""
    posted = Form(MultiDictProxy(MultiDict([("passcode", PASSCODE), ("new_passcode", PASSCODE), ("name", "Ann")])))
    assert posted.echo() == {"name": "Ann"}


async def test_staff_see_every_premises_list_and_passcode_fresh_on_each_view(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await add(portal, alpha.site_id, "Ann Lee", relation="Neighbour", has_keys="yes")
    await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
    await other_portal.login("dispatcher@example.com")
    record = await (await other_portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    section = record[record.index('id="call-list"') :]
    assert "Ann Lee" in section and "Neighbour" in section and PASSCODE in section and "has keys" in section
    # The owner changes the list; the dispatcher's next view shows it at once.
    await add(portal, alpha.site_id, "Bob Ray")
    await portal.post(f"/call-list/contacts/{await contact_id(db, 'Bob Ray')}/move", {"direction": "up"})
    record = await (await other_portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    section = record[record.index('id="call-list"') :]
    assert section.index("Bob Ray") < section.index("Ann Lee")
    assert "Moved Bob Ray from position 2 to 1" in section


async def test_the_dashboard_tab_shows_the_first_premises_list(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    text = await (await portal.get("/dashboard?tab=call-list")).text()
    assert "Nobody is on your call list yet" in text and "View or change the call list" in text
    await add(portal, alpha.site_id, "Ann Lee", relation="Neighbour")
    await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
    text = await (await portal.get("/dashboard?tab=call-list")).text()
    assert "Ann Lee" in text and "Neighbour" in text and PASSCODE not in text


async def test_the_passcode_never_reaches_a_log_line(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    refused = "toolong-" + "z" * 40
    # Debug JSON logs captured as production writes them (not stdout: another test may have configured logging).
    with debug_json_logs() as stream:
        await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": PASSCODE})
        assert (await portal.post(f"/call-list/{alpha.site_id}/passcode", {"passcode": refused})).status == 400
        await portal.post(f"/call-list/{alpha.site_id}/passcode/clear")
    logged = stream.getvalue()
    assert "/passcode" in logged  # the requests were logged (by route) ...
    assert PASSCODE not in logged and refused not in logged  # ... never the value


async def test_each_premises_has_its_own_list_chosen_on_the_page(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    cabin = await db.fetchval(
        "INSERT INTO sites (customer_id, name, address) VALUES ($1, 'Lake cabin', '9 Lake Road') RETURNING id",
        alpha.customer_id,
    )
    await portal.login(alpha.owner_email)
    await add(portal, alpha.site_id, "Home Contact")
    await add(portal, cabin, "Cabin Contact")
    await portal.post(f"/call-list/{cabin}/passcode", {"passcode": "cabin words"})
    home = await (await portal.get("/call-list")).text()
    assert names_in_order(home) == ["Home Contact"] and "cabin words" not in home
    assert f'href="/call-list?site={cabin}"' in home and "Lake cabin" in home
    page = await (await portal.get(f"/call-list?site={cabin}")).text()
    assert names_in_order(page) == ["Cabin Contact"] and "cabin words" in page and "9 Lake Road" in page
    for odd in ("abc", "0", "-1", "99999999999999999999"):
        assert (await portal.get(f"/call-list?site={odd}")).status == 404
    tab = await (await portal.get("/dashboard?tab=call-list")).text()
    assert "Home Contact" in tab and "Cabin Contact" not in tab and "one of your 2 premises" in tab


async def test_a_full_list_offers_no_add_form(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await db.executemany(
        "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone) "
        "VALUES ($1, $2, $3, $4, '555 0100 99')",
        [(alpha.customer_id, alpha.site_id, n, f"Person {n}") for n in range(1, 21)],
    )
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/call-list")).text()
    assert len(names_in_order(page)) == 20
    assert "The call list holds at most 20 contacts" in page and "Add contact" not in page
    response = await portal.post(f"/call-list/{alpha.site_id}/contacts", {"name": "One more", "phone": "555 0100 98"})
    assert response.status == 400 and "at most 20 contacts" in await response.text()
