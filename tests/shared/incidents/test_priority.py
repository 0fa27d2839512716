"""Incident priority: overrides by alarm type, else the stored (catalogue) priority; failures and unknown accounts
have their settings; the most urgent signal wins."""

from __future__ import annotations

from shared.config import load_config
from shared.incidents.model import IncidentKind
from shared.incidents.priority import PrioritySettings, more_urgent, signal_priority


def test_overrides_then_the_stored_priority() -> None:
    settings = PrioritySettings(overrides={"burglary": 1, "gas": 2}, failure=5, unknown=4)
    assert signal_priority(IncidentKind.ALARM, "burglary", 3, settings) == 1
    assert signal_priority(IncidentKind.ALARM, "fire", 1, settings) == 1
    assert signal_priority(IncidentKind.ALARM, "medical", 2, settings) == 2
    assert signal_priority(IncidentKind.ALARM, None, 7, settings) == 7
    assert signal_priority(IncidentKind.FAILURE_TO_COMMUNICATE, None, 9, settings) == 5
    assert signal_priority(IncidentKind.UNKNOWN_ACCOUNT, "fire", 1, settings) == 4
    assert signal_priority(IncidentKind.ALARM, None, 0) == 1, "never below 1 (the table's CHECK)"


def test_the_settings_come_from_the_configuration() -> None:
    config = load_config(
        None,
        environ={
            "ALARMHUB_DISPATCH_PRIORITIES": "fire=1, burglary=2",
            "ALARMHUB_DISPATCH_FAILURE_PRIORITY": "6",
            "ALARMHUB_DISPATCH_UNKNOWN_PRIORITY": "3",
        },
    )
    settings = PrioritySettings.from_config(config)
    assert settings == PrioritySettings(overrides={"fire": 1, "burglary": 2}, failure=6, unknown=3)
    assert PrioritySettings.from_config(load_config(None, environ={})).overrides == {}


def test_only_a_more_urgent_signal_sets_the_incident() -> None:
    assert more_urgent(1, 3) and not more_urgent(3, 3) and not more_urgent(4, 3)
