"""Handling an incident (SPEC D2): take, take over, release, record a call, note, dispatch, hold, close, and attach
an unknown account's incident to its account once it is enrolled.

One dispatcher holds an incident at a time, and the database decides who: every function runs in ONE transaction
that locks the incident's row (SELECT … FOR UPDATE), so two dispatchers acting at once are served one after the
other, and the second sees what the first did. A take is a conditional UPDATE (holder_id IS NULL) on that locked
row: of two takes at the same moment exactly one holds the incident, the other is told who does.

Every action writes one row of the audit trail (incident_actions: who by id and by name as it was then, when,
what) and NOTIFYs incidents_changed (shared.events.INCIDENTS) in the same transaction: consoles read the queue
again at its commit, and not at all if it rolls back. Only the holder acts (take and take over are how one
becomes it); a closed incident refuses everything.

What the customer's account of the incident shows (portal/outcomes) is marked customer_visible: dispatches, calls
(the page reads only the outcome and the contact's name from the call list) and the closing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from shared.db import Connection
from shared.errors import Conflict, DomainError, NotFound
from shared.events import INCIDENTS, IncidentsChanged, notify
from shared.fields import multi_line, single_line
from shared.incidents.model import (
    ActionKind,
    CallOutcome,
    Disposition,
    FalseAlarmCause,
    IncidentKind,
    Service,
    premises_key,
)
from shared.incidents.priority import PrioritySettings, signal_priority
from shared.incidents.rules import Member, all_restored

NOT_FOUND: Final = "That incident was not found."
CLOSED: Final = "Closed incidents cannot be changed."
NOTE_LIMIT: Final = 4000  # a note, a call's note, a dispatch's note, a closing note
# Dispositions a dispatcher chooses; 'attached' is attach_unknown's (and 'restored' the opener's, though a
# dispatcher may close a failure to communicate as restored too).
CHOSEN_DISPOSITIONS: Final = tuple(d for d in Disposition if d is not Disposition.ATTACHED)


@dataclass(frozen=True, slots=True)
class Staff:
    """Who acts: their id and their name as the audit trail keeps it (users may be renamed or removed later)."""

    user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class _Locked:
    id: int
    kind: IncidentKind
    status: str
    account: str
    site_id: int | None
    customer_id: int | None
    holder_id: int | None
    holder_name: str
    signal_count: int


# --- checking what was typed -------------------------------------------------------------------------------------


def _note(value: str, *, field: str, missing: str | None = None) -> str:
    """Text over several lines, up to NOTE_LIMIT characters, refused by `field`."""
    try:
        text = multi_line(value, field="comments", missing=missing)  # "comments": shared.fields' 4,000 limit
    except DomainError as error:
        raise DomainError(error.message, field=field) from None
    if len(text) > NOTE_LIMIT:
        raise DomainError(f"use at most {NOTE_LIMIT} characters (this has {len(text)})", field=field)
    return text


def _choice(enum: Any, value: object, *, field: str, message: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise DomainError(message, field=field) from None


# --- the locked row, the holder, the audit trail --------------------------------------------------------------------


async def _lock(connection: Connection, incident_id: int) -> _Locked:
    """The incident's row, locked until the transaction ends; NotFound for an unknown id."""
    # Lock first, then read with the join: a row locked after waiting for another transaction is re-read in its
    # new version, but a row joined to it in the same statement is not (the holder's name would be the old one's).
    await connection.execute("SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE", incident_id)
    row = await connection.fetchrow(
        "SELECT i.id, i.kind, i.status, i.account, i.site_id, i.customer_id, i.holder_id, i.signal_count, "
        "coalesce(nullif(u.name, ''), u.email, '') AS holder_name "
        "FROM incidents i LEFT JOIN users u ON u.id = i.holder_id WHERE i.id = $1",
        incident_id,
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    return _Locked(
        row["id"],
        IncidentKind(row["kind"]),
        row["status"],
        row["account"],
        row["site_id"],
        row["customer_id"],
        row["holder_id"],
        row["holder_name"] or "Someone else",
        row["signal_count"],
    )


async def _lock_open(connection: Connection, incident_id: int) -> _Locked:
    row = await _lock(connection, incident_id)
    if row.status != "open":
        raise Conflict(CLOSED)
    return row


def _require_seen(row: _Locked, seen_signal_count: int | None, action: str) -> None:
    """Conflict when signals joined the incident since the page the dispatcher acts from was read (it showed
    `seen_signal_count`; None: the caller showed nothing to compare): an alarm that arrived meanwhile is looked at
    before the incident is closed or put on hold, never swallowed unseen."""
    if seen_signal_count is not None and row.signal_count != seen_signal_count:
        raise Conflict(
            f"New signals arrived since you opened this page ({row.signal_count} now): look at them again before "
            f"you {action}."
        )


def _require_holder(row: _Locked, staff: Staff) -> None:
    if row.holder_id is None:
        raise Conflict("Take the incident first: only its holder acts on it.")
    if row.holder_id != staff.user_id:
        raise Conflict(f"{row.holder_name} holds this incident: only its holder acts on it.")


async def _act(
    connection: Connection,
    incident_id: int,
    staff: Staff | None,
    kind: ActionKind,
    detail: Mapping[str, Any],
    *,
    customer_visible: bool = False,
) -> int:
    """One entry of the audit trail (the jsonb as text: any connection, pool or bare, writes it the same)."""
    action_id: int = await connection.fetchval(
        "INSERT INTO incident_actions (incident_id, user_id, user_name, kind, detail, customer_visible) "
        "VALUES ($1, $2, $3, $4, $5::text::jsonb, $6) RETURNING id",
        incident_id,
        staff.user_id if staff else None,
        staff.name if staff else "",
        kind.value,
        json.dumps(dict(detail)),
        customer_visible,
    )
    return action_id


async def _changed(connection: Connection, *incident_ids: int) -> None:
    await notify(connection, INCIDENTS, IncidentsChanged(tuple(sorted(set(incident_ids)))))


# --- holding -------------------------------------------------------------------------------------------------------


async def take(connection: Connection, incident_id: int, staff: Staff) -> None:
    """Make `staff` the incident's one holder; Conflict naming the holder when someone else holds it.

    Taking ends a hold: the incident is being dealt with now.
    """
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        if row.holder_id == staff.user_id:
            return
        taken = await connection.fetchval(
            "UPDATE incidents SET holder_id = $2, taken_at = now(), held_until = NULL "
            "WHERE id = $1 AND status = 'open' AND holder_id IS NULL RETURNING id",
            incident_id,
            staff.user_id,
        )
        if taken is None:
            raise Conflict(f"{row.holder_name} already holds this incident.")
        await _act(connection, incident_id, staff, ActionKind.TAKEN, {})
        await _changed(connection, incident_id)


async def take_over(
    connection: Connection, incident_id: int, staff: Staff, *, reason: str, expected_holder_id: int | None
) -> None:
    """Take an incident another dispatcher holds (they are away, on another call): with a reason, kept in the audit
    trail beside whom it was taken from. `expected_holder_id` is the holder the page showed: if it changed since
    (two take-overs at once, or the holder released it), the take-over is refused, to be looked at again."""
    reason = single_line(reason, field="reason", missing="Say why you take it over.")
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        if row.holder_id == staff.user_id:
            return
        if row.holder_id != expected_holder_id:
            now = row.holder_name if row.holder_id is not None else "Nobody"
            raise Conflict(f"{now} holds this incident now: look again before taking it over.")
        await connection.execute(
            "UPDATE incidents SET holder_id = $2, taken_at = now(), held_until = NULL WHERE id = $1",
            incident_id,
            staff.user_id,
        )
        detail = {"reason": reason, "from_user_id": row.holder_id, "from_name": row.holder_name}
        await _act(connection, incident_id, staff, ActionKind.TAKEN_OVER, detail)
        await _changed(connection, incident_id)


async def release(connection: Connection, incident_id: int, staff: Staff) -> None:
    """Give the incident back to the queue for anyone to take; only its holder may."""
    async with connection.transaction():
        _require_holder(await _lock_open(connection, incident_id), staff)
        await connection.execute("UPDATE incidents SET holder_id = NULL, taken_at = NULL WHERE id = $1", incident_id)
        await _act(connection, incident_id, staff, ActionKind.RELEASED, {})
        await _changed(connection, incident_id)


# --- working it ----------------------------------------------------------------------------------------------------


async def record_call(
    connection: Connection,
    incident_id: int,
    staff: Staff,
    *,
    contact_id: int | None,
    phone: str,
    outcome: str,
    note: str,
    passcode_verified: bool,
) -> int:
    """A call made: to a contact on the premises' call list (`contact_id`; their number is kept as it was) or to a
    number typed (`phone`), its outcome, a note, and whether the person gave the verbal passcode. The action's id.

    The customer's account shows the outcome and the contact's name, never the number or the note.
    """
    chosen = _choice(CallOutcome, outcome, field="outcome", message="Choose how the call went.")
    note = _note(note, field="note")
    if passcode_verified and chosen is not CallOutcome.ANSWERED:
        raise DomainError("Only someone who answered can give the passcode.", field="passcode_verified")
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        _require_holder(row, staff)
        name = ""
        if contact_id is not None:
            contact = await connection.fetchrow(
                "SELECT name, phone FROM call_list_contacts WHERE id = $1 AND site_id = $2 AND customer_id = $3",
                contact_id,
                row.site_id,
                row.customer_id,
            )
            if contact is None:
                raise DomainError("That contact is not on this premises' call list.", field="contact_id")
            name, phone = contact["name"], phone.strip() or contact["phone"]
        else:
            phone = single_line(phone, field="phone", missing="Enter the number you called.")
        detail: dict[str, Any] = {
            "contact_id": contact_id,
            "name": name,
            "phone": phone,
            "outcome": chosen.value,
            "note": note,
            "passcode_verified": passcode_verified,
        }
        action_id = await _act(connection, incident_id, staff, ActionKind.CALL, detail, customer_visible=True)
        await _changed(connection, incident_id)
    return action_id


async def note(connection: Connection, incident_id: int, staff: Staff, *, text: str) -> None:
    """A note for staff (never shown to the customer)."""
    text = _note(text, field="text", missing="Write the note.")
    async with connection.transaction():
        _require_holder(await _lock_open(connection, incident_id), staff)
        await _act(connection, incident_id, staff, ActionKind.NOTE, {"text": text})
        await _changed(connection, incident_id)


async def dispatch(connection: Connection, incident_id: int, staff: Staff, *, service: str, note: str) -> None:
    """Police, fire brigade, ambulance or a guard sent, now (the action's time is the dispatch's); the customer's
    account says who was sent and when."""
    chosen = _choice(Service, service, field="service", message="Choose whom you sent.")
    text = _note(note, field="dispatch_note")
    async with connection.transaction():
        _require_holder(await _lock_open(connection, incident_id), staff)
        detail = {"service": chosen.value, "note": text}
        await _act(connection, incident_id, staff, ActionKind.DISPATCH, detail, customer_visible=True)
        await _changed(connection, incident_id)


async def hold(
    connection: Connection,
    incident_id: int,
    staff: Staff,
    *,
    minutes: int,
    reason: str,
    max_minutes: int,
    seen_signal_count: int | None = None,
) -> datetime:
    """Put the incident on hold for `minutes` (1..`max_minutes`, dispatch.hold_minutes_max): it goes back to the
    queue, after the others, and is presented again when the hold ends (anyone may take it then, or before). When
    the hold ends. Refused if its signal count is no longer `seen_signal_count`, the one the dispatcher's page
    showed (a signal joined since)."""
    if not 1 <= minutes <= max_minutes:
        raise DomainError(f"Hold for 1 to {max_minutes} minutes.", field="minutes")
    reason = single_line(reason, field="hold_reason", missing="Say why it waits (e.g. the keyholder is on the way).")
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        _require_holder(row, staff)
        _require_seen(row, seen_signal_count, "put it on hold")
        until: datetime = await connection.fetchval(
            "UPDATE incidents SET held_until = now() + make_interval(mins => $2), holder_id = NULL, taken_at = NULL "
            "WHERE id = $1 RETURNING held_until",
            incident_id,
            minutes,
        )
        detail = {"minutes": minutes, "until": until.isoformat(), "reason": reason}
        await _act(connection, incident_id, staff, ActionKind.HOLD, detail)
        await _changed(connection, incident_id)
    return until


async def close(
    connection: Connection,
    incident_id: int,
    staff: Staff,
    *,
    disposition: str,
    cause: str,
    note: str,
    seen_signal_count: int | None = None,
) -> None:
    """Close with a disposition: a false alarm needs its cause; cancelled by the customer needs a call recorded on
    this incident in which the person gave the verbal passcode. The customer's account shows the disposition (and
    a false alarm's cause), never the note.

    `seen_signal_count` is the incident's signal count as the dispatcher's page showed it: if a signal joined since
    (a fire alarm while they decided "false alarm" on a burglary), the close is refused, to be looked at again."""
    chosen = _choice(Disposition, disposition, field="disposition", message="Choose how the incident ends.")
    if chosen is Disposition.ATTACHED:
        raise DomainError("Attach an unknown account's incident with Attach to an account.", field="disposition")
    found_cause: FalseAlarmCause | None = None
    if chosen is Disposition.FALSE_ALARM:
        if not cause:
            raise DomainError("A false alarm needs its cause.", field="cause")
        found_cause = _choice(FalseAlarmCause, cause, field="cause", message="Choose the false alarm's cause.")
    text = _note(note, field="close_note")
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        _require_holder(row, staff)
        _require_seen(row, seen_signal_count, "close it")
        if chosen is Disposition.CANCELLED_BY_CUSTOMER and not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM incident_actions WHERE incident_id = $1 AND kind = 'call' "
            "AND (detail ->> 'passcode_verified')::boolean)",
            incident_id,
        ):
            raise DomainError(
                "Cancelled by the customer needs a call with the passcode verified: record that call first.",
                field="disposition",
            )
        await connection.execute(
            "UPDATE incidents SET status = 'closed', closed_at = now(), closed_by = $2, disposition = $3, "
            "false_alarm_cause = $4, disposition_note = $5, held_until = NULL WHERE id = $1",
            incident_id,
            staff.user_id,
            chosen.value,
            found_cause.value if found_cause else None,
            text,
        )
        detail = {"disposition": chosen.value, "cause": found_cause.value if found_cause else None, "note": text}
        await _act(connection, incident_id, staff, ActionKind.CLOSED, detail, customer_visible=True)
        await _changed(connection, incident_id)


