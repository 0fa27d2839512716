"""Access rules declared on each handler and enforced in one middleware; a route without a rule is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from portal.api.bearer import is_api_request, unauthenticated
from portal.auth.model import CustomerScope, Viewer
from portal.auth.rules import Access, Rule, access, rule_of
from portal.keys import scope_key, viewer_key
from shared.errors import Forbidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["Access", "Rule", "access", "access_middleware", "rule_of", "scope_of", "staff_scope", "viewer_of"]


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return await handler(request)  # 404/405: nothing to protect
    if isinstance(route.resource, web.StaticResource):
        return await handler(request)  # the stylesheet and friends: public by nature, and not a handler of ours
    rule = rule_of(route.handler)
    if rule is None:
        raise RuntimeError(f"route {route.resource.canonical} declares no access rule")
    if rule.access is Access.PUBLIC:
        return await handler(request)
    viewer = request.get(viewer_key)
    if viewer is None:
        if is_api_request(request):
            return unauthenticated(token_offered=False)  # an API client gets 401 JSON, never the login page
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther(f"/login?{urlencode({'next': target})}")
    if not rule.admits(viewer):
        raise Forbidden("your login does not give access to this page")
    if rule.access is Access.CUSTOMER:
        # The only place a customer user's scope is made: handlers of customer routes read it with scope_of.
        assert viewer.customer_id is not None  # a customer role always has one (CHECK in sql/0001)
        request[scope_key] = CustomerScope(customer_id=viewer.customer_id, user_id=viewer.user_id)
    return await handler(request)


def viewer_of(request: web.Request) -> Viewer:
    """The logged-in viewer of a route whose rule requires a login."""
    return request[viewer_key]


def scope_of(request: web.Request) -> CustomerScope:
    """The customer this request may touch, as the access middleware set it for a CUSTOMER route."""
    scope: CustomerScope | None = request.get(scope_key)
    if scope is None:
        raise RuntimeError(f"{request.match_info.route.resource} is not a CUSTOMER route: it has no customer scope")
    return scope


def staff_scope(request: web.Request, customer_id: int) -> CustomerScope:
    """Staff acting on one customer's record: the same scoped queries customers use, for the customer named."""
    viewer = request.get(viewer_key)
    rule = rule_of(request.match_info.route.handler)
    if viewer is None or not viewer.is_staff or rule is None or rule.access not in (Access.STAFF, Access.ADMIN):
        raise RuntimeError("staff_scope on a route that is not for staff")
    return CustomerScope(customer_id=customer_id, user_id=viewer.user_id, by_staff=True)


def check_routes_declare_access(app: web.Application) -> None:
    """At startup: every route except static files names who may call it."""
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource):
            continue
        if rule_of(route.handler) is None and route.method != "HEAD":
            raise RuntimeError(
                f"route {route.method} {route.resource.canonical if route.resource else ''} declares no access rule"
            )
