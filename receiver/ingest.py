"""The pipeline every transport feeds: frame → decode → account check → batch writer → the one answer policy.

`Ingestor.receive` is synchronous up to the database: decoding and the account lookup never wait. A frame that
needs storing comes back as a `PendingAnswer` whose answer exists only once its batch has committed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from receiver import fastpath, metrics
from receiver.accounts import AccountDirectory, PanelInfo
from receiver.batch_writer import BatchWriter, StorageUnavailable, Untimed
from receiver.dc09 import (
    Envelope,
    Message,
    Rejection,
    RejectReason,
    ack,
    check_window,
    duh,
    nak,
    open_message,
    parse_envelope,
)
from receiver.housekeeping import Housekeeping
from receiver.signal_rows import message_rows, row_head

Clock = Callable[[], datetime]
# A SIA block may carry several events; a frame of a kilobyte could otherwise become hundreds of rows.
MAX_EVENTS_PER_MESSAGE = 64


def _utc_now() -> datetime:
    return datetime.now(UTC)


def untimed_transmission(envelope: Envelope, received_at: datetime) -> Untimed:
    """What the retransmission rule compares of a plain message without a timestamp: its transmitter, sequence
    number and content — the frame from its CRC to the end of its body, as the panel built it (the LF before it
    and the CR or filler after it may differ between copies; parse_envelope has checked the length field)."""
    raw = envelope.raw
    start = 1 if raw[:1] == b"\n" else 0
    crc_size = 2 if envelope.crc_binary else 4
    length = int(raw[start + crc_size + 1 : start + crc_size + 4], 16)  # "0LLL" after the CRC
    content = raw[start : start + crc_size + 4 + length]
    return Untimed(
        envelope.account.upper(),
        envelope.receiver or "",
        envelope.line,
        envelope.sequence,
        hashlib.sha256(content).digest(),
        received_at,
    )


class Accepted(NamedTuple):
    """Committed (or a link test, which has nothing to commit): the panel gets an ACK.

    A frame decoded by the compiled fast path has no Envelope; its ``answer_header`` is what the ACK echoes.
    (Outcomes are NamedTuples, immutable and built in C: one is made for every frame.)
    """

    envelope: Envelope | None
    key: bytes | None
    answer_header: bytes | None = None


class Refused(NamedTuple):
    """The codec or the account policy said no: NAK or DUH as DC-09 prescribes, or silence for garbage."""

    rejection: Rejection
    envelope: Envelope | None


class NotStored(NamedTuple):
    """The database could not take the signal: no answer, so the panel retransmits."""


Outcome = Accepted | Refused | NotStored


def choose_answer(outcome: Outcome, clock: Clock) -> bytes | None:
    """The one place that decides between ACK, NAK, DUH and silence.

    ``clock`` gives the receiver's UTC time: an encrypted ACK and a NAK carry it; the fast path's plain ACK does
    not read it (the reference codec's ack() takes it either way and uses it only when encrypted).
    """
    if outcome.__class__ is Accepted:
        key = outcome.key
        if outcome.answer_header is not None:
            return fastpath.ack(outcome.answer_header, key, clock() if key is not None else None)
        assert outcome.envelope is not None
        return ack(outcome.envelope, key, clock())
    if isinstance(outcome, Refused):
        kind = outcome.rejection.reason.answer
        if kind == "duh" and outcome.envelope is not None:
            return duh(outcome.envelope)
        if kind is not None:
            crc_binary = outcome.envelope.crc_binary if outcome.envelope is not None else False
            return nak(clock(), crc_binary=crc_binary)
    return None


class PendingAnswer:
    """A frame whose signals wait for their batch to commit; `answer()` is valid once `settled`.

    The batch writer settles it (`settle`, its submit_then callback); the transport hears of it through
    `when_settled` — a callback, not a future per frame, on the hot path.
    """

    __slots__ = (
        "_ingestor",
        "_listener",
        "accepted",
        "error",
        "owner",
        "received_at",
        "rows",
        "settled",
        "started",
        "transport",
    )

    def __init__(
        self,
        ingestor: Ingestor,
        accepted: Accepted,
        transport: str,
        rows: int,
        owner: PanelInfo | None,
        received_at: datetime,
        started: float,
    ) -> None:
        self._ingestor = ingestor
        self.accepted = accepted
        self.transport = transport
        self.rows = rows
        self.owner = owner  # the enrolled panel the rows belong to; None: unknown account
        self.received_at = received_at
        self.started = started
        self.settled = False
        self.error: Exception | None = None  # why the signals were not stored, once settled
        self._listener: Callable[[], None] | None = None

    def settle(self, error: Exception | None) -> None:
        """Committed (None) or not stored (why): the answer can be chosen now."""
        self.settled, self.error = True, error
        if error is None and self.owner is not None:
            self._ingestor.housekeeping.signalled(self.owner, self.received_at)
        if self._listener is not None:
            self._listener()

    def when_settled(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` once settled (from the event loop when that has already happened)."""
        if self.settled:
            asyncio.get_running_loop().call_soon(listener)
        else:
            self._listener = listener

    def answer(self) -> bytes | None:
        if not _count_stored(self.transport, self.rows, self.owner is None, self.error):
            return self._ingestor.finish(NotStored(), self.transport, self.started)
        return self._ingestor.finish(self.accepted, self.transport, self.started)


def _count_stored(transport: str, rows: int, unknown: bool, error: BaseException | None) -> bool:
    """Count a finished submission in the metrics; whether it was stored."""
    if error is not None:
        metrics.NOT_STORED.inc()
        return False
    metrics.count_stored(transport, rows)
    if unknown:
        metrics.UNKNOWN_ACCOUNT.inc(rows)
    return True


class Ingestor:
    """Shared by the TCP, UDP and MQTT transports: one pipeline, one answer policy."""

    def __init__(
        self,
        directory: AccountDirectory,
        writer: BatchWriter,
        housekeeping: Housekeeping,
        *,
        enforce_plain_timestamps: bool,
        clock: Clock = _utc_now,
    ) -> None:
        self._directory = directory
        self._writer = writer
        self.housekeeping = housekeeping
        self._enforce_plain = enforce_plain_timestamps
        self._clock = clock
        self._merge_untimed = writer.retransmission_window > 0  # receiver.retransmission_window; 0: never merged
        # (account, transport, peer) -> (the PanelInfo it was built for, row head): a connection's frames share it.
        self._heads: dict[tuple[str, str, str], tuple[PanelInfo | None, str]] = {}

    def receive(self, frame: bytes | Rejection, transport: str, peer: str) -> bytes | PendingAnswer | None:
        """Decode and check one frame; an immediate answer (or None), or a PendingAnswer for stored signals."""
        started = time.perf_counter()
        if isinstance(frame, Rejection):
            return self._refuse(frame, None, transport, peer, started)
        if fastpath.AVAILABLE and self._directory.loaded.is_set():
            fast = self._receive_fast(frame, transport, peer, started)
            if fast is not None:
                return fast
        envelope = parse_envelope(frame)
        if isinstance(envelope, Rejection):
            return self._refuse(envelope, None, transport, peer, started)
        if not self._directory.loaded.is_set():
            # Without the accounts we cannot tell a keyed panel from an unknown one: store nothing, answer nothing,
            # and the panel retransmits once the directory has loaded.
            pending = PendingAnswer(self, Accepted(envelope, None), transport, 0, None, self._clock(), started)
            pending.settle(StorageUnavailable("panel accounts not loaded yet"))
            return pending
        panel = self._directory.lookup(envelope.account)
        now = self._clock()
        message, key = self._open(envelope, panel, now)
        if isinstance(message, Rejection):
            return self._refuse(message, envelope, transport, peer, started)
        if message.envelope.deviations:  # counted once opened: a refused frame tolerated nothing; long_pad shows here
            metrics.count_deviations(message.envelope.deviations)
        if panel is not None:
            self.housekeeping.touch(panel.panel_id, now)
        if not message.events:  # NULL: a link test, nothing to store
            return self.finish(Accepted(envelope, key), transport, started)
        if len(message.events) > MAX_EVENTS_PER_MESSAGE:
            detail = f"{len(message.events)} events in one message; at most {MAX_EVENTS_PER_MESSAGE} are taken"
            return self._refuse(
                Rejection(RejectReason.BAD_DATA, detail, envelope.raw), envelope, transport, peer, started
            )
        rows, owner = self._rows(message, panel, key, transport, peer, now)
        # Without a timestamp the idempotency index cannot tell a retransmission (its panel_time is NULL): the
        # writer applies the rule of sql/0019_untimed_retransmission.sql instead. (Encrypted messages always
        # carry one; a plain one whose timestamp is unreadable counts as untimed, as its row has none either.)
        retransmission = (
            untimed_transmission(envelope, now) if message.panel_time is None and self._merge_untimed else None
        )
        return self._store(rows, Accepted(envelope, key), transport, owner, now, started, retransmission)

    def _open(
        self, envelope: Envelope, panel: PanelInfo | None, now: datetime
    ) -> tuple[Message | Rejection, bytes | None]:
        """The message opened with the panel's key — or, only when that key does not decrypt it, with the key it
        replaced while the rotation's overlap lasts — and the key that opened it, which the ACK is encrypted with."""
        key = panel.key if panel is not None else None
        message = open_message(envelope, key, now, enforce_window=self._enforce_plain)
        if isinstance(message, Rejection) and message.reason is RejectReason.DECRYPT and panel is not None:
            previous = panel.previous_key_at(now)
            if previous is not None:
                retried = open_message(envelope, previous, now, enforce_window=self._enforce_plain)
                if not isinstance(retried, Rejection):
                    return retried, previous
        return message, key

    def _store(
        self,
        rows: list[str],
        accepted: Accepted,
        transport: str,
        owner: PanelInfo | None,
        received_at: datetime,
        started: float,
        untimed: Untimed | None = None,
    ) -> PendingAnswer:
        """Hand the rows to the batch writer; the answer waits for their commit."""
        pending = PendingAnswer(self, accepted, transport, len(rows), owner, received_at, started)
        self._writer.submit_then(rows, pending.settle, untimed)
        return pending

    def _row_head(self, account: str, panel: PanelInfo | None, transport: str, peer: str) -> str:
        """row_head for a frame, remembered while the account's PanelInfo stays the same object."""
        cache_key = (account, transport, peer)
        cached = self._heads.get(cache_key)
        if cached is not None and cached[0] is panel:
            return cached[1]
        if len(self._heads) >= 100_000:  # peers come and go (UDP source ports): start afresh now and then
            self._heads.clear()
        head = row_head(panel.account if panel is not None else account.upper(), panel, transport, peer)
        self._heads[cache_key] = (panel, head)
        return head

    def _receive_fast(self, frame: bytes, transport: str, peer: str, started: float) -> bytes | PendingAnswer | None:
        """The compiled path for a frame of the common shape; None hands the frame to the reference codec.

        Its rows are always timed: the C code hands a plain frame without a timestamp to the reference codec
        (`if (!c.has_stamp) Py_RETURN_NONE`), whose branch marks it untimed for the writer — so this branch pays
        nothing for the retransmission rule. tests/receiver/test_retransmission.py holds the C code to that.
        """
        account = fastpath.peek_account(frame)
        if account is None:
            return None
        now = self._clock()
        panel = self._directory.lookup(account)
        key = panel.key if panel is not None else None
        head = self._row_head(account, panel, transport, peer)
        decoded = fastpath.decode(frame, key, now, self._enforce_plain, head)
        if decoded is None:
            # Not opened: the key a rotation replaced may (only here, so a panel without one pays nothing more).
            previous = panel.previous_key_at(now) if panel is not None else None
            if previous is None:
                return None
            decoded = fastpath.decode(frame, previous, now, self._enforce_plain, head)
            if decoded is None:
                return None
            key = previous
        rows, answer_header, _ = decoded
        if panel is not None:
            self.housekeeping.touch(panel.panel_id, now)
        accepted = Accepted(None, key, answer_header)
        if not rows:  # NULL: a link test, nothing to store
            return self.finish(accepted, transport, started)
        return self._store(rows, accepted, transport, panel, now, started)

    def submit_message(self, message: Message, transport: str, peer: str) -> asyncio.Future[None] | Rejection:
        """Store an already-decoded message (an MQTT JSON event); the future resolves once it has committed.

        The caller answers in its own format; this pipeline still decides what is stored and how. Such a message
        is not encrypted, so an account with a DC-09 key refuses it (SPEC R2), as it refuses a plain frame. It
        always has a time (mqtt_events refuses an event without one), so the idempotency index alone makes a
        redelivery a duplicate: the untimed retransmission rule never applies here.
        """
        if not self._directory.loaded.is_set():
            return self._not_ready()
        panel = self._directory.lookup(message.envelope.account)
        now = self._clock()
        if panel is not None and panel.key is not None:
            detail = f"plain event, account {message.envelope.account} has a key"
            return Rejection(RejectReason.UNENCRYPTED, detail, message.envelope.raw)
        if self._enforce_plain and (outside := check_window(message.envelope, message.panel_time, now)):
            return outside
        if panel is not None:
            self.housekeeping.touch(panel.panel_id, now)
        rows, owner = self._rows(message, panel, None, transport, peer, now)
        future = self._writer.submit(rows)
        future.add_done_callback(functools.partial(self._count_future, transport, len(rows), owner, now))
        return future

    def _count_future(
        self, transport: str, rows: int, owner: PanelInfo | None, received_at: datetime, future: asyncio.Future[None]
    ) -> None:
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        if _count_stored(transport, rows, owner is None, error) and owner is not None:
            self.housekeeping.signalled(owner, received_at)

    def _not_ready(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(StorageUnavailable("panel accounts not loaded yet"))
        return future

    def record_rejection(self, rejection: Rejection, transport: str, peer: str, account: str | None = None) -> None:
        """Record input refused outside the DC-09 codec (an MQTT payload that is not a valid event)."""
        self.housekeeping.record_rejection(transport, peer, rejection, account)
        metrics.count_frame(transport, "nak")

    def _rows(
        self, message: Message, panel: PanelInfo | None, key: bytes | None, transport: str, peer: str, now: datetime
    ) -> tuple[list[str], PanelInfo | None]:
        """The message's encoded rows, and the panel they belong to (None: the account is unknown)."""
        owner = self._owner(message, panel, key, now)
        account = owner.account if owner is not None else message.envelope.account.upper()
        return message_rows(message, owner, account, transport, peer, now), owner

    def _owner(self, message: Message, panel: PanelInfo | None, key: bytes | None, now: datetime) -> PanelInfo | None:
        """The panel the events belong to: the data block's account when it is enrolled (a communicator relaying
        several panels, Pima), otherwise the header's.

        A relayed account is honoured only when its key (or the key it replaced, while a rotation's overlap lasts)
        is the one that opened this message (both None for plain panels): otherwise a plain frame, or another
        customer's key, could write into a keyed account.
        """
        if message.data_account and message.data_account.upper() != message.envelope.account.upper():
            relayed = self._directory.lookup(message.data_account)
            if relayed is not None and relayed.opens_with(key, now):
                return relayed
        return panel

    def _refuse(
        self, rejection: Rejection, envelope: Envelope | None, transport: str, peer: str, started: float
    ) -> bytes | None:
        self.housekeeping.record_rejection(transport, peer, rejection, envelope.account if envelope else None)
        return self.finish(Refused(rejection, envelope), transport, started)

    def finish(self, outcome: Outcome, transport: str, started: float) -> bytes | None:
        answer = choose_answer(outcome, self._clock)
        metrics.count_frame(transport, _answer_kind(outcome, answer))
        if isinstance(outcome, Accepted):
            metrics.ACK_LATENCY.observe(time.perf_counter() - started)
        return answer


def _answer_kind(outcome: Outcome, answer: bytes | None) -> str:
    if answer is None:
        return "none"
    if isinstance(outcome, Refused):
        return outcome.rejection.reason.answer or "none"
    return "ack"
