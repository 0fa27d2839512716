"""The security sweep: every route of the router, requested by everyone who must be refused, gets the refusal the
access rules promise, never reaches its handler and changes nothing.

The expected answer of each route is derived from the rule its handler declares (portal/auth/rules.py) and the
access model of the SPEC written out below — not from lists of paths — so a route added tomorrow is swept the day it
lands, and one the sweep cannot classify (no rule, a level, permission, method or placeholder it does not know, or a
public route nobody reviewed) fails the sweep. Each test reports every failing route at once.

(a) visitors and logged-out cookies, (c) secondary users without the permission and owner-only handlers, (d) CSRF
on every state-changing route, (e) customers on staff routes, staff on customer routes, and the API without a live
token. (b), another customer's users with this customer's ids, is tests/portal/test_scoping.py; what it does not
check (rows of the victim changed through ids in forms, the victim's other data in the answers) is here.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import ClientResponse, FormData
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from portal.app import SESSION_COOKIE, create_app
from portal.auth.rules import Access
from shared.api_tokens import create_api_token, revoke_api_token
from shared.config import Config
from shared.roles import Permission
from tests.portal.api.contract import Contract
from tests.portal.conftest import Customer, Portal
from tests.portal.outcomes.incidents import CLOSING_NOTE, INTERNAL_NOTE, PASSCODE, PHONE
from tests.portal.sweep import (
    HandlerRecorder,
    SweptRoute,
    changed_tables,
    customer_rows,
    fill,
    fingerprint,
    inventory,
    placeholders_of,
    route_ids,
)
from tests.portal.test_scoping import alpha_markers, send

# --- The access model (SPEC §5-§7): who holds what, written out here rather than read from shared/roles.py --------
# Owners hold every customer permission and grant them to secondary users; dispatchers work alarms and service
# requests but do not move money; admins hold every staff permission.

OWNER_HOLDS = frozenset(
    {Permission.MANAGE_USERS, Permission.MANAGE_PAYMENT_METHODS, Permission.MANAGE_CALL_LIST, Permission.TEST_SYSTEM}
)
STAFF_HOLD = {
    "dispatcher": frozenset({Permission.TAKE_INCIDENTS, Permission.WORK_SERVICE_REQUESTS}),
    "admin": frozenset({Permission.TAKE_INCIDENTS, Permission.WORK_SERVICE_REQUESTS, Permission.REFUND}),
}
KNOWN_PERMISSIONS = OWNER_HOLDS | STAFF_HOLD["admin"]
KNOWN_LEVELS = frozenset({Access.PUBLIC, Access.USER, Access.CUSTOMER, Access.STAFF, Access.ADMIN})
LEVEL_ROLES = {
    Access.USER: {"owner", "secondary", "dispatcher", "admin"},
    Access.CUSTOMER: {"owner", "secondary"},
    Access.STAFF: {"dispatcher", "admin"},
    Access.ADMIN: {"admin"},
}

# Routes anyone may call. Making a route public is a decision about security: a new one fails the sweep until it is
# reviewed and listed here (its GET's HEAD comes with it).
REVIEWED_PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),  # answers only portal.metrics_allow, 404 to anyone else
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/register"),
        ("POST", "/register"),
        ("GET", "/confirm/{token}"),
        ("POST", "/confirm/{token}"),
        ("GET", "/password/forgot"),
        ("POST", "/password/forgot"),
        ("GET", "/password/reset/{token}"),
        ("POST", "/password/reset/{token}"),
        ("GET", "/invitation/{token}"),
        ("POST", "/invitation/{token}"),
        ("GET", "/verify"),
        ("GET", "/verify/{code}"),
        ("GET", "/api/v1/openapi.json"),
    }
)

# Handlers that refuse a secondary user whatever the owner granted: their rule cannot say "the owner only", so they
# are named here, and the sweep proves the list exact (each refuses a secondary user with every permission; no
# other route does).
OWNER_ONLY = frozenset(
    {
        ("POST", "/call-list/{site_id}/passcode"),
        ("GET", "/call-list/{site_id}/passcode/clear"),
        ("HEAD", "/call-list/{site_id}/passcode/clear"),
        ("POST", "/call-list/{site_id}/passcode/clear"),
        ("POST", "/notifications"),
    }
)

REALM = 'Bearer realm="alarmhub"'
CSRF_REFUSAL = "did not come from this site"


class Refusal(Enum):
    LOGIN = "303 to the login page"
    UNAUTHENTICATED = "401 JSON with the bearer challenge"
    FORBIDDEN = "403"


@dataclass(frozen=True)
class Persona:
    """Who is asking with a cookie: a role (None: nobody is logged in) and, for a secondary user, the grants."""

    name: str
    role: str | None
    granted: frozenset[Permission] = frozenset()

    def holds(self, permission: Permission) -> bool:
        if self.role == "owner":
            return permission in OWNER_HOLDS
        if self.role == "secondary":
            return permission in OWNER_HOLDS and permission in self.granted
        return self.role in STAFF_HOLD and permission in STAFF_HOLD[self.role]


VISITOR = Persona("visitor", None)
OWNER = Persona("owner", "owner")
SECONDARY = Persona("secondary with every permission", "secondary", OWNER_HOLDS)
DISPATCHER = Persona("dispatcher", "dispatcher")
ADMIN = Persona("admin", "admin")


def expected_refusal(route: SweptRoute, persona: Persona) -> Refusal | None:
    """What `persona`, with a session cookie and no bearer token, must get from `route`; None: it is let in."""
    rule = route.rule
    if rule.access is Access.PUBLIC:
        return None
    if route.api:
        return Refusal.UNAUTHENTICATED  # under /api/ a cookie authenticates nobody: only a bearer token does
    if persona.role is None:
        return Refusal.LOGIN
    if persona.role not in LEVEL_ROLES[rule.access]:
        return Refusal.FORBIDDEN
    if rule.permission is not None and not persona.holds(rule.permission):
        return Refusal.FORBIDDEN
    return None


def token_refusal(route: SweptRoute, role: str) -> Refusal | None:
    """What a live API token of `role` (a staff role: the table refuses any other) must get from an /api/ route."""
    rule = route.rule
    if rule.access is Access.PUBLIC:
        return None
    if role not in LEVEL_ROLES[rule.access]:
        return Refusal.FORBIDDEN
    if rule.permission is not None and rule.permission not in STAFF_HOLD[role]:
        return Refusal.FORBIDDEN
    return None


def classification_problems(routes: Iterable[SweptRoute], ids: Mapping[str, str]) -> list[str]:
    problems = []
    for route in routes:
        rule = route.rule
        if rule.access not in KNOWN_LEVELS:
            problems.append(f"{route}: access level {rule.access} is not in the sweep's access model")
        if rule.permission is not None and rule.permission not in KNOWN_PERMISSIONS:
            problems.append(f"{route}: permission {rule.permission} is not in the sweep's access model")
        if rule.access is Access.PUBLIC:
            method = "GET" if route.method == "HEAD" else route.method
            if (method, route.path) not in REVIEWED_PUBLIC_ROUTES:
                problems.append(f"{route} ({route.handler}) is public but not in REVIEWED_PUBLIC_ROUTES: review it")
        if unknown := placeholders_of(route.path) - ids.keys():
            problems.append(f"{route}: no real id for {sorted(unknown)}: add one to tests/portal/sweep.py route_ids()")
    return problems


# --- Requests and the judging of their answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    text: str
    content_type: str


async def reply_of(response: ClientResponse) -> Reply:
    text = (await response.read()).decode("utf-8", errors="replace")  # a PDF's bytes too
    return Reply(response.status, response.headers, text, response.content_type)


@dataclass
class Sweep:
    """The portal under sweep: its server, the recorder of handlers reached, and as many browsers as a test needs."""

    server: TestServer
    recorder: HandlerRecorder
    db: asyncpg.Pool
    stack: AsyncExitStack

    async def browser(self) -> Portal:
        client: TestClient[Any, Any] = await self.stack.enter_async_context(TestClient(self.server))
        return Portal(client)

    async def logged_in(self, email: str) -> Portal:
        portal = await self.browser()
        response = await portal.login(email)
        assert response.status == 200 and response.url.path != "/login", email
        return portal

    async def visitor(self) -> Portal:
        portal = await self.browser()
        await portal.get("/login")  # a session of its own with a CSRF token, as any browser that looked at a page
        assert portal.csrf
        return portal

    async def request(
        self, portal: Portal, route: SweptRoute, url: str, *, csrf: str | None = None, **kwargs: Any
    ) -> tuple[Reply, bool]:
        """`route` requested at `url` without following redirects; whether its handler ran."""
        self.recorder.reached.clear()
        if not route.reads:
            form = kwargs.pop("data", {})
            kwargs["data"] = {**form, "csrf_token": csrf} if csrf is not None else form
        response = await portal.client.request(route.method, url, allow_redirects=False, **kwargs)
        reply = await reply_of(response)
        return reply, (route.method, route.path) in self.recorder.reached

    async def handshake(self, portal: Portal, route: SweptRoute, url: str) -> tuple[Reply, bool]:
        """`url` opened as a websocket (the console's feed is one): the same refusal, before any handshake."""
        upgrade = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
        }
        return await self.request(portal, route, url, headers=upgrade)


