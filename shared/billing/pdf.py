"""Invoice and receipt PDFs (fpdf2, core fonts): what a customer prints, files or mails back with a cheque."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, XPos, YPos

from shared.billing.documents import InvoiceDocument, ReceiptDocument
from shared.billing.money import InvoiceStatus, format_money
from shared.branding import Branding

FONT = "Helvetica"
MARGIN = 54.0  # points: three quarters of an inch
LINE = 14.0
INK = (27, 36, 48)
MUTED = (74, 85, 101)
ACCENT = (11, 79, 138)
WARNING = (176, 0, 32)
RULE = (216, 222, 230)
PAD = 3.0
SANDBOX_LINE = "SANDBOX - NO REAL MONEY"

# The core fonts know Latin-1 only. Typography people type (and format_money's minus and euro) becomes its plain
# equivalent; anything else is decomposed to its Latin-1 base letter when it has one, else printed as "?" —
# a name in a script the core fonts cannot draw must still give a document, never an exception.
_PLAIN = str.maketrans(
    {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u2012": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2212": "-",  # minus sign
        "\u2026": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": ",",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2022": "*",
        "\u00b7": "-",
        "\u20ac": "EUR ",
        "\u2122": "(TM)",
        # Letters with no decomposition to a Latin-1 base.
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u0131": "i",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\t": " ",
        "\r": "",
    }
)


def safe_text(text: str) -> str:
    """`text` drawable by a core font: Latin-1 only, no control characters but line breaks."""
    text = unicodedata.normalize("NFC", text).translate(_PLAIN)
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        if char == "\n" or (char.isprintable() and ord(char) < 256):
            out.append(char)
        elif not char.isprintable() or unicodedata.combining(char):
            continue  # a control or format character (zero-width joiner, bidi mark), a stray accent: nothing
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if ord(c) < 256 and not unicodedata.combining(c)
            )
            out.append(base if base.isprintable() and base else "?")
    return "".join(out)


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def month_name(period: date) -> str:
    return f"{period:%B %Y}"


class _Pages(FPDF):
    """Every page ends with the document's name and the page number, so loose printed pages can be put together."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-MARGIN + 12)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 10, f"{self.footer_text} - page {self.page_no()} of {{nb}}", align=Align.C)


