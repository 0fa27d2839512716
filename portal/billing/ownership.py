"""Registration by invoice number (C1): an invoice of the account proves that the person registering is the customer."""

from __future__ import annotations

from portal.accounts.ownership import OwnershipProof
from shared.billing.invoices import invoice_number_belongs
from shared.db import Connection

_LONGEST = 40  # far beyond any number we issue; a longer text is not worth a query


def compact_invoice_number(offered: str) -> str | None:
    """What a person typed, without the spaces people copy numbers with ("INV - 10023"); None when it cannot be
    one of ours. The invoices module folds case and the missing "INV-" prefix."""
    compact = "".join(offered.split())
    if not compact or len(compact) > _LONGEST or not compact.isascii():
        return None
    return compact


async def verify_invoice_number(connection: Connection, customer_id: int, offered: str) -> bool:
    """Whether a non-void invoice of this customer carries the number.

    The register page answers a failure with one message for account and proof together, so nothing tells which
    of the two was wrong; the registration throttle counts the failures (invoice numbers come from a sequence).
    """
    number = compact_invoice_number(offered)
    if number is None:
        return False
    return await invoice_number_belongs(connection, customer_id, number)


INVOICE_NUMBER = OwnershipProof(
    method="invoice_number",
    label="Invoice number",
    help=(
        'The number at the top of any invoice we sent you, for example "INV-10023". An invoice of this account '
        "proves it is yours; a voided invoice does not count."
    ),
    verify=verify_invoice_number,
)
