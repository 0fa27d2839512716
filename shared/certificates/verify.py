"""The public check of a certificate by its verification code: genuine or not, and for whom — nothing else.

This is the one lookup of certificates without a CustomerScope: the code itself is the credential (80 random bits,
shared/certificates/codes.py), and the answer repeats only what the certificate's holder already printed on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from shared.certificates.codes import normalise_code
from shared.certificates.model import State
from shared.db import Connection


@dataclass(frozen=True, slots=True)
class Verification:
    """What an insurer learns from a code: whose certificate, for which premises, when, and whether it still holds."""

    code: str
    customer_name: str
    premises_name: str
    premises_address: str
    issued_on: date
    valid_until: date
    revoked_on: date | None
    state: State


async def verify_code(connection: Connection, code: str, *, today: date, timezone: str) -> Verification | None:
    """The certificate issued with `code` (typed in any case, with or without dashes), or None: no such code."""
    normal = normalise_code(code)
    if normal is None:
        return None
    row = await connection.fetchrow(
        "SELECT customer_name, premises_name, premises_address, issued_at, valid_until, revoked_at "
        "FROM insurance_certificates WHERE verification_code = $1",
        normal,
    )
    if row is None:
        return None
    zone = ZoneInfo(timezone)
    revoked_on = row["revoked_at"].astimezone(zone).date() if row["revoked_at"] is not None else None
    state: State = "revoked" if revoked_on is not None else "expired" if today > row["valid_until"] else "valid"
    return Verification(
        code=normal,
        customer_name=row["customer_name"],
        premises_name=row["premises_name"],
        premises_address=row["premises_address"],
        issued_on=row["issued_at"].astimezone(zone).date(),
        valid_until=row["valid_until"],
        revoked_on=revoked_on,
        state=state,
    )
