"""The SQL of the incident opener and the supervision (shared.incidents.opener, shared.incidents.supervision).

Every statement here runs inside the opener's one transaction per page of signals (or the supervision's one
statement per tick); none is the receiver's: its insert path is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.catalogue.classify import classify
from shared.catalogue.model import CONTACT_ID
from shared.db import Connection
from shared.events import SIGNALS
from shared.incidents.model import FAILURE_TO_COMMUNICATE_CODE, SUPERVISION_TRANSPORT, ActionKind, IncidentKind
from shared.incidents.rules import Member
from shared.incidents.system_tests import active_test_sql
from shared.signal_cursor import SignalCursor

# --- the opener's cursor (job_cursors) ---------------------------------------------------------------------------


async def read_cursor(connection: Connection, job: str) -> SignalCursor | None:
    row = await connection.fetchrow("SELECT xact, id FROM job_cursors WHERE job = $1", job)
    return None if row is None else SignalCursor(row["xact"], row["id"])


async def start_cursor(connection: Connection, job: str, cursor: SignalCursor) -> SignalCursor:
    """The job's cursor, set to `cursor` if it has none yet (a first start); what is stored either way."""
    await connection.execute(
        "INSERT INTO job_cursors (job, xact, id) VALUES ($1, $2, $3) ON CONFLICT (job) DO NOTHING",
        job,
        cursor.xact,
        cursor.id,
    )
    stored = await read_cursor(connection, job)
    assert stored is not None
    return stored


async def advance_cursor(connection: Connection, job: str, expected: SignalCursor, to: SignalCursor) -> bool:
    """Compare-and-set: move the cursor from `expected` to `to`; False if it is no longer at `expected` (another
    holder moved it: this transaction must roll back). The row lock it takes serialises two holders."""
    status: str = await connection.execute(
        "UPDATE job_cursors SET xact = $4, id = $5, updated_at = now() WHERE job = $1 AND xact = $2 AND id = $3",
        job,
        expected.xact,
        expected.id,
        to.xact,
        to.id,
    )
    return status == "UPDATE 1"


# --- premises on test --------------------------------------------------------------------------------------------

_ON_TEST: Final = f"""
    SELECT u.signal_id
      FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS u(signal_id, site_id, at)
     WHERE {active_test_sql("u.site_id", "u.at")}
"""


async def signals_on_test(connection: Connection, signals: Sequence[tuple[int, int, datetime]]) -> set[int]:
    """Of (signal id, site id, received_at), the signals whose premises was on test at that moment."""
    if not signals:
        return set()
    ids, sites, moments = zip(*signals, strict=True)
    rows = await connection.fetch(_ON_TEST, list(ids), list(sites), list(moments))
    return {row["signal_id"] for row in rows}


# --- incidents ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: int
    kind: IncidentKind
    priority: int
    holder_id: int | None
    customer_id: int | None


async def open_incident(connection: Connection, key: str) -> OpenIncident | None:
    """The premises' open incident, locked for this transaction (a dispatcher's action on it waits, and then sees
    what the opener did)."""
    row = await connection.fetchrow(
        "SELECT id, kind, priority, holder_id, customer_id FROM incidents "
        "WHERE premises_key = $1 AND status = 'open' FOR UPDATE",
        key,
    )
    if row is None:
        return None
    return OpenIncident(row["id"], IncidentKind(row["kind"]), row["priority"], row["holder_id"], row["customer_id"])


_INSERT_INCIDENT: Final = """
    INSERT INTO incidents (kind, account, panel_id, site_id, customer_id, premises_key, priority, alarm_type, title,
                           opened_at, first_signal_id, last_signal_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)
    ON CONFLICT (premises_key) WHERE status = 'open' DO NOTHING
    RETURNING id
"""


async def insert_incident(
    connection: Connection,
    *,
    kind: IncidentKind,
    account: str,
    panel_id: int | None,
    site_id: int | None,
    customer_id: int | None,
    key: str,
    priority: int,
    alarm_type: str | None,
    title: str,
    signal_id: int,
    at: datetime,
) -> int | None:
    """A new open incident opened by `signal_id` at `at` (its received_at); None when the premises has one already
    (opened meanwhile by someone else: join that one)."""
    incident_id: int | None = await connection.fetchval(
        _INSERT_INCIDENT,
        kind.value,
        account,
        panel_id,
        site_id,
        customer_id,
        key,
        priority,
        alarm_type,
        title,
        at,
        signal_id,
    )
    return incident_id


