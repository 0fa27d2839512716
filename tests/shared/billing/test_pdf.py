"""Invoice and receipt PDFs, read back with pypdf: numbers, amounts, the remittance address, the allocation table, the
sandbox line; text any customer may type (dashes, quotes, CJK) never breaks a core-font document."""

from __future__ import annotations

import dataclasses
import io
import time
from datetime import date
from decimal import Decimal

from pypdf import PdfReader

from shared.billing.documents import (
    AppliedMoney,
    DocumentLine,
    InvoiceDocument,
    ReceiptDocument,
    ReceiptLine,
    ReceiptRefund,
)
from shared.billing.money import InvoiceStatus
from shared.billing.pdf import SANDBOX_LINE, invoice_pdf, receipt_pdf, safe_text
from shared.branding import Branding

BRAND = Branding(
    company_name="Acme Alarms",
    logo_text="ACME",
    phone="+1 555 0199",
    address="9 Elm Road, Shelbyville, IL 62565",
    remittance_address="Acme Alarms Lockbox\nPO Box 4400\nShelbyville, IL 62566",
    licence_text="Illinois PERC licence 127-001234",
    public_url="https://portal.acme.example",
)


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def page_count(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


def invoice(**changes: object) -> InvoiceDocument:
    document = InvoiceDocument(
        invoice_id=7,
        number="INV-10001",
        customer_name="Ann Example",
        billing_address="12 Oak Lane\nSpringfield",
        accounts=("A1A1",),
        issued_on=date(2026, 12, 1),
        due_on=date(2026, 12, 16),
        period=date(2026, 12, 1),
        description="",
        lines=(
            DocumentLine("Monthly monitoring December 2026", Decimal("39.95")),
            DocumentLine("Service call: replace keypad battery", Decimal("1210.05")),
        ),
        total=Decimal("1250.00"),
        applied=(AppliedMoney("50001", date(2026, 12, 3), Decimal("250.00"), "payment"),),
        paid=Decimal("250.00"),
        balance=Decimal("1000.00"),
        status=InvoiceStatus.PARTIALLY_PAID,
        void_reason="",
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


def receipt(**changes: object) -> ReceiptDocument:
    document = ReceiptDocument(
        payment_id=3,
        number="50001",
        customer_name="Ann Example",
        billing_address="12 Oak Lane, Springfield",
        settled_on=date(2026, 12, 3),
        method_label="Visa ending in 4242",
        source="portal",
        amount=Decimal("300.00"),
        applied=(ReceiptLine("INV-10001", Decimal("250.00")), ReceiptLine("INV-10002", Decimal("39.95"))),
        refunds=(),
        refunded=Decimal("0.00"),
        credit=Decimal("10.05"),
        sandbox=True,
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


def test_an_invoice_prints_the_company_the_customer_the_charges_and_the_balance() -> None:
    text = pdf_text(invoice_pdf(invoice(), BRAND))
    for expected in (
        "Acme Alarms",
        "9 Elm Road, Shelbyville, IL 62565",
        "Illinois PERC licence 127-001234",
        "+1 555 0199",
        "INVOICE",
        "INV-10001",
        "December 1, 2026",
        "December 16, 2026",
        "December 2026",
        "A1A1",
        "Partially paid",
        "Ann Example",
        "12 Oak Lane",
        "Monthly monitoring December 2026",
        "$39.95",
        "Service call: replace keypad battery",
        "$1,210.05",
        "$1,250.00",
        "50001",
        "$250.00",
        "$1,000.00",
    ):
        assert expected in text, expected
    assert "Balance due" in text and "Paid" in text and "Total" in text


def test_an_open_invoice_says_where_to_send_a_cheque_and_where_to_pay_online() -> None:
    text = pdf_text(invoice_pdf(invoice(), BRAND))
    assert "Remit payment to" in text
    remit = text[text.index("Remit payment to") :]
    # The remittance address, line by line, below the heading: where the cheque goes (not the office address).
    assert "Acme Alarms Lockbox\nPO Box 4400\nShelbyville, IL 62566" in remit
    assert "invoice number INV-10001" in remit and "$1,000.00" in remit
    assert "Pay online at https://portal.acme.example/billing" in remit


def test_a_paid_invoice_asks_for_nothing_and_a_void_one_says_why() -> None:
    paid = invoice(
        applied=(AppliedMoney("50001", date(2026, 12, 3), Decimal("1250.00"), "payment"),),
        paid=Decimal("1250.00"),
        balance=Decimal("0.00"),
        status=InvoiceStatus.PAID,
    )
    text = pdf_text(invoice_pdf(paid, BRAND))
    assert "Paid" in text and "$0.00" in text and "Remit payment to" not in text
    void = invoice(
        applied=(
            AppliedMoney("50001", date(2026, 12, 3), Decimal("250.00"), "payment"),
            AppliedMoney("50001", date(2026, 12, 4), Decimal("-250.00"), "void"),
        ),
        paid=Decimal("0.00"),
        balance=Decimal("0.00"),
        status=InvoiceStatus.VOID,
        void_reason="Billed twice for December",
    )
    text = pdf_text(invoice_pdf(void, BRAND))
    assert "VOID: Billed twice for December" in text and "Void" in text
    assert "-$250.00" in text and "Returned to credit" in text and "Remit payment to" not in text


def test_customer_text_outside_latin_1_is_made_printable_never_an_error() -> None:
    name = "Zoë Ünal — Café “Nord” … ‘o’"
    text = pdf_text(invoice_pdf(invoice(customer_name=name, billing_address="Straße 5 – Köln"), BRAND))
    assert "Zoë Ünal - Café \"Nord\" ... 'o'" in text and "Straße 5 - Köln" in text
    cjk = invoice(customer_name="山田太郎 Yamada", billing_address="東京都 1-2-3", description="月額 ﬁne")
    text = pdf_text(invoice_pdf(cjk, BRAND))
    assert "???? Yamada" in text and "INV-10001" in text and "fine" in text
    euro = pdf_text(receipt_pdf(receipt(customer_name="Ōsaka Ltd\u200b\x00"), BRAND, currency="EUR"))
    assert "EUR 300.00" in euro and "Osaka Ltd" in euro


def test_safe_text_keeps_latin_1_and_line_breaks_and_drops_control_characters() -> None:
    assert safe_text("Zoë Ünal\nÅse") == "Zoë Ünal\nÅse"
    assert safe_text("a\tb\r\nc\x07") == "a b\nc"
    assert safe_text("−5 € 10 ™") == "-5 EUR  10 (TM)"
    assert safe_text("Dvořák Łódź Œuvre") == "Dvorák Lódz OEuvre"
    assert safe_text("ᚠ 한") == "? ?"  # no Latin-1 letter at all
    assert safe_text("\u0301x") == "x"  # a lone combining mark
    safe_text("".join(chr(c) for c in range(0x2000, 0x2100))).encode("latin-1")


def test_a_receipt_prints_the_payment_and_where_its_money_went() -> None:
    text = pdf_text(receipt_pdf(receipt(), BRAND))
    for expected in (
        "RECEIPT",
        "Receipt number",
        "50001",
        "December 3, 2026",
        "Visa ending in 4242",
        "$300.00",
        "Ann Example",
        "Acme Alarms",
    ):
        assert expected in text, expected
    # The allocation table: one row per invoice, then the credit; they add up to the payment.
    assert "Invoice INV-10001 $250.00" in text
    assert "Invoice INV-10002 $39.95" in text
    assert "Credit on your account $10.05" in text
    assert "Total paid $300.00" in text
    assert SANDBOX_LINE in text and "no real money" in text


def test_a_real_gateways_receipt_has_no_sandbox_line_and_refunds_are_listed() -> None:
    refunded = receipt(
        sandbox=False,
        applied=(ReceiptLine("INV-10001", Decimal("250.00")),),
        refunds=(
            ReceiptRefund(date(2026, 12, 4), Decimal("49.95"), "succeeded"),
            ReceiptRefund(None, Decimal("0.05"), "pending"),
        ),
        refunded=Decimal("49.95"),
        credit=Decimal("0.05"),
        source="autopay",
    )
    text = pdf_text(receipt_pdf(refunded, BRAND))
    assert "SANDBOX" not in text and "sandbox" not in text
    assert "Refunded $49.95" in text and "December 4, 2026 succeeded $49.95" in text
    assert "in progress pending $0.05" in text and "Autopay" in text


def test_many_lines_run_onto_more_pages_and_every_line_is_printed() -> None:
    lines = tuple(
        DocumentLine(f"Guard response call {n} " + "with a long note " * 6, Decimal("10.00")) for n in range(80)
    )
    document = invoice(lines=lines, total=Decimal("800.00"), balance=Decimal("550.00"))
    content = invoice_pdf(document, BRAND)
    text = pdf_text(content)
    assert page_count(content) >= 3
    for n in range(80):
        assert f"Guard response call {n} " in text
    pages = page_count(content)
    assert text.count("Description") >= pages - 1  # the table's headings repeat on each page it runs onto
    assert f"Invoice INV-10001 - page {pages} of {pages}" in text
    assert "Pay online at https://portal.acme.example/billing" in text


def test_documents_render_fast_enough_for_a_batch_of_receipts() -> None:
    document = receipt()
    receipt_pdf(document, BRAND)
    started = time.perf_counter()
    for _ in range(100):
        receipt_pdf(document, BRAND)
    # About 3 ms each on a laptop; the bound leaves room for a loaded CI machine.
    assert time.perf_counter() - started < 5.0
