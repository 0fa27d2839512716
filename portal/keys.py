"""Every application- and request-scoped object of the portal, declared once as a typed key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
import jinja2
from aiohttp import web

from portal.accounts.ownership import OwnershipProofs
from portal.auth.model import CustomerScope, Permission, Viewer
from portal.dashboard.tabs import DashboardTabs
from portal.navigation import Navigation
from portal.staff.sections import StaffSections
from shared.api_tokens import ApiClient
from shared.config import Config
from shared.signal_history import CursorCodec

if TYPE_CHECKING:
    from shared.billing.gateway import PaymentGateway

config_key = web.AppKey("config", Config)
database_url_key = web.AppKey("database_url", str)
pool_key = web.AppKey("pool", asyncpg.Pool)
templates_key = web.AppKey("templates", jinja2.Environment)
# Addresses of routes without parts and of static files (versioned by the file's hash), built once per process.
url_cache_key = web.AppKey("url_cache", dict[str, str])
navigation_key = web.AppKey("navigation", Navigation)
ownership_proofs_key = web.AppKey("ownership_proofs", OwnershipProofs)
dashboard_tabs_key = web.AppKey("dashboard_tabs", DashboardTabs)
# The dashboard's summary cards (e.g. billing: balance due, credit, autopay), shown at its top; same shape as tabs.
dashboard_cards_key = web.AppKey("dashboard_cards", DashboardTabs)
# The payment gateway, made once per app after the pool (portal/billing/routes.py); a Protocol, hence no type arg.
gateway_key: web.AppKey[PaymentGateway] = web.AppKey("gateway")
# The parts of a customer's staff record (/staff/customers/{customer_id}); each feature adds its own.
staff_sections_key = web.AppKey("staff_sections", StaffSections)
# The permissions an owner can grant secondary users, with their labels; each feature adds its own.
grantable_permissions_key = web.AppKey("grantable_permissions", dict[Permission, str])
# Signs the Signal history's paging cursors (portal/signals/routes.py: a key derived from the session key).
cursor_codec_key = web.AppKey("signal_history_cursor_codec", CursorCodec)
# The pool the Signal history's pages, tab and export borrow from (shared.signal_history.history_pool: sessions
# planning its statements with their own settings).
history_pool_key = web.AppKey("signal_history_pool", asyncpg.Pool)
# How many Signal history exports one process streams at once (each holds a pooled connection while it runs).
export_slots_key = web.AppKey("signal_history_export_slots", asyncio.Semaphore)
# Readiness beyond the database that /healthz reports, by name (under `alarmhub run`: whether the receiver
# listens); set by whoever wires the portal to other parts, absent for a standalone portal.
readiness_key = web.AppKey("readiness", dict[str, Callable[[], bool]])

# Set by the session middleware when the request carries a live login; absent for visitors.
viewer_key = web.RequestKey("viewer", Viewer)
# Set by the access middleware on a CUSTOMER route: the one customer the request may read or change.
scope_key = web.RequestKey("customer_scope", CustomerScope)
# Set by the bearer middleware under /api/ when the request carries a live API token (portal/api/bearer.py).
api_client_key = web.RequestKey("api_client", ApiClient)
# Set first of all (portal/middleware.py): the id that the request's log lines and its response carry.
request_id_key = web.RequestKey("request_id", str)
