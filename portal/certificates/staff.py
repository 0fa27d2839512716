"""Staff and a customer's certificates: the "Insurance certificates" section of the record, downloads, withdrawal."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, staff_scope
from portal.auth.model import Permission
from portal.auth.rules import Rule
from portal.auth.sessions import flash
from portal.billing.history import pdf_response
from portal.certificates.views import filename_of, timezone_of, today_in
from portal.forms import Form, form_view, redirect
from portal.keys import pool_key
from portal.paths import path_id
from portal.staff.sections import StaffSection
from portal.staff.views import customer_context
from shared.certificates.issue import list_certificates, revoke_certificate, stored_pdf
from shared.config import Config
from shared.db import Connection
from shared.scope import CustomerScope

routes = web.RouteTableDef()
SECTION_ROWS = 20
BASE = "/staff/customers/{customer_id}/certificates/{certificate_id}"


def certificates_section(config: Config) -> StaffSection:
    zone: str = config["portal.timezone"]

    async def load(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        return {
            "certificates": await list_certificates(connection, scope, timezone=zone, limit=SECTION_ROWS),
            "today": today_in(zone),
            "limit": SECTION_ROWS,
        }

    return StaffSection(
        "certificates", "Insurance certificates", Rule(Access.STAFF), "certificates/staff_section.html", load, order=60
    )


@routes.get(f"{BASE}/pdf", name="certificates.staff_download")
@access(Access.STAFF)
async def staff_download(request: web.Request) -> web.StreamResponse:
    scope = staff_scope(request, path_id(request, "customer_id"))
    async with request.app[pool_key].acquire() as connection:
        certificate, pdf = await stored_pdf(
            connection, scope, path_id(request, "certificate_id"), timezone=timezone_of(request)
        )
    return pdf_response(pdf, filename_of(certificate))


@routes.post(f"{BASE}/revoke", name="certificates.staff_revoke")
@access(Access.STAFF, Permission.WORK_SERVICE_REQUESTS)
@form_view("staff/customer.html", customer_context)
async def staff_revoke(request: web.Request, form: Form) -> web.StreamResponse:
    """Withdraw a certificate (issued in error, or monitoring ended): its verification page says so at once."""
    scope = staff_scope(request, path_id(request, "customer_id"))
    async with request.app[pool_key].acquire() as connection:
        certificate = await revoke_certificate(
            connection, scope, path_id(request, "certificate_id"), timezone=timezone_of(request)
        )
    flash(
        await get_session(request),
        f"Certificate {certificate.statement.verification_code} is withdrawn: its verification page says so.",
    )
    raise redirect(f"/staff/customers/{scope.customer_id}#certificates")
