"""Issuing a customer's insurance certificate for one premises, listing past ones, their stored PDFs, revoking one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from shared.branding import Branding
from shared.certificates.codes import new_code
from shared.certificates.model import Certificate, Statement
from shared.certificates.pdf import certificate_pdf
from shared.certificates.services import monitored_services
from shared.db import Connection
from shared.errors import DomainError, NotFound
from shared.scope import CustomerScope

# A second request for the same premises within this many seconds, stating the same, answers with the certificate
# just issued: a double click or a re-sent form makes one certificate, not two with different codes.
REPEAT_SECONDS = 60
CODE_ATTEMPTS = 3

# The premises, its panels and the customer, locked (NO KEY UPDATE: panels may still be added meanwhile) so that two
# requests for it take turns and the second finds the first's certificate.
_PREMISES = """
    SELECT s.name AS premises_name, s.address, c.name AS customer_name, c.created_at AS customer_since,
           coalesce((SELECT array_agg(p.account ORDER BY p.account) FROM panels p WHERE p.site_id = s.id), '{}')
               AS accounts,
           (SELECT min(p.created_at) FROM panels p WHERE p.site_id = s.id) AS first_panel
      FROM sites s JOIN customers c ON c.id = s.customer_id
     WHERE s.id = $1 AND s.customer_id = $2
       FOR NO KEY UPDATE OF s
"""
_COLUMNS = """id, site_id, verification_code, customer_name, premises_name, premises_address, accounts, services,
              monitoring_since, issued_at, valid_until, revoked_at"""
_REPEAT = f"""
    SELECT {_COLUMNS} FROM insurance_certificates
     WHERE customer_id = $1 AND site_id = $2 AND revoked_at IS NULL AND issued_at > now() - make_interval(secs => $3)
       AND customer_name = $4 AND premises_name = $5 AND premises_address = $6 AND accounts = $7 AND services = $8
     ORDER BY issued_at DESC, id DESC
     LIMIT 1
"""
_INSERT = f"""
    INSERT INTO insurance_certificates (customer_id, site_id, verification_code, customer_name, premises_name,
                                        premises_address, accounts, services, monitoring_since, issued_at,
                                        valid_until, requested_by, pdf)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING {_COLUMNS}
