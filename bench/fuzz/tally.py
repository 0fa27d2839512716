"""Counting: everything sent, expected and received in a run, and every problem seen."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.fuzz.oracle import Expected, answer_problem, read_answer


@dataclass
class Tally:
    """Everything sent, expected and received, and every problem seen (the first few with their input)."""

    frames: Counter[str] = field(default_factory=Counter)  # fuzz inputs, by transport
    mutations: Counter[str] = field(default_factory=Counter)
    canaries: Counter[str] = field(default_factory=Counter)  # known-good frames sent, by transport
    acked_canaries: list[bytes] = field(default_factory=list)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # received: (transport, kind)
    silent: Counter[str] = field(default_factory=Counter)  # parts of inputs that get no answer (garbage)
    labels: Counter[tuple[str, str]] = field(default_factory=Counter)  # expected frames_total: (transport, answer)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # expected rejections: (transport, reason)
    closes: Counter[str] = field(default_factory=Counter)  # TCP closes by the receiver: frame_timeout / unexpected
    stalls: int = 0  # TCP connections deliberately left with half a frame
    cut_answers: int = 0  # answers dropped with a connection cut at frame_timeout (the panel would retransmit)
    reconnects: int = 0
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)  # (what, transport)
    examples: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.frames.values())

    def expect(self, transport: str, expected: Sequence[Expected]) -> None:
        for entry in expected:
            if entry.label is not None:
                self.labels[transport, entry.label] += 1
            if entry.reason is not None:
                self.reasons[transport, entry.reason] += 1
            if entry.kind is None:
                self.silent[transport] += 1

    def answered(self, transport: str, raw: bytes, expected: Expected, data: bytes) -> bool:
        """Count one answer and check it against what was expected; whether it was right."""
        read = read_answer(raw)
        self.answers[transport, read[0] if read is not None else "unreadable"] += 1
        problem = answer_problem(raw, expected)
        if problem is not None:
            self.problem("wrong answer", transport, problem, data)
        return problem is None

    def problem(self, kind: str, transport: str, detail: str, data: bytes) -> None:
        self.problems[kind, transport] += 1
        if len(self.examples) < 30:
            shown = data[:300].hex() + ("…" if len(data) > 300 else "")
            self.examples.append(f"{kind} ({transport}): {detail}; input ({len(data)} bytes) {shown}")
