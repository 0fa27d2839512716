"""Supervision (SPEC D3, R9): a panel that stops communicating gets one "failure to communicate" signal, and its
restore when it is heard again.

A singleton job (shared.jobs.Singleton, every `dispatch.supervision_interval` seconds). A panel's deadline is its
last traffic (panels.last_seen_at, which the receivers move on any frame, a link poll included; else when it was
enrolled) plus the shorter of its test interval and its link supervision interval, plus
`dispatch.supervision_grace`. Past it (and not while its premises is on test: the first check after the test
counts), one statement marks the panel failed (communication_failed_at: silent since its last traffic) and
inserts its synthetic signal — Contact ID 354 event, transport 'supervision', the catalogue's text, an empty raw
frame — and NOTIFYs the signals channel as the receiver's batch does; the incident opener then opens the
failure-to-communicate incident and mails. Heard again (last_seen_at after communication_failed_at): cleared,
with a 354 restore, which the opener attaches (and closes the incident if nobody holds it). The UPDATE's own
condition makes each exactly once per lapse, whoever runs it and however often.
"""

from __future__ import annotations

from functools import partial

from shared.config import Config
from shared.db import Pool
from shared.incidents import queries
from shared.jobs import Singleton
from shared.logs import get_logger

log = get_logger(__name__)

JOB = "incident-supervision"


async def supervise(pool: Pool, *, grace: float) -> tuple[list[int], list[int]]:
    """One check: (panels that failed to communicate now, panels heard again now). Each in its own transaction."""
    async with pool.acquire() as connection:
        heard = await queries.mark_heard(connection)
        failed = await queries.mark_failed(connection, grace)
    if failed:
        log.warning("panels failed to communicate", panels=failed)
    if heard:
        log.info("panels communicating again", panels=heard)
    return failed, heard


async def _tick(grace: float, pool: Pool) -> None:
    await supervise(pool, grace=grace)


def supervision_job(config: Config) -> Singleton:
    """The worker's supervision job."""
    return Singleton(JOB, config["dispatch.supervision_interval"], partial(_tick, config["dispatch.supervision_grace"]))
