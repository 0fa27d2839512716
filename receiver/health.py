"""GET /healthz of a standalone receiver: whether it can store what it receives, listens, and is on MQTT."""

from __future__ import annotations

from collections.abc import Callable

from receiver.service import RunningReceiver
from shared.health import NOT_READY, OK, UNAVAILABLE, readiness_states


def receiver_report(receiver: RunningReceiver | None, *, mqtt: bool) -> dict[str, str]:
    """The receiver's readiness by name: "database" (a batch writer is connected, so frames can be stored and
    acknowledged), "listeners" (DC-09 TCP, and UDP when enabled, are open) and, when `mqtt` (a broker is
    configured), "mqtt" (connected and subscribed). `receiver` is None while it starts or once it has stopped:
    nothing can be stored then."""
    if receiver is None:
        report = {"database": UNAVAILABLE, "listeners": NOT_READY}
        return report | {"mqtt": NOT_READY} if mqtt else report
    checks: dict[str, Callable[[], bool]] = {"listeners": receiver.listening.is_set}
    if receiver.mqtt is not None:
        checks["mqtt"] = receiver.mqtt.connected.is_set
    return {"database": OK if receiver.writer.available else UNAVAILABLE} | readiness_states(checks)
