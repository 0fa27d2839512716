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

    async def check(self, connection: asyncpg.Connection, *, account: str, address: str) -> None:
        """Raise TooManyAttempts while either limit is reached, saying when to try again."""
        rows = await connection.fetch(
            """SELECT scope, count(*) AS failures,
                      extract(epoch FROM min(failed_at) + make_interval(secs => $4) - now()) AS wait
                 FROM auth_failures
                WHERE action = $1 AND failed_at > now() - make_interval(secs => $4)
                  AND ((scope = 'account' AND subject = $2) OR (scope = 'address' AND subject = $3))
                GROUP BY scope""",
            self.action,
            account.lower(),
            address,
            self.window_seconds,
        )
        for row in rows:
            limit = self.account_limit if row["scope"] == "account" else self.address_limit
            if row["failures"] >= limit:
                minutes = max(1, math.ceil(float(row["wait"]) / 60))
                raise TooManyAttempts(
                    f"too many attempts: please wait {minutes} minute{'s' if minutes > 1 else ''} and try again, "
                    "or call us"
                )

    async def record_failure(self, connection: asyncpg.Connection, *, account: str, address: str) -> None:
        await connection.execute(
            "INSERT INTO auth_failures (action, scope, subject) VALUES ($1, 'account', $2), ($1, 'address', $3)",
            self.action,
            account.lower(),
            address,
        )
        # Old failures no longer count; keep the table as small as the window.
        await connection.execute(
            "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(secs => $1)", self.window_seconds
        )

    async def forgive_account(self, connection: asyncpg.Connection, account: str) -> None:
        """After a success (login, password reset) the account starts with a clean slate; the address does not."""
        await connection.execute(
            "DELETE FROM auth_failures WHERE action = $1 AND scope = 'account' AND subject = $2",
            self.action,
            account.lower(),
        )