def judge(route: SweptRoute, url: str, refusal: Refusal, reply: Reply, reached: bool, *, body: bool = True) -> str:
    """What is wrong with `reply` as `refusal` of `route` (empty: nothing)."""
    said = f"{route} at {url}: answered {reply.status}, expected {refusal.value}"
    if reached:
        return f"{said}; and its handler ran"
    if refusal is Refusal.LOGIN:
        target = urlsplit(reply.headers.get("Location", ""))
        if reply.status != 303 or target.path != "/login":
            return f"{said} (Location {reply.headers.get('Location')!r})"
        if route.method == "GET" and parse_qs(target.query).get("next") != [url]:
            return f"{said}: the login page would not lead back to {url} (Location {reply.headers['Location']!r})"
    elif refusal is Refusal.UNAUTHENTICATED:
        if reply.status != 401 or not reply.headers.get("WWW-Authenticate", "").startswith(REALM):
            return f"{said} (WWW-Authenticate {reply.headers.get('WWW-Authenticate')!r})"
        if body and (reply.content_type != "application/json" or '"error"' not in reply.text):
            return f"{said}: the 401 is not the API's JSON error ({reply.content_type})"
    elif reply.status != 403:
        return said
    return ""


def report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n  " + "\n  ".join(problems)


async def sweep_refusals(
    sweep: Sweep,
    portal: Portal,
    routes: Iterable[tuple[SweptRoute, Refusal]],
    ids: Mapping[str, str],
    *,
    csrf: str | None,
) -> list[str]:
    """Every (route, refusal) requested as `portal` with the customer's real ids (and, for a GET, opened as a
    websocket too); the problems found, all of them."""
    problems = []
    for route, refusal in routes:
        url = fill(route.path, ids)
        reply, reached = await sweep.request(portal, route, url, csrf=csrf)
        problems.append(judge(route, url, refusal, reply, reached, body=route.method != "HEAD"))
        if route.method == "GET":
            reply, reached = await sweep.handshake(portal, route, url)
            problem = judge(route, url, refusal, reply, reached, body=False)
            problems.append(problem and f"opened as a websocket: {problem}")
    return [problem for problem in problems if problem]


