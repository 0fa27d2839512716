"""Session keys: the current one (configured, or generated once into var/ and reused), then those still accepted."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

from shared.config import Config

KEY_FILE = "session_key"


def session_key(config: Config) -> str:
    """`portal.session_key` when set; otherwise var/session_key, created (mode 0600) by the first process."""
    configured: str = config["portal.session_key"]
    if configured:
        return configured
    path: Path = config.var_dir / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(Fernet.generate_key().decode("ascii"))
    return path.read_text(encoding="ascii").strip()


def session_keys(config: Config) -> tuple[str, ...]:
    """The current key, then each of `portal.session_key_previous`: make with the first, accept any of them."""
    current = session_key(config)
    previous: tuple[str, ...] = config["portal.session_key_previous"]
    return (current, *(key for key in dict.fromkeys(previous) if key != current))
