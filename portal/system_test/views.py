"""The System test page: whether each premises is on test, starting a test (Permission.TEST_SYSTEM) for 1 to
dispatch.max_test_hours hours, ending it early, and the past tests (who asked, when, who ended them)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import Permission
from portal.auth.sessions import flash
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.call_list import premises_of
from shared.errors import DomainError
from shared.incidents import system_tests
from shared.incidents.system_tests import check_hours, end_test, start_test

routes = web.RouteTableDef()
TEMPLATE = "system_test/index.html"
HISTORY_ROWS = 50
DEFAULT_HOURS = 2


def max_hours(request: web.Request) -> int:
    hours: int = request.app[config_key]["dispatch.max_test_hours"]
    return hours


async def page_context(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection:
        premises = await premises_of(connection, scope)
        tests = await system_tests.tests_of(connection, scope, limit=HISTORY_ROWS)
        active = {test.site_id: test for test in await system_tests.active_tests(connection, scope)}
    return {
        "premises": premises,
        "premise_options": [(site.id, site.name) for site in premises],
        "active": [(site, active.get(site.id)) for site in premises],
        "past": [test for test in tests if not test.active],
        "may_test": viewer_of(request).may(Permission.TEST_SYSTEM),
        "max_hours": max_hours(request),
        "default_hours": DEFAULT_HOURS,
    }


@routes.get("/system-test", name="system_test")
@access(Access.CUSTOMER)
async def system_test_page(request: web.Request) -> web.StreamResponse:
    return await render(request, TEMPLATE, await page_context(request))


@routes.post("/system-test", name="system_test.start")
@access(Access.CUSTOMER, Permission.TEST_SYSTEM)
@form_view(TEMPLATE, page_context)
async def start(request: web.Request, form: Form) -> web.StreamResponse:
    scope = scope_of(request)
    fields = FieldErrors()
    site_id = parse_id(form.get("site_id"))
    with fields.check():
        if site_id is None:
            raise DomainError("choose the premises to put on test", field="site_id")
    with fields.check():
        hours = check_hours(form.get("hours"), max_hours(request))
    fields.raise_if_any()
    assert site_id is not None
    async with request.app[pool_key].acquire() as connection:
        test = await start_test(connection, scope, site_id, hours, max_hours=max_hours(request))
    flash(
        await get_session(request),
        f"{test.site_name} is on test for {hours} hour{'s' if hours != 1 else ''}: alarms from it are recorded but "
        "we will not respond to them until the test ends.",
    )
    raise redirect("/system-test")


@routes.post("/system-test/{site_id}/end", name="system_test.end")
@access(Access.CUSTOMER, Permission.TEST_SYSTEM)
@form_view(TEMPLATE, page_context)
async def end(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        test = await end_test(connection, scope_of(request), path_id(request, "site_id"))
    flash(await get_session(request), f"The test of {test.site_name} has ended: we respond to its alarms again.")
    raise redirect("/system-test")
