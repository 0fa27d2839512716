"""Throttling of logins, registrations and reset requests in PostgreSQL: per account, device cookie and address.

The rule, for failures within `portal.throttle_minutes` (15) — counted in the database, so every portal instance
behind a load balancer sees the same attempts:

- Account: after `portal.account_max_failures` (5) failures at one account, further attempts at it are refused
  (429) before the password is checked — except from a browser holding a valid device cookie for that account
  (set by a successful login, see `portal/accounts/devices.py`). A failure from such a browser counts against its
  cookie instead, with the same limit; past it the cookie stops exempting (a stolen cookie buys at most that many
  guesses more), and someone guessing at an account cannot lock its owner's own browsers out. Changing the
  password while logged in is throttled as a stranger: whoever sits at an unattended browser is who it stops.
- Address: an address that failed at `portal.address_max_failures` (20) different accounts is slowed, never shut:
  each further attempt from it without a device cookie must come at least 2 seconds after the address's last
  failure, a gap that doubles with each further account, up to 60 seconds; a sooner attempt is refused (429)
  without being checked or counted. Behind an office's or a proxy's shared address one person failing at one
  account adds one account, so colleagues still log in; a password sprayer gets about one guess a minute. While
  a sprayer is active, a browser that never logged in from that address may be asked to wait; known browsers not.
- Registration and reset requests: the account rule as above (no device exemption), and an address is refused
  after `portal.address_max_failures` failures whatever accounts they aimed at: they guess at security codes and
  account numbers, which nobody needs to try twenty times.
- Counted before judged: an attempt is counted under advisory locks (account, then device, then address) before
  the password is checked and taken back if it succeeds, so parallel requests cannot all pass the check. Unknown
  e-mail addresses are counted exactly like known ones: the answers and their timing reveal nobody.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import asyncpg

from shared.config import Config
from shared.db import Connection
from shared.errors import DomainError

FIRST_GAP_SECONDS = 2.0
MAX_GAP_SECONDS = 60.0


class TooManyAttempts(DomainError):
    status = 429


@dataclass(frozen=True, slots=True)
class Attempt:
    """The rows that count one attempt against its account and address, or against its device cookie."""

    failure_ids: tuple[int, ...]

    async def succeeded(self, connection: Connection) -> None:
        """It was no failure after all: take it back."""
        await connection.execute("DELETE FROM auth_failures WHERE id = any($1::bigint[])", list(self.failure_ids))


def device_subject(device: str) -> str:
    """A device id is half of what makes its cookie worth having: only its digest is stored."""
    return hashlib.sha256(device.encode()).hexdigest()


def address_gap(accounts_failed: int, limit: int) -> float:
    """Seconds an address past its limit waits after its last failure: 2, 4, 8 ... up to a minute."""
    if accounts_failed < limit:
        return 0.0
    return min(FIRST_GAP_SECONDS * 2.0 ** min(accounts_failed - limit, 32), MAX_GAP_SECONDS)


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most `account_limit` failures per account (or device cookie) within `window_seconds`, and a growing gap
    between attempts from an address that failed at `address_limit` different accounts (see the module docstring).
    """

    action: str
    account_limit: int
    address_limit: int
    window_seconds: float

    @classmethod
    def from_config(cls, action: str, config: Config) -> Throttle:
        return cls(
            action,
            config["portal.account_max_failures"],
            config["portal.address_max_failures"],
            config["portal.throttle_minutes"] * 60.0,
        )

    async def attempt(
        self, connection: Connection, *, account: str, address: str, device: str | None = None
    ) -> Attempt:
        """Count one attempt now, before it is judged; raise TooManyAttempts (counting nothing) when it must wait.

        `device` is the id from this browser's valid device cookie for `account`, if it has one. Check and count
        run under locks, so parallel requests cannot all pass the check before any of them is counted; the locks
        are held for a few statements, never while a password is hashed. A successful attempt is taken back with
        `Attempt.succeeded`; a failed one simply stays counted.
        """
        device_key = device_subject(device) if device is not None else None
        async with connection.transaction():
            # The account as the login's own lookup folds it (PostgreSQL's lower(), not Python's: they differ on
            # e.g. "İ"), so no spelling of one address counts as another account.
            account = await connection.fetchval("SELECT lower($1)", account)
            # Always account, device, address in this order: two requests never wait for each other in a circle.
            for scope, subject in (("account", account), ("device", device_key), ("address", address)):
                if subject is not None:
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        f"throttle:{self.action}:{scope}:{subject}",
                    )
            counts = await connection.fetchrow(
                """SELECT count(*) FILTER (WHERE scope = 'account') AS account_failures,
                          extract(epoch FROM min(failed_at) FILTER (WHERE scope = 'account')
                                             + make_interval(secs => $5) - now()) AS account_wait,
                          count(*) FILTER (WHERE scope = 'device') AS device_failures,
                          count(*) FILTER (WHERE scope = 'address') AS address_failures,
                          -- rows written before migration 0016 name no account: each counts as its own
                          count(DISTINCT coalesce(account, id::text)) FILTER (WHERE scope = 'address')
                              AS address_accounts,
                          extract(epoch FROM now() - max(failed_at) FILTER (WHERE scope = 'address'))
                              AS since_address_failure
                     FROM auth_failures
                    WHERE action = $1 AND failed_at > now() - make_interval(secs => $5)
                      AND ((scope = 'account' AND subject = $2) OR (scope = 'device' AND subject = $3)
                           OR (scope = 'address' AND subject = $4))""",
                self.action,
                account,
                device_key,
                address,
                self.window_seconds,
            )
            assert counts is not None  # an aggregate without GROUP BY always answers one row
            trusted = device_key is not None and counts["device_failures"] < self.account_limit
            if not trusted:
                self._refuse_if_waiting(counts)
            rows = (
                [("device", device_key, None)]
                if trusted
                else [("account", account, None), ("address", address, account)]
            )
            ids = await connection.fetchval(
                "WITH counted AS (INSERT INTO auth_failures (action, scope, subject, account) "
                "SELECT $1, scope, subject, account FROM unnest($2::text[], $3::text[], $4::text[]) "
                "AS counted (scope, subject, account) RETURNING id) SELECT array_agg(id) FROM counted",
                self.action,
                [scope for scope, _, _ in rows],
                [subject for _, subject, _ in rows],
                [aimed_at for _, _, aimed_at in rows],
            )
        # Old failures no longer count; keep the table as small as the window.
        await connection.execute(
            "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(secs => $1)", self.window_seconds
        )
        return Attempt(tuple(ids))

    def _refuse_if_waiting(self, counts: asyncpg.Record) -> None:
        if counts["account_failures"] >= self.account_limit:
            minutes = max(1, math.ceil(float(counts["account_wait"]) / 60))
            raise TooManyAttempts(
                f"too many attempts: please wait {minutes} minute{'s' if minutes > 1 else ''} and try again, or call us"
            )
        if self.action != "login" and counts["address_failures"] >= self.address_limit:
            # Registration and reset requests guess at codes, not passwords, and nobody needs many: an address is
            # refused after address_limit failures, as before, whatever accounts they aimed at.
            raise TooManyAttempts("too many attempts from your network: please wait a few minutes and try again")
        gap = address_gap(counts["address_accounts"], self.address_limit)
        if gap and float(counts["since_address_failure"]) < gap:
            seconds = max(1, math.ceil(gap - float(counts["since_address_failure"])))
            raise TooManyAttempts(
                f"too many attempts from your network: please wait {seconds} second{'s' if seconds > 1 else ''} "
                "and try again"
            )

    async def forgive_account(self, connection: Connection, account: str, device: str | None = None) -> None:
        """After a success (login, password reset) the account and this browser's device cookie start with a clean
        slate; the address does not."""
        await connection.execute(
            "DELETE FROM auth_failures WHERE action = $1 AND ((scope = 'account' AND subject = lower($2)) "
            "OR (scope = 'device' AND subject = $3))",
            self.action,
            account,
            device_subject(device) if device is not None else None,
        )