# --- Fixtures ------------------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def sweep(config: Config, database_url: str, db: asyncpg.Pool) -> AsyncIterator[Sweep]:
    app = create_app(config, database_url)
    recorder = HandlerRecorder()
    recorder.install(app)
    async with AsyncExitStack() as stack:
        first: TestClient[Any, Any] = await stack.enter_async_context(TestClient(TestServer(app)))
        assert first.server is not None
        yield Sweep(first.server, recorder, db, stack)


@pytest_asyncio.fixture
async def alpha_ids(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> dict[str, str]:
    """A real value of alpha's for every placeholder: alpha's own users are refused by the rule, never by scoping."""
    alpha, _ = customers
    async with db.acquire() as connection:
        return await route_ids(connection, alpha)


def routes_of(sweep: Sweep) -> list[SweptRoute]:
    routes, problems = inventory(sweep.server.app)
    assert not problems, report(problems, "routes the sweep cannot read")
    return routes


async def fingerprint_of(db: asyncpg.Pool) -> dict[str, str]:
    async with db.acquire() as connection:
        return await fingerprint(connection)


async def grant(db: asyncpg.Pool, user_id: int, permissions: Iterable[Permission]) -> None:
    await db.execute("UPDATE users SET permissions = $2 WHERE id = $1", user_id, sorted(p.value for p in permissions))


# --- The sweeps ----------------------------------------------------------------------------------------------------


async def test_every_route_is_one_the_sweep_can_classify(sweep: Sweep, alpha_ids: dict[str, str]) -> None:
    routes, problems = inventory(sweep.server.app)
    problems += classification_problems(routes, alpha_ids)
    assert not problems, report(problems, "routes the sweep cannot classify")
    assert len(routes) >= 180, len(routes)
    levels = {route.rule.access for route in routes}
    assert levels == KNOWN_LEVELS, levels  # each level has routes, or the sweeps below test nothing of it
    used = {route.rule.permission for route in routes} - {None}
    assert used == KNOWN_PERMISSIONS, used ^ KNOWN_PERMISSIONS
    public = {(r.method, r.path) for r in routes if r.rule.access is Access.PUBLIC and r.method != "HEAD"}
    assert public == REVIEWED_PUBLIC_ROUTES, public ^ REVIEWED_PUBLIC_ROUTES  # a reviewed route that went away
    declared = {(r.method, r.path) for r in routes if r.rule.access is Access.CUSTOMER}
    assert declared >= OWNER_ONLY, OWNER_ONLY - declared


@pytest.mark.parametrize("who", ["visitor", "logged-out cookie"])
async def test_a_visitor_is_sent_to_log_in_and_an_api_client_gets_401_on_every_route(
    sweep: Sweep, alpha_ids: dict[str, str], customers: tuple[Customer, Customer], who: str
) -> None:
    """(a) Pages send a visitor to the login page (the way back in its `next`), the API answers 401 JSON with the
    challenge; the same for a cookie whose session was logged out (the server, not the cookie, decides). A form is
    posted with the session's own CSRF token, so that what refuses it is the access rule."""
    alpha, _ = customers
    if who == "visitor":
        portal = await sweep.visitor()
    else:
        owner = await sweep.logged_in(alpha.owner_email)
        cookie = owner.client.session.cookie_jar.filter_cookies(owner.client.make_url("/"))[SESSION_COOKIE].value
        csrf = owner.csrf
        await owner.logout()
        portal = await sweep.browser()
        portal.client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie}, owner.client.make_url("/"))
        portal.csrf = csrf
    refused = [(r, refusal) for r in routes_of(sweep) if (refusal := expected_refusal(r, VISITOR)) is not None]
    before = await fingerprint_of(sweep.db)
    problems = await sweep_refusals(sweep, portal, refused, alpha_ids, csrf=portal.csrf)
    assert not problems, report(problems, f"routes let a {who} in or refused it wrongly")
    assert not changed_tables(before, await fingerprint_of(sweep.db))
    pages = sum(1 for r, refusal in refused if refusal is Refusal.LOGIN)
    assert pages >= 130 and len(refused) - pages >= 8, (pages, len(refused))


