"""The customer scope: the one customer whose data a piece of work may read or change.

Every customer-data query takes a CustomerScope, never a bare customer id. The portal builds it in one place from
the request (the viewer's own customer for customer users; for staff, the customer a staff page names, after its
access rule admitted the staff login); the worker builds it for the customer a job is about.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """A customer id and who acts within it (a user id; None for the system itself, e.g. a worker job)."""

    customer_id: int
    user_id: int | None
    # True when staff act on a customer's record: pages may show staff-only details (e.g. the verbal passcode).
    by_staff: bool = False
