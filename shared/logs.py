"""Logging: structlog for our code and the standard library's loggers alike; JSON unless on a terminal."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
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
        "card_security_code",
        "security_code",
        "account_number",
        "cvc",
        "cvv",
        "pan",
        "authorization",
        "cookie",
    }
)
_SECRET_SUFFIXES = (
    "_password",
    "_passphrase",
    "_token",
    "_secret",
    "_key",
    "_card_number",
    "_security_code",
    "_account_number",
    "_cvc",
    "_cvv",
    "_cookie",
    "_authorization",
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")
# libpq-style parameters in a URL's query or a keyword DSN: ?password=… or password=…
_PASSWORD_PARAMETER = re.compile(
    r"(?P<name>\b(?:password|passwd|pwd|sslpassword)=)(?:'[^']*'|\"[^\"]*\"|[^&\s]*)", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    """Whether a value logged under `name` is a secret: exact names (`token`, `password`) and their suffixed forms
    (`api_token`, `session_key`, `dc09_key`); never a plural or prefixed name such as `user_tokens` or `key_id`."""
    lowered = name.lower().replace("-", "_")  # header names: Set-Cookie, X-Api-Key, Proxy-Authorization
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def mask_url_passwords(text: str) -> str:
    """`text` with the passwords in any URL or connection string replaced."""
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{_REDACTED}@", text)
    if "=" in text:
        text = _PASSWORD_PARAMETER.sub(rf"\g<name>{_REDACTED}", text)
    return text


def _redacted(name: str, value: Any) -> Any:
    if isinstance(value, bool):  # a flag says nothing secret, whatever its name
        return value
    if is_secret_name(name):
        return _REDACTED
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, Mapping):  # e.g. headers={"Authorization": "Bearer …"}, a CIMultiDict
        return {key: _redacted(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):  # e.g. [("Authorization", "Bearer …")], or URLs in a list
        return [
            (item[0], _redacted(item[0], item[1]))
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            else _redacted(name, item)
            for item in value
        ]
    return value


def _redact_secrets(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """Replace values named as secrets (at any depth of a dict), and passwords inside URLs and connection strings,
    so a careless log call cannot leak one. Counts under other names (`user_tokens=3`) stay readable."""
    for name, value in event_dict.items():
        event_dict[name] = (
            mask_url_passwords(value) if name == "event" and isinstance(value, str) else _redacted(name, value)
        )
    return event_dict


def _redact_exception(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """A formatted traceback quotes what the exception said, which may be a URL with its password."""
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = mask_url_passwords(exception)
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
        # Below the level nothing else runs: a debug line costs a call, not a rendering (the receiver's connections
        # log at debug).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_exception,
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