# A joining signal, in one statement: made the incident's (unless it belongs to one already), the incident counted,
# its last signal's time moved, its priority (with the title and alarm type of the signal that set it) lowered when
# the signal is more urgent, its kind as rules.joined_kind says, no longer restored, and the audit entry written.
# A new event (role 'joined', not a restore) also ends a hold: the incident is presented again at once, and the
# audit entry says so ("hold_ended": the time the hold would have ended). `old` is the row as the statement found
# it (the UPDATE's own row is the new version in RETURNING).
_JOIN: Final = """
WITH added AS (
    INSERT INTO incident_signals (incident_id, signal_id, received_at, role) VALUES ($1, $7, $2, $8)
    ON CONFLICT DO NOTHING
    RETURNING incident_id
), joined AS (
    UPDATE incidents i
       SET signal_count = i.signal_count + 1,
           last_signal_at = greatest(i.last_signal_at, $2),
           title = CASE WHEN $3 < i.priority THEN $4 ELSE i.title END,
           alarm_type = CASE WHEN $3 < i.priority THEN $5 ELSE i.alarm_type END,
           priority = least(i.priority, $3),
           kind = $6,
           restored_at = NULL,
           held_until = CASE WHEN $8 = 'joined' THEN NULL ELSE i.held_until END
      FROM incidents old
     WHERE i.id = (SELECT incident_id FROM added) AND old.id = i.id
    RETURNING i.id, CASE WHEN $8 = 'joined' AND old.held_until > now() THEN old.held_until END AS hold_ended
)
INSERT INTO incident_actions (incident_id, kind, detail)
SELECT id, 'signal',
       CASE WHEN hold_ended IS NULL THEN $9::jsonb ELSE $9::jsonb || jsonb_build_object('hold_ended', hold_ended) END
  FROM joined
RETURNING incident_id
"""


async def join_incident(
    connection: Connection,
    incident_id: int,
    *,
    signal_id: int,
    role: str,
    at: datetime,
    priority: int,
    title: str,
    alarm_type: str | None,
    kind: IncidentKind,
) -> bool:
    """The signal joins the incident (one round trip); False if it already belongs to an incident (nothing is
    written)."""
    detail = {"signal_id": signal_id, "title": title, "priority": priority}
    joined = await connection.fetchval(
        _JOIN, incident_id, at, priority, title, alarm_type, kind.value, signal_id, role, detail
    )
    return joined is not None


async def count_restore(connection: Connection, incident_id: int, *, at: datetime, restored: bool) -> None:
    """A restore attached: counted; restored_at set (at its time) when every event in it is restored."""
    await connection.execute(
        "UPDATE incidents SET signal_count = signal_count + 1, last_signal_at = greatest(last_signal_at, $2), "
        "restored_at = CASE WHEN $3 THEN coalesce(restored_at, $2) END WHERE id = $1",
        incident_id,
        at,
        restored,
    )


async def add_signal(connection: Connection, incident_id: int, signal_id: int, at: datetime, role: str) -> bool:
    """The signal becomes the incident's; False if it already belongs to an incident (nothing is written)."""
    added = await connection.fetchval(
        "INSERT INTO incident_signals (incident_id, signal_id, received_at, role) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING signal_id",
        incident_id,
        signal_id,
        at,
        role,
    )
    return added is not None


async def add_action(
    connection: Connection,
    incident_id: int,
    kind: ActionKind,
    detail: Mapping[str, Any],
    *,
    customer_visible: bool = False,
) -> None:
    """One entry of the audit trail, written by the system (no user)."""
    await connection.execute(
        "INSERT INTO incident_actions (incident_id, kind, detail, customer_visible) VALUES ($1, $2, $3, $4)",
        incident_id,
        kind.value,
        dict(detail),
        customer_visible,
    )


async def members(connection: Connection, incident_id: int) -> list[Member]:
    """The incident's signals, as rules.all_restored reads them."""
    rows = await connection.fetch(
        "SELECT g.id, g.format, g.code, g.qualifier, g.zone, g.received_at, g.account "
        "FROM incident_signals i JOIN signals g ON g.id = i.signal_id WHERE i.incident_id = $1",
        incident_id,
    )
    return [
        Member(r["id"], r["format"], r["code"], r["qualifier"], r["zone"], r["received_at"], r["account"]) for r in rows
    ]


async def close_restored(connection: Connection, incident_id: int) -> bool:
    """Close a failure-to-communicate incident nobody holds, by the system, as 'restored'; False if it is held,
    closed already or has become an alarm."""
    status: str = await connection.execute(
        "UPDATE incidents SET status = 'closed', closed_at = now(), disposition = 'restored' "
        "WHERE id = $1 AND status = 'open' AND holder_id IS NULL AND kind = 'failure_to_communicate'",
        incident_id,
    )
    return status == "UPDATE 1"


