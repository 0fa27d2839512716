"""CRC-16/ARC, the checksum of every SIA DC-09 frame."""

from __future__ import annotations

from collections.abc import Callable


def _make_table() -> tuple[int, ...]:
    # Reflected polynomial 0x8005 is 0xA001; one entry per possible low byte of the register.
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_arc_python(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0, no final XOR) of ``data``; check("123456789") = 0xBB3D."""
    crc = 0
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _native() -> Callable[[bytes], int] | None:
    # fastcrc computes the same function in compiled code, ~20x faster: the CRC is checked on every frame
    # received and computed on every answer, so it was the largest single cost of the receiver's hot path.
    try:
        from fastcrc import crc16
    except ImportError:  # pragma: no cover - the pure-Python table is the reference and the fallback
        return None
    function: Callable[[bytes], int] = crc16.arc
    return function if function(b"123456789") == 0xBB3D else None


crc16_arc: Callable[[bytes], int] = _native() or crc16_arc_python