@pytest.mark.parametrize("persona", [OWNER, SECONDARY, DISPATCHER, ADMIN], ids=lambda p: p.name)
async def test_each_role_is_refused_what_its_role_does_not_give(
    sweep: Sweep, alpha_ids: dict[str, str], customers: tuple[Customer, Customer], persona: Persona
) -> None:
    """(e) Customers on staff and admin routes, staff on customer routes, a dispatcher on admin routes and on what
    needs a permission dispatchers lack: 403 before any handler; everyone's cookie on the API: 401."""
    alpha, _ = customers
    if persona is SECONDARY:
        await grant(sweep.db, alpha.secondary_id, OWNER_HOLDS)
    email = {
        "owner": alpha.owner_email,
        "secondary": alpha.secondary_email,
        "dispatcher": "dispatcher@example.com",
        "admin": "admin@example.com",
    }
    portal = await sweep.logged_in(email[str(persona.role)])
    refused = [(r, refusal) for r in routes_of(sweep) if (refusal := expected_refusal(r, persona)) is not None]
    before = await fingerprint_of(sweep.db)
    problems = await sweep_refusals(sweep, portal, refused, alpha_ids, csrf=portal.csrf)
    assert not problems, report(problems, f"routes let the {persona.name} in or refused it wrongly")
    assert not changed_tables(before, await fingerprint_of(sweep.db))
    forbidden = sum(1 for _, refusal in refused if refusal is Refusal.FORBIDDEN)
    api = sum(1 for _, refusal in refused if refusal is Refusal.UNAUTHENTICATED)
    minimum = {"owner": 50, "secondary": 50, "dispatcher": 90, "admin": 70}[str(persona.role)]
    assert forbidden >= minimum and api >= 8, (forbidden, api)


