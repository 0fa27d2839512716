"""The admins' billing page: run the billing cycle now, and the recent runs of the billing and autopay jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access
from portal.auth.sessions import flash
from portal.forms import Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.render import render
from shared.billing.cycle import MONTHS, current_period, run_current_cycle

routes = web.RouteTableDef()
# The worker's singleton jobs that move money or issue invoices (alarmhub/worker.py names them).
BILLING_JOBS = ("billing-cycle", "autopay")
RUNS_SHOWN = 10


async def billing_context(request: web.Request) -> dict[str, Any]:
    async with request.app[pool_key].acquire() as connection:
        runs = await connection.fetch(
            """SELECT j.job, r.tick_at, r.holder, r.started_at, r.finished_at, r.status, r.attempts, r.error
                 FROM unnest($1::text[]) AS j(job)
                 CROSS JOIN LATERAL (SELECT * FROM job_runs WHERE job = j.job
                                      ORDER BY tick_at DESC LIMIT $2) r
                ORDER BY j.job, r.tick_at DESC""",
            list(BILLING_JOBS),
            RUNS_SHOWN,
        )
        leaders = await connection.fetch(
            "SELECT job, holder, heartbeat_at, last_tick_at FROM job_leaders WHERE job = ANY($1::text[])",
            list(BILLING_JOBS),
        )
        period = current_period(datetime.now(UTC), request.app[config_key]["portal.timezone"])
        issued = await connection.fetchval("SELECT count(*) FROM invoices WHERE period = $1", period)
    return {
        "jobs": BILLING_JOBS,
        "runs": {job: [run for run in runs if run["job"] == job] for job in BILLING_JOBS},
        "leaders": {row["job"]: row for row in leaders},
        "month": f"{MONTHS[period.month - 1]} {period.year}",
        "issued": issued,
    }


@routes.get("/admin/billing", name="admin.billing")
@access(Access.ADMIN)
async def billing_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin/billing.html", await billing_context(request))


@routes.post("/admin/billing/cycle", name="admin.billing_cycle")
@access(Access.ADMIN)
@form_view("admin/billing.html", billing_context)
async def run_cycle(request: web.Request, form: Form) -> web.StreamResponse:
    run = await run_current_cycle(request.app[pool_key], request.app[config_key])
    said = (
        "no new invoice: every customer with a fee has this month's" if run.issued == 0 else f"{run.issued} invoice(s)"
    )
    flash(
        await get_session(request),
        f"Billing cycle for {MONTHS[run.period.month - 1]} {run.period.year} run now: {said}.",
    )
    raise redirect("/admin/billing")
