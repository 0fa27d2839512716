"""Portal benchmark: the Signal history page on millions of signals against a bare asyncpg + jinja2 page of 50 rows.

A fresh database gets N signals over two years (bulk SQL; signals partitioned by month as a database in service for
two years is, its indexes exactly as migrated, built after the load): many customers, and one with a long history
(every 20th signal, one panel). The real portal (`alarmhub portal`, a subprocess) and a bare aiohttp page (asyncpg +
jinja2, no session, no layout; another subprocess) serve the same rows; 50 concurrent clients (an aiohttp client in
this process) fetch each page for `--seconds`: the history's first page, a page about a year back (its cursor),
filtered pages, and the bare page for the first and the deep page. Then the CSV export of the long customer's last
year: rows/s and the portal's memory (RSS) before, at its peak during, and after the download.

    python -m bench.portal [--signals 10000000] [--seconds 10] [--clients 50] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from bench.ingest import (
    REPO,
    free_port,
    machine,
    run_benchmark,
    server_url,
    wait_for_port,
    with_database,
    write_results,
)
from portal.signals.views import cursor_codec
from shared.catalogue import CONTACT_ID, classify
from shared.enrolment import create_customer
from shared.logs import configure_logging
from shared.migrations import migrate
from shared.scope import CustomerScope
from shared.signal_history import PAGE_ROWS, Position
from shared.signal_partitions import partition_history

PASSWORD = "bench horse battery staple"
OWNER = "long-history@example.com"
LONG_ACCOUNT = "BE0001"
LONG_SHARE = 20  # every 20th signal is the long customer's
SPAN = timedelta(days=730)
SIGNALS_PER_CUSTOMER = 2000  # the other customers' share each, on average
TARGET_RATIO = 0.80
EMPTY_BARE = "bare page: no rows (a customer without signals)"
TARGET_CSV_ROWS_PER_SECOND = 50_000
# What the panels send, in turn per panel: openings and closings, tests, an alarm and its restore, power, troubles.
KINDS = (
    ("401", "restore", None, "002"),
    ("602", "event", "000", None),
    ("401", "event", None, "002"),
    ("130", "event", "003", None),
    ("130", "restore", "003", None),
    ("401", "restore", None, "001"),
    ("602", "event", "000", None),
    ("301", "event", "000", None),
    ("401", "event", None, "001"),
    ("301", "restore", "000", None),
    ("302", "event", "000", None),
    ("401", "restore", None, "002"),
    ("302", "restore", "000", None),
    ("401", "event", None, "002"),
    ("373", "event", "004", None),
    ("373", "restore", "004", None),
    ("110", "event", "002", None),
    ("110", "restore", "002", None),
    ("602", "event", "000", None),
    ("401", "restore", None, "003"),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ROW = re.compile(r"<tr class=\"signal")

_OTHERS = """
    WITH made AS (
        INSERT INTO customers (name, email)
        SELECT 'Bench customer ' || n, 'bench' || n || '@example.com' FROM generate_series(1, $1) AS n
        RETURNING id
    ), premises AS (
        INSERT INTO sites (customer_id, name, address) SELECT id, 'Home', id || ' Bench Street' FROM made
        RETURNING id, customer_id
    )
    INSERT INTO panels (site_id, account) SELECT id, upper(lpad(to_hex(customer_id), 8, '0')) FROM premises
"""
_PANELS = """
    CREATE TABLE bench_panels AS
    SELECT row_number() OVER (ORDER BY p.id) - 1 AS n, p.id AS panel_id, p.site_id, s.customer_id, p.account
      FROM panels p JOIN sites s ON s.id = p.site_id
"""
_KINDS = """
    CREATE TABLE bench_kinds AS
    SELECT k - 1 AS k, code, qualifier, zone, user_number, category, priority, description
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::text[])
           WITH ORDINALITY AS t(code, qualifier, zone, user_number, category, priority, description, k)