"""


def certificate_of(row: asyncpg.Record, zone: ZoneInfo) -> Certificate:
    statement = Statement(
        customer_name=row["customer_name"],
        premises_name=row["premises_name"],
        premises_address=row["premises_address"],
        accounts=tuple(row["accounts"]),
        services=tuple(row["services"]),
        monitoring_since=row["monitoring_since"],
        issued_on=row["issued_at"].astimezone(zone).date(),
        valid_until=row["valid_until"],
        verification_code=row["verification_code"],
    )
    return Certificate(row["id"], row["site_id"], statement, row["issued_at"], row["revoked_at"])


async def issue_certificate(
    connection: Connection,
    scope: CustomerScope,
    branding: Branding,
    *,
    site_id: int,
    valid_days: int,
    timezone: str,
) -> Certificate:
    """A certificate of monitoring for the scope's premises `site_id` (NotFound for anyone else's), with its PDF.

    It states the customer, the premises and its address, the premises' panel accounts, the services monitored
    (shared/certificates/services.py), since when (the premises' first panel), the day issued and until when it is
    valid (`valid_days` later), and a fresh verification code. A premises without a panel, an address or any service
    on file is refused by the `site_id` field: a certificate that cannot name them is no use to an insurer.
    """
    zone = ZoneInfo(timezone)
    async with connection.transaction():
        premises = await connection.fetchrow(_PREMISES, site_id, scope.customer_id)
        if premises is None:
            raise NotFound("there is no such premises on your account", field="site_id")
        name = premises["premises_name"]
        if not premises["accounts"]:
            raise DomainError(
                f"{name} has no alarm panel on file yet, so there is no monitoring to certify: "
                f"please call us{_at(branding)}",
                field="site_id",
            )
        if not premises["address"].strip():
            raise DomainError(
                f"we have no address on file for {name}, and a certificate must name it: please call us"
                f"{_at(branding)} so we can add it",
                field="site_id",
            )
        services = (await monitored_services(connection, scope, site_id)).words
        if not services:
            raise DomainError(
                f"we have no record yet of what {name} is monitored for (burglary, fire, …): please call us"
                f"{_at(branding)} so we can add it, then request the certificate again",
                field="site_id",
            )
        now = datetime.now(UTC)
        issued_on = now.astimezone(zone).date()
        since = premises["first_panel"] or premises["customer_since"]
        facts = (premises["customer_name"], name, premises["address"], list(premises["accounts"]), services)
        repeat = await connection.fetchrow(_REPEAT, scope.customer_id, site_id, float(REPEAT_SECONDS), *facts)
        if repeat is not None:
            return certificate_of(repeat, zone)
        for attempt in range(CODE_ATTEMPTS):
            statement = Statement(
                customer_name=premises["customer_name"],
                premises_name=name,
                premises_address=premises["address"],
                accounts=tuple(premises["accounts"]),
                services=tuple(services),
                monitoring_since=since.astimezone(zone).date(),
                issued_on=issued_on,
                valid_until=issued_on + timedelta(days=valid_days),
                verification_code=new_code(),
            )
            # Laying out the PDF is CPU work: off the event loop.
            pdf = await asyncio.to_thread(certificate_pdf, statement, branding)
            try:
                async with connection.transaction():  # a savepoint: a code already issued is drawn again
                    row = await connection.fetchrow(
                        _INSERT,
                        scope.customer_id,
                        site_id,
                        statement.verification_code,
                        statement.customer_name,
                        statement.premises_name,
                        statement.premises_address,
                        list(statement.accounts),
                        list(statement.services),
                        statement.monitoring_since,
                        now,
                        statement.valid_until,
                        scope.user_id,
                        pdf,
                    )
            except asyncpg.UniqueViolationError:
                if attempt + 1 == CODE_ATTEMPTS:
                    raise
                continue
            assert row is not None
            return certificate_of(row, zone)
    raise AssertionError("unreachable")  # the loop returns or raises


def _at(branding: Branding) -> str:
    return f" at {branding.phone}" if branding.phone else ""


async def list_certificates(
    connection: Connection, scope: CustomerScope, *, timezone: str, limit: int = 100
) -> list[Certificate]:
    """The scope's certificates, newest first."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM insurance_certificates WHERE customer_id = $1 "
        "ORDER BY issued_at DESC, id DESC LIMIT $2",
        scope.customer_id,
        limit,
    )
    zone = ZoneInfo(timezone)
    return [certificate_of(row, zone) for row in rows]


async def stored_pdf(
    connection: Connection, scope: CustomerScope, certificate_id: int, *, timezone: str
) -> tuple[Certificate, bytes]:
    """A certificate of the scope's customer and its PDF exactly as issued; NotFound for anyone else's."""
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS}, pdf FROM insurance_certificates WHERE id = $1 AND customer_id = $2",
        certificate_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound("there is no such certificate on this account")
    return certificate_of(row, ZoneInfo(timezone)), bytes(row["pdf"])


async def revoke_certificate(
    connection: Connection, scope: CustomerScope, certificate_id: int, *, timezone: str
) -> Certificate:
    """Withdraw a certificate (issued in error, monitoring ended): the verification page says so from now on.
    Revoking twice keeps the first time."""
    row = await connection.fetchrow(
        f"UPDATE insurance_certificates SET revoked_at = coalesce(revoked_at, now()) "
        f"WHERE id = $1 AND customer_id = $2 RETURNING {_COLUMNS}",
        certificate_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound("there is no such certificate on this account")
    return certificate_of(row, ZoneInfo(timezone))
