"""The incident opener: follows every committed signal and turns alarms into incidents (issue 14; SPEC R8, R9).

A continuous job (shared.jobs.Continuous, one leader across every worker): a SignalFollower on a Listener of its
own reads the signals after its cursor — gap-free and in commit order (shared.signal_cursor) — woken by the
receivers' and the supervision's NOTIFY on the signals channel. Each page of signals is handled in ONE
transaction that

1. moves the cursor in job_cursors ('incident-opener') from where this process last left it to after the page,
   as a compare-and-set: a second, stale holder finds it moved, changes nothing and stops;
2. applies shared.incidents.rules to each signal: opens or joins the premises' incident (priority, title and alarm
   type following its most urgent signal), attaches restores (and closes a failure to communicate that nobody
   holds once it is restored), writes incident_signals and the audit trail (incident_actions);
3. queues the notification mails in the outbox (shared.incidents.notices);
4. NOTIFYs incidents_changed with the incidents it touched.

So after a crash, a restart or a takeover the opener resumes exactly after the last page it committed: no signal
is missed, none handled twice. On its first start it begins at "now": the oldest transaction id still in progress
anywhere on the server, so signals committed since that transaction began may be taken up too (seconds normally,
longer behind a transaction left open), never fewer; older signals are not turned into incidents. The receiver's
insert path is untouched: the opener only reads signals, after they commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg

from shared.branding import Branding
from shared.config import Config
from shared.db import Connection, Pool
from shared.events import INCIDENTS, IncidentsChanged, Listener, notify
from shared.incidents import queries
from shared.incidents.model import ActionKind, IncidentKind, NotificationCategory
from shared.incidents.notices import mail_subscribers
from shared.incidents.notifications import recipients
from shared.incidents.priority import PrioritySettings
from shared.incidents.rules import (
    Act,
    Decision,
    Member,
    Signal,
    all_restored,
    decide,
    joined_kind,
    opening_mail,
    restores_one_of,
)
from shared.jobs import Continuous, LeadershipLost
from shared.logs import get_logger
from shared.signal_cursor import CursorAhead, SignalCursor, SignalFollower, cursor_now, next_committed_after

log = get_logger(__name__)

JOB: Final = "incident-opener"


@dataclass(frozen=True, slots=True)
class OpenerSettings:
    priorities: PrioritySettings
    branding: Branding
    zone: ZoneInfo  # the portal's: the mails' times

    @classmethod
    def from_config(cls, config: Config) -> OpenerSettings:
        return cls(
            PrioritySettings.from_config(config),
            Branding.from_config(config),
            ZoneInfo(config["portal.timezone"]),
        )


class CursorMoved(LeadershipLost):
    """The cursor in job_cursors is not where this opener left it: another holder handled those signals."""


class Opener:
    """One process's opener while it leads; `run` follows the signals until cancelled."""

    def __init__(self, pool: Pool, settings: OpenerSettings, *, job: str = JOB, page_size: int = 500) -> None:
        self.pool = pool
        self.settings = settings
        self.job = job
        self.page_size = page_size
        self.stored: SignalCursor | None = None  # where job_cursors stands, as this opener last wrote or read it
        self._moved = asyncio.Event()

    async def run(self, database_url: str) -> None:
        """Follow the signals from the stored cursor (a first start: from now) until cancelled; raises CursorMoved
        when another holder moved the cursor."""
        async with self.pool.acquire() as connection:
            self.stored = await queries.start_cursor(connection, self.job, await cursor_now(connection))
        log.info("incident opener following signals", job=self.job, cursor=str(self.stored))
        self._moved = asyncio.Event()
        listener = Listener(database_url, name=self.job)
        SignalFollower(listener, self.handle, self.stored, page_size=self.page_size)
        listening = asyncio.create_task(listener.run(), name=f"{self.job}-listener")
        moved = asyncio.create_task(self._moved.wait(), name=f"{self.job}-cursor")
        try:
            await asyncio.wait({listening, moved}, return_when=asyncio.FIRST_COMPLETED)
            if self._moved.is_set():
                raise CursorMoved("the opener's cursor was moved by another holder")
            await listening
        finally:
            listener.stop()
            for task in (listening, moved):
                task.cancel()
            await asyncio.gather(listening, moved, return_exceptions=True)

    async def handle(self, rows: Sequence[asyncpg.Record], after: SignalCursor) -> None:
        """One page of signals in one transaction, the cursor moved with it (compare-and-set)."""
        assert self.stored is not None, "run() reads the cursor first"
        async with self.pool.acquire() as connection, connection.transaction():
            if not await queries.advance_cursor(connection, self.job, self.stored, after):
                self._moved.set()
                raise CursorMoved(f"cursor {self.job} is no longer at {self.stored}")
            changed = await self._apply(connection, [Signal.from_row(row) for row in rows])
            if changed:
                await notify(connection, INCIDENTS, IncidentsChanged(tuple(sorted(changed))))
        self.stored = after
        if changed:
            log.info("incidents changed", signals=len(rows), incidents=sorted(changed))

    async def _apply(self, connection: Connection, signals: Sequence[Signal]) -> set[int]:
        priorities = self.settings.priorities
        decisions = [(signal, decide(signal, settings=priorities)) for signal in signals]
        candidates = [
            (signal.id, signal.site_id, signal.received_at)
            for signal, decision in decisions
            if decision.needs_premises and signal.site_id is not None
        ]
        on_test = await queries.signals_on_test(connection, candidates)
        changed: set[int] = set()
        for signal, first in decisions:
            decision = decide(signal, on_test=True, settings=priorities) if signal.id in on_test else first
            if decision.act is Act.OPEN_OR_JOIN:
                await self._open_or_join(connection, signal, decision, changed)
            elif decision.act is Act.ATTACH_RESTORE:
                await self._attach_restore(connection, signal, decision, changed)
            if decision.mail is not None:
                await self._mail(connection, decision.mail, signal, None)
        return changed

    async def _open_or_join(
        self, connection: Connection, signal: Signal, decision: Decision, changed: set[int]
    ) -> None:
        assert decision.kind is not None and decision.premises_key is not None and decision.priority is not None
        alarm_type = signal.alarm_type if signal.category == "alarm" else None
        incident = await queries.open_incident(connection, decision.premises_key)
        if incident is None:
            opened = await queries.insert_incident(
                connection,
                kind=decision.kind,
                account=signal.account,
                panel_id=signal.panel_id,
                site_id=signal.site_id,
                customer_id=signal.customer_id,
                key=decision.premises_key,
                priority=decision.priority,
                alarm_type=alarm_type,
                title=signal.description,
                signal_id=signal.id,
                at=signal.received_at,
            )
            if opened is not None:
                await queries.add_signal(connection, opened, signal.id, signal.received_at, "opened")
                detail = {"signal_id": signal.id, "kind": decision.kind.value, "title": signal.description}
                await queries.add_action(
                    connection, opened, ActionKind.OPENED, {**detail, "priority": decision.priority}
                )
                changed.add(opened)
                await self._mail_opening(connection, decision.kind, signal, opened)
                return
            incident = await queries.open_incident(connection, decision.premises_key)  # opened meanwhile: join it
            assert incident is not None
        kind = joined_kind(incident.kind, decision.kind)
        joined = await queries.join_incident(
            connection,
            incident.id,
            signal_id=signal.id,
            role="restore" if signal.is_restore else "joined",
            at=signal.received_at,
            priority=decision.priority,
            title=signal.description,
            alarm_type=alarm_type,
            kind=kind,
        )
        if not joined:
            return  # already in an incident (never expected: the cursor is compare-and-set)
        changed.add(incident.id)
        if kind is not incident.kind:
            await self._mail_opening(connection, kind, signal, incident.id)
        elif decision.kind is not kind and not signal.is_restore:
            # A failure to communicate joining an open alarm (the intruder smashed the panel): the incident stays an
            # alarm, but the customer's 'failure to communicate' subscribers are told all the same.
            await self._mail_opening(connection, decision.kind, signal, incident.id)

    async def _attach_restore(
        self, connection: Connection, signal: Signal, decision: Decision, changed: set[int]
    ) -> None:
        assert decision.premises_key is not None
        incident = await queries.open_incident(connection, decision.premises_key)
        if incident is None:
            return  # nothing open to restore
        restore = Member(
            signal.id, signal.format, signal.code, signal.qualifier, signal.zone, signal.received_at, signal.account
        )
        members = await queries.members(connection, incident.id)
        if not restores_one_of(restore, members):
            return  # it ends an alarm of an incident closed before this one opened, not one of this incident's
        if not await queries.add_signal(connection, incident.id, signal.id, signal.received_at, "restore"):
            return
        restored = all_restored([*members, restore])
        await queries.count_restore(connection, incident.id, at=signal.received_at, restored=restored)
        await queries.add_action(
            connection, incident.id, ActionKind.RESTORED, {"signal_id": signal.id, "title": signal.description}
        )
        changed.add(incident.id)
        if (
            restored
            and incident.kind is IncidentKind.FAILURE_TO_COMMUNICATE
            and incident.holder_id is None
            and await queries.close_restored(connection, incident.id)
        ):
            await queries.add_action(
                connection,
                incident.id,
                ActionKind.CLOSED,
                {"disposition": "restored", "signal_id": signal.id},
                customer_visible=True,
            )

    async def _mail_opening(self, connection: Connection, kind: IncidentKind, signal: Signal, incident_id: int) -> None:
        category = opening_mail(kind)
        if category is not None:
            await self._mail(connection, category, signal, incident_id)

    async def _mail(
        self, connection: Connection, category: NotificationCategory, signal: Signal, incident_id: int | None
    ) -> None:
        """Mail the subscribers of `category` of the signal's customer about it (in this transaction)."""
        if signal.customer_id is None or signal.site_id is None:
            return
        people = await recipients(connection, signal.customer_id, category)
        if not people:
            return
        premises = await queries.premises(connection, signal.site_id)
        await mail_subscribers(
            connection,
            self.settings.branding,
            self.settings.zone,
            category,
            people,
            premises_name=premises.name if premises else "your premises",
            premises_address=premises.address if premises else "",
            what=signal.description,
            at=signal.received_at,
        )
        if incident_id is not None:
            await queries.add_action(
                connection,
                incident_id,
                ActionKind.NOTIFIED,
                {"category": category.value, "user_ids": [person.user_id for person in people]},
            )