# --- what the mails name -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Premises:
    site_id: int
    customer_id: int
    name: str
    address: str


async def premises(connection: Connection, site_id: int) -> Premises | None:
    row = await connection.fetchrow("SELECT id, customer_id, name, address FROM sites WHERE id = $1", site_id)
    return None if row is None else Premises(row["id"], row["customer_id"], row["name"], row["address"])


# --- supervision -------------------------------------------------------------------------------------------------

_LAPSE: Final = classify(CONTACT_ID, FAILURE_TO_COMMUNICATE_CODE, "event")
_RESTORE: Final = classify(CONTACT_ID, FAILURE_TO_COMMUNICATE_CODE, "restore")


def _supervision_insert(selected: str, qualifier: str, text: str, category: str, priority: int) -> str:
    """INSERT the synthetic 354 signal of every panel `selected` returns (id, account, site_id, customer_id), and
    NOTIFY the signals channel as the receiver's batch does (one notice for the statement)."""
    return f"""
WITH changed AS ({selected}),
inserted AS (
    INSERT INTO signals (account, panel_id, site_id, customer_id, transport, remote_addr, receiver, line, sequence,
                         panel_time, event_index, format, code, qualifier, zone, partition, user_number, category,
                         alarm_type, priority, description, extended, raw_frame)
    SELECT c.account, c.id, c.site_id, c.customer_id, '{SUPERVISION_TRANSPORT}', '', '', '', '0000',
           NULL, 0, '{CONTACT_ID}', '{FAILURE_TO_COMMUNICATE_CODE}', '{qualifier}', NULL, NULL, NULL, '{category}',
           NULL, {int(priority)}, $1, '{{}}', ''::bytea
      FROM changed c
    RETURNING id, panel_id
), summary AS (
    SELECT count(*) AS stored, min(id) AS first_id, max(id) AS last_id FROM inserted
)
SELECT stored,
       CASE WHEN stored > 0 THEN pg_notify('{SIGNALS.name}',  -- shared.events.SignalsCommitted
            json_build_object('first_id', first_id, 'last_id', last_id, 'count', stored)::text) END AS notified,
       (SELECT coalesce(array_agg(panel_id ORDER BY panel_id), '{{}}') FROM inserted) AS panels
  FROM summary
"""


# A panel's deadline: its last traffic (else its enrolment) + the shorter of its test and supervision intervals +
# the grace ($2 seconds). Past it and not failed already: failed now, once (the UPDATE's condition holds it), and
# silent since that last traffic: communication_failed_at keeps it, so ANY later traffic restores it — also a frame
# that arrived just before this check but reached panels.last_seen_at (the receivers flush it about once a second,
# later while the database is in trouble, by their own clocks) just after it. Stamped now(), such a frame's earlier
# time left the panel failed until its next test, possibly a day later. Not
# while its premises is on test (the customer may have it unplugged): the first check after the test fails it, so a
# panel still silent then is not forgotten.
_FAILED: Final = _supervision_insert(
    f"""
    UPDATE panels p
       SET communication_failed_at = coalesce(p.last_seen_at, p.created_at)
      FROM sites s
     WHERE s.id = p.site_id
       AND p.communication_failed_at IS NULL
       AND coalesce(p.last_seen_at, p.created_at)
           + least(p.test_interval, coalesce(p.supervision_interval, p.test_interval))
           + make_interval(secs => $2) < now()
       AND NOT {active_test_sql("p.site_id", "now()")}
    RETURNING p.id, p.account, p.site_id, s.customer_id
""",
    "event",
    _LAPSE.text,
    _LAPSE.category.value,
    _LAPSE.priority,
)

# Heard again since it failed: cleared, with the restore.
_HEARD: Final = _supervision_insert(
    """
    UPDATE panels p
       SET communication_failed_at = NULL
      FROM sites s
     WHERE s.id = p.site_id
       AND p.communication_failed_at IS NOT NULL
       AND p.last_seen_at > p.communication_failed_at
    RETURNING p.id, p.account, p.site_id, s.customer_id
""",
    "restore",
    _RESTORE.text,
    _RESTORE.category.value,
    _RESTORE.priority,
)


async def mark_failed(connection: Connection, grace: float) -> list[int]:
    """Panels past their deadline: marked failed, each with its one 354 signal, announced; their ids."""
    row = await connection.fetchrow(_FAILED, _LAPSE.text, grace)
    assert row is not None  # the summary is one row
    return list(row["panels"])


async def mark_heard(connection: Connection) -> list[int]:
    """Failed panels heard from again: cleared, each with its 354 restore, announced; their ids."""
    row = await connection.fetchrow(_HEARD, _RESTORE.text)
    assert row is not None
    return list(row["panels"])
