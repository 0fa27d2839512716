"""Which signals open incidents, and what each does (pure: a signal and what is known of its premises in, a
decision out; shared.incidents.opener applies it).

- A signal from an unknown account (panel_id NULL), of any category, opens or joins that account's incident in the
  unknown lane (kind unknown_account, premises key 'account:<account>').
- A premises on test at the signal's received_at: nothing is opened or joined and nobody is mailed (the signal is
  stored and shown as any other). A restore is still attached to an incident opened before the test.
- The supervision's failure to communicate (transport 'supervision', code 354): its event opens or joins a
  failure_to_communicate incident; its restore is attached.
- An alarm-category event or status report opens or joins the premises' alarm incident; an alarm restore is
  attached to the premises' open incident (none open: nothing).
- A power-category event mails the customer's 'power' subscribers; no incident.
- Anything else: nothing.

An incident's restored_at is set when every event in it has a restore after it (`all_restored`): a Contact ID
event is restored by the same code with qualifier restore, a SIA event by the code the catalogue says restores it,
in the same zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from shared.catalogue.classify import classify
from shared.catalogue.model import Qualifier, SignalCategory
from shared.incidents.model import (
    FAILURE_TO_COMMUNICATE_CODE,
    SUPERVISION_TRANSPORT,
    IncidentKind,
    NotificationCategory,
    premises_key,
)
from shared.incidents.priority import DEFAULTS, PrioritySettings, signal_priority


@dataclass(frozen=True, slots=True)
class Signal:
    """What the rules read of a stored signal (a row of shared.signal_cursor.signals_after)."""

    id: int
    account: str
    panel_id: int | None
    site_id: int | None
    customer_id: int | None
    transport: str
    format: str
    code: str
    qualifier: str
    zone: str | None
    category: str
    alarm_type: str | None
    priority: int
    description: str
    received_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | asyncpg.Record) -> Signal:
        return cls(**{name: row[name] for name in cls.__slots__})

    @property
    def is_restore(self) -> bool:
        return self.qualifier == Qualifier.RESTORE

    @property
    def is_failure_to_communicate(self) -> bool:
        return self.transport == SUPERVISION_TRANSPORT and self.code == FAILURE_TO_COMMUNICATE_CODE


class Act(StrEnum):
    NOTHING = "nothing"
    OPEN_OR_JOIN = "open_or_join"  # open the premises' incident, or join the open one
    ATTACH_RESTORE = "attach_restore"  # attach to the premises' open incident, if there is one


@dataclass(frozen=True, slots=True)
class Decision:
    act: Act
    reason: str
    kind: IncidentKind | None = None  # the kind of incident it opens (OPEN_OR_JOIN)
    premises_key: str | None = None
    priority: int | None = None  # the priority it gives the incident (OPEN_OR_JOIN)
    mail: NotificationCategory | None = None  # a mail of its own, with no incident (power)

    @property
    def needs_premises(self) -> bool:
        """Whether the premises' test status could change this decision (it acts on a known premises)."""
        on_site = self.premises_key is not None and self.premises_key.startswith("site:")
        return (self.act is Act.OPEN_OR_JOIN and on_site) or self.mail is not None


NOTHING = Decision(Act.NOTHING, "not an alarm")


def decide(signal: Signal, *, on_test: bool = False, settings: PrioritySettings = DEFAULTS) -> Decision:
    """What `signal` does; `on_test`: its premises is on test at its received_at."""
    if signal.panel_id is None or signal.site_id is None:
        kind = IncidentKind.UNKNOWN_ACCOUNT
        return Decision(
            Act.OPEN_OR_JOIN,
            "unknown account",
            kind=kind,
            premises_key=premises_key(None, signal.account),
            priority=signal_priority(kind, signal.alarm_type, signal.priority, settings),
        )
    key = premises_key(signal.site_id, signal.account)
    if signal.is_failure_to_communicate:
        kind = IncidentKind.FAILURE_TO_COMMUNICATE
    elif signal.category == SignalCategory.ALARM:
        kind = IncidentKind.ALARM
    elif signal.category == SignalCategory.POWER and signal.qualifier == Qualifier.EVENT:
        if on_test:
            return Decision(Act.NOTHING, "power event, premises on test")
        return Decision(Act.NOTHING, "power event", mail=NotificationCategory.POWER, premises_key=key)
    else:
        return NOTHING
    if signal.is_restore:
        return Decision(Act.ATTACH_RESTORE, f"{kind} restore", kind=kind, premises_key=key)
    if on_test:
        return Decision(Act.NOTHING, "premises on test")
    return Decision(
        Act.OPEN_OR_JOIN,
        str(kind),
        kind=kind,
        premises_key=key,
        priority=signal_priority(kind, signal.alarm_type, signal.priority, settings),
    )


def opening_mail(kind: IncidentKind) -> NotificationCategory | None:
    """Whom an incident of `kind` mails when it is opened (or becomes an alarm): its category's subscribers."""
    if kind is IncidentKind.ALARM:
        return NotificationCategory.ALARM
    if kind is IncidentKind.FAILURE_TO_COMMUNICATE:
        return NotificationCategory.FAILURE_TO_COMMUNICATE
    return None  # an unknown account has no customer to mail


def joined_kind(current: IncidentKind, joining: IncidentKind) -> IncidentKind:
    """An incident's kind once a signal of `joining` kind joins it: an alarm at a premises that was failing to
    communicate makes the incident an alarm; nothing else changes the kind."""
    if current is IncidentKind.FAILURE_TO_COMMUNICATE and joining is IncidentKind.ALARM:
        return IncidentKind.ALARM
    return current


@dataclass(frozen=True, slots=True)
class Member:
    """A signal of an incident, as `all_restored` reads it."""

    id: int
    format: str
    code: str
    qualifier: str
    zone: str | None
    received_at: datetime
    account: str = ""  # the panel's account: on a premises with several panels, a restore ends its own panel's event


def _restores(member: Member) -> str | None:
    """The event code a restore signal restores (None: it restores nothing)."""
    meaning = classify(member.format, member.code, member.qualifier)
    if meaning.qualifier is not Qualifier.RESTORE:
        return None
    return meaning.restores or member.code


def restores_one_of(restore: Member, members: Sequence[Member]) -> bool:
    """Whether `restore` ends an event (or status report) among `members`: same code (or the one the catalogue says
    it restores), format and zone, received before it. A restore that ends none of them belongs to another incident
    (or none) and is not attached to this one."""
    code = _restores(restore)
    return code is not None and any(
        member.qualifier != Qualifier.RESTORE
        and member.code == code
        and member.format == restore.format
        and member.account == restore.account
        and (member.zone or "") == (restore.zone or "")
        and (member.received_at, member.id) < (restore.received_at, restore.id)
        for member in members
    )


def all_restored(members: Sequence[Member]) -> bool:
    """Whether every event (or status report) among `members` has a restore of the same code and zone at or after
    it; an incident with no event is not restored."""
    restores = [
        (code, member.format, member.account, member.zone or "", (member.received_at, member.id))
        for member in members
        if (code := _restores(member)) is not None
    ]
    events = [member for member in members if member.qualifier != Qualifier.RESTORE]
    if not events:
        return False
    return all(
        any(
            code == event.code
            and form == event.format
            and account == event.account
            and zone == (event.zone or "")
            and at > (event.received_at, event.id)
            for code, form, account, zone, at in restores
        )
        for event in events
    )
