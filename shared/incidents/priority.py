"""An incident's priority (1 = most urgent): pure, from a signal and the dispatch.* settings.

An alarm signal's priority is `dispatch.priorities`' override for its alarm type, else the priority the event
catalogue gave it when it was stored. A failure to communicate is `dispatch.failure_priority`; anything from an
unknown account `dispatch.unknown_priority`. An incident takes the most urgent (lowest) of its signals'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from shared.config import Config
from shared.incidents.model import IncidentKind

DEFAULT_FAILURE_PRIORITY: Final = 5
DEFAULT_UNKNOWN_PRIORITY: Final = 4


@dataclass(frozen=True, slots=True)
class PrioritySettings:
    """The dispatch.* settings the priorities come from."""

    overrides: Mapping[str, int] = field(default_factory=dict)  # alarm type -> priority
    failure: int = DEFAULT_FAILURE_PRIORITY
    unknown: int = DEFAULT_UNKNOWN_PRIORITY

    @classmethod
    def from_config(cls, config: Config) -> PrioritySettings:
        return cls(
            overrides=dict(config["dispatch.priorities"]),
            failure=int(config["dispatch.failure_priority"]),
            unknown=int(config["dispatch.unknown_priority"]),
        )


DEFAULTS: Final = PrioritySettings()


def signal_priority(
    kind: IncidentKind, alarm_type: str | None, stored: int, settings: PrioritySettings | None = None
) -> int:
    """The priority a signal gives the incident of `kind` it opens or joins."""
    settings = settings or DEFAULTS
    if kind is IncidentKind.UNKNOWN_ACCOUNT:
        return settings.unknown
    if kind is IncidentKind.FAILURE_TO_COMMUNICATE:
        return settings.failure
    if alarm_type is not None and alarm_type in settings.overrides:
        return settings.overrides[alarm_type]
    return max(1, stored)


def more_urgent(candidate: int, current: int) -> bool:
    """Whether a signal of priority `candidate` sets the incident's priority, title and alarm type (ties keep the
    first signal's)."""
    return candidate < current