async def test_a_secondary_user_is_refused_each_route_that_needs_a_permission_not_granted(
    sweep: Sweep, alpha_ids: dict[str, str], customers: tuple[Customer, Customer]
) -> None:
    """(c) With no grant, and then with every grant but one (for each permission in turn): each route whose rule
    needs what is missing answers 403 before its handler, for the user's own customer's ids."""
    alpha, _ = customers
    portal = await sweep.logged_in(alpha.secondary_email)
    routes = routes_of(sweep)
    problems: list[str] = []
    swept: dict[str, int] = {}
    for missing in [None, *sorted(OWNER_HOLDS)]:
        granted = frozenset() if missing is None else OWNER_HOLDS - {missing}
        await grant(sweep.db, alpha.secondary_id, granted)
        before = await fingerprint_of(sweep.db)
        persona = Persona(f"secondary without {missing or 'any grant'}", "secondary", granted)
        refused = [
            (r, Refusal.FORBIDDEN)
            for r in routes
            if r.rule.access in (Access.CUSTOMER, Access.USER) and expected_refusal(r, persona) is not None
        ]
        found = await sweep_refusals(sweep, portal, refused, alpha_ids, csrf=portal.csrf)
        problems += [f"{persona.name}: {problem}" for problem in found]
        problems += [
            f"{persona.name}: table {name} was written"
            for name in changed_tables(before, await fingerprint_of(sweep.db))
        ]
        swept[persona.name] = len(refused)
    assert not problems, report(problems, "routes let a secondary user do what was not granted")
    assert swept["secondary without any grant"] >= 20 and all(count >= 2 for count in swept.values()), swept


