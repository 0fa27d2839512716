"""Scenario (c): `alarmhub worker` processes killed mid-job, a standby taking over; nothing done twice or skipped."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from bench.billing import _LOAD as LOAD_AUTOPAY_CUSTOMERS
from bench.fuzz import Check
from bench.ingest import free_port
from bench.smtp_inbox import Inbox, smtp_server
from bench.soak.load import soak_panels
from bench.soak.processes import AlarmhubProcess, ReceiverSetup, base_environment, receiver_ready
from bench.soak.report import Outcome
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.traffic import VirtualPanel
from shared.billing.cycle import current_period
from shared.billing.sandbox import SANDBOX_CARDS
from shared.config import load_config
from shared.enrolment import create_customer
from shared.outbox import Mail, enqueue_mail


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    customers: int = 1000  # with a monthly fee and autopay: an invoice, a charge and a receipt each
    mails: int = 1000  # queued in the outbox by the soak
    premises: int = 12  # panels, each its own customer's premises, alarms among their traffic
    rate: float = 60.0  # their messages/s together
    load_seconds: float = 30.0
    kills: tuple[str, ...] = ("autopay", "outbox", "incident-opener")  # whose worker is killed, in this order
    limit: float = 240.0  # seconds for everything to be done
    fee: Decimal = Decimal("39.99")


PROGRESS = """
    SELECT (SELECT count(*) FROM invoices WHERE period = $1) AS invoices,
           (SELECT count(*) FROM sandbox_charges) AS charges,
           (SELECT count(*) FROM autopay_drafts WHERE status = 'paid') AS paid,
           (SELECT count(*) FROM billing_notices) AS notices,
           (SELECT count(*) FROM outbox) AS mails,
           (SELECT count(*) FROM outbox WHERE status = 'sent') AS sent,
           (SELECT count(*) FROM outbox WHERE status = 'pending') AS pending,
           (SELECT count(*) FROM signals WHERE category = 'alarm' AND qualifier = 'event') AS alarms,
           (SELECT count(*) FROM signals s WHERE category = 'alarm' AND qualifier = 'event'
               AND NOT EXISTS (SELECT 1 FROM incident_signals i WHERE i.signal_id = s.id)) AS unhandled
