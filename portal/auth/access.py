"""Access rules declared on each handler and enforced in one middleware; a route without a rule is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from portal.auth.model import CustomerScope, Permission, Viewer
from portal.keys import viewer_key
from shared.errors import Forbidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])
_ATTRIBUTE = "__portal_access__"


class Access(Enum):
    PUBLIC = "anyone, logged in or not"
    USER = "any logged-in user"
    CUSTOMER = "an owner or secondary user of a customer"
    STAFF = "a dispatcher or an admin"
    ADMIN = "an admin"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    permission: Permission | None = None


def access(level: Access, permission: Permission | None = None) -> Callable[[H], H]:
    """Declare who may call a handler; the access middleware enforces it."""

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, Rule(level, permission))
        return handler

    return mark


def rule_of(handler: object) -> Rule | None:
    rule = getattr(handler, _ATTRIBUTE, None)
    return rule if isinstance(rule, Rule) else None


def _allowed(rule: Rule, viewer: Viewer) -> bool:
    if rule.access is Access.CUSTOMER and not viewer.is_customer:
        return False
    if rule.access is Access.STAFF and not viewer.is_staff:
        return False
    if rule.access is Access.ADMIN and not viewer.is_admin:
        return False
    return rule.permission is None or viewer.may(rule.permission)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return await handler(request)  # 404/405: nothing to protect
    if route.name is not None and route.name.startswith("static"):
        return await handler(request)
    rule = rule_of(route.handler)
    if rule is None:
        raise RuntimeError(f"route {route.resource.canonical} declares no access rule")
    if rule.access is Access.PUBLIC:
        return await handler(request)
    viewer = request.get(viewer_key)
    if viewer is None:
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther(f"/login?{urlencode({'next': target})}")
    if not _allowed(rule, viewer):
        raise Forbidden("your login does not give access to this page")
    return await handler(request)


def viewer_of(request: web.Request) -> Viewer:
    """The logged-in viewer of a route whose rule requires a login."""
    return request[viewer_key]


def scope_of(request: web.Request) -> CustomerScope:
    """The customer this request may touch: the viewer's own, and only for customer users."""
    viewer = request.get(viewer_key)
    if viewer is None or viewer.customer_id is None or not viewer.is_customer:
        raise Forbidden("only a customer's users see customer pages")
    return CustomerScope(customer_id=viewer.customer_id, user_id=viewer.user_id)


def check_routes_declare_access(app: web.Application) -> None:
    """At startup: every route except static files names who may call it."""
    for route in app.router.routes():
        if route.name is not None and route.name.startswith("static"):
            continue
        if rule_of(route.handler) is None and route.method != "HEAD":
            raise RuntimeError(
                f"route {route.method} {route.resource.canonical if route.resource else ''} declares no access rule"
            )
