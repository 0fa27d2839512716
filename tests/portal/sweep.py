"""The route sweep's tools: every path placeholder filled with a real id of the customer under attack, or failure;
and a recorder that tells whether a request reached its handler (a 404 from the router proves nothing)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
from aiohttp import web

from portal.accounts.tokens import Purpose, issue_token
from shared.api_tokens import create_api_token
from tests.portal.conftest import Customer
from tests.portal.outcomes.incidents import make_incident
from tests.shared.billing.ledger_setup import invoice, method_row, settled_payment

_PLACEHOLDER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def route_ids(connection: asyncpg.Connection, victim: Customer) -> dict[str, str]:
    """A real value of `victim` for every placeholder the portal's routes use.

    A new route with a placeholder not listed here makes the sweep fail (fill() raises), so every route a feature
    adds is tried with another customer's real id, never with literal text the router answers 404 to.
    """
    token = await issue_token(connection, victim.secondary_id, Purpose.INVITATION, 3600.0)
    # Staff-only ids (no customer owns them): real ones all the same, so the route's own refusal is what is tested.
    api_token = await create_api_token(connection, name=f"sweep-{victim.account}", role="admin")
    # Billing: a card on file, an invoice and a succeeded payment applied to it (its receipt exists), all the victim's.
    method_id = await method_row(connection, victim.customer_id)
    invoice_id = await invoice(connection, victim.customer_id, "49.99")
    payment_id = await settled_payment(
        connection, victim.customer_id, method_id, "20.00", [(invoice_id, Decimal("20.00"))]
    )
    service = await service_ids(connection, victim)
    # Issue 14: an incident of the victim's (closed, with its signals, a call, a dispatch and a disposition) for the
    # customer's /signals/incidents/{incident_id}, the staff /dispatch/incidents/{incident_id}/… routes and the API's
    # /api/v1/incidents/{id}.
    incident_id = await make_incident(connection, victim)
    return {
        **service,
        "incident_id": str(incident_id),
        "id": str(incident_id),  # the API's GET /api/v1/incidents/{id} (SPEC §3 names it so)
        "customer_id": str(victim.customer_id),
        "user_id": str(victim.secondary_id),
        "site_id": str(victim.site_id),
        "panel_id": str(victim.panel_id),
        "account": victim.account,
        "token": token,
        "token_id": str(api_token.record.id),
        "method_id": str(method_id),
        "invoice_id": str(invoice_id),
        "payment_id": str(payment_id),
    }


async def service_ids(connection: asyncpg.Connection, victim: Customer) -> dict[str, str]:
    """The Service Center's ids of `victim`: a request (with a comment), a certificate and a call-list contact."""
    request_id = await connection.fetchval(
        "INSERT INTO service_requests (customer_id, kind, topic, site_id, contact_name, contact_email, "
        "submission_key, submitted_by) VALUES ($1, 'service', 'Repair', $2, 'Victim', $3, $4, $5) RETURNING id",
        victim.customer_id,
        victim.site_id,
        victim.owner_email,
        f"sweep-{victim.account}",
        victim.owner_id,
    )
    await connection.execute(
        "INSERT INTO service_request_events (request_id, action, body) VALUES ($1, 'submitted', 'victim request')",
        request_id,
    )
    certificate_id = await connection.fetchval(
        "INSERT INTO insurance_certificates (customer_id, site_id, verification_code, customer_name, premises_name, "
        "premises_address, accounts, services, monitoring_since, valid_until, pdf) "
        "VALUES ($1, $2, $3, 'Victim', 'Premises', 'Victim Street', ARRAY[$4], ARRAY['burglary'], current_date, "
        "current_date + 365, '\\x255044462d') RETURNING id",
        victim.customer_id,
        victim.site_id,
        f"SWEEP-{victim.account}-CODE",
        victim.account,
    )
    contact_id = await connection.fetchval(
        "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone) "
        "VALUES ($1, $2, 1, 'Victim contact', '555-0100') RETURNING id",
        victim.customer_id,
        victim.site_id,
    )
    return {"request_id": str(request_id), "certificate_id": str(certificate_id), "contact_id": str(contact_id)}


def fill(path: str, ids: Mapping[str, str]) -> str:
    """`path` with each placeholder replaced by the victim's real value; an unknown placeholder fails the test."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            raise AssertionError(
                f"the sweep has no real id of another customer for {{{name}}} in {path}: add one to route_ids()"
            )
        return ids[name]

    return _PLACEHOLDER.sub(value, path)


@dataclass
class HandlerRecorder:
    """Innermost middleware: records (method, route pattern) of every request that reached its handler."""

    reached: list[tuple[str, str]] = field(default_factory=list)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if request.match_info.http_exception is None and resource is not None:
            self.reached.append((request.method, resource.canonical))
        return await handler(request)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)  # last: after access, CSRF and the path-id check passed
