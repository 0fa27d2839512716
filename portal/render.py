"""Templates: one jinja2 environment (autoescaped) and one render() that gives every page its common context."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from aiohttp_session import get_session

from portal.auth.sessions import csrf_token, pop_flashes
from portal.keys import config_key, navigation_key, templates_key, viewer_key
from shared.config import Config

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def create_templates(config: Config) -> jinja2.Environment:
    """HTML templates are escaped; plain-text mail templates (*.txt) are not, since they are not HTML."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(config["portal.timezone"])
    environment.globals["brand"] = {
        "company_name": config["portal.company_name"],
        "logo_text": config["portal.logo_text"],
        "phone": config["portal.company_phone"],
        "address": config["portal.company_address"],
    }
    environment.filters["localtime"] = lambda moment, fmt="%Y-%m-%d %H:%M": (
        moment.astimezone(zone).strftime(fmt) if moment is not None else "—"
    )
    environment.filters["capitalize_first"] = lambda text: text[:1].upper() + text[1:] if text else text
    environment.globals["timezone_name"] = config["portal.timezone"]
    return environment


def public_url(config: Config) -> str:
    """Where customers reach the portal, without a trailing slash; links in e-mail start with it."""
    configured: str = config["portal.public_url"]
    return (configured or f"http://{config['portal.host']}:{config['portal.port']}").rstrip("/")


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


def render_text(app: web.Application, template: str, context: dict[str, Any]) -> str:
    """A plain-text template (e-mail bodies) with the brand and the portal's address."""
    config = app[config_key]
    return app[templates_key].get_template(template).render({"portal_url": public_url(config), **context})