"""

# When each kill's work is under way: autopay charging, the outbox delivering, the opener following alarms.
UNDER_WAY: dict[str, Callable[[asyncpg.Record, WorkerPlan], bool]] = {
    "autopay": lambda p, plan: plan.customers // 4 <= p["charges"] < plan.customers,
    "outbox": lambda p, plan: p["sent"] > 0 and p["pending"] > 0,
    "incident-opener": lambda p, plan: p["alarms"] >= 20 and p["unhandled"] < p["alarms"],
}
_OUTBOX_ID = re.compile(r"<outbox-(\d+)\.")


@dataclass
class WorkerKill:
    job: str
    under_way: str  # what was going on at the kill
    in_progress: bool
    takeover: float | None = None  # seconds until another worker led the job (None: it did not)


class Workers:
    """The `alarmhub worker` processes, by pid (job_leaders names its holder host:pid); a killed one is replaced."""

    def __init__(self, database_url: str, directory: Path, smtp_port: int) -> None:
        self.env = base_environment(database_url, directory) | {
            "ALARMHUB_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "ALARMHUB_EMAIL_POLL_INTERVAL": "0.2",
            "ALARMHUB_WORKER_BILLING_INTERVAL": "1",
            "ALARMHUB_WORKER_AUTOPAY_INTERVAL": "1",
            "ALARMHUB_DATABASE_POOL_MIN_SIZE": "1",
        }
        self.directory = directory
        self.by_pid: dict[int, AlarmhubProcess] = {}
        self.started = 0

    def start(self) -> None:
        self.started += 1
        worker = AlarmhubProcess("worker", self.env, self.directory / f"worker-{self.started}.log")
        self.by_pid[worker.start().pid] = worker

    def live(self) -> list[int]:
        return [pid for pid, worker in self.by_pid.items() if worker.alive]

    def stop(self) -> None:
        for worker in self.by_pid.values():
            worker.stop()

    def errors(self) -> list[str]:
        return [line for worker in self.by_pid.values() for line in worker.errors()]


async def leader(connection: asyncpg.Connection, job: str) -> int | None:
    holder = await connection.fetchval("SELECT holder FROM job_leaders WHERE job = $1", job)
    return int(holder.rsplit(":", 1)[1]) if holder else None


async def victim(connection: asyncpg.Connection, job: str, workers: Workers) -> int | None:
    """The live worker to kill for `job`: its leader, or for the outbox (every worker sends) the oldest."""
    if job == "outbox":
        return min(workers.live(), default=None)
    pid = await leader(connection, job)
    return pid if pid in workers.live() else None


async def kill_under_way(
    connection: asyncpg.Connection, job: str, workers: Workers, plan: WorkerPlan, period: date
) -> WorkerKill:
    """Wait (up to a minute) until `job`'s work is under way, kill its worker, start a standby in its place."""
    waited = time.monotonic()
    while True:
        progress = await one_row(connection, PROGRESS, period)
        pid = await victim(connection, job, workers)
        under_way = UNDER_WAY[job](progress, plan)
        if pid is not None and (under_way or time.monotonic() - waited > 60):
            break
        if time.monotonic() - waited > 120:
            raise RuntimeError(f"no live worker leads {job}")
        await asyncio.sleep(0.01)
    workers.by_pid[pid].kill()
    killed_at = time.monotonic()
    workers.start()
    figures = (
        f"{progress['charges']:,} of {plan.customers:,} charged, {progress['sent']:,} mails sent and "
        f"{progress['pending']:,} pending, {progress['alarms']:,} alarms stored"
    )
    kill = WorkerKill(job, figures, under_way)
    if job != "outbox":
        while time.monotonic() - killed_at < 30 and (holder := await leader(connection, job)) in (pid, None):
            await asyncio.sleep(0.05)
        if holder not in (pid, None):
            kill.takeover = time.monotonic() - killed_at
    return kill


async def enrol_worker_load(database_url: str, panels: Sequence[VirtualPanel], plan: WorkerPlan, period: date) -> None:
    """The premises (a customer each), the customers billed and drafted by autopay, the mail queued."""
    connection = await asyncpg.connect(database_url)
    try:
        for number, panel in enumerate(panels):
            await create_customer(
                connection, name=f"Premises {number}", email=f"owner-{number}@example.com", password=None,
                account=panel.account, address=f"{number} Soak Street",
            )  # fmt: skip
        # bench.billing's bulk load: customers with a fee, a sandbox 4242 card and autopay on the 1st, from now
        behaviour = SANDBOX_CARDS["4242424242424242"]
        await connection.execute(LOAD_AUTOPAY_CUSTOMERS, plan.customers, plan.fee, behaviour, 1, period)
        async with connection.transaction():
            for number in range(plan.mails):
                mail = Mail(f"soak-{number}@example.com", f"Soak mail {number}", f"Mail {number} of the soak.")
                await enqueue_mail(connection, mail)
    finally:
        await connection.close()


async def alarm_load(database_url: str, panels: list[VirtualPanel], port: int, plan: WorkerPlan, tally: Tally) -> None:
    """The premises' traffic, once the incident opener has its cursor: it follows the signals stored from then on
    (a first start leaves older ones alone)."""
    connection = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(60):
            while not await connection.fetchval("SELECT count(*) FROM job_cursors WHERE job = 'incident-opener'"):
                await asyncio.sleep(0.1)
    finally:
        await connection.close()
    await run_panels(
        panels, "127.0.0.1", port, transport="tcp", duration=plan.load_seconds, rate=plan.rate, tally=tally
    )


