"""What a certificate is: the statement it makes as issued, and the issued certificate with its state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

State = Literal["valid", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class Statement:
    """What a certificate states, as issued: printed on its PDF and kept beside it."""

    customer_name: str
    premises_name: str
    premises_address: str
    accounts: tuple[str, ...]
    services: tuple[str, ...]
    monitoring_since: date
    issued_on: date
    valid_until: date
    verification_code: str


@dataclass(frozen=True, slots=True)
class Certificate:
    """An issued certificate: its statement, when it was issued and, once withdrawn, when."""

    id: int
    site_id: int | None
    statement: Statement
    issued_at: datetime
    revoked_at: datetime | None

    def state(self, today: date) -> State:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if today > self.statement.valid_until else "valid"
