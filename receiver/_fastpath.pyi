# Types of the compiled fast path (receiver/_fastpath.c); receiver/fastpath.py is its Python face.
from collections.abc import Callable
from datetime import datetime

def decode(
    frame: bytes,
    key: bytes | None,
    now: datetime,
    enforce_window: bool,
    head: str,
    fragments: dict[str, tuple[str, bool, str]],
    classify: Callable[[str, str, str], tuple[str, bool, str]],
    xdata: Callable[[tuple[str, ...]], str],
    /,
) -> tuple[list[str], bytes, bool] | None: ...
def peek_account(frame: bytes, /) -> str | None: ...
def ack(answer_header: bytes, key: bytes | None, now: datetime | None, /) -> bytes: ...  # now: None only without a key
