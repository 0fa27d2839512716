"""Changing a call list (C12): add, edit, move, reorder and remove contacts, set or clear the verbal passcode.

Every function takes the customer's scope and finds the premises (or the contact) within it, so another customer's
id is NotFound; a change locks the premises' row first (SELECT … FROM sites … FOR UPDATE), so two people reordering
one list are served one at a time. Each change writes its row of call_list_changes (who, when, before → after;
for the passcode only that it was set or cleared, never its value) and NOTIFYs CALL_LIST in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from shared.call_list.queries import CONTACT_COLUMNS, Contact, ContactDetails, contact_of, contacts_of
from shared.call_list.rules import CALL_LIST, MAX_CONTACTS, CallListChanged, Direction, clean_contact, clean_passcode
from shared.db import Connection
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.events import notify
from shared.roles import Permission, Role, holds, parse_permissions
from shared.scope import CustomerScope

# Said above the list as it is now, when a drag and drop was made on a page older than the list.
STALE_ORDER = "the call list has changed since you opened it: here it is as it is now"

Action = Literal["added", "edited", "moved", "removed", "passcode_set", "passcode_cleared"]


@dataclass(frozen=True, slots=True)
class _Actor:
    name: str
    is_owner: bool
    may_manage: bool


async def _lock_site(connection: Connection, scope: CustomerScope, site_id: int) -> None:
    """The premises' row lock: changes to one call list happen one at a time. NotFound for another's premises."""
    found = await connection.fetchval(
        "SELECT id FROM sites WHERE id = $1 AND customer_id = $2 FOR UPDATE", site_id, scope.customer_id
    )
    if found is None:
        raise NotFound("That premises was not found.")


async def _actor(connection: Connection, scope: CustomerScope) -> _Actor:
    """Who makes the change, as the audit names them, and what they may do (checked here too, not only by pages)."""
    if scope.user_id is None:
        return _Actor("system", is_owner=True, may_manage=True)
    row = await connection.fetchrow(
        "SELECT coalesce(nullif(name, ''), email) AS name, role, permissions, customer_id FROM users WHERE id = $1",
        scope.user_id,
    )
    if row is None:
        raise Forbidden("your login does not allow changing the call list")
    role = Role(row["role"])
    if scope.by_staff:
        return _Actor(row["name"], is_owner=False, may_manage=role in (Role.DISPATCHER, Role.ADMIN))
    if row["customer_id"] != scope.customer_id:
        raise Forbidden("your login does not allow changing the call list")
    granted = parse_permissions(row["permissions"])
    return _Actor(row["name"], role is Role.OWNER, holds(role, granted, Permission.MANAGE_CALL_LIST))


async def _manager(connection: Connection, scope: CustomerScope) -> _Actor:
    actor = await _actor(connection, scope)
    if not actor.may_manage:
        raise Forbidden("only the account owner, or a user the owner allows, can change the call list")
    return actor


async def _locked_contact(connection: Connection, scope: CustomerScope, contact_id: int) -> Contact:
    """The contact, read again under its premises' lock (it may have been removed while we waited)."""
    contact = await contact_of(connection, scope, contact_id)
    await _lock_site(connection, scope, contact.site_id)
    return await contact_of(connection, scope, contact_id)


def _fields(contact: Contact) -> dict[str, Any]:
    """What the audit keeps of a contact: everything a person typed, and its place in the list."""
    return {"position": contact.position, **asdict(contact.details)}


