"""The staff queue of service requests (GET /staff/service): every customer's requests by age, with filters."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from portal.auth.access import Access, access, viewer_of
from portal.keys import config_key, pool_key
from portal.render import render
from portal.service_desk import present, queries
from portal.service_desk.queries import ALL, HOLDERS, KINDS, NOT_CLOSED, STATUSES, Cursor, QueueFilter
from shared.config import Config
from shared.service.model import KIND_LABELS

routes = web.RouteTableDef()

STATUS_CHOICES = [
    (NOT_CLOSED, "Not closed (open, answered or scheduled)"),
    *((status, present.STATUS_LABELS[status]) for status in STATUSES),
    (ALL, "Any state"),
]
KIND_CHOICES = [("", "Any kind"), *((kind, KIND_LABELS[kind]) for kind in KINDS)]
HOLDER_CHOICES = [("anyone", "Anyone or nobody"), ("me", "Me"), ("nobody", "Nobody (waiting to be taken)")]


def topics_of(config: Config) -> list[str]:
    """The topics customers choose from (inquiries first, then service), each once."""
    return list(dict.fromkeys([*config["service.inquiry_topics"], *config["service.service_topics"]]))


def read_filter(query: MultiMapping[str]) -> QueueFilter:
    """The filters in the query string; a value that is not one of the choices means its default."""
    status = query.get("status", NOT_CLOSED)
    kind = query.get("kind", "")
    holder = query.get("holder", "anyone")
    topic = query.get("topic", "").strip()
    return QueueFilter(
        status=status if status in (*STATUSES, NOT_CLOSED, ALL) else NOT_CLOSED,
        kind=kind if kind in KINDS else "",
        topic=topic[:200],
        holder=holder if holder in HOLDERS else "anyone",
    )


def filter_query(chosen: QueueFilter, after: Cursor | None = None) -> str:
    parts = {"status": chosen.status, "kind": chosen.kind, "topic": chosen.topic, "holder": chosen.holder}
    if after is not None:
        parts["after"] = after.encode()
    return urlencode(parts)


@routes.get("/staff/service", name="service_desk")
@access(Access.STAFF)
async def queue_page(request: web.Request) -> web.StreamResponse:
    chosen = read_filter(request.query)
    after = Cursor.decode(request.query.get("after", ""))
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        page = await queries.queue(connection, chosen, staff_id=viewer.user_id, after=after, limit=queries.QUEUE_PAGE)
    topics = topics_of(request.app[config_key])
    if chosen.topic and chosen.topic not in topics:
        topics.append(chosen.topic)  # a topic since taken off the list still filters its old requests
    now = datetime.now(UTC)
    return await render(
        request,
        "service_desk/queue.html",
        {
            **present.helpers(),
            "rows": page.rows,
            "form": {"status": chosen.status, "kind": chosen.kind, "topic": chosen.topic, "holder": chosen.holder},
            "paged": after is not None,
            "next_query": filter_query(chosen, page.next_cursor) if page.next_cursor else "",
            "first_query": filter_query(chosen),
            "status_choices": STATUS_CHOICES,
            "kind_choices": KIND_CHOICES,
            "holder_choices": HOLDER_CHOICES,
            "topic_choices": [("", "Any topic"), *((topic, topic) for topic in topics)],
            "age": lambda since: present.age(since, now),
        },
    )
