"""How an MQTT JSON event is spoiled, field by field, and what each change must get (docs/mqtt.md)."""

from __future__ import annotations

import random
from collections.abc import Callable

EventChange = Callable[[dict[str, object], random.Random], tuple[dict[str, object], tuple[str, ...] | None]]


def _set(name: str, value: object) -> EventChange:
    def change(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
        document[name] = value
        return document, ("nak",)

    return change


def _drop(name: str) -> EventChange:
    def change(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
        document.pop(name, None)
        return document, ("nak",)

    return change


def _unknown_field(document: dict[str, object], rng: random.Random) -> tuple[dict[str, object], tuple[str, ...] | None]:
    document["note"] = [1, {"x": None}]
    return document, None  # ignored: the event stands or falls by its own fields


EVENT_FIELD_MUTATIONS: tuple[tuple[str, EventChange], ...] = (
    ("seq_over", _set("seq", 10_000)),
    ("seq_negative", _set("seq", -5)),
    ("seq_text", _set("seq", "12a")),
    ("seq_bool", _set("seq", True)),
    ("no_time", _drop("time")),
    ("time_without_zone", _set("time", "2026-01-01T00:00:00")),
    ("time_text", _set("time", "yesterday")),
    ("other_account", _set("account", "0BADBAD0")),
    ("format", _set("format", "SIA-XYZ")),
    ("short_code", _set("code", "E13")),
    ("unknown_code", _set("code", "ZZ")),
    ("zone_text", _set("zone", "1a")),
    ("wrapped", lambda document, rng: ({"event": document}, ("nak",))),
    ("unknown_field", _unknown_field),
)
