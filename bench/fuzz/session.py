"""What the sessions share: the run (plan, oracle, tally, the receiver's port, the broker) and their protocol."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bench.fuzz.inputs import Unit
from bench.fuzz.oracle import Expected, Oracle
from bench.fuzz.plan import Broker, FuzzPlan
from bench.fuzz.tally import Tally


@dataclass
class FuzzRun:
    plan: FuzzPlan
    oracle: Oracle
    tally: Tally
    port: int
    broker: Broker | None

    def check_intent(self, transport: str, unit: Unit, expected: Sequence[Expected]) -> None:
        """An input whose answers DC-09 fixes: the reference codec must say the same."""
        if unit.intent is None:
            return
        predicted = Counter(entry.kind for entry in expected if entry.kind is not None)
        if predicted != Counter(unit.intent):
            detail = (
                f"{unit.mutation}: the spec says {list(unit.intent)}, the reference codec {list(predicted.elements())}"
            )
            self.tally.problem("reference codec against the spec", transport, detail, unit.data)


class Session(Protocol):
    async def send(self, count: int) -> None: ...
