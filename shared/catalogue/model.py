"""The catalogue's vocabulary: formats, signal categories, qualifiers, alarm types and the frozen records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal

CONTACT_ID: Final = "ADM-CID"
SIA_DCS: Final = "SIA-DCS"
FORMATS: Final = (CONTACT_ID, SIA_DCS)

FieldKind = Literal["zone", "user"]

# 1 is the most urgent; an unknown code sorts with the least urgent signals.
PRIORITY_LOWEST: Final = 6


class SignalCategory(StrEnum):
    """What kind of signal an event is, as the dispatchers' console and the portal's filters group them."""

    ALARM = "alarm"
    TROUBLE = "trouble"
    POWER = "power"
    SUPERVISORY = "supervisory"
    OPEN_CLOSE = "open_close"
    BYPASS = "bypass"
    TEST = "test"
    OTHER = "other"


class Qualifier(StrEnum):
    """Contact ID qualifier 1 / 3 / 6; SIA DCS restore codes (BR, AR, ...) classify as RESTORE."""

    EVENT = "event"
    RESTORE = "restore"
    STATUS = "status"


class AlarmType(StrEnum):
    """The kind of alarm, for alarm-category codes only."""

    BURGLARY = "burglary"
    FIRE = "fire"
    PANIC = "panic"
    MEDICAL = "medical"
    DURESS = "duress"
    HOLDUP = "holdup"
    GAS = "gas"
    CO = "co"
    WATER = "water"
    HEAT = "heat"
    FREEZE = "freeze"
    TAMPER = "tamper"
    EMERGENCY = "emergency"
    OTHER = "other"


# Display order is the order of the portal's filters (C11), then the dispatcher-only kinds.
CATEGORY_LABELS: Final[Mapping[SignalCategory, str]] = MappingProxyType(
    {
        SignalCategory.ALARM: "Alarms and emergencies",
        SignalCategory.TROUBLE: "Troubles and issues",
        SignalCategory.POWER: "Power loss",
        SignalCategory.TEST: "Tests",
        SignalCategory.OPEN_CLOSE: "Openings and closings",
        SignalCategory.SUPERVISORY: "Supervisory",
        SignalCategory.BYPASS: "Bypasses and disables",
        SignalCategory.OTHER: "Other",
    }
)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One event code of one format, as the CSV files define it.

    Contact ID: ``text`` is the qualifier-1 text and ``restore_text`` the qualifier-3 text; for
    open/close codes these are the opening and the closing, otherwise ``restored_by`` is the code
    itself when qualifier 3 restores it. SIA DCS: restores are separate codes (``BR`` restores ``BA``).
    """

    format: str
    code: str
    category: SignalCategory
    alarm_type: AlarmType | None
    priority: int
    text: str
    restore_text: str | None
    is_restore: bool
    restores: str | None
    restored_by: str | None
    field: FieldKind


@dataclass(frozen=True, slots=True)
class Classification:
    """What one decoded event means: prebuilt per (format, code, qualifier) and shared, never mutated."""

    category: SignalCategory
    alarm_type: AlarmType | None
    priority: int
    text: str
    qualifier: Qualifier
    known: bool
    restores: str | None
    # Whether the event's number is a zone or a user number (Contact ID's 3-digit field, SIA's data).
    field: FieldKind = "zone"
