"""Reading call lists (C12): a customer's premises, each one's contacts in calling order, and the history of changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope

CONTACT_COLUMNS: Final = "id, site_id, position, name, phone, phone_alt, relation, has_keys, notes, updated_at"
CONTACT_NOT_FOUND: Final = "That contact was not found on your call list."
PASSCODE_ACTIONS: Final = frozenset({"passcode_set", "passcode_cleared"})


@dataclass(frozen=True, slots=True)
class Premises:
    id: int
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """What a person types about a contact (shared.call_list.clean_contact checks it)."""

    name: str
    phone: str
    phone_alt: str = ""
    relation: str = ""
    has_keys: bool = False
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Contact:
    """One person on a premises' call list; `position` 1 is called first."""

    id: int
    site_id: int
    position: int
    name: str
    phone: str
    phone_alt: str
    relation: str
    has_keys: bool
    notes: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record | None) -> Contact:
        if row is None:
            raise NotFound(CONTACT_NOT_FOUND)
        return cls(**{name: row[name] for name in CONTACT_COLUMNS.split(", ")})

    @property
    def details(self) -> ContactDetails:
        return ContactDetails(self.name, self.phone, self.phone_alt, self.relation, self.has_keys, self.notes)


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a call list's history: who did what, when, with the contact's fields before and after."""

    id: int
    site_id: int | None
    contact_id: int | None
    changed_at: datetime
    changed_by_name: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def premises_of(connection: Connection, scope: CustomerScope) -> list[Premises]:
    """The customer's premises, oldest first (the first is the one a call list page opens on)."""
    rows = await connection.fetch(
        "SELECT id, name, address FROM sites WHERE customer_id = $1 ORDER BY id", scope.customer_id
    )
    return [Premises(row["id"], row["name"], row["address"]) for row in rows]


async def site_of(connection: Connection, scope: CustomerScope, site_id: int) -> Premises:
    row = await connection.fetchrow(
        "SELECT id, name, address FROM sites WHERE id = $1 AND customer_id = $2", site_id, scope.customer_id
    )
    if row is None:
        raise NotFound("That premises was not found.")
    return Premises(row["id"], row["name"], row["address"])


async def contacts_of(connection: Connection, scope: CustomerScope, site_id: int) -> list[Contact]:
    """The premises' contacts in calling order; NotFound for premises of another customer."""
    await site_of(connection, scope, site_id)
    rows = await connection.fetch(
        f"SELECT {CONTACT_COLUMNS} FROM call_list_contacts WHERE site_id = $1 AND customer_id = $2 "
        "ORDER BY position, id",
        site_id,
        scope.customer_id,
    )
    return [Contact.from_row(row) for row in rows]


async def contact_of(connection: Connection, scope: CustomerScope, contact_id: int) -> Contact:
    row = await connection.fetchrow(
        f"SELECT {CONTACT_COLUMNS} FROM call_list_contacts WHERE id = $1 AND customer_id = $2",
        contact_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound(CONTACT_NOT_FOUND)
    return Contact.from_row(row)


async def passcode_of(connection: Connection, scope: CustomerScope, site_id: int) -> str | None:
    """The premises' verbal passcode, or None. Only for the owner's pages and staff: the caller decides."""
    await site_of(connection, scope, site_id)
    passcode: str | None = await connection.fetchval("SELECT passcode FROM site_passcodes WHERE site_id = $1", site_id)
    return passcode


def _json(value: Any) -> dict[str, Any] | None:
    # The pool decodes jsonb (shared.db); a bare connection hands back the text.
    if isinstance(value, str):
        decoded: dict[str, Any] = json.loads(value)
        return decoded
    return value if isinstance(value, dict) else None


async def changes_of(
    connection: Connection, scope: CustomerScope, site_id: int, *, with_passcode: bool, limit: int = 50
) -> list[Change]:
    """The premises' changes, newest first. `with_passcode=False` (a secondary user) leaves out that a verbal
    passcode was set or cleared: they are not to learn even whether there is one."""
    await site_of(connection, scope, site_id)
    rows = await connection.fetch(
        "SELECT id, site_id, contact_id, changed_at, changed_by_name, action, before, after FROM call_list_changes "
        "WHERE site_id = $1 AND customer_id = $2 AND ($3 OR action <> ALL($4::text[])) "
        "ORDER BY changed_at DESC, id DESC LIMIT $5",
        site_id,
        scope.customer_id,
        with_passcode,
        sorted(PASSCODE_ACTIONS),
        limit,
    )
    return [
        Change(
            row["id"],
            row["site_id"],
            row["contact_id"],
            row["changed_at"],
            row["changed_by_name"],
            row["action"],
            _json(row["before"]),
            _json(row["after"]),
        )
        for row in rows
    ]
