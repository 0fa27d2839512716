"""Connection ids for logs: unique within the receiver's process and prefixed by it, so lines can be followed.

A counter costs nothing per connection; a random token would cost a system call, and panels connect often.
"""

from __future__ import annotations

import itertools
import os

_NEXT = itertools.count(1)


def next_connection_id() -> str:
    """e.g. "4cf2-1a": the process id and the connection's number in it, in hex."""
    return f"{os.getpid():x}-{next(_NEXT):x}"