async def test_owner_only_handlers_refuse_a_secondary_user_with_every_permission_and_no_other_does(
    sweep: Sweep, db: asyncpg.Pool, alpha_ids: dict[str, str], customers: tuple[Customer, Customer]
) -> None:
    """(c) The verbal passcode and who is notified are the owner's alone, whatever was granted: those handlers
    answer a secondary user 403, and the owner does not get it. Every other customer route the rule admits the
    secondary user to, it really admits (a 403 elsewhere is an owner-only rule nobody listed in OWNER_ONLY)."""
    alpha, _ = customers
    spare = await db.fetchval(  # the user the /users/{user_id}/… forms act on: not the one sweeping
        "INSERT INTO users (customer_id, email, name, role, password_hash) "
        "VALUES ($1, 'spare-alpha@example.com', 'Spare', 'secondary', NULL) RETURNING id",
        alpha.customer_id,
    )
    ids = {**alpha_ids, "user_id": str(spare)}
    await grant(db, alpha.secondary_id, OWNER_HOLDS)
    secondary = await sweep.logged_in(alpha.secondary_email)
    admitted = [
        r
        for r in routes_of(sweep)
        if r.rule.access in (Access.CUSTOMER, Access.USER)
        and not r.api
        and r.handler != "portal.accounts.login.logout"
        and expected_refusal(r, SECONDARY) is None
    ]
    refused_by_handler = set()
    problems = []
    for route in sorted(admitted, key=lambda r: r.reads, reverse=True):  # every read before any write
        url = fill(route.path, ids)
        reply, reached = await sweep.request(secondary, route, url, csrf=secondary.csrf)
        if reply.status == 403:
            refused_by_handler.add((route.method, route.path))
        if not reached or reply.status >= 500:
            problems.append(f"{route} at {url}: answered {reply.status}, handler ran: {reached}")
    assert not problems, report(problems, "customer routes failed a secondary user with every permission")
    assert refused_by_handler == OWNER_ONLY, (
        f"refused a secondary user with every permission but not listed: {sorted(refused_by_handler - OWNER_ONLY)}; "
        f"listed but let in: {sorted(OWNER_ONLY - refused_by_handler)}"
    )
    owner = await sweep.logged_in(alpha.owner_email)
    for route in (r for r in admitted if (r.method, r.path) in OWNER_ONLY):
        reply, reached = await sweep.request(owner, route, fill(route.path, ids), csrf=owner.csrf)
        if reply.status in (401, 403) or reply.status >= 500 or not reached:
            problems.append(f"{route}: the owner got {reply.status}, handler ran: {reached}")
    assert not problems, report(problems, "owner-only routes refused the owner")
    assert len(admitted) >= 60, len(admitted)


def forged_multipart() -> FormData:
    form = FormData()
    form.add_field("csrf_token", secrets.token_urlsafe(32))
    form.add_field("attachment", b"multipart", filename="note.txt", content_type="text/plain")
    return form


async def test_every_state_changing_route_refuses_a_missing_forged_or_foreign_csrf_token(
    sweep: Sweep, alpha_ids: dict[str, str], customers: tuple[Customer, Customer]
) -> None:
    """(d) Every POST/PUT/PATCH/DELETE of the router, for a visitor, each customer role and each staff role: no
    token, a made-up token (in a multipart form), and another live session's real token (in the header) are each
    refused with the CSRF answer before any handler, and nothing is written. Under /api/ cookies authenticate nobody,
    so there a request without a bearer token is 401 instead."""
    alpha, _ = customers
    await grant(sweep.db, alpha.secondary_id, OWNER_HOLDS)
    browsers = {
        "visitor": await sweep.visitor(),
        "owner": await sweep.logged_in(alpha.owner_email),
        "secondary": await sweep.logged_in(alpha.secondary_email),
        "dispatcher": await sweep.logged_in("dispatcher@example.com"),
        "admin": await sweep.logged_in("admin@example.com"),
    }
    writes = [r for r in routes_of(sweep) if not r.reads]
    before = await fingerprint_of(sweep.db)
    problems = []
    for who, portal in browsers.items():
        foreign = browsers["owner" if who != "owner" else "admin"].csrf
        assert foreign and foreign != portal.csrf
        variants: dict[str, Callable[[], dict[str, Any]]] = {
            "no token": lambda: {"data": {"email": "x@example.com"}},
            "a forged token": lambda: {"data": forged_multipart()},
            "another session's token": lambda token=foreign: {"headers": {"X-CSRF-Token": token}},
        }
        for route in writes:
            url = fill(route.path, alpha_ids)
            for variant, kwargs in variants.items():
                reply, reached = await sweep.request(portal, route, url, **kwargs())
                if route.api:
                    problem = judge(route, url, Refusal.UNAUTHENTICATED, reply, reached)
                elif reached or reply.status != 403 or CSRF_REFUSAL not in reply.text:
                    problem = f"{route} at {url}: answered {reply.status} (handler ran: {reached}), not the CSRF 403"
                else:
                    problem = ""
                if problem:
                    problems.append(f"{who}, {variant}: {problem}")
    assert not problems, report(problems, "state-changing requests without this session's CSRF token got through")
    assert not changed_tables(before, await fingerprint_of(sweep.db))
    assert len(writes) >= 55, len(writes)


