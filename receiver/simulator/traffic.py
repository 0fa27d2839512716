"""What virtual panels send: a realistic mix of tests, openings/closings, troubles, power and alarms (pure)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from receiver.dc09 import cid_data, encode_frame, sia_data

# (weight, format, code, qualifier or SIA restore code): roughly what a central station sees in a day.
TRAFFIC_MIX: tuple[tuple[int, str, str, int], ...] = (
    (30, "ADM-CID", "602", 1),  # periodic test
    (18, "ADM-CID", "401", 1),  # opening by user
    (18, "ADM-CID", "401", 3),  # closing by user
    (4, "ADM-CID", "301", 1),  # AC power loss
    (4, "ADM-CID", "301", 3),  # AC power restored
    (3, "ADM-CID", "302", 1),  # low system battery
    (4, "ADM-CID", "570", 1),  # zone bypass
    (3, "ADM-CID", "380", 1),  # sensor trouble
    (3, "ADM-CID", "130", 1),  # burglary alarm
    (2, "ADM-CID", "130", 3),  # burglary restore
    (1, "ADM-CID", "110", 1),  # fire alarm
    (1, "ADM-CID", "120", 1),  # panic
    (1, "ADM-CID", "100", 1),  # medical
    (3, "SIA-DCS", "RP", 0),  # automatic test
    (2, "SIA-DCS", "OP", 0),  # opening
    (2, "SIA-DCS", "CL", 0),  # closing
    (1, "SIA-DCS", "BA", 0),  # burglary alarm
)
_WEIGHTS = [weight for weight, *_ in TRAFFIC_MIX]


@dataclass(slots=True)
class VirtualPanel:
    """One panel: its account, optional AES key, and the sequence number of its next message."""

    account: str
    key: bytes | None = None
    receiver: str = "1"
    line: str = "1"
    sequence: int = 1
    rng: random.Random = field(default_factory=random.Random)
    prepared: deque[bytes] = field(default_factory=deque)

    def prepare(self, count: int, now: datetime | None = None) -> None:
        """Build the next `count` frames ahead of time, so that a benchmark's client spends its time on I/O.

        Sequence numbers wrap after 9999; each wrap moves the timestamp on by a second, so that every prepared
        frame is a distinct message (account, sequence and timestamp, with the event, form the receiver's
        idempotency key).
        """
        start = now or datetime.now(UTC)
        for index in range(count):
            self.prepared.append(self.next_frame(start + timedelta(seconds=index // 9999)))

    def next_frame(self, now: datetime | None = None) -> bytes:
        """The next message of this panel's traffic, with a fresh sequence number (1-9999)."""
        if self.prepared and now is None:
            return self.prepared.popleft()
        _, fmt, code, qualifier = self.rng.choices(TRAFFIC_MIX, _WEIGHTS)[0]
        zone = self.rng.randint(1, 32)
        if fmt == "ADM-CID":
            data = cid_data(self.account, qualifier, code, 1, zone)
        else:
            data = sia_data(self.account, code, zone, partition=1)
        frame = self.frame(fmt, data, now)
        return frame

    def frame(self, message_type: str, data: str, now: datetime | None = None) -> bytes:
        sequence = self.sequence
        self.sequence = sequence % 9999 + 1
        return encode_frame(
            message_type,
            sequence,
            self.account,
            data,
            receiver=self.receiver,
            line=self.line,
            timestamp=(now or datetime.now(UTC)),
            key=self.key,
        )

    def link_test(self, now: datetime | None = None) -> bytes:
        return self.frame("NULL", "", now)


def panel_accounts(count: int, prefix: str = "F1") -> list[str]:
    """Accounts for `count` simulated panels: the prefix then hex digits, e.g. F1000001."""
    return [f"{prefix}{number:06X}" for number in range(1, count + 1)]


def simulator_key(account: str) -> bytes:
    """A deterministic AES-128 key per simulated account, so the simulator and the enrolment agree."""
    return (account.encode() * 16)[:16]
