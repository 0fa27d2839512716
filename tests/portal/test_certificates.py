"""The Insurance Certificate page: request, download and the PDF read back; scoping; the public verification page;
the staff record's section, download and withdrawal."""

from __future__ import annotations

import io
import re

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from pypdf import PdfReader

from portal.app import create_app
from shared.config import Config
from shared.enrolment import add_panel, add_site
from tests.portal.conftest import Customer, Portal

CODE = re.compile(r"[2-9A-HJ-NP-Z]{4}(?:-[2-9A-HJ-NP-Z]{4}){3}")


async def enrolled_for_burglary(db: asyncpg.Pool, *customers: Customer) -> None:
    for customer in customers:
        await db.execute("UPDATE panels SET monitored_services = '{burglary}' WHERE id = $1", customer.panel_id)


async def request_certificate(portal: Portal, site_id: int) -> tuple[int, str]:
    """Request one; the id the redirect highlights and the code shown on the page."""
    await portal.get("/service/certificates")
    response = await portal.post("/service/certificates", {"site_id": str(site_id)}, allow_redirects=False)
    assert response.status == 303, await response.text()
    match = re.fullmatch(r"/service/certificates\?new=(\d+)#certificate-\d+", response.headers["Location"])
    assert match, response.headers["Location"]
    certificate_id = int(match.group(1))
    page = await (await portal.get(response.headers["Location"])).text()
    row = re.search(rf'<tr id="certificate-{certificate_id}">(.*?)</tr>', page, re.S)
    assert row and "new" in row.group(1)
    code = CODE.search(row.group(1))
    assert code
    return certificate_id, code.group(0)


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


