"""Splitting a byte stream (a TCP connection, a UDP datagram) into DC-09 frames, with bounded memory."""

from __future__ import annotations

import re

from receiver.dc09.message import Rejection, RejectReason

_LF = b"\n"
_CR = b"\r"
# Bytes that panels leave between frames (NUL padding, a CR after the CR, spaces): not garbage.
_FILLER = b"\x00\r\n\t "
# After an LF, a CRC sent as two binary bytes (which may themselves be LF or CR) then "0LLL\"".
_BINARY_CRC_HEADER = re.compile(rb'[\x00-\xff]{2}0[0-9A-Fa-f]{3}"')
_HEADER_SIZE = 9  # CRC (4) + 0LLL (4) + the opening quote: enough to tell hex from binary CRC


class FrameSplitter:
    """Cuts a stream into frames from LF through CR inclusive, exactly as the panel sent them.

    ``feed`` returns, in order, complete frames (bytes) and Rejections: GARBAGE once for each
    run of bytes outside a frame (NUL/CR/space filler between frames is ignored), TOO_LONG for a
    frame over ``max_frame_length`` bytes, after which the splitter skips to the next LF. A frame
    whose CR is missing ends where the next LF starts (an Ajax capture in pysiaalarm
    PR #90 shows frames run together). At most
    ``max_frame_length`` bytes are kept between calls, whatever the input.
    """

    __slots__ = ("_buffer", "_discarding", "max_frame_length")

    def __init__(self, max_frame_length: int = 1024) -> None:
        if max_frame_length < 2 * _HEADER_SIZE:
            raise ValueError("max_frame_length is too small for any DC-09 frame")
        self.max_frame_length = max_frame_length
        self._buffer = bytearray()
        self._discarding = False  # inside a too-long frame or garbage already reported

    @property
    def buffered(self) -> int:
        """Bytes held back, waiting for the rest of their frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | Rejection]:
        """Add received bytes; return the frames and rejections they complete."""
        buffer = self._buffer
        if (
            not buffer
            and _HEADER_SIZE < len(data) <= self.max_frame_length
            and data[0] == 0x0A
            and data[-1] == 0x0D
            and data.count(_LF) == 1
            and data.count(_CR) == 1
        ):
            # The common read: exactly one whole frame (one LF, at the start; one CR, at the end), nothing held
            # back. _scan would return the same; this is only quicker.
            self._discarding = False
            return [data]
        return self._scan(data)

    def _scan(self, data: bytes) -> list[bytes | Rejection]:
        """feed() for any read: frames, garbage, too-long frames, and what to hold back for the next read."""
        buffer = self._buffer
        buffer += data
        out: list[bytes | Rejection] = []
        position = 0
        size = len(buffer)
        limit = self.max_frame_length
        while position < size:
            start = buffer.find(_LF, position)
            if start < 0:
                position = self._garbage(buffer, position, size, out, final=False)
                break
            if start > position:
                self._garbage(buffer, position, start, out, final=True)
            self._discarding = False
            if size - start <= _HEADER_SIZE:
                # Too few bytes to tell a binary CRC (which may hold LF or CR) from a hex one.
                position = start
                break
            scan_from = start + 3 if _BINARY_CRC_HEADER.match(buffer, start + 1) else start + 1
            end = buffer.find(_CR, scan_from, start + limit)
            next_lf = buffer.find(_LF, scan_from, end if end >= 0 else start + limit)
            if next_lf >= 0:
                # A new frame starts before this one's CR: this one ends without it.
                if buffer[start + 1 : next_lf].strip(_FILLER):
                    out.append(bytes(buffer[start:next_lf]))
                position = next_lf
            elif end >= 0:
                out.append(bytes(buffer[start : end + 1]))
                position = end + 1
            elif size - start >= limit:
                detail = f"no CR within {limit} bytes of the LF"
                out.append(Rejection(RejectReason.TOO_LONG, detail, bytes(buffer[start : start + limit])))
                self._discarding = True  # skip the rest of it, up to the next LF
                position = start + limit
            else:
                position = start  # an incomplete frame: wait for more bytes
                break
        del buffer[:position]
        return out

    def flush(self) -> list[bytes | Rejection]:
        """End of stream (connection closed, datagram done): what is left, as a frame or garbage."""
        buffer = self._buffer
        out: list[bytes | Rejection] = []
        if buffer[:1] == _LF:
            if buffer[1:].strip(_FILLER):
                out.append(bytes(buffer))
        elif buffer:
            self._garbage(buffer, 0, len(buffer), out, final=True)
        buffer.clear()
        self._discarding = False
        return out

    def _garbage(self, buffer: bytearray, start: int, stop: int, out: list[bytes | Rejection], *, final: bool) -> int:
        """Handle bytes outside any frame; return where to resume (``start`` to wait for more)."""
        if self._discarding:
            return stop
        run = buffer[start:stop]
        if not run.strip(_FILLER):
            return stop  # filler between frames: dropped without a word
        if not final and len(run) < self.max_frame_length:
            return start  # the run may go on; report it once, when it ends or grows too long
        raw = bytes(run[: self.max_frame_length])
        out.append(Rejection(RejectReason.GARBAGE, f"{len(run)} bytes outside any frame", raw))
        self._discarding = True
        return stop


def split_datagram(datagram: bytes, max_frame_length: int = 1024) -> list[bytes | Rejection]:
    """The frames and rejections in one UDP datagram (or MQTT payload), ending it as a stream."""
    splitter = FrameSplitter(max_frame_length)
    return splitter.feed(datagram) + splitter.flush()
