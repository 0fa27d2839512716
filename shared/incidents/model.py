"""The vocabulary of incidents (sql/0021_incidents.sql lists the same values in its CHECKs; a test compares them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final


class IncidentKind(StrEnum):
    ALARM = "alarm"
    FAILURE_TO_COMMUNICATE = "failure_to_communicate"
    UNKNOWN_ACCOUNT = "unknown_account"


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Disposition(StrEnum):
    """How an incident ended, in the words a dispatcher chooses (and the customer reads)."""

    REAL_ALARM = "real_alarm"
    FALSE_ALARM = "false_alarm"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"  # with the verbal passcode
    TEST = "test"
    RESTORED = "restored"  # a failure to communicate that ended by itself
    ATTACHED = "attached"  # an unknown account's signals attached to its account's incident
    DUPLICATE = "duplicate"
    NO_ACTION_NEEDED = "no_action_needed"


DISPOSITION_LABELS: Final[Mapping[Disposition, str]] = MappingProxyType(
    {
        Disposition.REAL_ALARM: "Real alarm",
        Disposition.FALSE_ALARM: "False alarm",
        Disposition.CANCELLED_BY_CUSTOMER: "Cancelled by the customer (passcode given)",
        Disposition.TEST: "Test",
        Disposition.RESTORED: "Communication restored",
        Disposition.ATTACHED: "Attached to the account's incident",
        Disposition.DUPLICATE: "Duplicate",
        Disposition.NO_ACTION_NEEDED: "No action needed",
    }
)


class FalseAlarmCause(StrEnum):
    USER_ERROR = "user_error"
    EQUIPMENT = "equipment"
    WEATHER = "weather"
    ANIMAL = "animal"
    INSTALLER = "installer"
    UNKNOWN = "unknown"
    OTHER = "other"


FALSE_ALARM_CAUSE_LABELS: Final[Mapping[FalseAlarmCause, str]] = MappingProxyType(
    {
        FalseAlarmCause.USER_ERROR: "User error",
        FalseAlarmCause.EQUIPMENT: "Equipment fault",
        FalseAlarmCause.WEATHER: "Weather",
        FalseAlarmCause.ANIMAL: "Animal or pet",
        FalseAlarmCause.INSTALLER: "Installer or technician",
        FalseAlarmCause.UNKNOWN: "Unknown",
        FalseAlarmCause.OTHER: "Other",
    }
)


class ActionKind(StrEnum):
    """One entry of an incident's audit trail."""

    OPENED = "opened"
    SIGNAL = "signal"  # a signal joined it
    RESTORED = "restored"  # a restore was attached
    TAKEN = "taken"
    TAKEN_OVER = "taken_over"
    RELEASED = "released"
    CALL = "call"
    NOTE = "note"
    DISPATCH = "dispatch"
    HOLD = "hold"
    CLOSED = "closed"
    ATTACHED = "attached"
    NOTIFIED = "notified"


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"


CALL_OUTCOME_LABELS: Final[Mapping[CallOutcome, str]] = MappingProxyType(
    {
        CallOutcome.ANSWERED: "Answered",
        CallOutcome.NO_ANSWER: "No answer",
        CallOutcome.VOICEMAIL: "Left a voicemail",
        CallOutcome.BUSY: "Busy",
        CallOutcome.WRONG_NUMBER: "Wrong number",
    }
)


class Service(StrEnum):
    """Who a dispatcher sends."""

    POLICE = "police"
    FIRE = "fire"
    MEDICAL = "medical"
    GUARD = "guard"


SERVICE_LABELS: Final[Mapping[Service, str]] = MappingProxyType(
    {Service.POLICE: "Police", Service.FIRE: "Fire brigade", Service.MEDICAL: "Ambulance", Service.GUARD: "Guard"}
)


class NotificationCategory(StrEnum):
    """What a customer's user may be e-mailed about."""

    ALARM = "alarm"
    POWER = "power"
    FAILURE_TO_COMMUNICATE = "failure_to_communicate"


NOTIFICATION_LABELS: Final[Mapping[NotificationCategory, str]] = MappingProxyType(
    {
        NotificationCategory.ALARM: "Alarms",
        NotificationCategory.POWER: "Power loss",
        NotificationCategory.FAILURE_TO_COMMUNICATE: "Failure to communicate",
    }
)

# The transport of the signals the central station writes itself (supervision).
SUPERVISION_TRANSPORT: Final = "supervision"
# The Contact ID code of a failure to communicate (its qualifier 3 is the restore).
FAILURE_TO_COMMUNICATE_CODE: Final = "354"


def premises_key(site_id: int | None, account: str) -> str:
    """One open incident per key: the premises when the account is known, else the account."""
    return f"site:{site_id}" if site_id is not None else f"account:{account}"


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as pages, the API and the console read it."""

    id: int
    kind: IncidentKind
    status: IncidentStatus
    account: str
    panel_id: int | None
    site_id: int | None
    customer_id: int | None
    priority: int
    alarm_type: str | None
    title: str
    opened_at: datetime
    last_signal_at: datetime
    signal_count: int
    restored_at: datetime | None
    holder_id: int | None
    holder_name: str
    taken_at: datetime | None
    held_until: datetime | None
    closed_at: datetime | None
    disposition: Disposition | None
    false_alarm_cause: FalseAlarmCause | None
    disposition_note: str


@dataclass(frozen=True, slots=True)
class Action:
    """One entry of the audit trail."""

    id: int
    incident_id: int
    at: datetime
    user_id: int | None
    user_name: str
    kind: ActionKind
    detail: Mapping[str, Any]
    customer_visible: bool
