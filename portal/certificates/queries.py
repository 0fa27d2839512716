"""SQL only the certificate pages need: the customer's premises to choose from, by CustomerScope."""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Connection
from shared.scope import CustomerScope


@dataclass(frozen=True, slots=True)
class Premises:
    site_id: int
    name: str
    address: str
    panels: int

    @property
    def label(self) -> str:
        return f"{self.name} — {self.address}" if self.address else self.name


async def premises_of(connection: Connection, scope: CustomerScope) -> list[Premises]:
    """The scope's premises, oldest first, with how many panels each has (a certificate needs one)."""
    rows = await connection.fetch(
        """SELECT s.id, s.name, s.address, (SELECT count(*) FROM panels p WHERE p.site_id = s.id) AS panels
             FROM sites s WHERE s.customer_id = $1 ORDER BY s.created_at, s.id""",
        scope.customer_id,
    )
    return [Premises(row["id"], row["name"], row["address"], row["panels"]) for row in rows]