"""
# Signal g is the long customer's when g % LONG_SHARE = 0, otherwise customer 1 + g % others; each customer's
# signals take the kinds in turn. Time grows with g, as it does in the table: customers' rows interleave.
_SIGNALS = """
    INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier,
                         zone, partition, user_number, category, priority, description, raw_frame, received_at)
    SELECT p.account, p.panel_id, p.site_id, p.customer_id, 'tcp', lpad((g % 10000)::text, 4, '0'), 'ADM-CID',
           k.code, k.qualifier, k.zone, '01', k.user_number, k.category, k.priority, k.description, '\\x00',
           $3::timestamptz + g * $4::interval
      FROM generate_series($1::bigint, $2::bigint) AS g
      JOIN bench_panels p ON p.n = CASE WHEN g % $5 = 0 THEN 0 ELSE 1 + g % $6 END
      JOIN bench_kinds k ON k.k = (CASE WHEN g % $5 = 0 THEN g / $5 ELSE g / $6 END) % $7
"""


@dataclass(frozen=True)
class Measured:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    # CPU seconds spent in the measured window by the page's server process, by PostgreSQL (all its processes)
    # and by this process (the clients): where a page's cost goes, on a machine all three share.
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def cpu_per_request(self) -> str:
        """µs of CPU a request: the page's server / PostgreSQL / the clients."""
        return " / ".join(f"{seconds / max(1, self.requests) * 1e6:,.0f}" for seconds in self.cpu)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc; a process gone meanwhile counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


# The server processes of the benchmark's database (its pools' connections: grown during the warm-up, steady while
# measured); the server's own background processes and other databases' sessions are not counted.
_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


async def cpu_now(server_pid: int, database: asyncpg.Connection) -> tuple[float, float, float]:
    backends = [row["pid"] for row in await database.fetch(_BACKENDS)]
    return cpu_seconds([server_pid]), cpu_seconds(backends), cpu_seconds([os.getpid()])