async def test_the_api_answers_401_to_every_request_without_a_live_token(
    sweep: Sweep, db: asyncpg.Pool, alpha_ids: dict[str, str], customers: tuple[Customer, Customer]
) -> None:
    """(e) Every /api/ route: no Authorization, an empty or made-up bearer token, another scheme, a revoked token of
    either staff role, a token in the query string, and a logged-in customer's or admin's cookie — 401 with the
    challenge (`invalid_token` when a token was offered) and the API's JSON error, valid against the served document;
    a live token of each staff role is let in (or refused 403) as the access rules say."""
    alpha, _ = customers
    routes = [r for r in routes_of(sweep) if r.api and r.rule.access is not Access.PUBLIC]
    roles = sorted(STAFF_HOLD)
    async with db.acquire() as connection:
        live = {role: (await create_api_token(connection, name=f"live-{role}", role=role)).secret for role in roles}
        revoked = {role: (await create_api_token(connection, name=f"old-{role}", role=role)).secret for role in roles}
        for role in roles:
            await revoke_api_token(connection, name=f"old-{role}")
    anonymous = await sweep.browser()
    document = await (await anonymous.client.get("/api/v1/openapi.json")).json()
    contract = Contract(document)
    offered = {
        "an empty bearer token": {"Authorization": "Bearer "},
        "a made-up bearer token": {"Authorization": "Bearer ahk_" + secrets.token_urlsafe(32)},
        "a revoked dispatcher token": {"Authorization": f"Bearer {revoked['dispatcher']}"},
        "a revoked admin token": {"Authorization": f"Bearer {revoked['admin']}"},
    }
    not_offered: dict[str, dict[str, str]] = {
        "no Authorization": {},
        "Basic credentials": {"Authorization": "Basic YWRtaW5AZXhhbXBsZS5jb206cGFzc3dvcmQ="},
    }
    cookies = {
        "the owner's cookie": await sweep.logged_in(alpha.owner_email),
        "the admin's cookie": await sweep.logged_in("admin@example.com"),
    }
    for token in live.values():  # a token's last use is written at most once a minute: this once, before the sweep
        used = await anonymous.client.get("/api/v1/signals", headers={"Authorization": f"Bearer {token}"})
        assert used.status == 200
    before = await fingerprint_of(db)
    problems = []
    checked = 0

    async def expect_401(portal: Portal, route: SweptRoute, url: str, headers: dict[str, str], how: str) -> None:
        nonlocal checked
        reply, reached = await sweep.request(portal, route, url, headers=headers)
        problem = judge(route, url, Refusal.UNAUTHENTICATED, reply, reached, body=route.method != "HEAD")
        token_offered = headers.get("Authorization", "").startswith("Bearer")
        challenge = reply.headers.get("WWW-Authenticate", "")
        if not problem and token_offered != ('error="invalid_token"' in challenge):
            problem = f"{route}: the challenge {challenge!r} does not fit a request with {how}"
        if not problem and route.method == "GET":
            try:
                contract.check("GET", urlsplit(url).path, reply.status, json.loads(reply.text))
                checked += 1
            except Exception as error:  # jsonschema's ValidationError or the contract's AssertionError
                problem = f"{route}: the 401 breaks the OpenAPI document: {error}"
        if problem:
            problems.append(f"{how}: {problem}")

    for route in routes:
        url = fill(route.path, alpha_ids)
        for how, headers in {**offered, **not_offered}.items():
            await expect_401(anonymous, route, url, headers, how)
        await expect_401(anonymous, route, f"{url}?access_token={live['admin']}", {}, "a token in the query string")
        for how, portal in cookies.items():
            await expect_401(portal, route, url, {}, how)
        for role, token in live.items():
            reply, reached = await sweep.request(anonymous, route, url, headers={"Authorization": f"Bearer {token}"})
            expected = token_refusal(route, role)
            if expected is None and (not reached or reply.status in (401, 403) or reply.status >= 500):
                problems.append(f"a live {role} token: {route} at {url} answered {reply.status}, reached: {reached}")
            elif expected is not None and (reached or reply.status != 403):
                problems.append(f"a live {role} token: {route} at {url} answered {reply.status}, expected 403")
    assert not problems, report(problems, "API requests without a live token were not refused as promised")
    assert not changed_tables(before, await fingerprint_of(db))
    assert len(routes) >= 8 and checked >= 4 * 9, (len(routes), checked)