class _Sheet:
    """One Letter-sized document in the company's look: a header, labelled values, tables of money."""

    def __init__(self, branding: Branding, title: str, currency: str) -> None:
        self.currency = currency
        pdf = _Pages(format="letter", unit="pt")
        pdf.footer_text = safe_text(title)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=MARGIN)
        pdf.set_title(safe_text(title))
        pdf.set_author(safe_text(branding.company_name))
        pdf.set_creator("alarmhub")
        pdf.add_page()
        self.pdf = pdf

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def money(self, amount: Decimal) -> str:
        return safe_text(format_money(amount, self.currency))

    def font(self, size: float = 10, style: str = "", color: tuple[int, int, int] = INK) -> None:
        self.pdf.set_font(FONT, style, size)
        self.pdf.set_text_color(*color)

    def text(self, text: str, *, size: float = 10, style: str = "", color: tuple[int, int, int] = INK) -> None:
        """A paragraph across the page (wrapped; line breaks kept)."""
        if text.strip():
            self.font(size, style, color)
            self.block(MARGIN, self.width, safe_text(text), size * 1.35)
            self.pdf.set_x(MARGIN)

    def block(self, x: float, width: float, text: str, height: float, align: Align = Align.L) -> None:
        """`text` wrapped to `width` at (x, the current y), line by line; y ends below it."""
        pdf = self.pdf
        for line in self._wrap(text, width):
            if pdf.will_page_break(height):
                pdf.add_page()
            pdf.set_xy(x, pdf.get_y())
            pdf.cell(width, height, line, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)

    def _wrap(self, text: str, width: float) -> list[str]:
        """The lines `text` takes in `width`; measuring first spares fpdf2's line breaker (the costly part of a
        document) for what fits on one line."""
        if "\n" not in text and self.pdf.get_string_width(text) <= width:
            return [text]
        lines = self.pdf.multi_cell(width, LINE, text, dry_run=True, output=MethodReturnValue.LINES)
        assert isinstance(lines, list)
        return [str(line) for line in lines] or [""]

    def gap(self, points: float = 10) -> None:
        self.pdf.ln(points)

    def header(self, branding: Branding, title: str, facts: Sequence[tuple[str, str]]) -> None:
        """The company on the left, the document's title and its facts (label, value) on the right."""
        pdf = self.pdf
        top = pdf.get_y()
        left = self.width * 0.55
        self.font(16, "B", ACCENT)
        self.block(MARGIN, left - 12, safe_text(branding.company_name), 20)
        self.font(9, "", MUTED)
        for part in (branding.address, f"Phone {branding.phone}" if branding.phone else "", branding.licence_text):
            if part.strip():
                self.block(MARGIN, left - 12, safe_text(part), 12)
        below_company = pdf.get_y()

        right = self.width - left
        x = MARGIN + left
        pdf.set_xy(x, top)
        self.font(20, "B", INK)
        pdf.cell(right, 24, safe_text(title), align=Align.R, new_x=XPos.LEFT, new_y=YPos.NEXT)
        for label, value in facts:
            row = pdf.get_y()
            self.font(9, "", MUTED)
            pdf.set_xy(x, row)
            pdf.cell(right * 0.4, LINE, safe_text(label))
            self.font(10, "B", INK)
            pdf.set_xy(x + right * 0.4, row)
            self.block(x + right * 0.4, right * 0.6, safe_text(value), LINE, Align.R)
        pdf.set_xy(MARGIN, max(below_company, pdf.get_y()) + 18)

    def heading(self, text: str) -> None:
        self.gap(6)
        self.text(text, size=11, style="B", color=ACCENT)
        self.gap(2)

    def rows(
        self, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float], numeric: int = 1
    ) -> None:
        """A table; the last `numeric` columns hold amounts (right-aligned). Long text wraps in its column; a row
        that would cross the page's end starts a new page, headings repeated. Drawn with plain cells: fpdf2's
        table() costs several times as much, and the receipts job may draw thousands."""
        scale = self.width / sum(widths)
        columns = [width * scale for width in widths]
        aligns = [Align.L] * (len(columns) - numeric) + [Align.R] * numeric
        self._row(headings, columns, aligns, heading=True)
        for values in rows:
            self._row(values, columns, aligns, heading=False, repeat=headings)
        self.gap(4)

    def _row(
        self,
        values: Sequence[str],
        columns: Sequence[float],
        aligns: Sequence[Align],
        *,
        heading: bool,
        repeat: Sequence[str] = (),
    ) -> None:
        pdf = self.pdf
        if heading:
            self.font(9, "B", MUTED)
        else:
            self.font(9)
        cells = [self._wrap(safe_text(value), width - 2 * PAD) for value, width in zip(values, columns, strict=True)]
        height = max(len(lines) for lines in cells) * LINE + 2 * PAD
        if repeat and pdf.will_page_break(height):
            pdf.add_page()
            self._row(repeat, columns, aligns, heading=True)
            self.font(9)
        top, x = pdf.get_y(), MARGIN
        for lines, width, align in zip(cells, columns, aligns, strict=True):
            for number, line in enumerate(lines):
                pdf.set_xy(x + PAD, top + PAD + number * LINE)
                pdf.cell(width - 2 * PAD, LINE, line, align=align)
            x += width
        pdf.set_draw_color(*RULE)
        pdf.line(MARGIN, top + height, MARGIN + self.width, top + height)
        pdf.set_xy(MARGIN, top + height)

    def sums(self, sums: Sequence[tuple[str, str, bool]]) -> None:
        """Label and amount pairs flush right (a total, a balance); the bold ones stand out."""
        pdf = self.pdf
        label_width, amount_width = self.width * 0.35, self.width * 0.2
        for label, amount, strong in sums:
            pdf.set_x(MARGIN + self.width - label_width - amount_width)
            self.font(11 if strong else 10, "B" if strong else "", INK if strong else MUTED)
            pdf.cell(label_width, LINE + 2, safe_text(label), align=Align.R, new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.font(11 if strong else 10, "B" if strong else "", INK)
            pdf.cell(amount_width, LINE + 2, safe_text(amount), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    @contextmanager
    def boxed(self, color: tuple[int, int, int]) -> Iterator[None]:
        """A framed block (the remittance slip): a line above it marks where to cut."""
        pdf = self.pdf
        if pdf.will_page_break(120):
            pdf.add_page()
        self.gap(8)
        pdf.set_draw_color(*color)
        pdf.set_dash_pattern(dash=3, gap=3)
        pdf.line(MARGIN, pdf.get_y(), MARGIN + self.width, pdf.get_y())
        pdf.set_dash_pattern()
        self.gap(10)
        yield

    def output(self) -> bytes:
        return bytes(self.pdf.output())


_REASONS = {"payment": "Payment", "credit": "Credit applied", "refund": "Refunded", "void": "Returned to credit"}


def invoice_pdf(document: InvoiceDocument, branding: Branding, *, currency: str = "USD") -> bytes:
    """The invoice as a PDF: the company, the customer, the charges, what was paid, the balance and how to pay."""
    sheet = _Sheet(branding, f"Invoice {document.number}", currency)
    facts = [("Invoice number", document.number), ("Issued", long_date(document.issued_on))]
    facts.append(("Due", long_date(document.due_on)))
    if document.period is not None:
        facts.append(("Period", month_name(document.period)))
    if document.accounts:
        facts.append(("Account" if len(document.accounts) == 1 else "Accounts", ", ".join(document.accounts)))
    facts.append(("Status", document.status.value.capitalize()))
    sheet.header(branding, "INVOICE", facts)

    sheet.text("Bill to", size=9, color=MUTED)
    sheet.text(document.customer_name, size=11, style="B")
    sheet.text(document.billing_address)
    if document.description:
        sheet.gap(6)
        sheet.text(document.description)
    if document.status is InvoiceStatus.VOID:
        sheet.gap(6)
        sheet.text(f"VOID: {document.void_reason}", size=12, style="B", color=WARNING)
        sheet.text("This invoice was cancelled; nothing is owed on it.", color=WARNING)

    sheet.heading("Charges")
    sheet.rows(
        ("Description", "Amount"),
        [(line.description, sheet.money(line.amount)) for line in document.lines],
        (4, 1),
    )
    if document.applied:
        sheet.heading("Payments and credits")
        sheet.rows(
            ("Date", "Receipt", "", "Amount"),
            [
                (
                    long_date(money.applied_on),
                    money.payment_number,
                    _REASONS.get(money.reason, money.reason),
                    sheet.money(money.amount),
                )
                for money in document.applied
            ],
            (1.4, 1.2, 1.4, 1),
        )
    sheet.sums(
        (
            ("Total", sheet.money(document.total), False),
            ("Paid", sheet.money(document.paid), False),
            ("Balance due", sheet.money(document.balance), True),
        )
    )

    if document.balance > 0:
        with sheet.boxed(MUTED):
            sheet.text("Remit payment to", size=11, style="B", color=ACCENT)
            sheet.text(f"{branding.company_name}\n{branding.remittance_address}", size=10)
            sheet.gap(4)
            sheet.text(
                f"Please write invoice number {document.number} on your cheque and include this slip. "
                f"Amount due: {sheet.money(document.balance)} by {long_date(document.due_on)}.",
                size=9,
                color=MUTED,
            )
            sheet.gap(6)
            sheet.text(f"Pay online at {branding.public_url}/billing", size=10, style="B")
    return sheet.output()


def receipt_pdf(document: ReceiptDocument, branding: Branding, *, currency: str = "USD") -> bytes:
    """The receipt of a payment as a PDF: what was paid, how, and where the money went."""
    sheet = _Sheet(branding, f"Receipt {document.number}", currency)
    facts = [
        ("Receipt number", document.number),
        ("Date", long_date(document.settled_on)),
        ("Paid with", document.method_label),
        ("Amount", sheet.money(document.amount)),
    ]
    if document.source == "autopay":
        facts.append(("Paid by", "Autopay"))
    sheet.header(branding, "RECEIPT", facts)
    if document.sandbox:
        sheet.text(SANDBOX_LINE, size=14, style="B", color=WARNING)
        sheet.text("This payment went through the payment sandbox: no real money was charged.", color=WARNING)
        sheet.gap(6)

    sheet.text("Received from", size=9, color=MUTED)
    sheet.text(document.customer_name, size=11, style="B")
    sheet.text(document.billing_address)

    sheet.heading("How your payment was applied")
    rows = [(f"Invoice {line.invoice_number}", sheet.money(line.amount)) for line in document.applied]
    if document.credit:
        rows.append(("Credit on your account", sheet.money(document.credit)))
    if document.refunded:
        rows.append(("Refunded", sheet.money(document.refunded)))
    sheet.rows(("Applied to", "Amount"), rows, (4, 1))
    sheet.sums((("Total paid", sheet.money(document.amount), True),))
    if document.refunds:
        sheet.heading("Refunds")
        sheet.rows(
            ("Date", "Status", "Amount"),
            [
                (long_date(r.refunded_on) if r.refunded_on else "in progress", r.status, sheet.money(r.amount))
                for r in document.refunds
            ],
            (2, 2, 1),
        )
    sheet.gap(10)
    sheet.text(f"Thank you for your payment. Your receipts: {branding.public_url}/billing/receipts", color=MUTED)
    return sheet.output()
