"""Issuing a certificate: what it states, its PDF read back, the premises that cannot have one, scoping, repeats."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from pypdf import PdfReader

from shared.branding import Branding
from shared.certificates.issue import (
    issue_certificate,
    list_certificates,
    revoke_certificate,
    stored_pdf,
)
from shared.certificates.model import Certificate
from shared.enrolment import add_panel, set_monitored_services
from shared.errors import DomainError, NotFound
from tests.shared.certificates.setup import Enrolled, alarm, enrol, second_premises

BRAND = Branding(
    company_name="Alert Monitoring Co",
    logo_text="Alert",
    phone="555-0100",
    address="1 Central Station Way, Springfield",
    remittance_address="PO Box 9, Springfield",
    licence_text="Alarm monitoring licence ALM-4711, State Alarm Board",
    public_url="https://portal.example.com",
)
ZONE = "America/Chicago"


async def issue(
    connection: asyncpg.Connection, customer: Enrolled, site_id: int | None = None, days: int = 365
) -> Certificate:
    return await issue_certificate(
        connection, customer.scope, BRAND, site_id=site_id or customer.site_id, valid_days=days, timezone=ZONE
    )


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_the_certificate_states_the_premises_and_its_pdf_says_so(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1", services=("burglary",))
        await add_panel(connection, site_id=alpha.site_id, account="D4D4", monitored_services=["burglary"])
        await alarm(connection, alpha, "fire")
        await connection.execute("UPDATE panels SET created_at = '2019-03-04 12:00+00' WHERE id = $1", alpha.panel_id)
        certificate = await issue(connection, alpha, days=30)
        row = await connection.fetchrow("SELECT * FROM insurance_certificates WHERE id = $1", certificate.id)

    s = certificate.statement
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    assert (s.customer_name, s.premises_name, s.premises_address) == (
        "Customer alpha",
        "Premises",
        "alpha Street 1, Springfield",
    )
    assert s.accounts == ("A1A1", "D4D4")
    assert s.services == ("Burglary / intrusion", "Fire")
    assert s.monitoring_since == date(2019, 3, 4)  # the premises' first panel
    assert s.issued_on == today and s.valid_until == today + timedelta(days=30)
    assert certificate.state(today) == "valid" and certificate.revoked_at is None
    # What is stored is what was stated, beside the PDF.
    assert row["verification_code"] == s.verification_code and row["accounts"] == ["A1A1", "D4D4"]
    assert row["services"] == ["Burglary / intrusion", "Fire"] and row["customer_id"] == alpha.customer_id

    text = text_of(row["pdf"])
    for expected in (
        "Certificate of Alarm Monitoring",
        "Alert Monitoring Co",
        "1 Central Station Way, Springfield",
        "Alarm monitoring licence ALM-4711, State Alarm Board",
        "Customer alpha",
        "alpha Street 1, Springfield",
        "A1A1",
        "D4D4",
        "Burglary / intrusion",
        "Fire",
        "March 4, 2019",
        f"{today:%B} {today.day}, {today.year}",
        s.verification_code,
        f"https://portal.example.com/verify/{s.verification_code}",
    ):
        assert expected in text, expected
    assert "Medical" not in text and "Water" not in text


async def test_another_customers_premises_is_not_found(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        with pytest.raises(NotFound) as caught:
            await issue(connection, beta, site_id=alpha.site_id)
        assert caught.value.field == "site_id"
        assert await connection.fetchval("SELECT count(*) FROM insurance_certificates") == 0


async def test_premises_without_a_panel_address_or_service_cannot_be_certified(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1", services=())
        empty_site, _ = await second_premises(connection, alpha, "Empty lot", None)
        with pytest.raises(DomainError, match="Empty lot has no alarm panel") as no_panel:
            await issue(connection, alpha, site_id=empty_site)
        with pytest.raises(DomainError, match="no record yet of what Premises is monitored for") as no_service:
            await issue(connection, alpha)
        await alarm(connection, alpha, "burglary")  # once it has sent a burglary alarm, that is on record
        await connection.execute("UPDATE sites SET address = '' WHERE id = $1", alpha.site_id)
        with pytest.raises(DomainError, match="no address on file") as no_address:
            await issue(connection, alpha)
        assert await connection.fetchval("SELECT count(*) FROM insurance_certificates") == 0
    assert no_panel.value.field == no_service.value.field == no_address.value.field == "site_id"
    assert "555-0100" in no_panel.value.message  # whom to call


async def test_once_staff_record_what_an_older_panel_is_monitored_for_it_can_be_certified(db: asyncpg.Pool) -> None:
    """The refusal says "call us … so we can add it": set_monitored_services is how staff add it."""
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1", services=())  # enrolled before the question was asked
        beta = await enrol(connection, "beta", "B2B2", services=("fire",))
        with pytest.raises(DomainError, match="so we can add it"):
            await issue(connection, alpha)
        with pytest.raises(DomainError, match="'unicorn' is not a service") as unknown:
            await set_monitored_services(connection, alpha.scope, alpha.panel_id, ["fire", "unicorn"])
        assert unknown.value.field == "monitored_services"
        with pytest.raises(NotFound):  # another customer's panel: nothing of it changes
            await set_monitored_services(connection, alpha.scope, beta.panel_id, ["burglary"])
        assert await connection.fetchval("SELECT monitored_services FROM panels WHERE id = $1", beta.panel_id) == [
            "fire"
        ]

        panel = await set_monitored_services(connection, alpha.scope, alpha.panel_id, [" Fire", "burglary", "fire"])
        assert (panel.account, panel.services) == ("A1A1", ["burglary", "fire"])
        certificate = await issue(connection, alpha)
        assert certificate.statement.services == ("Burglary / intrusion", "Fire")
        cleared = await set_monitored_services(connection, alpha.scope, alpha.panel_id, [])
        assert cleared.services == []
        assert await connection.fetchval("SELECT monitored_services FROM panels WHERE id = $1", alpha.panel_id) == []


async def test_a_repeated_request_gives_the_same_certificate_until_something_changes(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        first = await issue(connection, alpha)
        again = await issue(connection, alpha)
        assert again.id == first.id  # a double click: one certificate, one code
        await alarm(connection, alpha, "fire")  # now it certifies more
        more = await issue(connection, alpha)
        await revoke_certificate(connection, alpha.scope, more.id, timezone=ZONE)
        after_revoke = await issue(connection, alpha)
        codes = await connection.fetchval("SELECT count(DISTINCT verification_code) FROM insurance_certificates")
    assert more.id != first.id and more.statement.services == ("Burglary / intrusion", "Fire")
    assert after_revoke.id not in (first.id, more.id)
    assert codes == 3


async def test_concurrent_requests_make_one_certificate(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")

    async def request() -> int:
        async with db.acquire() as connection:
            return (await issue(connection, alpha)).id

    ids = await asyncio.gather(request(), request(), request())
    assert len(set(ids)) == 1
    assert await db.fetchval("SELECT count(*) FROM insurance_certificates") == 1


async def test_lists_pdfs_and_revocation_are_scoped(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        shed_site, _ = await second_premises(connection, alpha, "Shed", "C3C3", services=("fire",))
        home = await issue(connection, alpha)
        shed = await issue(connection, alpha, site_id=shed_site)
        theirs = await issue(connection, beta)

        listed = await list_certificates(connection, alpha.scope, timezone=ZONE)
        certificate, pdf = await stored_pdf(connection, alpha.scope, home.id, timezone=ZONE)
        with pytest.raises(NotFound):
            await stored_pdf(connection, beta.scope, home.id, timezone=ZONE)
        with pytest.raises(NotFound):
            await revoke_certificate(connection, beta.scope, home.id, timezone=ZONE)
        revoked = await revoke_certificate(connection, alpha.scope, shed.id, timezone=ZONE)
        twice = await revoke_certificate(connection, alpha.scope, shed.id, timezone=ZONE)
        home_after = await connection.fetchval("SELECT revoked_at FROM insurance_certificates WHERE id = $1", home.id)

    assert [c.id for c in listed] == [shed.id, home.id]  # newest first, beta's not among them
    assert theirs.id not in [c.id for c in listed]
    assert certificate == home and pdf.startswith(b"%PDF") and "Customer alpha" in text_of(pdf)
    assert revoked.state(date.today()) == "revoked" and twice.revoked_at == revoked.revoked_at
    assert home_after is None  # beta's attempt changed nothing
