"""The session cookie's storage: encrypted with the current session key, still readable with a previous one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet, InvalidToken


class RotatingCookieStorage(EncryptedCookieStorage):
    """aiohttp-session's encrypted cookie under `keys[0]`; a cookie made under one of the later keys (a rotated
    `portal.session_key`) is opened too and re-issued under the current key with the same response."""

    def __init__(self, keys: Sequence[str], **options: Any) -> None:
        super().__init__(keys[0], **options)
        self._fernets = tuple(Fernet(key) for key in keys)  # the current key first: most cookies open at once

    async def load_session(self, request: web.Request) -> Session:
        cookie = self.load_cookie(request)
        if cookie is None:
            return Session(None, data=None, new=True, max_age=self.max_age)
        for position, fernet in enumerate(self._fernets):
            try:
                text = fernet.decrypt(cookie.encode("utf-8"), ttl=self.max_age).decode("utf-8")
            except InvalidToken:
                continue
            session = Session(None, data=self._decoder(text), new=False, max_age=self.max_age)
            if position:
                session.changed()  # made under a previous key: the response carries it under the current one
            return session
        return Session(None, data=None, new=True, max_age=self.max_age)
