"""The route sweep's tools: every path placeholder filled with a real id of the customer under attack, or failure;
a recorder that tells whether a request reached its handler (a 404 from the router proves nothing); the router's
inventory as the security sweep reads it; and the database seen whole (a fingerprint of every table, the rows that
belong to one customer) so a refused request can be shown to have changed nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
from aiohttp import web

from portal.accounts.tokens import Purpose, issue_token
from portal.auth.rules import Rule, rule_of
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
    """The Service Center's ids of `victim`: a request (with a comment), a certificate (and its verification code)
    and a call-list contact."""
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
    return {
        "request_id": str(request_id),
        "certificate_id": str(certificate_id),
        "contact_id": str(contact_id),
        "code": f"SWEEP-{victim.account}-CODE",  # the certificate's verification code: /verify/{code} is public
    }


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


# --- The security sweep's inventory (tests/portal/test_security_sweep.py) ---------------------------------------

READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/"


@dataclass(frozen=True)
class SweptRoute:
    """One route of the router as the sweep sees it: method, pattern, the access rule its handler declares."""

    method: str
    path: str
    rule: Rule
    handler: str

    @property
    def api(self) -> bool:
        return self.path.startswith(API_PREFIX)

    @property
    def reads(self) -> bool:
        return self.method in READ_METHODS

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def placeholders_of(path: str) -> set[str]:
    return set(_PLACEHOLDER.findall(path))


def inventory(app: web.Application) -> tuple[list[SweptRoute], list[str]]:
    """Every route but the static files, and what about any of them the sweep cannot read (no rule, an unknown
    method, a resource of a kind it does not know)."""
    routes: list[SweptRoute] = []
    problems: list[str] = []
    for route in app.router.routes():
        resource = route.resource
        if isinstance(resource, web.StaticResource):
            continue
        if not isinstance(resource, web.PlainResource | web.DynamicResource):
            problems.append(f"{route.method} {resource!r}: a kind of resource the sweep does not know")
            continue
        rule = rule_of(route.handler)
        name = f"{route.handler.__module__}.{route.handler.__qualname__}"
        if rule is None:
            problems.append(f"{route.method} {resource.canonical} ({name}) declares no access rule")
            continue
        if route.method not in READ_METHODS | WRITE_METHODS:
            problems.append(f"{route.method} {resource.canonical}: a method the sweep does not know")
            continue
        routes.append(SweptRoute(route.method, resource.canonical, rule, name))
    return sorted(routes, key=lambda r: (r.path, r.method)), problems


async def table_names(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
    )
    return [row["relname"] for row in rows]


async def fingerprint(connection: asyncpg.Connection) -> dict[str, str]:
    """A digest of every table's rows, in one round trip: two equal fingerprints mean nothing was written."""
    parts = [
        f"SELECT '{name}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest "
        f'FROM "{name}" t'
        for name in await table_names(connection)
    ]
    return {row["name"]: row["digest"] for row in await connection.fetch(" UNION ALL ".join(parts))}


def changed_tables(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


_FOREIGN_KEYS = """
    SELECT child.relname AS child, ca.attname AS child_column, parent.relname AS parent, pa.attname AS parent_column
      FROM pg_constraint c
      JOIN pg_class child ON child.oid = c.conrelid
      JOIN pg_namespace n ON n.oid = child.relnamespace
      JOIN pg_class parent ON parent.oid = c.confrelid
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(child_number, parent_number)
      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_number
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_number
     WHERE c.contype = 'f' AND n.nspname = 'public' AND NOT child.relispartition AND NOT parent.relispartition
"""
# Columns that name a row without a foreign key (signals is partitioned and written in bulk: it has none): `site_id`
# names a row of `sites`, as everywhere else in the schema.
_IMPLIED_KEYS = """
    SELECT c.relname AS child, a.attname AS child_column, parent.relname AS parent, 'id' AS parent_column
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_class parent ON parent.relname = left(a.attname, -3) || 's' AND parent.relnamespace = n.oid
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attname LIKE '%\\_id'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                        WHERE k.contype = 'f' AND k.conrelid = c.oid AND a.attnum = ANY (k.conkey))
"""


async def customer_rows(connection: asyncpg.Connection, customer_id: int) -> set[tuple[str, str]]:
    """Every row that belongs to the customer, as (table, row as JSON): its customers row and, transitively, every
    row whose foreign key (or `…_id` column named for a table) names a row of its (sites, panels, users, signals,
    invoices, their lines, audit rows, …).

    Found from the schema's foreign keys, so a table a feature adds is covered without naming it here."""
    keys = [*await connection.fetch(_FOREIGN_KEYS), *await connection.fetch(_IMPLIED_KEYS)]
    rows: dict[str, list[dict[str, object]]] = {}
    for name in {"customers", *(key["child"] for key in keys)}:
        rows[name] = [json.loads(r[0]) for r in await connection.fetch(f'SELECT to_jsonb(t)::text FROM "{name}" t')]
    owned: dict[str, set[int]] = {name: set() for name in rows}
    values: dict[tuple[str, str], set[object]] = {}

    def own(table: str, index: int) -> None:
        owned[table].add(index)
        for column, value in rows[table][index].items():
            if isinstance(value, int | str):
                values.setdefault((table, column), set()).add(value)

    for index, row in enumerate(rows["customers"]):
        if row["id"] == customer_id:
            own("customers", index)
    grew = True
    while grew:
        grew = False
        for key in keys:
            wanted = values.get((key["parent"], key["parent_column"]))
            if not wanted:
                continue
            for index, row in enumerate(rows[key["child"]]):
                value = row.get(key["child_column"])
                if index not in owned[key["child"]] and isinstance(value, int | str) and value in wanted:
                    own(key["child"], index)
                    grew = True
    return {
        (table, json.dumps(rows[table][index], sort_keys=True)) for table, indexes in owned.items() for index in indexes
    }
