"""The panels the fuzzer speaks for: enrolled or not, plain or with an AES key, per transport."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Panel:
    account: str  # as the fuzzer spells it (an MQTT topic may use lower case, or no account at all)
    key: bytes | None = None
    enrolled: bool = True


def _key(account: str, size: int) -> bytes:
    return hashlib.sha256(account.encode()).digest()[:size]


FUZZ_PANELS = (
    Panel("F2000001"),
    Panel("F2000002"),
    Panel("F2000011", _key("F2000011", 16)),
    Panel("F2000012", _key("F2000012", 24)),
    Panel("F2000013", _key("F2000013", 32)),
    Panel("F2000FFF", enrolled=False),  # plain frames are stored as "account unknown"; encrypted ones refused
    Panel("F2000ABC", enrolled=False),
)
CANARY_PANELS = (Panel("CA000001"), Panel("CA000002", _key("CA000002", 16)))
# One MQTT session per topic account: its answers come on that account's ack topic.
MQTT_PANELS = (
    Panel("F3000001"),
    Panel("F3000011", _key("F3000011", 16)),
    Panel("F3000FFF", enrolled=False),
    Panel("f3000002"),  # enrolled as F3000002; the topic spells it in lower case
    Panel("F3000012", _key("F3000012", 32)),
    Panel("", enrolled=False),  # alarmhub/panels//dc09: a topic that names no account
    Panel("F3000003"),
    Panel("F3000FFE", enrolled=False),
)


def enrolled_keys() -> dict[str, bytes | None]:
    """Every enrolled account (upper case, as the directory holds it) and its key."""
    panels = (*FUZZ_PANELS, *CANARY_PANELS, *MQTT_PANELS)
    return {panel.account.upper(): panel.key for panel in panels if panel.enrolled}
