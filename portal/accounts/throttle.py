"""Throttling of logins, registrations and reset requests, per account and per network address, in PostgreSQL."""

from __future__ import annotations

import math
from dataclasses import dataclass

import asyncpg

from shared.config import Config
from shared.errors import DomainError


class TooManyAttempts(DomainError):
    status = 429


@dataclass(frozen=True, slots=True)
class Attempt:
    """The rows that count one attempt against its account and its address."""

    failure_ids: tuple[int, ...]

    async def succeeded(self, connection: asyncpg.Connection) -> None:
        """It was no failure after all: take it back."""
        await connection.execute("DELETE FROM auth_failures WHERE id = any($1::bigint[])", list(self.failure_ids))


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most `account_limit` failures per account and `address_limit` per address within `window_seconds`.

    Kept in the database, so every portal instance behind a load balancer counts the same attempts.
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

    async def attempt(self, connection: asyncpg.Connection, *, account: str, address: str) -> Attempt:
        """Count one attempt now, before it is judged; raise TooManyAttempts (counting nothing) past either limit.

        Check and count run under a lock per account and per address, so parallel requests cannot all pass the
        check before any of them is counted. The lock is held for two statements, not while a password is hashed.
        A successful attempt is taken back with `Attempt.succeeded`; a failed one simply stays counted.
        """
        account = account.lower()
        async with connection.transaction():
            # Always account first, then address: two requests never wait for each other in a circle.
            for scope, subject in (("account", account), ("address", address)):
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"throttle:{self.action}:{scope}:{subject}"
                )
            rows = await connection.fetch(
                """SELECT scope, count(*) AS failures,
                          extract(epoch FROM min(failed_at) + make_interval(secs => $4) - now()) AS wait
                     FROM auth_failures
                    WHERE action = $1 AND failed_at > now() - make_interval(secs => $4)
                      AND ((scope = 'account' AND subject = $2) OR (scope = 'address' AND subject = $3))
                    GROUP BY scope""",
                self.action,
                account,
                address,
                self.window_seconds,
            )
            for row in rows:
                limit = self.account_limit if row["scope"] == "account" else self.address_limit
                if row["failures"] >= limit:
                    minutes = max(1, math.ceil(float(row["wait"]) / 60))
                    raise TooManyAttempts(
                        f"too many attempts: please wait {minutes} minute{'s' if minutes > 1 else ''} "
                        "and try again, or call us"
                    )
            ids = await connection.fetchval(
                "WITH counted AS (INSERT INTO auth_failures (action, scope, subject) "
                "VALUES ($1, 'account', $2), ($1, 'address', $3) RETURNING id) SELECT array_agg(id) FROM counted",
                self.action,
                account,
                address,
            )
        # Old failures no longer count; keep the table as small as the window.
        await connection.execute(
            "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(secs => $1)", self.window_seconds
        )
        return Attempt(tuple(ids))

    async def forgive_account(self, connection: asyncpg.Connection, account: str) -> None:
        """After a success (login, password reset) the account starts with a clean slate; the address does not."""
        await connection.execute(
            "DELETE FROM auth_failures WHERE action = $1 AND scope = 'account' AND subject = $2",
            self.action,
            account.lower(),
        )
