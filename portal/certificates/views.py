"""The customer's Insurance Certificate page: request one for a premises, see and download past ones."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of
from portal.auth.sessions import flash
from portal.billing.history import pdf_response
from portal.certificates.queries import premises_of
from portal.forms import Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.branding import Branding
from shared.certificates.issue import issue_certificate, list_certificates, stored_pdf
from shared.certificates.model import Certificate
from shared.errors import DomainError

routes = web.RouteTableDef()
# Past certificates the page lists, newest first; one a year per premises makes this decades.
LIST_ROWS = 100
_NOT_A_NAME = re.compile(r"[^a-z0-9]+")


def timezone_of(request: web.Request) -> str:
    zone: str = request.app[config_key]["portal.timezone"]
    return zone


def today_in(zone: str) -> date:
    """The company's calendar day: what "valid until" is compared with."""
    return datetime.now(ZoneInfo(zone)).date()


def today_of(request: web.Request) -> date:
    return today_in(timezone_of(request))


def filename_of(certificate: Certificate) -> str:
    """e.g. insurance-certificate-main-house-2026-12-05.pdf: says what it is and which, in a downloads folder."""
    premises = _NOT_A_NAME.sub("-", certificate.statement.premises_name.lower()).strip("-") or "premises"
    return f"insurance-certificate-{premises[:40].rstrip('-')}-{certificate.statement.issued_on.isoformat()}.pdf"


async def page_context(request: web.Request) -> dict[str, Any]:
    """The premises to choose from and the past certificates (also after a refused request)."""
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection:
        premises = await premises_of(connection, scope)
        certificates = await list_certificates(connection, scope, timezone=timezone_of(request), limit=LIST_ROWS)
    return {
        "premises": premises,
        "certifiable": [p for p in premises if p.panels],
        "certificates": certificates,
        "today": today_of(request),
        "new_id": parse_id(request.query.get("new", "")),
        "valid_days": request.app[config_key]["service.certificate_valid_days"],
        "limit": LIST_ROWS,
    }


@routes.get("/service/certificates", name="certificates")
@access(Access.CUSTOMER)
async def certificates_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "certificates/index.html", await page_context(request))


@routes.post("/service/certificates", name="certificates.request")
@access(Access.CUSTOMER)
@form_view("certificates/index.html", page_context)
async def request_certificate(request: web.Request, form: Form) -> web.StreamResponse:
    site_id = parse_id(form.get("site_id"))
    if site_id is None:
        raise DomainError("choose the premises to certify", field="site_id")
    config = request.app[config_key]
    async with request.app[pool_key].acquire() as connection:
        certificate = await issue_certificate(
            connection,
            scope_of(request),
            Branding.from_config(config),
            site_id=site_id,
            valid_days=config["service.certificate_valid_days"],
            timezone=timezone_of(request),
        )
    flash(
        await get_session(request),
        f"Your insurance certificate for {certificate.statement.premises_name} is ready: select Download to save it.",
    )
    raise redirect(f"/service/certificates?new={certificate.id}#certificate-{certificate.id}")


@routes.get("/service/certificates/{certificate_id}/pdf", name="certificates.download")
@access(Access.CUSTOMER)
async def download(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        certificate, pdf = await stored_pdf(
            connection, scope_of(request), path_id(request, "certificate_id"), timezone=timezone_of(request)
        )
    return pdf_response(pdf, filename_of(certificate))
