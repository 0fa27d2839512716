"""`alarmhub receiver` on several cores: a small supervisor over N worker processes.

Every worker is a whole `alarmhub receiver` (``receiver.processes = 1``) bound to the same DC-09 port; the kernel
(SO_REUSEPORT) spreads connections and datagrams over them. The supervisor knows nothing of the receiver: it
starts a command N times with an environment per worker, restarts one that dies (with backoff), and on SIGINT or
SIGTERM forwards SIGTERM to all, waits a bounded time, then SIGKILLs what is left.

Workers never outlive the supervisor: on Linux each asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), elsewhere a thread watches the parent's pid. The supervisor names itself to its workers
in ``SUPERVISOR_ENV`` — deliberately not ``ALARMHUB_``-prefixed, because the configuration loader refuses unknown
``ALARMHUB_*`` variables.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from shared.logs import get_logger

log = get_logger(__name__)

SUPERVISOR_ENV = "_ALARMHUB_SUPERVISOR"  # "<supervisor pid>:<worker index>" in a supervised worker
STOP_WAIT = 10.0  # seconds the workers get to finish after SIGTERM before SIGKILL
STARTUP_GRACE = 30.0  # a first start that exits by itself (status > 0) this soon failed to start: no restart
RESTART_FIRST, RESTART_LONGEST = 1.0, 30.0  # backoff between restarts of one worker, doubling
STABLE_AFTER = 60.0  # a worker that ran this long resets its backoff
POLL = 0.2  # seconds between looks at the workers
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Supervised:
    """What a worker learns from its environment: its supervisor's pid and its own index (0..N-1)."""

    supervisor_pid: int
    index: int


def supervised_worker(environ: Mapping[str, str] | None = None) -> Supervised | None:
    """In a worker: arrange to die with the supervisor and return who we are; None when not supervised.

    Exits at once if the supervisor is already gone (it may die between our fork and the prctl).
    """
    value = (os.environ if environ is None else environ).get(SUPERVISOR_ENV)
    if not value:
        return None
    pid_text, _, index_text = value.partition(":")
    me = Supervised(int(pid_text), int(index_text or 0))
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(me.supervisor_pid,), name="parent-watch", daemon=True).start()
    if os.getppid() != me.supervisor_pid:
        log.warning("supervisor gone before this worker started; exiting", supervisor=me.supervisor_pid)
        raise SystemExit(0)
    return me


def _die_with_parent() -> bool:
    """Ask Linux to send SIGTERM when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(supervisor_pid: int) -> None:
    while os.getppid() == supervisor_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass(slots=True)
class _Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    launches: int = 0
    restart_at: float = 0.0
    backoff: float = RESTART_FIRST


class WorkerStartFailed(Exception):
    """A worker exited by itself right after its first start: configuration or environment, not a crash."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status  # the worker's exit status, which the supervisor passes on (2: configuration error)


class Supervisor:
    """Runs `command` as `count` workers; worker i gets ``environment(i)`` plus ``SUPERVISOR_ENV``.

    `details` are added to the log line that names the workers' pids (addresses, metrics URLs).
    """

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        environment: Callable[[int], Mapping[str, str]],
        details: Mapping[str, object] | None = None,
    ) -> None:
        self._command = list(command)
        self._environment = environment
        self._details = dict(details or {})
        self._workers = [_Worker(i) for i in range(count)]
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None]

    def request_stop(self, signum: int = signal.SIGTERM, _: FrameType | None = None) -> None:
        if not self._stopping:
            log.info("stopping receiver workers", signal=signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> int:
        """Start the workers, keep them running until SIGINT/SIGTERM, stop them; 0, or the exit status of a worker
        that failed to start."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.request_stop)
        status = 0
        try:
            for worker in self._workers:
                self._start(worker)
            log.info("receiver workers started", workers=len(self._workers), pids=self.pids, **self._details)
            while not self._stopping:
                self._tend()
                time.sleep(POLL)
        except WorkerStartFailed as failure:
            log.error("receiver worker failed to start; stopping the others", reason=str(failure))
            status = failure.status
        finally:  # whatever ends the loop (an OSError from Popen too), no worker is left behind
            self._stop_all()
        log.info("receiver workers stopped")
        return status

    def _start(self, worker: _Worker) -> None:
        env = {**self._environment(worker.index), SUPERVISOR_ENV: f"{os.getpid()}:{worker.index}"}
        worker.process = subprocess.Popen(self._command, env=env)  # noqa: S603 - our own command line
        worker.started_at = time.monotonic()
        worker.launches += 1

    def _tend(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            process = worker.process
            if process is None:
                if now >= worker.restart_at:
                    self._start(worker)
                    log.info("receiver worker restarted", worker=worker.index, pids=self.pids)
                continue
            status = process.poll()
            if status is None or self._stopping:
                continue
            ran = now - worker.started_at
            if worker.launches == 1 and status > 0 and ran < STARTUP_GRACE:
                detail = f"worker {worker.index} (pid {process.pid}) exited with status {status}"
                raise WorkerStartFailed(detail, status)
            worker.backoff = RESTART_FIRST if ran >= STABLE_AFTER else worker.backoff
            worker.process = None
            worker.restart_at = now + worker.backoff
            log.error(
                "receiver worker died; restarting",
                worker=worker.index,
                pid=process.pid,
                status=_describe(status),
                ran_seconds=round(ran, 1),
                restart_in=worker.backoff,
            )
            worker.backoff = min(worker.backoff * 2, RESTART_LONGEST)

    def _stop_all(self) -> None:
        running = [w.process for w in self._workers if w.process is not None and w.process.poll() is None]
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("receiver worker did not stop in time; killing it", pid=process.pid)
                _signal(process, signal.SIGKILL)
                process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already reaped
        process.send_signal(signum)


def _describe(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
