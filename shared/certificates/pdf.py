"""The insurance certificate as a PDF (fpdf2, core fonts): one Letter page an insurer files, with how to verify it."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from shared.billing.pdf import ACCENT, FONT, INK, MARGIN, MUTED, RULE, long_date, safe_text
from shared.branding import Branding
from shared.certificates.model import Statement

TITLE = "Certificate of Alarm Monitoring"
LABEL_SHARE = 0.32  # of the page's width: the labels' column
LINE = 15.0


class _Page:
    """The certificate's page: the company above, then labelled facts, then the verification box."""

    def __init__(self, branding: Branding) -> None:
        pdf = FPDF(format="letter", unit="pt")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=MARGIN)
        pdf.set_title(TITLE)
        pdf.set_author(safe_text(branding.company_name))
        pdf.set_creator("alarmhub")
        pdf.add_page()
        self.pdf = pdf
        self.width = float(pdf.epw)

    def font(self, size: float, style: str = "", color: tuple[int, int, int] = INK) -> None:
        self.pdf.set_font(FONT, style, size)
        self.pdf.set_text_color(*color)

    def text(self, text: str, *, size: float = 10, style: str = "", color: tuple[int, int, int] = INK) -> None:
        """A paragraph across the page, wrapped."""
        self.font(size, style, color)
        self.pdf.set_x(MARGIN)
        self.pdf.multi_cell(self.width, size * 1.4, safe_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rule(self, gap: float = 10) -> None:
        pdf = self.pdf
        pdf.ln(gap)
        pdf.set_draw_color(*RULE)
        pdf.line(MARGIN, pdf.get_y(), MARGIN + self.width, pdf.get_y())
        pdf.ln(gap)

    def fact(self, label: str, values: Sequence[str], *, strong: bool = False) -> None:
        """A label on the left, its value (one line per item) on the right."""
        pdf = self.pdf
        top = pdf.get_y()
        label_width = self.width * LABEL_SHARE
        self.font(10, "", MUTED)
        pdf.set_xy(MARGIN, top)
        pdf.cell(label_width, LINE, safe_text(label))
        self.font(11, "B" if strong else "", INK)
        for value in values or ("-",):
            pdf.set_x(MARGIN + label_width)
            pdf.multi_cell(self.width - label_width, LINE, safe_text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), top + LINE) + 5)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def certificate_pdf(statement: Statement, branding: Branding) -> bytes:
    """The certificate stating `statement`, issued by the monitoring company of `branding`."""
    page = _Page(branding)
    page.text(branding.company_name, size=16, style="B", color=ACCENT)
    for part in (branding.address, f"Phone {branding.phone}" if branding.phone else "", branding.licence_text):
        if part.strip():
            page.text(part, size=9, color=MUTED)
    page.rule(12)
    page.font(22, "B", INK)
    page.pdf.cell(page.width, 30, TITLE, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    page.pdf.ln(6)
    page.text(
        f"{branding.company_name} certifies that the premises named below are connected to its central station, "
        "which monitors the alarm system's signals around the clock and dispatches help when it reports an alarm.",
        size=10.5,
    )
    page.pdf.ln(12)
    accounts = statement.accounts
    page.fact("Customer", [statement.customer_name], strong=True)
    page.fact("Premises", [statement.premises_name])
    page.fact("Address", [statement.premises_address])
    page.fact("Account number" if len(accounts) == 1 else "Account numbers", list(accounts))
    page.fact("Services monitored", list(statement.services))
    page.fact("Monitoring since", [long_date(statement.monitoring_since)])
    page.fact("Date issued", [long_date(statement.issued_on)])
    page.fact("Valid until", [long_date(statement.valid_until)], strong=True)
    page.rule(10)
    page.text("Verify this certificate", size=11, style="B", color=ACCENT)
    page.text(
        f"Verification code: {statement.verification_code}\n"
        f"Check it at {branding.public_url}/verify/{statement.verification_code}",
        size=10.5,
    )
    page.text(
        "The page shows whether this certificate is genuine and still valid, for whom and for which premises. "
        "A certificate that was withdrawn or has expired says so there.",
        size=9,
        color=MUTED,
    )
    return page.output()
