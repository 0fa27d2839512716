"""The account directory: every enrolled panel's ids and DC-09 keys, in memory, kept current by NOTIFY."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.events import PANELS_CHANGED, Listener, PanelChanged
from shared.logs import get_logger

log = get_logger(__name__)

# A previous key whose overlap has ended is never loaded; one still loaded is checked against the clock on use.
_PANEL_QUERY = """
    SELECT p.account, p.id AS panel_id, p.site_id, s.customer_id, p.dc09_key,
           CASE WHEN p.dc09_key_previous_until > now() THEN p.dc09_key_previous END AS dc09_key_previous,
           p.dc09_key_previous_until
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
    previous_key: bytes | None = None  # the key `key` replaced, while a rotation's overlap lasts
    previous_until: datetime | None = None

    def previous_key_at(self, now: datetime) -> bytes | None:
        """The previous key when it is still accepted at `now` (asked only once the current key has failed)."""
        if self.previous_key is not None and self.previous_until is not None and now < self.previous_until:
            return self.previous_key
        return None

    def opens_with(self, key: bytes | None, now: datetime) -> bool:
        """Whether a message opened with `key` (None: plain) may be this panel's."""
        return key == self.key or (key is not None and key == self.previous_key_at(now))


class AccountDirectory:
    """Account → PanelInfo, loaded whole at start and updated account by account as panels change.

    Lookups are synchronous dict reads so that decoding never waits on the database; a shared.events Listener
    reloads the accounts the `panels_changed` trigger names, and reloads everything whenever it (re)connects.
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
        """Run until cancelled: reload the accounts `panels_changed` names; reload everything after each
        (re)connect, which repairs what was missed while no connection listened, and every `full_reload_every`."""
        listener = Listener(database_url, name="account-directory")

        async def reload_all(connection: asyncpg.Connection) -> None:
            await self.load_all(connection)
            listener.schedule(reload_all, full_reload_every)

        async def panel_changed(connection: asyncpg.Connection, change: PanelChanged) -> None:
            await self.reload_account(connection, change.account)
            log.info("panel changed", account=change.account, enrolled=change.account in self._panels)

        listener.on(PANELS_CHANGED, panel_changed)
        listener.on_connect(reload_all)
        await listener.run()


def _panel(row: asyncpg.Record) -> PanelInfo:
    key, previous = row["dc09_key"], row["dc09_key_previous"]
    return PanelInfo(
        row["account"],
        row["panel_id"],
        row["site_id"],
        row["customer_id"],
        bytes(key) if key else None,
        bytes(previous) if previous else None,
        row["dc09_key_previous_until"] if previous else None,
    )
