"""How a registering customer proves the account is theirs: the security system's code now; invoices add theirs."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.db import Connection

Verify = Callable[[Connection, int, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class OwnershipProof:
    """One way to prove ownership: a label and help for the form, and a check against the customer's records."""

    method: str
    label: str
    help: str
    verify: Verify


@dataclass(slots=True)
class OwnershipProofs:
    """The proofs the registration form offers; the billing feature adds "invoice number" when invoices exist."""

    proofs: list[OwnershipProof] = field(default_factory=list)

    def add(self, proof: OwnershipProof) -> None:
        self.proofs.append(proof)

    def get(self, method: str) -> OwnershipProof | None:
        return next((p for p in self.proofs if p.method == method), None)


def _normalise_code(code: str) -> bytes:
    return "".join(code.split()).upper().encode()


async def verify_security_code(connection: Connection, customer_id: int, offered: str) -> bool:
    stored = await connection.fetchval("SELECT security_code FROM customers WHERE id = $1", customer_id)
    if not stored or not offered:
        return False
    return hmac.compare_digest(_normalise_code(stored), _normalise_code(offered))


SECURITY_CODE = OwnershipProof(
    method="security_code",
    label="Security system code",
    help=(
        "The passcode on your monitoring agreement: the code you give our operators when they call you about an "
        "alarm. It is not your keypad code."
    ),
    verify=verify_security_code,
)
