"""What this process knows of the jobs it runs (shared/jobs.py): leadership and ticks, and their Prometheus series."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

JobKind = Literal["singleton", "continuous", "queue"]


@dataclass(slots=True)
class JobStatus:
    """One job as this process runs it. Only singletons tick; singletons and continuous jobs have a leader."""

    kind: JobKind
    leading: bool = False
    ticks_done: int = 0
    ticks_failed: int = 0
    last_tick_end: float | None = None  # Unix time

    @property
    def led(self) -> bool:
        return self.kind != "queue"

    def tick_ended(self, *, failed: bool) -> None:
        if failed:
            self.ticks_failed += 1
        else:
            self.ticks_done += 1
        self.last_tick_end = time.time()


@dataclass(frozen=True, slots=True)
class RunningJobs:
    """The jobs `running_jobs` started: each one's status by name, and the tasks that run them."""

    status: Mapping[str, JobStatus]
    tasks: Sequence[asyncio.Task[None]]

    def alive(self) -> bool:
        """Every runner still runs: each restarts its job whenever the job ends, so a runner that ended was killed."""
        return all(not task.done() for task in self.tasks)


class JobMetrics(Collector):
    """The jobs' status, read when /metrics is scraped."""

    def __init__(self, jobs: RunningJobs) -> None:
        self._jobs = jobs

    def collect(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            "alarmhub_worker_job_leader",
            "1 while this process leads the job (singleton and continuous jobs), 0 while it stands by.",
            labels=["job"],
        )
        ticks = CounterMetricFamily(
            "alarmhub_worker_job_ticks",
            "Ticks of a singleton job that this process ran, by outcome (done, failed).",
            labels=["job", "outcome"],
        )
        last_end = GaugeMetricFamily(
            "alarmhub_worker_job_last_tick_end_timestamp_seconds",
            "When the last tick of the job that this process ran ended (Unix time).",
            labels=["job"],
        )
        for name, status in self._jobs.status.items():
            if status.led:
                leader.add_metric([name], int(status.leading))
            if status.kind == "singleton":
                ticks.add_metric([name, "done"], status.ticks_done)
                ticks.add_metric([name, "failed"], status.ticks_failed)
            if status.last_tick_end is not None:
                last_end.add_metric([name], status.last_tick_end)
        yield from (leader, ticks, last_end)
