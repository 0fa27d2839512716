"""Templates: one jinja2 environment (autoescaped) and one render() that gives every page its common context."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from aiohttp_session import get_session

from portal.auth.sessions import csrf_token, pop_flashes
from portal.keys import navigation_key, templates_key, url_cache_key, viewer_key
from shared.billing.money import format_money
from shared.branding import Branding
from shared.config import Config
from shared.fields import limit_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M"
STATIC = Path(__file__).resolve().parent / "static"


def create_templates(config: Config) -> jinja2.Environment:
    """The pages' templates, escaped; mail has its own templates in shared/ (shared/messages.py)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates change with a deploy, which restarts: no stat() of each file on every page
    )
    zone = ZoneInfo(config["portal.timezone"])
    environment.globals["brand"] = Branding.from_config(config)

    def localtime(moment: datetime | None, fmt: str = DEFAULT_TIME_FORMAT) -> str:
        """A moment in the portal's time zone; the default format without strftime (tables call this per row)."""
        if moment is None:
            return "—"
        local = moment.astimezone(zone)
        if fmt == DEFAULT_TIME_FORMAT:  # %-formatting: twice as fast as the f-string's format specs
            return "%04d-%02d-%02d %02d:%02d" % (local.year, local.month, local.day, local.hour, local.minute)  # noqa: UP031
        return local.strftime(fmt)

    environment.filters["localtime"] = localtime
    environment.filters["capitalize_first"] = lambda text: text[:1].upper() + text[1:] if text else text
    currency = config["billing.currency"]
    environment.filters["money"] = lambda amount: format_money(amount, currency)
    environment.globals["timezone_name"] = config["portal.timezone"]
    environment.globals["field_limit"] = limit_of  # maxlength: the limits the server enforces (shared.fields)
    return environment


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """A page: the template with the viewer, navigation, CSRF token and one-time notices."""
    session = await get_session(request)
    viewer = request.get(viewer_key)
    route = request.match_info.route
    current = route.name or "" if request.match_info.http_exception is None else ""

    router, cache = request.app.router, request.app[url_cache_key]

    def url(name: str, **parts: Any) -> str:
        if parts:
            return str(router[name].url_for(**{k: str(v) for k, v in parts.items()}))
        found = cache.get(name)
        if found is None:  # a route without parts always has the same address: build it once
            found = cache[name] = str(router[name].url_for())
        return found

    def static(filename: str) -> str:
        # The versioned address hashes the file: once per file and process (static files change with a release).
        key = f"static:{filename}"
        found = cache.get(key)
        if found is None:
            found = cache[key] = str(router["static"].url_for(filename=filename))
        return found

    page = {
        "request": request,
        "viewer": viewer,
        "csrf_token": csrf_token(session),
        "flashes": pop_flashes(session),
        "navigation": request.app[navigation_key].for_viewer(viewer, current, request.app.router),
        "current_route": current,
        "url": url,
        "static": static,
        "form": {},
        "errors": {},
        **(context or {}),
    }
    text = request.app[templates_key].get_template(template).render(page)
    return web.Response(text=text, status=status, content_type="text/html")
