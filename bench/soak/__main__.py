"""Faults, scripted and repeatable (`make soak`): real processes killed and restarted under load, then checked.

    python -m bench.soak [--kills 10] [--scenario NAME ...] [--write]

Each scenario runs on a fresh database (ALARMHUB_BENCH_DATABASE_URL or ALARMHUB_TEST_DATABASE_URL, otherwise an
embedded PostgreSQL) and prints its figures and checks; --write puts them in bench/RESULTS.md; the exit status is 1
when a check failed.

- receiver-kills: an `alarmhub receiver` process takes a sustained load from simulated panels over TCP, UDP and
  MQTT (QoS 1, on a Mosquitto of the run's own, so that no other receiver shares the topics) and is killed with
  SIGKILL --kills times, each time started again at once. Panels do what real ones do: TCP reconnects and sends
  the unanswered frame again, UDP and MQTT send it again after the answer timeout; the broker keeps the receiver's
  persistent session meanwhile. Afterwards every acknowledged frame and message is in signals exactly once.
- broker-restarts: the receiver's Mosquitto (persistence on, so the persistent session outlives it) is stopped and
  started again on the same port mid-load; the receiver reconnects and answers again by itself (no restart), and
  every acknowledged message is stored once. Just before each stop the receiver is paused (SIGSTOP) while the broker
  takes messages for its session: each of those must be stored once after the restart. Panel-side clients do not
  reconnect (the simulator's do not), so each broker start begins a new round of them.
- worker-kills: two `alarmhub worker` processes run the billing cycle and autopay for customers enrolled with a
  fee and autopay (the sandbox gateway), deliver the outbox (mail the soak queued, the receipts, the incident mails)
  to an SMTP server the soak runs, and open incidents from the alarms a receiver stores; a job's leader is killed
  with SIGKILL while its work is under way, and a fresh worker takes the killed one's place as the standby. At the
  end every customer has one invoice and one charge, every mail arrived (by Message-ID), and every alarm is in
  exactly one incident.
- database-outage: an embedded PostgreSQL of the scenario's own (pgserver) is stopped for 30 s under TCP load and
  started again: nothing is acknowledged meanwhile, the receiver takes the load again by itself, and every
  acknowledged frame is stored once (as tests/receiver/test_faults.py, with a receiver process and a longer outage).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.fuzz import own_mosquitto
from bench.ingest import migrated_database, server_url, write_results
from bench.soak.broker_restarts import BrokerPlan, broker_restarts
from bench.soak.database_outage import OutagePlan, database_outage
from bench.soak.receiver_kills import KillPlan, receiver_kills
from bench.soak.report import Outcome, outcome_lines, report
from bench.soak.worker_kills import WorkerPlan, worker_kills
from shared.logs import configure_logging

SCENARIOS = ("receiver-kills", "broker-restarts", "worker-kills", "database-outage")


async def run_scenario(name: str, url: str, args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"alarmhub-soak-{name}-") as temporary:
        directory = Path(temporary)
        if name == "database-outage":  # a PostgreSQL of its own, to stop
            return await database_outage(directory, OutagePlan())
        async with migrated_database(url, "soak") as database_url:
            if name == "broker-restarts":
                return await broker_restarts(database_url, directory, BrokerPlan())
            if name == "worker-kills":
                return await worker_kills(database_url, directory, WorkerPlan())
            async with own_mosquitto(directory) as broker:
                if broker is None:
                    raise SystemExit("no mosquitto binary: the soak runs a broker of its own")
                return await receiver_kills(database_url, directory, broker, KillPlan(kills=args.kills))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=10, help="kill -9 of the receiver under load (default 10)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")  # not a line per mail the soak queues
    url, embedded = server_url()
    outcomes = []
    try:
        for name in args.scenario or SCENARIOS:
            print(f"{name} ...", flush=True)
            outcomes.append(await run_scenario(name, url, args))
            print("\n".join(outcome_lines(outcomes[-1])), flush=True)
        connection = await asyncpg.connect(url)
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
    finally:
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    where = "embedded" if embedded else f"server at {urlsplit(url).netloc}"
    chosen = "".join(f" --scenario {name}" for name in args.scenario or ())
    text = report(outcomes, f"PostgreSQL {version} ({where})", f"python -m bench.soak --kills {args.kills}{chosen}")
    print(text)
    if args.write:
        write_results(text, section="soak", title="Faults (`make soak`)")
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    # The default event loop, as the tests run it. Under uvloop a paced TCP panel whose timer fires while it
    # reconnects writes to its closed transport and uvloop raises from the callback (asyncio ignores the write);
    # the frame stays outstanding and goes again on the new connection, but every kill logged tracebacks.
    sys.exit(asyncio.run(main()))