def opener_job(config: Config) -> Continuous:
    """The worker's opener job (`alarmhub worker` and `alarmhub run`)."""
    settings = OpenerSettings.from_config(config)

    async def run(pool: Pool, database_url: str) -> None:
        await Opener(pool, settings).run(database_url)

    return Continuous(JOB, run)


@dataclass(frozen=True, slots=True)
class OpenerBacklog:
    """Where the opener stands, as its cursor in job_cursors says (what a worker's /metrics reports)."""

    behind_seconds: float  # how long the next committed signal it will take up has waited since received; 0: none
    cursor_ahead: bool  # its cursor is ahead of this server's transactions (a restore without after-restore)


async def opener_backlog(connection: Connection, job: str = JOB) -> OpenerBacklog | None:
    """The opener's backlog now; None before its first start (no cursor yet). The next signal after its cursor in
    commit order (shared.signal_cursor.next_committed_after), held back behind an older open transaction or not: an
    open transaction is what most often delays the opener. A signal stamped ahead by a receiver's clock counts as
    not waiting (0)."""
    cursor = await queries.read_cursor(connection, job)
    if cursor is None:
        return None
    try:
        received = await next_committed_after(connection, cursor)
    except CursorAhead:
        return OpenerBacklog(0.0, True)
    waited = 0.0 if received is None else (datetime.now(UTC) - received).total_seconds()
    return OpenerBacklog(max(0.0, waited), False)