async def test_request_then_download_the_pdf_naming_the_customer(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/service/certificates")).text()
    # The button reads as seed 002 says it: Select "Request Insurance Certificate".
    assert ">Request Insurance Certificate</button>" in page and "No certificates yet" in page
    assert "alpha Street 1" in page and "<select" not in page  # one premises: nothing to choose

    certificate_id, code = await request_certificate(portal, alpha.site_id)
    listed = await (await portal.get("/service/certificates")).text()
    assert code in listed and "Download" in listed and "No certificates yet" not in listed

    response = await portal.client.get(f"/service/certificates/{certificate_id}/pdf")
    assert response.status == 200 and response.content_type == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="insurance-certificate-premises-\d{4}-\d{2}-\d{2}\.pdf"', disposition)
    text = pdf_text(await response.read())
    for expected in ("Certificate of Alarm Monitoring", "Customer alpha", "alpha Street 1", alpha.account, code):
        assert expected in text, expected
    assert "Burglary / intrusion" in text and f"/verify/{code}" in text
    stored = await db.fetchval("SELECT pdf FROM insurance_certificates WHERE id = $1", certificate_id)
    assert bytes(stored) == await response.read()  # the PDF as issued, not drawn again


async def test_a_secondary_user_may_request_and_download_too(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.secondary_email)
    certificate_id, _ = await request_certificate(portal, alpha.site_id)
    assert (await portal.client.get(f"/service/certificates/{certificate_id}/pdf")).status == 200
    requested_by = await db.fetchval("SELECT requested_by FROM insurance_certificates WHERE id = $1", certificate_id)
    assert requested_by == alpha.secondary_id


async def test_another_customers_certificate_and_premises_are_not_found(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await enrolled_for_burglary(db, alpha, beta)
    await portal.login(alpha.owner_email)
    alphas, code = await request_certificate(portal, alpha.site_id)
    await portal.logout()
    for who in (beta.owner_email, beta.secondary_email):
        await portal.login(who)
        response = await portal.get(f"/service/certificates/{alphas}/pdf")
        assert response.status == 404 and "Customer alpha" not in await response.text()
        page = await (await portal.get("/service/certificates")).text()
        assert code not in page and "Customer alpha" not in page and "alpha Street" not in page
        refused = await portal.post("/service/certificates", {"site_id": str(alpha.site_id)})
        assert refused.status == 404 and "alpha Street" not in await refused.text()
        await portal.logout()
    assert await db.fetchval("SELECT count(*) FROM insurance_certificates") == 1


async def test_several_premises_are_chosen_from_and_errors_show_by_the_field(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    async with db.acquire() as connection:
        cabin = await add_site(connection, customer_id=alpha.customer_id, name="Cabin", address="3 Lake Road")
        await add_panel(connection, site_id=cabin, account="CAB1", monitored_services=["fire"])
        lot = await add_site(connection, customer_id=alpha.customer_id, name="Empty lot", address="9 Field Lane")
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/service/certificates")).text()
    assert '<select id="f-site_id" name="site_id"' in page
    assert "Cabin — 3 Lake Road" in page and "Premises — alpha Street 1" in page
    assert f'value="{lot}"' not in page and "Empty lot (9 Field Lane): no alarm panel on file yet" in page

    unchosen = await portal.post("/service/certificates", {"site_id": ""})
    assert unchosen.status == 400
    assert 'id="f-site_id-error">Choose the premises to certify' in await unchosen.text()
    no_panel = await portal.post("/service/certificates", {"site_id": str(lot)})
    assert no_panel.status == 400
    assert "Empty lot has no alarm panel on file yet" in await no_panel.text()

    certificate_id, _ = await request_certificate(portal, cabin)
    row = await db.fetchrow("SELECT * FROM insurance_certificates WHERE id = $1", certificate_id)
    assert row["premises_name"] == "Cabin" and row["accounts"] == ["CAB1"] and row["services"] == ["Fire"]


async def test_the_verify_page_answers_for_a_real_code_only(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.owner_email)
    _, code = await request_certificate(portal, alpha.site_id)

    # An insurer, not logged in.
    genuine = await other_portal.get(f"/verify/{code}")
    text = await genuine.text()
    assert genuine.status == 200 and "<h1>Genuine certificate</h1>" in text and "It is valid" in text
    assert "Customer alpha" in text and "alpha Street 1" in text
    assert genuine.headers["X-Robots-Tag"].startswith("noindex")
    for private in (alpha.account, "Burglary", alpha.owner_email, "security"):
        assert private not in text, private  # whom and where, nothing else

    typed = await other_portal.get(f"/verify?code={code.lower().replace('-', '+')}", allow_redirects=False)
    assert typed.status == 303 and typed.headers["Location"] == f"/verify/{code}"

    forged = code[:-1] + ("2" if code[-1] != "2" else "3")
    for wrong in (forged, "not-a-code", "SWEEP-A1A1-CODE"):
        refused = await other_portal.get(f"/verify/{wrong}")
        text = await refused.text()
        assert refused.status == 404 and "No certificate with this code" in text, wrong
        assert "Customer alpha" not in text and "Genuine" not in text
    assert "<script" not in await (await other_portal.get("/verify/%3Cscript%3E")).text()

    form = await other_portal.get("/verify")
    assert form.status == 200 and 'name="code"' in await form.text()


async def test_the_verify_page_heads_an_expired_certificate_as_expired(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.owner_email)
    certificate_id, code = await request_certificate(portal, alpha.site_id)
    await db.execute(
        "UPDATE insurance_certificates SET issued_at = now() - interval '400 days', valid_until = current_date - 35 "
        "WHERE id = $1",
        certificate_id,
    )
    page = await other_portal.get(f"/verify/{code}")
    text = await page.text()
    assert page.status == 200  # a genuine code all the same
    assert "<h1>Expired certificate</h1>" in text and "It has expired" in text
    assert "Genuine certificate" not in text and "It is valid" not in text


async def test_an_address_guessing_codes_is_refused_for_a_while_a_genuine_code_costs_nothing(
    config: Config, database_url: str, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    strict = config.with_overrides(portal__address_max_failures=3)
    async with TestClient(TestServer(create_app(strict, database_url))) as client:
        owner, insurer = Portal(client), Portal(client)
        await owner.login(alpha.owner_email)
        _, code = await request_certificate(owner, alpha.site_id)
        for _ in range(5):  # genuine lookups are taken back: they never count
            assert (await insurer.get(f"/verify/{code}")).status == 200
        for guess in ("AAAA-BBBB-CCCC-DDDD", "AAAA-BBBB-CCCC-DDDE", "AAAA-BBBB-CCCC-DDDF"):
            assert (await insurer.get(f"/verify/{guess}")).status == 404
        refused = await insurer.get("/verify/AAAA-BBBB-CCCC-DDDG")
        assert refused.status == 429 and "too many attempts" in (await refused.text()).lower()
        assert (await insurer.get(f"/verify/{code}")).status == 429  # the address waits, whatever it asks
    assert await db.fetchval("SELECT count(*) FROM auth_failures WHERE action = 'verify' AND scope = 'address'") == 3


async def test_staff_see_download_and_withdraw_certificates_and_the_verify_page_says_so(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.owner_email)
    certificate_id, code = await request_certificate(portal, alpha.site_id)
    await portal.logout()

    await portal.login("dispatcher@example.com")
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    assert "Insurance certificates" in record and code in record
    download = await portal.client.get(f"/staff/customers/{alpha.customer_id}/certificates/{certificate_id}/pdf")
    assert download.status == 200 and code in pdf_text(await download.read())
    # The certificate under another customer's record: not found.
    wrong = f"/staff/customers/{beta.customer_id}/certificates/{certificate_id}"
    assert (await portal.get(f"{wrong}/pdf")).status == 404
    assert (await portal.post(f"{wrong}/revoke")).status == 404
    assert await db.fetchval("SELECT revoked_at FROM insurance_certificates") is None

    withdrawn = await portal.post(
        f"/staff/customers/{alpha.customer_id}/certificates/{certificate_id}/revoke", allow_redirects=False
    )
    assert withdrawn.status == 303
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    assert f"Certificate {code} is withdrawn" in record and "withdrawn</span>" in record

    page = await other_portal.get(f"/verify/{code}")
    text = await page.text()
    assert page.status == 200 and "<h1>Withdrawn certificate</h1>" in text and "It was withdrawn on" in text
    assert "It is valid" not in text and "Genuine certificate" not in text


async def test_customers_cannot_use_the_staff_certificate_routes(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await enrolled_for_burglary(db, alpha)
    await portal.login(alpha.owner_email)
    certificate_id, _ = await request_certificate(portal, alpha.site_id)
    base = f"/staff/customers/{alpha.customer_id}/certificates/{certificate_id}"
    assert (await portal.get(f"{base}/pdf")).status == 403
    assert (await portal.post(f"{base}/revoke")).status == 403
    assert await db.fetchval("SELECT revoked_at FROM insurance_certificates") is None


async def test_the_service_center_is_the_current_top_menu_entry_on_the_certificate_page(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    text = await (await portal.get("/service/certificates")).text()
    assert 'aria-current="page">Service Center<' in text
    assert 'aria-current="page">Billing Center<' not in text
