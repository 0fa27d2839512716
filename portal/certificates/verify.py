"""The insurer's check (public): /verify/{code} says whether a certificate is genuine, for whom and which premises."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from portal.accounts.login import client_address
from portal.accounts.throttle import Throttle
from portal.auth.access import Access, access
from portal.certificates.views import timezone_of, today_of
from portal.keys import config_key, pool_key
from portal.render import render
from shared.certificates.codes import normalise_code
from shared.certificates.verify import verify_code

routes = web.RouteTableDef()
NOINDEX = {"X-Robots-Tag": "noindex, nofollow"}  # a search engine has no business listing customers' names


@routes.get("/verify", name="certificates.verify_form")
@access(Access.PUBLIC)
async def verify_form(request: web.Request) -> web.StreamResponse:
    """The form to type a code; with ?code=… it goes to that code's page (dashes and case as typed do not matter)."""
    typed = request.query.get("code", "").strip()
    if typed:
        normal = normalise_code(typed)
        raise web.HTTPSeeOther(f"/verify/{normal or quote(typed[:40], safe='')}")
    response = await render(request, "certificates/verify.html", {"verification": None, "code": ""})
    response.headers.update(NOINDEX)
    return response


@routes.get("/verify/{code}", name="certificates.verify")
@access(Access.PUBLIC)
async def verify_page(request: web.Request) -> web.StreamResponse:
    """Genuine (valid, expired or withdrawn) with the customer and premises, or 404: no certificate with this code.

    Nothing else is ever shown: not the account numbers, services or anything of the customer's account. The code
    is 80 random bits, so answering "no such code" teaches a guesser nothing about the codes that exist.
    """
    code = request.match_info["code"]
    throttle = Throttle.from_config("verify", request.app[config_key])
    async with request.app[pool_key].acquire() as connection:
        # Counted before it is looked up, taken back when genuine: an address that keeps trying codes that do not
        # exist is refused (429) after portal.address_max_failures of them within portal.throttle_minutes.
        attempt = await throttle.attempt(
            connection, account=normalise_code(code) or code[:40], address=client_address(request)
        )
        verification = await verify_code(connection, code, today=today_of(request), timezone=timezone_of(request))
        if verification is not None:
            await attempt.succeeded(connection)
    # A code is shown back only in its own shape: the page never repeats arbitrary text from a link.
    context = {"verification": verification, "code": normalise_code(code) or ""}
    response = await render(request, "certificates/verify.html", context, status=200 if verification else 404)
    response.headers.update(NOINDEX)
    return response
