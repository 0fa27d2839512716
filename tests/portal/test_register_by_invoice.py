"""Registration by invoice number (C1, seed 002: "using your invoice and/or security system information")."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from portal.billing.ownership import compact_invoice_number
from shared.billing.invoices import IssuedInvoice, create_invoice, void_invoice
from shared.scope import CustomerScope
from tests.portal.conftest import PASSWORD, Customer, Portal, mails_to


async def invoice_for(db: asyncpg.Pool, customer: Customer) -> IssuedInvoice:
    async with db.acquire() as connection:
        return await create_invoice(
            connection,
            customer_id=customer.customer_id,
            lines=[("Monitoring, December 2026", Decimal("29.95"))],
            due_on=date.today() + timedelta(days=30),
        )


def registration(customer: Customer, proof: str, email: str = "alice@example.com") -> dict[str, str]:
    return {
        "account": customer.account,
        "proof_method": "invoice_number",
        "proof": proof,
        "name": "Alice Alpha",
        "email": email,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }


def test_invoice_numbers_are_read_as_people_copy_them() -> None:
    assert compact_invoice_number(" inv - 10023 ") == "inv-10023"
    assert compact_invoice_number("10023") == "10023"
    assert compact_invoice_number("   ") is None
    assert compact_invoice_number("INV-١٠٠٢٣") is None  # digits of other scripts are not ours
    assert compact_invoice_number("9" * 41) is None


async def test_the_register_page_offers_the_invoice_number_beside_the_security_code(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    text = await (await portal.get("/register")).text()
    assert '<option value="invoice_number"' in text and '<option value="security_code"' in text
    assert "Security system code or invoice number" in text
    assert "The number at the top of any invoice" in text  # each proof's help is on the page


async def test_register_with_the_account_and_an_invoice_number(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await db.execute("UPDATE users SET password_hash = NULL WHERE id = $1", alpha.owner_id)  # enrolled by staff
    invoice = await invoice_for(db, alpha)
    typed = invoice.number.lower().replace("-", " - ")  # "inv - 10001", as copied from a PDF
    response = await portal.post("/register", registration(alpha, typed))
    assert response.status == 200 and response.url.path == "/dashboard"
    assert "Customer alpha" in await response.text()
    [mail] = await mails_to(db, "alice@example.com")
    assert "Confirm" in mail["subject"]
    owner = await db.fetchrow("SELECT email, password_hash FROM users WHERE id = $1", alpha.owner_id)
    assert owner["email"] == "alice@example.com" and owner["password_hash"] is not None


async def test_another_customers_or_a_void_invoice_number_proves_nothing(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await db.execute("UPDATE users SET password_hash = NULL WHERE id = $1", alpha.owner_id)
    theirs = await invoice_for(db, beta)
    voided = await invoice_for(db, alpha)
    async with db.acquire() as connection:
        await void_invoice(connection, CustomerScope(alpha.customer_id, None), voided.id, reason="issued by mistake")
    for proof in (theirs.number, voided.number, "INV-99999999"):
        refused = await portal.post("/register", registration(alpha, proof))
        text = await refused.text()
        assert refused.status == 400, proof
        # One message for both fields: it does not tell whether the account or the invoice was wrong.
        assert "the account number and the invoice number do not match our records" in text.lower()
        assert 'id="f-proof-error"' in text and 'id="f-account-error"' not in text
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", alpha.owner_id) is None
    assert await mails_to(db, "alice@example.com") == []
    # An unknown account reads the same as a wrong invoice number.
    unknown = await portal.post("/register", {**registration(alpha, theirs.number), "account": "FFF999"})
    assert "do not match our records" in await unknown.text()
