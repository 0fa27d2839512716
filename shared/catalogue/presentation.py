"""One presentation of a stored signal for every page, mail and export: the catalogue's words, not a view's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.catalogue.model import CATEGORY_LABELS, Qualifier, SignalCategory


class Row(Protocol):
    """A database record or a mapping: what present() reads by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


def category_of(value: str) -> SignalCategory:
    """A stored category; anything this version does not know is OTHER."""
    try:
        return SignalCategory(value)
    except ValueError:
        return SignalCategory.OTHER


def category_label(value: str) -> str:
    """The category's label as the portal's filters name it ("Alarms and emergencies", "Power loss", …)."""
    return CATEGORY_LABELS[category_of(value)]


@dataclass(frozen=True, slots=True)
class SignalLine:
    """A stored signal as a person reads it.

    `text` is the catalogue's text for the event as decoded: a restore already reads as one ("Burglary alarm
    restored"), a Contact ID closing as "Closing by user" — nothing is appended to it. `who` names the zone or the
    user the event is about, `area` the partition.
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
    category = category_of(row["category"])
    zone, user = row["zone"], row["user_number"]
    who = f"Zone {zone}" if zone else f"User {user}" if user else ""
    if zone and user:
        who = f"Zone {zone}, user {user}"
    return SignalLine(
        id=row["id"],
        received_at=row["received_at"],
        account=row["account"],
        category=category,
        category_label=CATEGORY_LABELS[category],
        text=row["description"],
        # Contact ID sends a closing with the restore qualifier: for open/close codes it is the closing, no restore.
        is_restore=row["qualifier"] == Qualifier.RESTORE.value and category is not SignalCategory.OPEN_CLOSE,
        who=who,
        area=f"Area {row['partition']}" if row["partition"] else "",
        code=row["code"],
    )
