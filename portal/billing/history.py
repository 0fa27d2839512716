"""Billing history (C7): View invoices, an invoice and its PDF, View payments, Paid invoices, Receipts, their PDFs."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.billing import queries
from portal.billing.common import timezone_of, today_of
from portal.keys import config_key, pool_key
from portal.paths import path_id
from portal.render import render
from shared.billing.documents import invoice_document, receipt_document
from shared.billing.invoices import invoice_detail, list_invoices
from shared.billing.payments import list_payments
from shared.billing.pdf import invoice_pdf, receipt_pdf
from shared.branding import Branding

routes = web.RouteTableDef()
# How many rows a history page lists, newest first.
HISTORY_ROWS = 200
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def pdf_response(document: bytes, filename: str) -> web.Response:
    """A PDF the browser saves (attachment), never kept by a shared cache: it is one customer's paper."""
    return web.Response(
        body=document,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{_UNSAFE_FILENAME.sub("-", filename)}"',
            "Cache-Control": "private, no-store",
        },
    )


@routes.get("/billing/invoices", name="billing.invoices")
@access(Access.CUSTOMER)
async def invoices_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        invoices = await list_invoices(connection, scope_of(request), which="all", limit=HISTORY_ROWS)
    context = {"invoices": invoices, "today": today_of(request), "limit": HISTORY_ROWS}
    return await render(request, "billing/invoices.html", context)


# Registered before the invoice page: "{invoice_id}" alone would also match "12.pdf" (and answer 404 for it).
@routes.get("/billing/invoices/{invoice_id}.pdf", name="billing.invoice_pdf")
@access(Access.CUSTOMER)
async def invoice_pdf_download(request: web.Request) -> web.StreamResponse:
    config = request.app[config_key]
    async with request.app[pool_key].acquire() as connection:
        document = await invoice_document(
            connection, scope_of(request), path_id(request, "invoice_id"), timezone=timezone_of(request)
        )
    # Laying out a PDF takes milliseconds of CPU: off the event loop, which serves everyone else meanwhile.
    pdf = await asyncio.to_thread(
        invoice_pdf, document, Branding.from_config(config), currency=config["billing.currency"]
    )
    return pdf_response(pdf, f"{document.number}.pdf")


@routes.get("/billing/invoices/{invoice_id}", name="billing.invoice")
@access(Access.CUSTOMER)
async def invoice_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        detail = await invoice_detail(connection, scope_of(request), path_id(request, "invoice_id"))
    return await render(request, "billing/invoice.html", {"detail": detail, "today": today_of(request)})


@routes.get("/billing/payments", name="billing.payments")
@access(Access.CUSTOMER)
async def payments_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        payments = await list_payments(connection, scope_of(request), limit=HISTORY_ROWS)
    return await render(request, "billing/payments.html", {"payments": payments, "limit": HISTORY_ROWS})


@routes.get("/billing/paid", name="billing.paid")
@access(Access.CUSTOMER)
async def paid_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        invoices = await list_invoices(connection, scope_of(request), which="paid", limit=HISTORY_ROWS)
    return await render(request, "billing/paid.html", {"invoices": invoices, "limit": HISTORY_ROWS})


@routes.get("/billing/receipts", name="billing.receipts")
@access(Access.CUSTOMER)
async def receipts_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        receipts = await queries.receipts(connection, scope_of(request), limit=HISTORY_ROWS)
    return await render(request, "billing/receipts.html", {"receipts": receipts, "limit": HISTORY_ROWS})


@routes.get("/billing/payments/{payment_id}/receipt.pdf", name="billing.receipt_pdf")
@access(Access.CUSTOMER)
async def receipt_pdf_download(request: web.Request) -> web.StreamResponse:
    config = request.app[config_key]
    async with request.app[pool_key].acquire() as connection:
        document = await receipt_document(
            connection, scope_of(request), path_id(request, "payment_id"), timezone=timezone_of(request)
        )
    pdf = await asyncio.to_thread(
        receipt_pdf, document, Branding.from_config(config), currency=config["billing.currency"]
    )
    return pdf_response(pdf, f"receipt-{document.number}.pdf")
