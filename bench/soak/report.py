"""A soak scenario's outcome (its figures and checks) and the Markdown report of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.fuzz import Check
from bench.ingest import machine

Figures = list[str]


@dataclass
class Outcome:
    """One scenario's result: what it did (figures, sentences) and what it checked."""

    title: str
    seconds: float = 0.0
    figures: Figures = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def check(self, what: str, passed: bool, figures: str) -> None:
        self.checks.append((what, passed, figures))


def outcome_lines(outcome: Outcome) -> list[str]:
    lines = [f"**{outcome.title}** ({outcome.seconds:.0f} s): {'pass' if outcome.passed else '**FAIL**'}", ""]
    lines += [f"- {figure}" for figure in outcome.figures]
    lines += ["", "| check | result | figures |", "| --- | --- | --- |"]
    lines += [f"| {what} | {'pass' if ok else '**FAIL**'} | {figures} |" for what, ok, figures in outcome.checks]
    return [*lines, ""]


def report(outcomes: Sequence[Outcome], database: str, command: str) -> str:
    lines = [
        f"Machine: {machine()}; {database}; Mosquitto brokers of the run's own; every process on the same machine.",
        f"Command: `{command}`.",
        "",
    ]
    for outcome in outcomes:
        lines += outcome_lines(outcome)
    return "\n".join(lines)