async def test_another_customers_users_change_no_row_of_this_customer_and_see_none_of_its_data(
    sweep: Sweep, db: asyncpg.Pool, alpha_ids: dict[str, str], customers: tuple[Customer, Customer]
) -> None:
    """(b), what tests/portal/test_scoping.py does not check: beta's owner and beta's secondary user (every
    permission) send alpha's real ids in the path, the query string and the form to every route that needs a
    login; afterwards no row of alpha's (found through the schema's foreign keys: the call list, the passcode, the
    system test, payments, autopay, service requests, incidents, …) is added, changed or removed, and no answer
    shows alpha's data beyond what test_scoping looks for (the call list, a service request, an incident's notes)."""
    alpha, beta = customers
    await grant(db, beta.secondary_id, OWNER_HOLDS)
    markers = [
        *alpha_markers(alpha),
        "Victim contact",
        "victim request",
        PHONE,
        PASSCODE,
        INTERNAL_NOTE,
        CLOSING_NOTE,
    ]
    routes = [
        r
        for r in routes_of(sweep)
        if r.rule.access is not Access.PUBLIC and r.method != "HEAD" and r.handler != "portal.accounts.login.logout"
    ]
    async with db.acquire() as connection:
        before = await customer_rows(connection, alpha.customer_id)
    assert len({table for table, _ in before}) >= 15, sorted({table for table, _ in before})
    problems = []
    for email in (beta.owner_email, beta.secondary_email):
        portal = await sweep.logged_in(email)
        for route in routes:
            response = await send(portal, route.method, fill(route.path, alpha_ids), alpha_ids)
            text = await response.text()
            if response.status >= 500:
                problems.append(f"{email}: {route} answered {response.status}")
            problems += [f"{email}: {route} shows alpha's {marker!r}" for marker in markers if marker in text]
    async with db.acquire() as connection:
        after = await customer_rows(connection, alpha.customer_id)
    problems += [f"alpha's row changed or removed: {table} {row}" for table, row in sorted(before - after)]
    problems += [f"alpha's row added or changed: {table} {row}" for table, row in sorted(after - before)]
    assert not problems, report(problems, "ways another customer's users reached alpha's data")
    assert len(routes) >= 100, len(routes)


def test_the_access_model_of_the_sweep_agrees_with_itself() -> None:
    """The expected answers above, on hand-made rules: the sweep's own logic, checked before it judges the portal."""
    from portal.auth.rules import Rule

    page = SweptRoute("GET", "/x", Rule(Access.CUSTOMER, Permission.MANAGE_USERS), "h")
    api = SweptRoute("GET", "/api/v1/x", Rule(Access.STAFF, Permission.REFUND), "h")
    assert expected_refusal(page, VISITOR) is Refusal.LOGIN
    assert expected_refusal(page, OWNER) is None
    assert expected_refusal(page, Persona("s", "secondary")) is Refusal.FORBIDDEN
    assert expected_refusal(page, SECONDARY) is None
    assert expected_refusal(page, ADMIN) is Refusal.FORBIDDEN
    assert expected_refusal(api, ADMIN) is Refusal.UNAUTHENTICATED  # a cookie, even an admin's
    assert token_refusal(api, "admin") is None
    assert token_refusal(api, "dispatcher") is Refusal.FORBIDDEN
    staff = SweptRoute("POST", "/staff/x", Rule(Access.ADMIN), "h")
    assert expected_refusal(staff, DISPATCHER) is Refusal.FORBIDDEN and expected_refusal(staff, ADMIN) is None