# --- the unknown lane ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attached:
    """Where an unknown account's incident went: `incident_id` is the premises' incident now holding its signals
    (the same incident when it became the premises' own); `merged` when it joined another and was closed."""

    incident_id: int
    merged: bool
    customer_id: int
    site_id: int


async def attach_unknown(
    connection: Connection,
    incident_id: int,
    staff: Staff,
    *,
    account: str,
    priorities: PrioritySettings | None = None,
) -> Attached:
    """An unknown account's incident, once its account is enrolled (`account` must be the signals' own: refused
    otherwise): its signals get the panel's, premises' and customer's ids (the customer's history shows them from now
    on), and they join the premises' open incident — this one is then closed 'attached' — or, with none open, this
    incident becomes the premises' own (an alarm incident, its priority, title and alarm type from its most urgent
    signal), still held by `staff`."""
    account = single_line(account, field="account", missing="Enter the account the signals belong to.").upper()
    async with connection.transaction():
        row = await _lock_open(connection, incident_id)
        _require_holder(row, staff)
        if row.kind is not IncidentKind.UNKNOWN_ACCOUNT:
            raise Conflict("Only an unknown account's incident is attached to an account.")
        # The panel's account is in every signal: they are that account's, and no other's (a typo, or another row
        # of the list, must not give one customer another's alarms).
        own = row.account.strip().upper()
        if account != own:
            raise DomainError(
                f"These signals came from account {own}: they can only be attached to {own}, once it is enrolled.",
                field="account",
            )
        panel = await connection.fetchrow(
            "SELECT p.id, p.site_id, s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1",
            account,
        )
        if panel is None:
            raise DomainError(f"No panel is enrolled with account {account}: enrol it first.", field="account")
        signal_ids: list[int] = [
            r["signal_id"]
            for r in await connection.fetch(
                "SELECT signal_id FROM incident_signals WHERE incident_id = $1 ORDER BY signal_id", incident_id
            )
        ]
        await connection.execute(
            "UPDATE signals SET panel_id = $2, site_id = $3, customer_id = $4 WHERE id = ANY($1::bigint[])",
            signal_ids,
            panel["id"],
            panel["site_id"],
            panel["customer_id"],
        )
        place = {
            "account": account,
            "panel_id": panel["id"],
            "site_id": panel["site_id"],
            "customer_id": panel["customer_id"],
            "signal_ids": signal_ids,
        }
        key = premises_key(panel["site_id"], account)
        target = await _open_by_key(connection, key)
        if target is None:
            async with connection.transaction():  # a savepoint: the opener may open one for the premises meanwhile
                try:
                    await _become_premises(connection, row, panel, key, priorities)
                except asyncpg.UniqueViolationError:
                    target = None
                else:
                    await _act(connection, incident_id, staff, ActionKind.ATTACHED, {**place, "into": incident_id})
                    await _changed(connection, incident_id)
                    return Attached(incident_id, False, panel["customer_id"], panel["site_id"])
            target = await _open_by_key(connection, key)
            assert target is not None, "the premises' incident that made the update fail"
        await _merge(connection, row, target, priorities)
        await connection.execute(
            "UPDATE incidents SET status = 'closed', closed_at = now(), closed_by = $2, disposition = 'attached', "
            "disposition_note = $3, held_until = NULL WHERE id = $1",
            incident_id,
            staff.user_id,
            f"Attached to incident #{target}",
        )
        await _act(connection, incident_id, staff, ActionKind.ATTACHED, {**place, "into": target})
        await _act(connection, incident_id, staff, ActionKind.CLOSED, {"disposition": "attached", "into": target})
        await _act(connection, target, staff, ActionKind.ATTACHED, {**place, "from": incident_id})
        await _changed(connection, incident_id, target)
    return Attached(target, True, panel["customer_id"], panel["site_id"])