async def _record(
    connection: Connection,
    scope: CustomerScope,
    actor: _Actor,
    site_id: int,
    action: Action,
    *,
    contact_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One row of the history, and the notice that the premises' list changed (both at commit, or neither)."""
    await connection.execute(
        "INSERT INTO call_list_changes (customer_id, site_id, contact_id, changed_by, changed_by_name, action, "
        "before, after) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb)",
        scope.customer_id,
        site_id,
        contact_id,
        scope.user_id,
        actor.name,
        action,
        None if before is None else json.dumps(before),
        None if after is None else json.dumps(after),
    )
    await notify(connection, CALL_LIST, CallListChanged(scope.customer_id, site_id))


async def add_contact(connection: Connection, scope: CustomerScope, site_id: int, details: ContactDetails) -> Contact:
    """Add a contact at the end of the premises' list (at most MAX_CONTACTS)."""
    async with connection.transaction():
        await _lock_site(connection, scope, site_id)
        actor = await _manager(connection, scope)
        details = clean_contact(details)
        count: int = await connection.fetchval("SELECT count(*) FROM call_list_contacts WHERE site_id = $1", site_id)
        if count >= MAX_CONTACTS:
            raise DomainError(f"a call list holds at most {MAX_CONTACTS} contacts: remove one before adding another")
        row = await connection.fetchrow(
            "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone, phone_alt, relation, "
            f"has_keys, notes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CONTACT_COLUMNS}",
            scope.customer_id,
            site_id,
            count + 1,
            details.name,
            details.phone,
            details.phone_alt,
            details.relation,
            details.has_keys,
            details.notes,
        )
        contact = Contact.from_row(row)
        await _record(connection, scope, actor, site_id, "added", contact_id=contact.id, after=_fields(contact))
    return contact


async def edit_contact(
    connection: Connection, scope: CustomerScope, contact_id: int, details: ContactDetails
) -> Contact:
    """Change what is on file for a contact; nothing is recorded when nothing changed."""
    async with connection.transaction():
        before = await _locked_contact(connection, scope, contact_id)
        actor = await _manager(connection, scope)
        details = clean_contact(details)
        if details == before.details:
            return before
        row = await connection.fetchrow(
            "UPDATE call_list_contacts SET name = $3, phone = $4, phone_alt = $5, relation = $6, has_keys = $7, "
            f"notes = $8, updated_at = now() WHERE id = $1 AND customer_id = $2 RETURNING {CONTACT_COLUMNS}",
            contact_id,
            scope.customer_id,
            details.name,
            details.phone,
            details.phone_alt,
            details.relation,
            details.has_keys,
            details.notes,
        )
        after = Contact.from_row(row)
        await _record(
            connection,
            scope,
            actor,
            after.site_id,
            "edited",
            contact_id=contact_id,
            before=_fields(before),
            after=_fields(after),
        )
    return after


async def move_contact(connection: Connection, scope: CustomerScope, contact_id: int, direction: Direction) -> Contact:
    """Swap the contact with the one above or below it; DomainError when it is already first or last."""
    async with connection.transaction():
        contact = await _locked_contact(connection, scope, contact_id)
        actor = await _manager(connection, scope)
        target = contact.position - 1 if direction == "up" else contact.position + 1
        neighbour = await connection.fetchval(
            "SELECT id FROM call_list_contacts WHERE site_id = $1 AND position = $2", contact.site_id, target
        )
        if neighbour is None:
            where = "first" if direction == "up" else "last"
            raise DomainError(f"{contact.name} is already {where} on the call list")
        await connection.execute(
            "UPDATE call_list_contacts SET position = CASE id WHEN $1 THEN $3::int ELSE $4::int END, "
            "updated_at = now() WHERE id IN ($1, $2)",
            contact.id,
            neighbour,
            target,
            contact.position,
        )
        moved = await contact_of(connection, scope, contact_id)
        await _record(
            connection,
            scope,
            actor,
            contact.site_id,
            "moved",
            contact_id=contact_id,
            before=_fields(contact),
            after=_fields(moved),
        )
    return moved


def _dragged(old: Sequence[int], new: Sequence[int], hint: int | None = None) -> set[int]:
    """The contacts a person moved to get from `old` to `new`: those outside the longest run that kept its order.

    Dragging one contact from third to first shifts two others down a place; the history names only the one dragged
    (`hint`, when the page says which it was and the others indeed kept their order: a swap of two reads either way).
    """
    if hint is not None and [c for c in old if c != hint] == [c for c in new if c != hint] and hint in old:
        return {hint}
    rank = {contact_id: place for place, contact_id in enumerate(old)}
    sequence = [rank[contact_id] for contact_id in new]
    # Longest increasing subsequence, O(n^2): a list holds at most MAX_CONTACTS.
    runs: list[list[int]] = []
    for index, value in enumerate(sequence):
        before = [run for run in runs[:index] if run[-1] < value]
        longest: list[int] = max(before, key=len) if before else []
        runs.append([*longest, value])
    kept_run: list[int] = max(runs, key=len) if runs else []
    kept = set(kept_run)
    return {contact_id for contact_id in new if rank[contact_id] not in kept}


async def reorder(
    connection: Connection,
    scope: CustomerScope,
    site_id: int,
    contact_ids: Sequence[int],
    *,
    loaded: Sequence[int],
    dragged: int | None = None,
) -> bool:
    """Put the premises' contacts in the order given (a drag and drop). `loaded` is the order the person saw when
    they opened the page: the new order is theirs to give only over that list, so when the list is no longer in
    that order (someone moved, added or removed a contact meanwhile) nothing is changed — else a drag on an old page
    would silently undo another person's move. `dragged` names the contact the person dragged, for the history.

    Returns whether anything moved. Conflict when the list is not as `loaded` says, or the ids are not its contacts.
    """
    async with connection.transaction():
        await _lock_site(connection, scope, site_id)
        actor = await _manager(connection, scope)
        current = await contacts_of(connection, scope, site_id)
        old = [contact.id for contact in current]
        new = list(contact_ids)
        if list(loaded) != old or len(new) != len(set(new)) or sorted(new) != sorted(old):
            raise Conflict(STALE_ORDER)
        if new == old:
            return False
        moved = _dragged(old, new, dragged)
        await connection.execute(
            "UPDATE call_list_contacts AS c SET position = o.place, updated_at = now() "
            "FROM unnest($2::bigint[]) WITH ORDINALITY AS o(id, place) "
            "WHERE c.id = o.id AND c.site_id = $1 AND c.position <> o.place",
            site_id,
            new,
        )
        by_id = {contact.id: contact for contact in current}
        for place, contact_id in enumerate(new, start=1):
            if contact_id in moved:
                before = by_id[contact_id]
                after = {**_fields(before), "position": place}
                await _record(
                    connection,
                    scope,
                    actor,
                    site_id,
                    "moved",
                    contact_id=contact_id,
                    before=_fields(before),
                    after=after,
                )
    return True


async def remove_contact(connection: Connection, scope: CustomerScope, contact_id: int) -> Contact:
    """Remove the contact; those after it move up a place, so positions stay 1..n."""
    async with connection.transaction():
        contact = await _locked_contact(connection, scope, contact_id)
        actor = await _manager(connection, scope)
        await connection.execute("DELETE FROM call_list_contacts WHERE id = $1", contact_id)
        await connection.execute(
            "UPDATE call_list_contacts SET position = position - 1, updated_at = now() "
            "WHERE site_id = $1 AND position > $2",
            contact.site_id,
            contact.position,
        )
        await _record(
            connection, scope, actor, contact.site_id, "removed", contact_id=contact_id, before=_fields(contact)
        )
    return contact


async def _passcode_owner(connection: Connection, scope: CustomerScope, site_id: int) -> _Actor:
    await _lock_site(connection, scope, site_id)
    actor = await _actor(connection, scope)
    if not (actor.is_owner or (scope.by_staff and actor.may_manage)):
        raise Forbidden("only the account owner can see or change the verbal passcode")
    return actor


async def set_passcode(connection: Connection, scope: CustomerScope, site_id: int, passcode: str) -> bool:
    """Set the premises' verbal passcode (the owner only). Returns False when it already was that."""
    async with connection.transaction():
        actor = await _passcode_owner(connection, scope, site_id)
        passcode = clean_passcode(passcode)
        old = await connection.fetchval("SELECT passcode FROM site_passcodes WHERE site_id = $1", site_id)
        if old == passcode:
            return False
        await connection.execute(
            "INSERT INTO site_passcodes (site_id, passcode, set_by, set_at) VALUES ($1, $2, $3, now()) "
            "ON CONFLICT (site_id) DO UPDATE SET passcode = $2, set_by = $3, set_at = now()",
            site_id,
            passcode,
            scope.user_id,
        )
        # Never the value: only that there was one before and is one now.
        before = {"passcode": "set"} if old is not None else None
        await _record(connection, scope, actor, site_id, "passcode_set", before=before, after={"passcode": "set"})
    return True


async def clear_passcode(connection: Connection, scope: CustomerScope, site_id: int) -> None:
    """Remove the premises' verbal passcode (the owner only); DomainError when there is none."""
    async with connection.transaction():
        actor = await _passcode_owner(connection, scope, site_id)
        removed = await connection.fetchval("DELETE FROM site_passcodes WHERE site_id = $1 RETURNING site_id", site_id)
        if removed is None:
            raise DomainError("these premises have no verbal passcode to clear")
        await _record(
            connection,
            scope,
            actor,
            site_id,
            "passcode_cleared",
            before={"passcode": "set"},
            after={"passcode": "cleared"},
        )
