"""Reading the receiver process from outside: its memory (/proc), its metrics and its log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    return _status_field(pid, "VmRSS:")


def peak_rss(pid: int) -> int:
    return _status_field(pid, "VmHWM:")


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024
    return 0


async def scrape(url: str, labels: Mapping[str, tuple[str, ...]]) -> dict[str, dict[tuple[str, ...], int]]:
    """The receiver's counters named in ``labels`` (metric name -> its label names): label values -> value."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in labels}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in labels and sample.value:
                key = tuple(sample.labels[label] for label in labels[sample.name])
                found[sample.name][key] = int(sample.value)
    return found


def log_findings(log: Path) -> tuple[list[str], list[str]]:
    """(warning lines, error lines) of the receiver's log; a line that is not a JSON record counts as an error."""
    warnings, errors = [], []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        level = record.get("level") if isinstance(record, dict) else None
        if level == "warning":
            warnings.append(line)
        elif level in ("error", "critical", "exception"):
            errors.append(line)
    return warnings, errors