async def load(database_url: str, signals: int) -> tuple[int, float]:
    """The customers and signals; returns the long customer's id and the seconds the load took."""
    started = time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        await migrate(connection)
        enrolled = await create_customer(
            connection, name="Long History Ltd", email=OWNER, password=PASSWORD, account=LONG_ACCOUNT,
            address="1 Archive Road",
        )  # fmt: skip
        await connection.execute("UPDATE users SET email_confirmed_at = now() WHERE id = $1", enrolled.user_id)
        others = max(10, signals // SIGNALS_PER_CUSTOMER)
        await connection.execute(_OTHERS, others)
        await connection.execute(_PANELS)
        meanings = [classify(CONTACT_ID, code, qualifier) for code, qualifier, _, _ in KINDS]
        await connection.execute(
            _KINDS,
            [code for code, *_ in KINDS],
            [m.qualifier.value for m in meanings],
            [zone for _, _, zone, _ in KINDS],
            [user for *_, user in KINDS],
            [m.category.value for m in meanings],
            [m.priority for m in meanings],
            [m.text for m in meanings],
        )
        start, step = datetime.now(UTC) - SPAN, SPAN / signals
        # As a database partitioned for years is laid out: a partition a month (sql/0025_signals_partitioned.sql).
        months = await partition_history(connection, start)
        print(f"  {len(months)} monthly partitions", flush=True)
        # The partitioned indexes (each partition's primary key stays): dropped with their partitions' indexes and
        # built once after the load, which is much faster than row by row; "ON ONLY" made again builds them all.
        indexes = await connection.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'signals'")
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        batch = 1_000_000
        for low in range(1, signals + 1, batch):
            high = min(signals, low + batch - 1)
            await connection.execute(_SIGNALS, low, high, start, step, LONG_SHARE, others, len(KINDS))
            print(f"  {high:,} signals loaded ({time.perf_counter() - started:.0f} s)", flush=True)
        await connection.execute("SET maintenance_work_mem = '1GB'")
        for index in indexes:
            await connection.execute(index["indexdef"].replace(" ON ONLY ", " ON ", 1))
        await connection.execute("DROP TABLE bench_panels, bench_kinds")
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
        return enrolled.customer_id, time.perf_counter() - started
    finally:
        await connection.close()


async def deep_position(database_url: str, customer_id: int) -> Position:
    """Where a page about a year back starts: the newest signal older than a year."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT received_at, id FROM signals WHERE customer_id = $1 AND received_at < now() - interval '365 days'"
            " ORDER BY received_at DESC, id DESC LIMIT 1",
            customer_id,
        )
    finally:
        await connection.close()
    assert row is not None
    return Position(row["received_at"], row["id"])


async def plans(database_url: str, customer_id: int, deep: Position) -> list[str]:
    """EXPLAIN ANALYZE of the history's page statements on the loaded table: time, buffers, the index scanned."""
    from zoneinfo import ZoneInfo

    from shared.catalogue import SignalCategory
    from shared.signal_history import HISTORY_SETTINGS, SCAN_ROWS, HistoryFilter, _page_sql, _windows

    scope, every = CustomerScope(customer_id, None), HistoryFilter(ZoneInfo("UTC"))
    power = HistoryFilter(ZoneInfo("UTC"), categories=frozenset({SignalCategory.POWER}))
    never = HistoryFilter(ZoneInfo("UTC"), categories=frozenset({SignalCategory.SUPERVISORY}))
    top = Position(every.bounds()[1], 0)
    cases = (
        ("first page", every, top),
        ("a page a year back", every, deep),
        ("Power loss, a year back", power, deep),
        ("Supervisory (none sent), first page", never, top),
    )
    connection = await asyncpg.connect(database_url, server_settings=dict(HISTORY_SETTINGS))  # as the portal's
    lines = []
    try:
        for name, wanted, position in cases:
            # The statement of the page's first window of months (the only one these pages need).
            edge = _windows(position, wanted, older=True, now=datetime.now(UTC))[0]
            sql, values = _page_sql(scope, wanted, position, edge, older=True, limit=PAGE_ROWS, scan=SCAN_ROWS)
            explained = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *values)
            plan = "\n".join(r[0] for r in explained)
            took = re.search(r"Execution Time: ([\d.]+) ms", plan)
            buffers = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
            # Each partition's copy of signals_customer_received (named after its partition), in the scans that ran.
            scanned = re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\S+) on (\S+) .*\(actual time", plan)
            # A partition can be read in more than one part of the plan: count each once, and every scan must use it.
            used = {table for index, table in scanned if "customer" in index}
            index = (
                f"the customer index of {len(used)} partition(s)"
                if used and all("customer" in index for index, _ in scanned)
                else "NOT the customer index"
            )
            hit, read = (buffers.group(1), buffers.group(2) or "0") if buffers else ("?", "?")
            lines.append(f"{name}: {took.group(1) if took else '?'} ms, {hit} buffers hit, {read} read, scans {index}")
    finally:
        await connection.close()
    return lines


def start_portal(database_url: str, port: int, session_key: str, var_dir: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_PORTAL_HOST": "127.0.0.1",
        "ALARMHUB_PORTAL_PORT": str(port),
        "ALARMHUB_PORTAL_SESSION_KEY": session_key,
        "ALARMHUB_PATHS_VAR_DIR": var_dir,
        "ALARMHUB_LOG_LEVEL": "warning",
    }
    return subprocess.Popen([sys.executable, "-m", "alarmhub", "portal"], cwd=REPO, env=env)


def start_bare(database_url: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.portal", "--serve-bare", str(port), "--database-url", database_url]
    return subprocess.Popen(command, cwd=REPO)


# --- the bare page: what a page of 50 rows costs with nothing around it ---------------------------------------

_BARE_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signals</title></head><body>
<table><thead><tr><th>Received</th><th>Type</th><th>What happened</th><th>Zone / user</th><th>Panel</th></tr></thead>
<tbody>{% for s in rows %}<tr class="signal"><td>{{ s.received_at.strftime('%Y-%m-%d %H:%M') }}</td>
<td>{{ s.category }}</td><td>{{ s.description }}</td><td>{{ s.zone or s.user_number or '' }}</td>
<td>{{ s.account }}</td></tr>{% endfor %}</tbody></table></body></html>"""
_BARE_SQL = """SELECT id, received_at, account, category, description, zone, partition, user_number FROM signals
                WHERE customer_id = $1 AND (received_at, id) < ($2, $3)
                ORDER BY received_at DESC, id DESC LIMIT 50"""


def serve_bare(port: int, database_url: str) -> None:
    import jinja2
    from aiohttp import web

    from shared.config import load_config
    from shared.db import create_pool
    from shared.http_server import server_options

    template = jinja2.Environment(autoescape=True).from_string(_BARE_TEMPLATE)
    config = load_config(None, environ={})
    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def pool(app: web.Application) -> object:
        app[pool_key] = await create_pool(
            database_url, min_size=config["database.pool_min_size"], max_size=config["database.pool_max_size"]
        )
        yield
        await app[pool_key].close()

    async def page(request: web.Request) -> web.Response:
        until = datetime.fromisoformat(request.query.get("until", "9999-01-01T00:00:00+00:00"))
        async with request.app[pool_key].acquire() as connection:
            rows = await connection.fetch(
                _BARE_SQL, int(request.query["customer"]), until, int(request.query.get("id", "0"))
            )
        return web.Response(text=template.render(rows=rows), content_type="text/html")

    app = web.Application(handler_args=server_options())
    app.cleanup_ctx.append(pool)
    app.router.add_get("/signals", page)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- the clients ---------------------------------------------------------------------------------------------


async def log_in(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/login") as response:
        token = _CSRF.search(await response.text())
    assert token, "no CSRF token on the login page"
    form = {"email": OWNER, "password": PASSWORD, "csrf_token": token.group(1)}
    async with session.post(f"{base}/login", data=form) as response:
        await response.read()
    async with session.get(f"{base}/signals") as response:
        assert response.status == 200 and "Signal history" in await response.text(), "the login did not work"


async def drive(
    session: aiohttp.ClientSession,
    name: str,
    url: str,
    clients: int,
    seconds: float,
    server_pid: int,
    database: asyncpg.Connection,
    *,
    rows_expected: bool = True,
) -> Measured:
    """`clients` loops fetching `url` for `seconds` (after a short warm-up that is not counted); `server_pid`
    serves it (its CPU is measured, with that of `database`'s backends and ours)."""
    async with session.get(url) as response:
        body = await response.text()
    rows = len(_ROW.findall(body))
    if response.status != 200 or (rows_expected and rows < 1):
        raise RuntimeError(f"{name}: {url} answered {response.status} with {rows} rows")
    latencies: list[float] = []
    errors = 0

    async def client(until: float, record: bool) -> None:
        nonlocal errors
        while (started := time.perf_counter()) < until:
            async with session.get(url) as answer:
                await answer.read()
                failed = answer.status != 200
            if record:
                latencies.append(time.perf_counter() - started)
                errors += failed

    warm = time.perf_counter() + min(2.0, seconds / 3)
    await asyncio.gather(*(client(warm, False) for _ in range(clients)))
    cpu_before = await cpu_now(server_pid, database)
    started = time.perf_counter()
    await asyncio.gather(*(client(started + seconds, True) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    cpu = tuple(after - before for after, before in zip(await cpu_now(server_pid, database), cpu_before, strict=True))
    measured = Measured(name, len(latencies), errors, elapsed, latencies, (cpu[0], cpu[1], cpu[2]))
    print(
        f"{name:<52} {measured.rate:8.1f} req/s  p50 {measured.percentile(0.5):7.1f} ms  "
        f"p99 {measured.percentile(0.99):7.1f} ms  ({rows} rows a page, {errors} errors; CPU µs a request "
        f"server / PostgreSQL / clients {measured.cpu_per_request()})",
        flush=True,
    )
    return measured


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Export:
    rows: int
    seconds: float
    rss_before: int
    rss_peak: int
    rss_after: int


async def export_year(session: aiohttp.ClientSession, base: str, portal_pid: int) -> Export:
    today = datetime.now(UTC).date()
    query = urlencode({"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()})
    before = peak = rss_kib(portal_pid)
    lines = 0
    started = time.perf_counter()
    async with session.get(f"{base}/signals.csv?{query}") as response:
        assert response.status == 200, response.status
        async for chunk in response.content.iter_chunked(1 << 16):
            lines += chunk.count(b"\n")
            peak = max(peak, rss_kib(portal_pid))
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.5)
    export = Export(lines - 1, seconds, before, peak, rss_kib(portal_pid))
    print(
        f"CSV export of a year: {export.rows:,} rows in {seconds:.2f} s = {export.rows / seconds:,.0f} rows/s; "
        f"portal RSS {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB at peak, {export.rss_after / 1024:.0f} "
        "MiB after",
        flush=True,
    )
    return export


def report(args: argparse.Namespace, version: str, loaded: float, results: list[Measured], export: Export) -> str:
    by_name = {m.name: m for m in results}
    lines = [
        "| page | requests/s | p50 | p99 | errors | against the bare page "
        "| CPU µs a request: server / PostgreSQL (the database's backends) / clients |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    bare = {"first": by_name["bare page: first 50 rows"], "deep": by_name["bare page: 50 rows a year back"]}
    for m in results:
        against = ""
        if m.name.startswith("portal"):
            baseline = bare["deep" if "year back" in m.name else "first"]
            against = f"{m.rate / baseline.rate:.0%}"
        lines.append(
            f"| {m.name} | {m.rate:,.0f} | {m.percentile(0.5):.1f} ms | {m.percentile(0.99):.1f} ms | {m.errors} "
            f"| {against} | {m.cpu_per_request()} |"
        )
    first = by_name["portal: Signal history, first page"].rate / bare["first"].rate
    deep = by_name["portal: Signal history, a page a year back"].rate / bare["deep"].rate
    rate = export.rows / export.seconds
    floor = next((m for m in results if "Account page" in m.name), None)
    empty = by_name.get(EMPTY_BARE)
    floor_text = (
        f" A page of the portal with no signals at all (Account: session, login check, layout) makes "
        f"{floor.rate / bare['first'].rate:.0%} of the bare page's rate: the ceiling of any portal page here."
        if floor
        else ""
    )
    if floor and empty:
        # Each server is one process: a page's rate is bounded by its server's CPU a request (the table shows both
        # at their bound). A logged-in page whose 50 rows cost its process what they cost the bare page's (the bare
        # page of 50 less its page of none) would cost the Account page's CPU plus that.
        def server_us(m: Measured) -> float:
            return m.cpu[0] / max(1, m.requests) * 1e6

        ideal_us = server_us(floor) + server_us(bare["first"]) - server_us(empty)
        history_us = server_us(by_name["portal: Signal history, first page"])
        floor_text += (
            f" The server's CPU a request bounds each page's rate: a logged-in page whose 50 rows cost it no more than "
            f"they cost the bare page (the Account page's {server_us(floor):,.0f} µs + the bare page's "
            f"{server_us(bare['first']):,.0f} µs for 50 rows − {server_us(empty):,.0f} µs for none = "
            f"{ideal_us:,.0f} µs) would be at {server_us(bare['first']) / ideal_us:.0%} of the bare page; the history "
            f"page's first page costs {history_us:,.0f} µs, {server_us(bare['first']) / history_us:.0%}."
        )
    return (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}; PostgreSQL {version}; load average "
        f"before the run {os.getloadavg()[0]:.2f}.\n"
        f"Command: `python -m bench.portal --signals {args.signals} --seconds {args.seconds:g} --clients "
        f"{args.clients}` ({args.signals:,} signals over two years loaded and indexed in {loaded:.0f} s; the long "
        f"customer has every {LONG_SHARE}th, {args.signals // LONG_SHARE:,} signals on one panel; "
        f"{args.clients} concurrent clients, one logged-in session, {PAGE_ROWS} rows a page; the portal and the "
        "bare page each one process on uvloop, the clients in a third).\n\n"
        + "\n".join(lines)
        + f"\n\nPortal against the bare page: first page {first:.0%}, a year back {deep:.0%} (target ≥ "
        f"{TARGET_RATIO:.0%}).{floor_text} CSV export of the long customer's last year: {export.rows:,} rows in "
        f"{export.seconds:.1f} s = {rate:,.0f} rows/s (target ≥ {TARGET_CSV_ROWS_PER_SECOND:,}); the portal's RSS "
        f"{export.rss_before / 1024:.0f} MiB before, {export.rss_peak / 1024:.0f} MiB at its peak during the "
        f"download, {export.rss_after / 1024:.0f} MiB after.\n"
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per page")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--write", action="store_true", help="replace the portal section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")
    url, embedded = server_url()
    name = f"alarmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        print(f"loading {args.signals:,} signals into {name}", flush=True)
        customer_id, loaded = await load(database_url, args.signals)
        version = await admin.fetchval("SHOW server_version")
        deep = await deep_position(database_url, customer_id)
        explained = await plans(database_url, customer_id, deep)
        print("\n".join(explained), flush=True)
        session_key = Fernet.generate_key().decode("ascii")
        portal_port, bare_port = free_port(), free_port()
        with tempfile.TemporaryDirectory(prefix="alarmhub-bench-portal-") as var_dir:
            servers = [
                start_portal(database_url, portal_port, session_key, var_dir),
                start_bare(database_url, bare_port),
            ]
            for port, server in zip((portal_port, bare_port), servers, strict=True):
                await wait_for_port(port, server)
            portal, bare = f"http://127.0.0.1:{portal_port}", f"http://127.0.0.1:{bare_port}"
            cursor = cursor_codec(session_key).encode(deep, CustomerScope(customer_id, None))
            bare_deep = urlencode({"customer": customer_id, "until": deep.received_at.isoformat(), "id": deep.id})
            connector = aiohttp.TCPConnector(limit=args.clients)
            jar = aiohttp.CookieJar(unsafe=True)  # the portal is at an IP address: keep its cookies all the same
            database = await asyncpg.connect(database_url)  # reads which server processes serve the benchmark
            async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
                await log_in(session, portal)
                pages = [
                    ("portal: Signal history, first page", f"{portal}/signals"),
                    ("bare page: first 50 rows", f"{bare}/signals?customer={customer_id}"),
                    ("portal: Signal history, a page a year back", f"{portal}/signals?after={cursor}"),
                    (
                        "bare page: 50 rows a year back",
                        f"{bare}/signals?{bare_deep}",
                    ),
                    ("portal: filtered to Power loss, first page", f"{portal}/signals?category=power"),
                    ("portal: filtered to Power loss, a year back", f"{portal}/signals?category=power&after={cursor}"),
                ]
                pid_of = {portal: servers[0].pid, bare: servers[1].pid}
                results = [
                    await drive(session, n, u, args.clients, args.seconds, pid_of[u.split("/signals")[0]], database)
                    for n, u in pages
                ]
                floor = "portal: the Account page (no signals: the portal's own cost)"
                results.append(
                    await drive(
                        session,
                        floor,
                        f"{portal}/account",
                        args.clients,
                        args.seconds,
                        servers[0].pid,
                        database,
                        rows_expected=False,
                    )
                )
                results.append(
                    await drive(
                        session,
                        EMPTY_BARE,
                        f"{bare}/signals?customer=0",
                        args.clients,
                        args.seconds,
                        servers[1].pid,
                        database,
                        rows_expected=False,
                    )
                )
                never = "portal: a category never sent (Supervisory)"
                results.append(
                    await drive(
                        session,
                        never,
                        f"{portal}/signals?category=supervisory",
                        args.clients,
                        args.seconds,
                        servers[0].pid,
                        database,
                        rows_expected=False,
                    )
                )
                export = await export_year(session, portal, servers[0].pid)
            await database.close()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    text = report(args, version, loaded, results, export)
    text += "\nThe page statements on this table (EXPLAIN ANALYZE, one run each, warm): " + "; ".join(explained) + ".\n"
    print("\n" + text)
    if args.write:
        write_results(text, section="portal", title="Portal: signal history (`make bench-portal`)")
    first = results[0].rate / results[1].rate
    return 0 if first >= TARGET_RATIO and export.rows / export.seconds >= TARGET_CSV_ROWS_PER_SECOND else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]), sys.argv[4])
    else:
        run_benchmark(main)
