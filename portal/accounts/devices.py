"""Device cookies: a browser that logged in to an account before is a known client of it (OWASP's device cookies).

After a successful login the browser gets `alarmhub_device`: encrypted and signed (Fernet, with a key derived
from the session key; one made under a key of `portal.session_key_previous` is still read), HttpOnly,
SameSite=Strict, kept `portal.device_cookie_days`. It names, for each of the last few accounts that logged in from
this browser, a keyed digest of the account (never the address itself) and a random device id. It proves nothing
about who is typing, so it never logs anyone in: it only lets the throttle (portal/accounts/throttle.py) tell the
account's own browsers from strangers.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from portal.auth.session_key import session_keys
from portal.keys import config_key
from shared.config import Config

COOKIE = "alarmhub_device"
MAX_ACCOUNTS = 5  # a family computer or a shared front desk: a few people's accounts, never an unbounded list
DAY = 86400.0


@functools.lru_cache(maxsize=4)
def _keys(session_key_text: str) -> tuple[Fernet, bytes]:
    """Keys of their own, derived from the session key: one secret to configure, no key used for two purposes."""
    root = base64.urlsafe_b64decode(session_key_text.encode("ascii"))
    encryption = hmac.digest(root, b"alarmhub device cookie: encryption", "sha256")
    naming = hmac.digest(root, b"alarmhub device cookie: account names", "sha256")
    return Fernet(base64.urlsafe_b64encode(encryption)), naming


class DeviceCookies:
    """Reads and writes one browser's device cookie."""

    def __init__(self, config: Config) -> None:
        derived = [_keys(key) for key in session_keys(config)]
        self._fernet = MultiFernet([fernet for fernet, _ in derived])  # encrypts with the current key's
        self._namings = tuple(naming for _, naming in derived)  # the current key's first
        self._lifetime = config["portal.device_cookie_days"] * DAY
        self._secure = urlsplit(config["portal.public_url"]).scheme == "https"

    @classmethod
    def of(cls, request: web.Request) -> DeviceCookies:
        return cls(request.app[config_key])

    def _names(self, user_id: int) -> list[str]:
        """The account's name under each session key, the current key's first."""
        digests = (hmac.digest(naming, f"user:{user_id}".encode(), "sha256") for naming in self._namings)
        return [base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=") for digest in digests]

    def _entries(self, request: web.Request) -> list[list[object]]:
        """[account name, device id, issued at] for each account this browser may still claim; [] if tampered."""
        token = request.cookies.get(COOKIE)
        if not token:
            return []
        try:
            entries = json.loads(self._fernet.decrypt(token.encode("ascii"), ttl=int(self._lifetime)))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return []
        if not isinstance(entries, list):
            return []
        now = time.time()
        return [
            entry
            for entry in entries
            if isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[2], int | float)
            and now - entry[2] < self._lifetime
        ]

    def device_of(self, request: web.Request, user_id: int) -> str | None:
        """The device id this browser holds for the login `user_id`, or None when no valid cookie names it."""
        names = self._names(user_id)
        for entry_name, device, _ in self._entries(request):
            if entry_name in names and isinstance(device, str):
                return device
        return None

    def remember(self, request: web.Request, response: web.StreamResponse, user_id: int) -> None:
        """After a successful login: this browser is a known client of the login `user_id`, under a fresh device id."""
        names = self._names(user_id)
        kept = [entry for entry in self._entries(request) if entry[0] not in names][-(MAX_ACCOUNTS - 1) :]
        entries = [*kept, [names[0], secrets.token_urlsafe(16), int(time.time())]]
        response.set_cookie(
            COOKIE,
            self._fernet.encrypt(json.dumps(entries).encode()).decode("ascii"),
            max_age=int(self._lifetime),
            path="/",
            httponly=True,
            secure=self._secure,
            samesite="Strict",
        )
