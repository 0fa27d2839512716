"""One presentation of a stored signal for every page, mail and export: the catalogue's words, not a view's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Protocol

from shared.catalogue.model import CATEGORY_LABELS, Qualifier, SignalCategory


class Row(Protocol):
    """A database record or a mapping: what present() reads by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


_CATEGORIES: dict[str, SignalCategory] = {category.value: category for category in SignalCategory}
_RESTORE: str = Qualifier.RESTORE.value
_OPEN_CLOSE = SignalCategory.OPEN_CLOSE


def category_of(value: str) -> SignalCategory:
    """A stored category; anything this version does not know is OTHER. (A dict, not SignalCategory(value): pages
    call this for every row, and an enum's lookup by value costs five times as much.)"""
    return _CATEGORIES.get(value, SignalCategory.OTHER)


def category_label(value: str) -> str:
    """The category's label as the portal's filters name it ("Alarms and emergencies", "Power loss", …)."""
    return CATEGORY_LABELS[category_of(value)]


class SignalLine(NamedTuple):
    """A stored signal as a person reads it.

    `text` is the catalogue's text for the event as decoded: a restore already reads as one ("Burglary alarm
    restored"), a Contact ID closing as "Closing by user" — nothing is appended to it. `who` names the zone or the
    user the event is about, `area` the partition. Immutable, and built fifty at a time for every page: a NamedTuple
    is made in less than half the time of a frozen dataclass.
    """

    id: int
    received_at: datetime
    account: str
    category: SignalCategory
    category_label: str
    text: str
    is_restore: bool
    who: str
    area: str
    code: str

    @property
    def category_key(self) -> str:
        """For CSS classes: category--alarm, category--open_close, …"""
        return self.category.value


def present(row: Row) -> SignalLine:
    """A signals row (id, received_at, account, category, qualifier, description, code, zone, partition,
    user_number) as a SignalLine."""
    category = _CATEGORIES.get(row["category"], SignalCategory.OTHER)
    zone, user, partition = row["zone"], row["user_number"], row["partition"]
    who = (f"Zone {zone}, user {user}" if user else f"Zone {zone}") if zone else (f"User {user}" if user else "")
    return SignalLine(
        row["id"],
        row["received_at"],
        row["account"],
        category,
        CATEGORY_LABELS[category],
        row["description"],
        # Contact ID sends a closing with the restore qualifier: for open/close codes it is the closing, no restore.
        row["qualifier"] == _RESTORE and category is not _OPEN_CLOSE,
        who,
        f"Area {partition}" if partition else "",
        row["code"],
    )
