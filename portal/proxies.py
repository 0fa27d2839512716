"""The client's address behind a reverse proxy: X-Forwarded-For, believed only from the proxies we trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_in(address: str | None, networks: Sequence[Network]) -> bool:
    """Whether `address` lies in one of `networks` (trusted proxies, /metrics scrapers); not an address: no."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str | None:
    """The rightmost hop that is not a trusted proxy: each proxy appends whom it heard from, the client writes
    whatever it likes on the left. Without a trusted peer the header is anyone's word and is ignored."""
    if not address_in(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not written by a proxy of ours: stop at the last hop a trusted proxy vouched for
        client = hop
        if not address_in(hop, proxies):
            break
    return client


def forwarded_for_middleware(proxies: Sequence[Network]) -> Middleware:
    """Set `request.remote` to the client's address, so the throttle and /metrics see the client, not the proxy."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if proxies:
            client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), proxies)
            if client is not None and client != request.remote:
                request = request.clone(remote=client)
        return await handler(request)

    return middleware