async def _open_by_key(connection: Connection, key: str) -> int | None:
    found: int | None = await connection.fetchval(
        "SELECT id FROM incidents WHERE premises_key = $1 AND status = 'open' FOR UPDATE", key
    )
    return found


@dataclass(frozen=True, slots=True)
class _Urgent:
    priority: int
    title: str
    alarm_type: str | None


async def _most_urgent(
    connection: Connection, signal_ids: Sequence[int], priorities: PrioritySettings | None
) -> _Urgent | None:
    """Of the signals, the most urgent as an alarm incident of the premises weighs it (ties: the earliest)."""
    rows = await connection.fetch(
        "SELECT id, category, alarm_type, priority, description, received_at FROM signals "
        "WHERE id = ANY($1::bigint[]) ORDER BY received_at, id",
        list(signal_ids),
    )
    best: _Urgent | None = None
    for r in rows:
        alarm_type = r["alarm_type"] if r["category"] == "alarm" else None
        priority = signal_priority(IncidentKind.ALARM, alarm_type, r["priority"], priorities)
        if best is None or priority < best.priority:
            best = _Urgent(priority, r["description"], alarm_type)
    return best


async def _members(connection: Connection, incident_id: int) -> list[Member]:
    rows = await connection.fetch(
        "SELECT g.id, g.format, g.code, g.qualifier, g.zone, g.received_at, g.account "
        "FROM incident_signals i JOIN signals g ON g.id = i.signal_id WHERE i.incident_id = $1",
        incident_id,
    )
    return [
        Member(r["id"], r["format"], r["code"], r["qualifier"], r["zone"], r["received_at"], r["account"]) for r in rows
    ]