async def one_row(connection: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    row: asyncpg.Record | None = await connection.fetchrow(query, *args)
    assert row is not None, query
    return row


def done(progress: asyncpg.Record, plan: WorkerPlan, inbox: Inbox) -> bool:
    return bool(
        progress["paid"] >= plan.customers
        and progress["notices"] == 0
        and progress["pending"] == 0
        and progress["unhandled"] == 0
        and len(inbox.messages) >= progress["mails"]
    )


async def settle(connection: asyncpg.Connection, plan: WorkerPlan, inbox: Inbox, period: date) -> float:
    """Seconds until everything is done (or the plan's limit)."""
    started = time.monotonic()
    while time.monotonic() - started < plan.limit:
        if done(await one_row(connection, PROGRESS, period), plan, inbox):
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def worker_kills(database_url: str, directory: Path, plan: WorkerPlan) -> Outcome:
    """Scenario (c): the worker killed with SIGKILL while it runs its jobs, once per `plan.kills`."""
    outcome = Outcome(f"the worker killed mid-job, {len(plan.kills)} times")
    period = current_period(datetime.now(UTC), load_config(None, environ={})["portal.timezone"])
    panels = soak_panels("5E", plan.premises, encrypted=False)
    await enrol_worker_load(database_url, panels, plan, period)
    setup, smtp_port, started = ReceiverSetup(database_url, directory), free_port(), time.monotonic()
    receiver, tally, kills, load = setup.process(), Tally(), list[WorkerKill](), None
    with smtp_server(smtp_port) as inbox:
        workers = Workers(database_url, directory, smtp_port)
        connection = await asyncpg.connect(database_url)
        try:
            receiver.start()
            workers.start()
            workers.start()
            await receiver_ready(receiver, setup)
            load = asyncio.create_task(alarm_load(database_url, panels, setup.port, plan, tally))
            for job in plan.kills:
                kills.append(await kill_under_way(connection, job, workers, plan, period))
            await load
            settled = await settle(connection, plan, inbox, period)
            outcome.checks += await worker_checks(connection, plan, inbox, period)
        finally:
            if load is not None and not load.done():
                load.cancel()
            await connection.close()
            workers.stop()
            receiver.stop()
    outcome.seconds = time.monotonic() - started
    outcome.figures += [
        f"{plan.customers:,} customers with a fee and autopay, {plan.mails:,} mails queued, {plan.premises} premises "
        f"sending {tally.acked:,} signals in {plan.load_seconds:g} s; two workers, {workers.started} started in all; "
        f"done {settled:.0f} s after the load",
        *(
            f"killed {'a worker delivering mail' if k.job == 'outbox' else f'the {k.job} leader'}: {k.under_way}"
            for k in kills
        ),
        f"workers' logs: {len(workers.errors())} error lines"
        + (f" (first: `{workers.errors()[0][:200]}`)" if workers.errors() else ""),
    ]
    outcome.check(
        "every kill came while its job's work was under way",
        all(k.in_progress for k in kills),
        "; ".join(f"{k.job}: {'yes' if k.in_progress else 'NO'}" for k in kills),
    )
    led = [k for k in kills if k.job != "outbox"]
    outcome.check(
        "the standby took over each killed leader's job",
        all(k.takeover is not None for k in led),
        "; ".join(f"{k.job} in {k.takeover:.1f} s" if k.takeover else f"{k.job}: never" for k in led),
    )
    return outcome


async def worker_checks(connection: asyncpg.Connection, plan: WorkerPlan, inbox: Inbox, period: date) -> list[Check]:
    """Nothing done twice, nothing skipped: invoices, charges, mails, incidents."""
    return [
        await invoices_check(connection, period),
        await charges_check(connection, plan),
        await mails_check(connection, inbox),
        await incidents_check(connection),
    ]


async def invoices_check(connection: asyncpg.Connection, period: date) -> Check:
    row = await one_row(
        connection,
        """SELECT count(*) AS customers, count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n = 0) AS none,
                  count(*) FILTER (WHERE n > 1) AS twice
             FROM (SELECT c.id, (SELECT count(*) FROM invoices i WHERE i.customer_id = c.id AND i.period = $1) AS n
                     FROM customers c WHERE c.monthly_fee > 0) per_customer""",
        period,
    )
    figures = f"{row['customers']:,} customers with a fee: {row['once']:,} invoiced once, {row['none']:,} not, "
    figures += f"{row['twice']:,} more than once"
    return "each invoice issued once", row["once"] == row["customers"], figures


async def charges_check(connection: asyncpg.Connection, plan: WorkerPlan) -> Check:
    row = await one_row(
        connection,
        """SELECT (SELECT count(*) FROM sandbox_charges) AS charges,
                  (SELECT count(DISTINCT token) FROM sandbox_charges) AS cards,
                  (SELECT count(*) FROM payments WHERE status = 'succeeded') AS succeeded,
                  (SELECT count(*) FROM autopay_drafts WHERE status = 'paid') AS paid""",
    )
    passed = row["charges"] == row["cards"] == row["succeeded"] == row["paid"] == plan.customers
    figures = f"{plan.customers:,} autopay customers: {row['charges']:,} sandbox charges on {row['cards']:,} cards, "
    figures += f"{row['succeeded']:,} payments succeeded, {row['paid']:,} drafts paid"
    return "each autopay charged once", passed, figures


async def mails_check(connection: asyncpg.Connection, inbox: Inbox) -> Check:
    """Every outbox row arrived at the SMTP server, known by its Message-ID; a repeat is at most the one mail a killed
    worker had in flight (the outbox delivers at least once: a kill between the server's 250 and the commit)."""
    queued = {row["id"]: row["status"] for row in await connection.fetch("SELECT id, status FROM outbox")}
    received = Counter(
        int(match[1]) for message in inbox.messages if (match := _OUTBOX_ID.match(str(message["Message-ID"])))
    )
    missing = [outbox_id for outbox_id in queued if outbox_id not in received]
    repeated = {outbox_id: copies for outbox_id, copies in received.items() if copies > 1}
    unsent = sum(1 for status in queued.values() if status != "sent")
    figures = f"{len(queued):,} mails in the outbox, {len(inbox.messages):,} received: {len(missing):,} missing, "
    figures += (
        f"{len(repeated):,} received more than once{f' (outbox ids {sorted(repeated)[:5]})' if repeated else ''}, "
    )
    figures += f"{unsent:,} not marked sent"
    return "each mail delivered once", not missing and not repeated and not unsent, figures


async def incidents_check(connection: asyncpg.Connection) -> Check:
    row = await one_row(
        connection,
        """SELECT count(*) AS alarms, count(*) FILTER (WHERE n = 0) AS none, count(*) FILTER (WHERE n > 1) AS twice,
                  (SELECT count(*) FROM (SELECT detail ->> 'signal_id' FROM incident_actions
                                          WHERE kind IN ('opened', 'signal') GROUP BY 1 HAVING count(*) > 1) a)
                      AS audited_twice,
                  (SELECT count(*) FROM incidents) AS incidents
             FROM (SELECT (SELECT count(*) FROM incident_signals i WHERE i.signal_id = s.id) AS n
                     FROM signals s WHERE s.category = 'alarm' AND s.qualifier = 'event') per_alarm""",
    )
    passed = row["alarms"] > 0 and row["none"] == row["twice"] == row["audited_twice"] == 0
    figures = f"{row['alarms']:,} alarms in {row['incidents']:,} incidents: {row['none']:,} in none, "
    figures += f"{row['twice']:,} in two, {row['audited_twice']:,} written twice in the audit trail"
    return "each alarm in exactly one incident", passed, figures
