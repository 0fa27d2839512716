"""The Signal history page (filters, table, Newer/Older) and its CSV export, streamed."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.keys import config_key, cursor_codec_key, export_slots_key, history_pool_key
from portal.render import render
from shared.catalogue import CATEGORY_LABELS
from shared.config import Config
from shared.logs import get_logger
from shared.scope import CustomerScope
from shared.signal_export import CSV_HEADER, csv_chunks
from shared.signal_history import (
    CursorCodec,
    HistoryFilter,
    HistoryPage,
    InvalidCursor,
    Position,
    Premises,
    history_page,
    premises_of,
)

routes = web.RouteTableDef()
log = get_logger(__name__)
_STALE_LINK = "That page link is no longer valid, so here are your newest signals."


def cursor_codec(session_key: str, *previous: str) -> CursorCodec:
    """Keys of their own for cursors, derived from the session keys (a cursor never reveals or reuses one): signed
    with the current key's, and still followed when made under a previous session key."""
    keys = [
        hmac.new(key.encode("ascii"), b"signal-history-cursor", hashlib.sha256).digest()
        for key in (session_key, *previous)
    ]
    return CursorCodec(*keys)


def timezone_in(config: Config) -> ZoneInfo:
    return ZoneInfo(config["portal.timezone"])


def parse_filter(request: web.Request, premises: list[Premises]) -> tuple[HistoryFilter, dict[str, str]]:
    return HistoryFilter.parse(
        request.query,
        request.query.getall("category", []),
        timezone=timezone_in(request.app[config_key]),
        premises=premises,
    )


def _cursor(request: web.Request, scope: CustomerScope, name: str) -> Position | None:
    text = request.query.get(name)
    return request.app[cursor_codec_key].decode(text, scope) if text else None


def _link(request: web.Request, wanted: HistoryFilter, *extra: tuple[str, str], route: str = "signals") -> str:
    query = urlencode([*wanted.query(), *extra])
    path = str(request.app.router[route].url_for())
    return f"{path}?{query}" if query else path


@routes.get("/signals", name="signals")
@access(Access.CUSTOMER)
async def history(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    codec = request.app[cursor_codec_key]
    notice = ""
    page: HistoryPage | None = None
    async with request.app[history_pool_key].acquire() as connection:
        premises = await premises_of(connection, scope)
        wanted, errors = parse_filter(request, premises)
        if not errors:
            try:
                after, before = _cursor(request, scope, "after"), _cursor(request, scope, "before")
            except InvalidCursor:
                after = before = None
                notice = _STALE_LINK
            page = await history_page(connection, scope, wanted, after=after, before=before, premises_known=premises)
    context: dict[str, Any] = {
        "page": page,
        "wanted": wanted,
        "errors": errors,
        "form": {k: v for k, v in request.query.items() if k in ("from", "to", "site")},
        "chosen": set(request.query.getall("category", [])),
        "categories": [(c.value, label) for c, label in CATEGORY_LABELS.items()],
        "premises": premises,
        "notice": notice,
        "csv_url": _link(request, wanted, route="signals.csv"),
        "older_url": _link(request, wanted, ("after", codec.encode(page.older, scope))) if page and page.older else "",
        "newer_url": _link(request, wanted, ("before", codec.encode(page.newer, scope))) if page and page.newer else "",
        "filtered": bool(wanted.query()),
    }
    return await render(request, "signals/index.html", context, status=400 if errors else 200)


@routes.get("/signals.csv", name="signals.csv")
@access(Access.CUSTOMER)
async def export(request: web.Request) -> web.StreamResponse:
    """The filtered range as CSV, written as it is read: memory stays flat however many years it spans."""
    slots = request.app[export_slots_key]
    if slots.locked():  # each export holds a database connection while it streams: the pages must keep theirs
        return web.Response(
            status=503,
            text="Several exports are running just now: please try again in a minute.",
            headers={"Retry-After": "30"},
        )
    async with slots:
        return await _export(request)


async def _export(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    async with request.app[history_pool_key].acquire() as connection:
        wanted, errors = parse_filter(request, await premises_of(connection, scope))
        if errors:  # only a hand-made link gets here: the page shows what is wrong, next to each field
            raise web.HTTPSeeOther(f"{request.app.router['signals'].url_for()}?{request.rel_url.raw_query_string}")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{_filename(wanted)}"',
                "Cache-Control": "private, no-store",
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        buffer = io.StringIO()
        buffer.write("\ufeff")  # the byte order mark: spreadsheets then read the file as UTF-8
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        rows = 0
        # aclosing: a download the browser abandons ends the cursor's transaction at once, not when collected.
        async with contextlib.aclosing(csv_chunks(connection, scope, wanted)) as exported:
            async for chunk in exported:
                writer.writerows(chunk)
                rows += len(chunk)
                await response.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    log.info("signal history exported", rows=rows)
    return response


def _filename(wanted: HistoryFilter) -> str:
    days = "-".join(
        part for part in (wanted.start and f"from-{wanted.start}", wanted.end and f"to-{wanted.end}") if part
    )
    return f"signal-history{'-' + days if days else ''}.csv"
