"""The account directory: every enrolled panel's ids and DC-09 key, in memory, kept current by NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import asyncpg

from shared.aio import wait_or_timeout
from shared.logs import get_logger

log = get_logger(__name__)

PANELS_CHANGED_CHANNEL = "panels_changed"
_PANEL_QUERY = """
    SELECT p.account, p.id AS panel_id, p.site_id, s.customer_id, p.dc09_key
      FROM panels p JOIN sites s ON s.id = p.site_id
"""


@dataclass(frozen=True, slots=True)
class PanelInfo:
    """What the receiver needs to know about an enrolled account on the hot path."""

    account: str
    panel_id: int
    site_id: int
    customer_id: int
    key: bytes | None


class AccountDirectory:
    """Account → PanelInfo, loaded whole at start and updated account by account as panels change.

    Lookups are synchronous dict reads so that decoding never waits on the database; a LISTEN connection
    reloads the accounts the `panels_changed` trigger names, and a periodic full reload repairs anything missed
    while that connection was down.
    """

    def __init__(self) -> None:
        self._panels: dict[str, PanelInfo] = {}
        self.loaded = asyncio.Event()

    def lookup(self, account: str) -> PanelInfo | None:
        return self._panels.get(account.upper())

    def __len__(self) -> int:
        return len(self._panels)

    async def load_all(self, connection: asyncpg.Connection) -> None:
        rows = await connection.fetch(_PANEL_QUERY)
        self._panels = {row["account"]: _panel(row) for row in rows}
        self.loaded.set()

    async def reload_account(self, connection: asyncpg.Connection, account: str) -> None:
        row = await connection.fetchrow(_PANEL_QUERY + " WHERE p.account = $1", account)
        if row is None:
            self._panels.pop(account, None)
        else:
            self._panels[account] = _panel(row)

    async def follow_changes(self, database_url: str, full_reload_every: float = 300.0) -> None:
        """Run forever: LISTEN for panel changes, reconnecting with backoff; reload everything now and then."""
        backoff = 0.5
        changed: asyncio.Queue[str] = asyncio.Queue()

        def on_change(_connection: object, _pid: int, _channel: str, account: str) -> None:
            changed.put_nowait(account)

        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(database_url, command_timeout=30)
                await connection.add_listener(PANELS_CHANGED_CHANNEL, on_change)
                await self.load_all(connection)
                backoff = 0.5
                while True:
                    account = await wait_or_timeout(changed.get(), full_reload_every)
                    if account is None:
                        await self.load_all(connection)
                        continue
                    await self.reload_account(connection, account)
                    log.info("panel changed", account=account, enrolled=account in self._panels)
            except Exception as error:  # any database or driver failure: reconnect, never let the task die
                log.warning("account directory lost its database connection", error=str(error), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):  # a failed close must not end the watch for changes
                        await connection.close(timeout=1)


def _panel(row: asyncpg.Record) -> PanelInfo:
    key = row["dc09_key"]
    return PanelInfo(row["account"], row["panel_id"], row["site_id"], row["customer_id"], bytes(key) if key else None)
