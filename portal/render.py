"""Templates: one jinja2 environment (autoescaped) and one render() that gives every page its common context."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from aiohttp_session import get_session

from portal.auth.sessions import csrf_token, pop_flashes
from portal.keys import navigation_key, templates_key, viewer_key
from shared.billing.money import format_money
from shared.branding import Branding
from shared.config import Config
from shared.fields import limit_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def create_templates(config: Config) -> jinja2.Environment:
    """The pages' templates, escaped; mail has its own templates in shared/ (shared/messages.py)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(config["portal.timezone"])
    environment.globals["brand"] = Branding.from_config(config)
    environment.filters["localtime"] = lambda moment, fmt="%Y-%m-%d %H:%M": (
        moment.astimezone(zone).strftime(fmt) if moment is not None else "—"
    )
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

    def url(name: str, **parts: Any) -> str:
        return str(request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()}))

    page = {
        "request": request,
        "viewer": viewer,
        "csrf_token": csrf_token(session),
        "flashes": pop_flashes(session),
        "navigation": request.app[navigation_key].for_viewer(viewer, current, request.app.router),
        "current_route": current,
        "url": url,
        "static": lambda filename: str(request.app.router["static"].url_for(filename=filename)),
        "form": {},
        "errors": {},
        **(context or {}),
    }
    text = request.app[templates_key].get_template(template).render(page)
    return web.Response(text=text, status=status, content_type="text/html")
