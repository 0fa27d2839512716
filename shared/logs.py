"""Logging: structlog for our code and the standard library's loggers alike; JSON unless on a terminal."""

from __future__ import annotations

import logging
import re
import sys
from typing import IO, Any

import structlog

_REDACTED = "[redacted]"
# Redacted by what is secret, not by substring accident: `user_tokens=3` is a count of rows, `token` is a token.
_SECRET_NAMES = frozenset(
    {
        "password",
        "passphrase",
        "token",
        "secret",
        "key",
        "card",
        "card_number",
        "cvc",
        "cvv",
        "pan",
        "authorization",
        "cookie",
    }
)
_SECRET_SUFFIXES = ("_password", "_passphrase", "_token", "_secret", "_key", "_card_number", "_cvc", "_cvv")
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


def is_secret_name(name: str) -> bool:
    """Whether a value logged under `name` is a secret: exact names (`token`, `password`) and their suffixed forms
    (`api_token`, `session_key`, `dc09_key`); never a plural or prefixed name such as `user_tokens` or `key_id`."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def _redact_secrets(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Replace values named as secrets, and passwords inside URLs, so a careless log call cannot leak one."""
    for name, value in event_dict.items():
        if isinstance(value, int):  # counts, ids and flags (bool is an int) are never secrets
            continue
        if name != "event" and is_secret_name(name):
            event_dict[name] = _REDACTED
        elif isinstance(value, str) and "://" in value:
            event_dict[name] = _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{_REDACTED}@", value)
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: IO[str] | None = None) -> None:
    """Route structlog and stdlib logging (aiohttp, asyncpg, amqtt) through one renderer on `stream` (stderr)."""
    stream = sys.stderr if stream is None else stream
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqtt", "transitions", "pgserver", "aiosmtpd", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for one module; bind connection or request context with structlog.contextvars."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
