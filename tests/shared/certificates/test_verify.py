"""The public check of a code: genuine and valid, expired or withdrawn (saying which), or no such certificate."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from shared.certificates.issue import issue_certificate, revoke_certificate
from shared.certificates.verify import verify_code
from tests.shared.certificates.setup import enrol
from tests.shared.certificates.test_issue import BRAND, ZONE


async def test_a_real_code_typed_any_way_is_genuine_with_whom_and_where(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        certificate = await issue_certificate(
            connection, alpha.scope, BRAND, site_id=alpha.site_id, valid_days=10, timezone=ZONE
        )
        code = certificate.statement.verification_code
        today = certificate.statement.issued_on
        found = await verify_code(connection, code.lower().replace("-", " "), today=today, timezone=ZONE)
        on_last_day = await verify_code(connection, code, today=today + timedelta(days=10), timezone=ZONE)
        expired = await verify_code(connection, code, today=today + timedelta(days=11), timezone=ZONE)
        await revoke_certificate(connection, alpha.scope, certificate.id, timezone=ZONE)
        revoked = await verify_code(connection, code, today=today, timezone=ZONE)

    assert found is not None and found.state == "valid" and found.code == code
    assert (found.customer_name, found.premises_name, found.premises_address) == (
        "Customer alpha",
        "Premises",
        "alpha Street 1, Springfield",
    )
    assert found.issued_on == today and found.valid_until == today + timedelta(days=10)
    assert on_last_day is not None and on_last_day.state == "valid"
    assert expired is not None and expired.state == "expired"
    assert revoked is not None and revoked.state == "revoked" and revoked.revoked_on is not None
    # Nothing but whom and where: no accounts, services or ids to learn from a code.
    assert set(found.__slots__) == {
        "code",
        "customer_name",
        "premises_name",
        "premises_address",
        "issued_on",
        "valid_until",
        "revoked_on",
        "state",
    }


async def test_a_forged_or_malformed_code_is_no_certificate(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        certificate = await issue_certificate(
            connection, alpha.scope, BRAND, site_id=alpha.site_id, valid_days=10, timezone=ZONE
        )
        real = certificate.statement.verification_code
        forged = ("2" if real[0] != "2" else "3") + real[1:]
        for code in (forged, "", "ABCD", real + "A", "SWEEP-A1A1-CODE", "' OR 1=1 --"):
            assert await verify_code(connection, code, today=date.today(), timezone=ZONE) is None, code
