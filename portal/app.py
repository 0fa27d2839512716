"""The portal's application factory: resources in cleanup contexts, middleware in order, routes from each feature."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import session_middleware

from portal import health, metrics
from portal.accounts import routes as accounts
from portal.accounts.ownership import OwnershipProofs
from portal.admin import routes as admin
from portal.api import routes as api
from portal.api.bearer import bearer_middleware
from portal.auth.access import access_middleware, check_routes_declare_access
from portal.auth.csrf import csrf_middleware
from portal.auth.session_key import session_keys
from portal.auth.session_storage import RotatingCookieStorage
from portal.auth.sessions import viewer_middleware
from portal.billing import routes as billing
from portal.call_list import routes as call_list
from portal.certificates import routes as certificates
from portal.console import routes as console
from portal.dashboard import routes as dashboard
from portal.dashboard.tabs import DashboardTabs
from portal.dispatch import routes as dispatch
from portal.keys import (
    config_key,
    dashboard_cards_key,
    dashboard_tabs_key,
    database_url_key,
    grantable_permissions_key,
    navigation_key,
    ownership_proofs_key,
    pool_key,
    staff_sections_key,
    templates_key,
    url_cache_key,
)
from portal.middleware import access_log_middleware, error_middleware, request_id_middleware, response_headers
from portal.navigation import Navigation
from portal.notifications import routes as notifications
from portal.outcomes import routes as outcomes
from portal.paths import path_ids_middleware
from portal.proxies import forwarded_for_middleware
from portal.render import STATIC, create_templates
from portal.service import routes as service
from portal.service_desk import routes as service_desk
from portal.signals import routes as signals
from portal.staff import routes as staff
from portal.staff.sections import StaffSections
from portal.system_test import routes as system_test
from portal.users import routes as users
from shared.config import Config
from shared.db import pool_from_config
from shared.http_server import server_options

# aiohttp-session still keys the request with strings; the warning is about its code, not ours.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")

SESSION_COOKIE = "alarmhub_session"
MAX_FORM_BYTES = 256 * 1024


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    pool = await pool_from_config(app[config_key], app[database_url_key])
    app[pool_key] = pool
    yield
    await pool.close()


def served_over_tls(config: Config) -> bool:
    """Behind a TLS-terminating proxy the request itself is plain HTTP: the public address tells."""
    url: str = config["portal.public_url"]
    return urlsplit(url).scheme == "https"


def session_storage(config: Config) -> RotatingCookieStorage:
    return RotatingCookieStorage(
        session_keys(config),
        cookie_name=SESSION_COOKIE,
        httponly=True,
        secure=served_over_tls(config),
        samesite="Lax",
        max_age=None,  # a browser-session cookie; the server-side row decides how long a login lasts
    )


def create_app(config: Config, database_url: str) -> web.Application:
    app = web.Application(
        client_max_size=MAX_FORM_BYTES,
        handler_args=server_options(),
        middlewares=[
            request_id_middleware,
            forwarded_for_middleware(config["portal.trusted_proxies"]),
            access_log_middleware,
            session_middleware(session_storage(config)),
            error_middleware,
            viewer_middleware,
            bearer_middleware,
            csrf_middleware,
            access_middleware,
            path_ids_middleware,
        ],
    )
    app.on_response_prepare.append(response_headers(https=served_over_tls(config)))
    app[config_key] = config
    app[database_url_key] = database_url
    app[templates_key] = create_templates(config)
    app[url_cache_key] = {}
    app[navigation_key] = Navigation()
    app[ownership_proofs_key] = OwnershipProofs()
    app[dashboard_tabs_key] = DashboardTabs()
    app[dashboard_cards_key] = DashboardTabs()
    app[staff_sections_key] = StaffSections()
    app[grantable_permissions_key] = {}
    app.cleanup_ctx.append(database_pool)
    health.add_routes(app)
    metrics.add_routes(app)
    for feature in (
        accounts,
        dashboard,
        users,
        billing,
        service,
        certificates,
        signals,
        call_list,
        outcomes,
        system_test,
        notifications,
        staff,
        service_desk,
        console,
        dispatch,
        admin,
        api,
    ):
        feature.setup(app)
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    check_routes_declare_access(app)
    app[navigation_key].check(app.router)
    return app
