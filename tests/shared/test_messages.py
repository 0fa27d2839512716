"""Composing mail needs only a Config: subject, text and HTML parts in the company's look, from any process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.branding import Branding
from shared.config import load_config
from shared.messages import CONFIRM_EMAIL, INVITATION, PASSWORD_CHANGED, PASSWORD_RESET, compose

REPO = Path(__file__).resolve().parents[2]
BRAND = {
    "ALARMHUB_PORTAL_COMPANY_NAME": "Acme Alarms",
    "ALARMHUB_PORTAL_LOGO_TEXT": "ACME",
    "ALARMHUB_PORTAL_COMPANY_PHONE": "+1 555 0199",
    "ALARMHUB_PORTAL_COMPANY_ADDRESS": "9 Elm Road, Shelbyville",
    "ALARMHUB_PORTAL_PUBLIC_URL": "https://portal.acme.example/",
}
INVITED = {"name": "Zoë", "inviter": "Ann", "customer_name": "O'Brien & <Sons>", "token": "t0k", "days": 7}


def branding(**environ: str) -> Branding:
    return Branding.from_config(load_config(None, environ={**BRAND, **environ}))


def test_branding_reads_every_key_and_falls_back_for_the_remittance_address() -> None:
    brand = branding()
    assert (brand.company_name, brand.logo_text, brand.phone, brand.address) == (
        "Acme Alarms",
        "ACME",
        "+1 555 0199",
        "9 Elm Road, Shelbyville",
    )
    assert brand.public_url == "https://portal.acme.example"
    assert brand.remittance_address == brand.address and brand.licence_text == ""
    other = branding(ALARMHUB_PORTAL_REMITTANCE_ADDRESS="PO Box 7", ALARMHUB_PORTAL_LICENCE_TEXT="Licence ACO-12")
    assert (other.remittance_address, other.licence_text) == ("PO Box 7", "Licence ACO-12")
    bare = Branding.from_config(load_config(None, environ={"ALARMHUB_PORTAL_PORT": "9090"}))
    assert bare.public_url == "http://127.0.0.1:9090"


def test_the_html_part_is_branded_and_escaped_and_the_text_part_is_not_escaped() -> None:
    mail = compose(branding(), INVITATION, recipient="zoe@example.com", context=INVITED, user_id=42)
    assert (mail.recipient, mail.subject, mail.user_id) == (
        "zoe@example.com",
        "Ann invited you to the Acme Alarms portal",
        42,
    )
    assert "O'Brien & <Sons>" in mail.body and "https://portal.acme.example/invitation/t0k" in mail.body
    assert "&lt;" not in mail.body
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in mail.html and "<Sons>" not in mail.html
    assert ">ACME<" in mail.html and "9 Elm Road, Shelbyville" in mail.html and "+1 555 0199" in mail.html
    assert 'href="https://portal.acme.example/invitation/t0k"' in mail.html
    assert "<style" not in mail.html and "stylesheet" not in mail.html  # mail clients drop both: inline only


def test_every_kind_composes_with_its_context() -> None:
    context = {"name": "Ann", "token": "abc", "days": 7, "minutes": 60}
    for kind, path in (
        (CONFIRM_EMAIL, "/confirm/abc"),
        (PASSWORD_RESET, "/password/reset/abc"),
        (PASSWORD_CHANGED, "/password/forgot"),
    ):
        mail = compose(branding(), kind, recipient="ann@example.com", context=context)
        assert "Acme Alarms" in mail.subject and "\n" not in mail.subject
        assert path in mail.body and path in mail.html and "Acme Alarms" in mail.html


def test_a_line_break_in_a_name_cannot_reach_the_subject_as_a_header() -> None:
    mail = compose(branding(), INVITATION, recipient="z@example.com", context={**INVITED, "inviter": "Eve\r\nBcc: x"})
    assert "\r" not in mail.subject and "\n" not in mail.subject


def test_composing_needs_neither_aiohttp_nor_the_portal() -> None:
    # A plain coroutine with a Config, in a fresh interpreter: what the worker does for receipts and notices.
    script = """
import asyncio, sys
from shared.branding import Branding
from shared.config import load_config
from shared.messages import INVITATION, compose

async def main():
    config = load_config(None, environ={})
    context = {"name": "Zoë", "inviter": "Ann", "customer_name": "Acme", "token": "t", "days": 7}
    return compose(Branding.from_config(config), INVITATION, recipient="z@example.com", context=context)

mail = asyncio.run(main())
assert "Sentinel Monitoring" in mail.html, mail.html
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"aiohttp", "portal", "receiver"})
print(",".join(loaded))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
