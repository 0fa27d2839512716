"""Server-side sessions: the encrypted cookie names a session row; logging out or a new password revokes rows."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

from portal.api.bearer import is_api_request
from portal.auth.model import Role, Viewer, parse_permissions
from portal.keys import config_key, pool_key, viewer_key
from shared.db import Connection, Pool

# Names of the session cookie's fields.
SESSION_TOKEN = "sid"  # noqa: S105
CSRF_TOKEN = "csrf"  # noqa: S105
FLASHES = "flash"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token(session: Session) -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(CSRF_TOKEN)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_TOKEN] = token
    return token


def csrf_matches(session: Session, offered: str | None) -> bool:
    expected = session.get(CSRF_TOKEN)
    if not isinstance(expected, str) or not offered:
        return False
    return hmac.compare_digest(expected.encode(), offered.encode())


def flash(session: Session, message: str) -> None:
    """A one-time notice shown on the next page."""
    session[FLASHES] = [*session.get(FLASHES, []), message]


def pop_flashes(session: Session) -> list[str]:
    messages = session.pop(FLASHES, [])
    return [str(m) for m in messages] if isinstance(messages, list) else []


_LOAD_VIEWER = """
    SELECT u.id, u.email, u.name, u.role, u.customer_id, u.permissions, u.email_confirmed_at IS NOT NULL AS confirmed,
           u.email_confirmed_at IS NULL AND EXISTS (
               SELECT 1 FROM user_tokens t
                WHERE t.user_id = u.id AND t.purpose = 'confirm_email' AND t.used_at IS NULL AND t.expires_at > now()
           ) AS confirmation_link_sent
      FROM user_sessions s JOIN users u ON u.id = s.user_id
     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.password_hash IS NOT NULL
"""


async def load_viewer(pool: Pool, token: str) -> Viewer | None:
    digest = token_hash(token)
    row = await pool.fetchrow(_LOAD_VIEWER, digest)
    if row is None:
        return None
    return Viewer(
        user_id=row["id"],
        session_hash=digest,
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        customer_id=row["customer_id"],
        permissions=parse_permissions(row["permissions"]),
        email_confirmed=row["confirmed"],
        confirmation_link_sent=row["confirmation_link_sent"],
    )


@web.middleware
async def viewer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the viewer when the cookie names a live session; forget a session the server has ended."""
    if is_api_request(request):
        # Under /api/ only a bearer token authenticates (portal/api/bearer.py): a cookie, which the browser adds to
        # any request on its own, must not, so no other site can make a logged-in browser call the API.
        return await handler(request)
    session = await get_session(request)
    token = session.get(SESSION_TOKEN)
    if isinstance(token, str):
        viewer = await load_viewer(request.app[pool_key], token)
        if viewer is None:
            session.pop(SESSION_TOKEN, None)
        else:
            request[viewer_key] = viewer
    return await handler(request)


async def start_session(request: web.Request, connection: Connection, user_id: int) -> None:
    """Log `user_id` in: a new session row and a fresh cookie (new CSRF token, nothing carried over but notices)."""
    token = secrets.token_urlsafe(32)
    hours: float = request.app[config_key]["portal.session_hours"]
    await connection.execute(
        "INSERT INTO user_sessions (user_id, token_hash, expires_at, remote_addr) "
        "VALUES ($1, $2, now() + make_interval(secs => $3), $4)",
        user_id,
        token_hash(token),
        hours * 3600.0,
        request.remote or "",
    )
    notices = pop_flashes(await get_session(request))
    session = await new_session(request)
    session[SESSION_TOKEN] = token
    csrf_token(session)
    for notice in notices:
        flash(session, notice)


async def end_session(request: web.Request, connection: Connection, viewer: Viewer) -> None:
    """Log out: this session's row is revoked, so a copy of the cookie opens nothing."""
    await connection.execute(
        "UPDATE user_sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        viewer.session_hash,
    )
    session = await new_session(request)
    csrf_token(session)


async def revoke_all_sessions(connection: Connection, user_id: int) -> int:
    """End every session of a user (password changed or reset, user removed); how many were live."""
    result: str = await connection.execute(
        "UPDATE user_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )
    return int(result.rsplit(maxsplit=1)[-1])