async def _restored_at(connection: Connection, incident_id: int) -> datetime | None:
    """When every alarm in the incident was restored (its last signal's time), or None."""
    members = await _members(connection, incident_id)
    if not members or not all_restored(members):
        return None
    return max(m.received_at for m in members)


async def _become_premises(
    connection: Connection,
    row: _Locked,
    panel: asyncpg.Record,
    key: str,
    priorities: PrioritySettings | None,
) -> None:
    signal_ids = [
        r["signal_id"]
        for r in await connection.fetch("SELECT signal_id FROM incident_signals WHERE incident_id = $1", row.id)
    ]
    urgent = await _most_urgent(connection, signal_ids, priorities)
    await connection.execute(
        "UPDATE incidents SET kind = 'alarm', premises_key = $2, panel_id = $3, site_id = $4, customer_id = $5, "
        "priority = coalesce($6, priority), title = coalesce($7, title), alarm_type = $8, restored_at = $9 "
        "WHERE id = $1",
        row.id,
        key,
        panel["id"],
        panel["site_id"],
        panel["customer_id"],
        urgent.priority if urgent else None,
        urgent.title if urgent else None,
        urgent.alarm_type if urgent else None,
        await _restored_at(connection, row.id),
    )


async def _merge(connection: Connection, row: _Locked, target: int, priorities: PrioritySettings | None) -> None:
    """The unknown incident's signals join `target` (its opening signal as a joined one)."""
    moved = await connection.fetch(
        "UPDATE incident_signals SET incident_id = $2, role = CASE WHEN role = 'opened' THEN 'joined' ELSE role END "
        "WHERE incident_id = $1 RETURNING signal_id, received_at",
        row.id,
        target,
    )
    urgent = await _most_urgent(connection, [r["signal_id"] for r in moved], priorities)
    last = max((r["received_at"] for r in moved), default=None)
    await connection.execute(
        "UPDATE incidents SET signal_count = signal_count + $2, last_signal_at = greatest(last_signal_at, $3), "
        "title = CASE WHEN $4::smallint < priority THEN $5 ELSE title END, "
        "alarm_type = CASE WHEN $4::smallint < priority THEN $6 ELSE alarm_type END, "
        "priority = least(priority, coalesce($4::smallint, priority)) WHERE id = $1",
        target,
        len(moved),
        last,
        urgent.priority if urgent else None,
        urgent.title if urgent else None,
        urgent.alarm_type if urgent else None,
    )
    await connection.execute(
        "UPDATE incidents SET restored_at = CASE WHEN $2::timestamptz IS NOT NULL THEN coalesce(restored_at, $2) END "
        "WHERE id = $1",
        target,
        await _restored_at(connection, target),
    )
