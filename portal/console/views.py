"""The dispatchers' console: the page (GET /dispatch) and its live feed (GET /dispatch/live, a websocket)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, viewer_of
from portal.auth.model import Permission
from portal.auth.rules import Rule
from portal.auth.sessions import SESSION_TOKEN
from portal.console.hub import ConsoleHub, signal_json
from portal.console.queries import latest_alarms, latest_signals
from portal.keys import config_key, pool_key
from portal.render import render
from shared.errors import Forbidden
from shared.incidents.queue import open_queue
from shared.signal_cursor import cursor_now

routes = web.RouteTableDef()

# Who may open the console, and keep it open (the hub checks every socket's session against the same rule).
CONSOLE_RULE: Final = Rule(Access.STAFF, Permission.TAKE_INCIDENTS)
hub_key: Final = web.AppKey("console_hub", ConsoleHub)

# What the page opens with; the feed adds to it and the browser keeps as many.
LATEST_SIGNALS: Final = 100
LATEST_ALARMS: Final = 30
# Ageing colours of the queue: an incident turns amber, then red, when nobody has dealt with it for so long.
AGEING_SECONDS: Final = (60, 180)


def age(seconds: float) -> str:
    """An incident's age as the console shows it (console.js words it the same): "42 s", "3 min 5 s", "2 h 4 min"."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _with_time(row: Any) -> dict[str, Any]:
    return {**signal_json(row), "received": row["received_at"]}


@routes.get("/dispatch", name="console")
@access(CONSOLE_RULE.access, CONSOLE_RULE.permission)
async def console_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        # The cursor first: every signal before it is in the reads below, every one after it the feed sends.
        after = await cursor_now(connection)
        queue = await open_queue(connection)
        latest = await latest_signals(connection, LATEST_SIGNALS)
        alarms = await latest_alarms(connection, LATEST_ALARMS)
    return await render(
        request,
        "console/index.html",
        {
            "after": str(after),
            "queue": queue,
            "alarms": [_with_time(row) for row in alarms],
            "others": [_with_time(row) for row in latest if row["category"] != "alarm"],
            "ageing": AGEING_SECONDS,
            "age": lambda since: age((queue.at - since).total_seconds()),
            "latest_limit": LATEST_SIGNALS,
            "alarms_limit": LATEST_ALARMS,
        },
    )


def _same_origin(request: web.Request) -> bool:
    """A browser names the page that opens a websocket; only our own pages may (the cookie rides along)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: it holds the cookie itself, nothing rides on someone else's
    public = urlsplit(request.app[config_key]["portal.public_url"])
    allowed = {f"{request.scheme}://{request.host}", f"{public.scheme}://{public.netloc}"}
    return origin in allowed


@routes.get("/dispatch/live", name="console.live")
@access(CONSOLE_RULE.access, CONSOLE_RULE.permission)
async def live(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise Forbidden("the console's feed opens from the console's own page only")
    viewer = viewer_of(request)
    token = (await get_session(request)).get(SESSION_TOKEN)
    if not isinstance(token, str):
        raise Forbidden("the console's feed needs a logged-in session")
    hub = request.app[hub_key]
    ws = web.WebSocketResponse(compress=False, heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    socket = hub.new_socket(ws, request, token, viewer.user_id)
    try:
        await hub.attach(socket, request.query.get("after") or None)
        async for _message in ws:
            pass  # the browser has nothing to say; reading answers its pings and notices its close
    except ConnectionError:
        pass  # it went away while being caught up
    finally:
        hub.detach(socket)
    return ws
