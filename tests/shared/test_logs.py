"""Logging: secrets redacted by what they are, counts and ids kept, one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog

from shared.logs import configure_logging, get_logger, is_secret_name


@contextmanager
def json_logs(level: str = "info") -> Iterator[io.StringIO]:
    """The production configuration (JSON) writing to a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level, "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with json_logs() as stream:
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_count_whose_table_name_contains_token_is_logged_as_is(json_log: io.StringIO) -> None:
    # The worker logs pruned rows by table name; `user_tokens` was redacted because it contains "token".
    get_logger("tests.logs").info("login records pruned", user_tokens=3, user_sessions=0, login_failures=7)
    (line,) = lines(json_log)
    assert line["user_tokens"] == 3 and line["user_sessions"] == 0 and line["login_failures"] == 7


def test_secrets_are_redacted_by_name(json_log: io.StringIO) -> None:
    get_logger("tests.logs").info(
        "careless",
        token="abc",
        api_token="tok-123",
        session_key="k-456",
        dc09_key="00112233",
        password="hunter2-long",
        card_number="4242424242424242",
        cvc="123",
        Authorization="Bearer xyz",
    )
    (line,) = lines(json_log)
    text = json.dumps(line)
    for secret in ("abc", "tok-123", "k-456", "00112233", "hunter2-long", "4242424242424242", "Bearer xyz"):
        assert secret not in text
    assert line["token"] == line["password"] == line["cvc"] == "[redacted]"


def test_the_password_in_a_url_is_redacted_wherever_it_appears(json_log: io.StringIO) -> None:
    log = get_logger("tests.logs")
    log.warning("broker unreachable", broker="mqtts://receiver:s3cret-pw@broker.example.com:8883")
    logging.getLogger("asyncpg.test").warning("cannot reach postgresql://app:db-pass@db.example.com/alarmhub")
    first, second = lines(json_log)
    assert first["broker"] == "mqtts://receiver:[redacted]@broker.example.com:8883"
    assert "db-pass" not in str(second["event"]) and "postgresql://app:[redacted]@db.example.com" in str(
        second["event"]
    )


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("api_token", True),
        ("session_key", True),
        ("dc09_key", True),
        ("password", True),
        ("new_password", True),
        ("card_number", True),
        ("cvc", True),
        ("client_secret", True),
        ("user_tokens", False),
        ("api_tokens", False),
        ("token_id", False),
        ("key_id", False),
        ("dc09_key_format", False),
        ("passwords_changed", False),
        ("monkey", False),
    ],
)
def test_secret_names_are_exact_names_and_suffixes(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_flags_and_counts_stay_but_a_number_under_a_secret_name_is_a_secret(json_log: io.StringIO) -> None:
    log = get_logger("tests.logs")
    log.info("flags", password=False, user_tokens=3)  # a flag says nothing; a count is no secret
    log.info("numbers", card_number=4242424242424242, secret_key=123456789)  # a card or a PIN can be a number
    flags, numbers = lines(json_log)
    assert flags["password"] is False and flags["user_tokens"] == 3
    assert numbers["card_number"] == "[redacted]" and numbers["secret_key"] == "[redacted]"


def test_nested_headers_connection_strings_and_tracebacks_are_redacted(json_log: io.StringIO) -> None:
    log = get_logger("tests.logs")
    log.info("sent", headers={"Authorization": "Bearer abc123", "Accept": "text/html"})
    log.info("dsn", dsn="host=db user=me password=hunter2 dbname=x", url="postgresql://h/db?password=hunter2")
    try:
        raise ValueError("cannot reach postgresql://me:hunter2@db/alarmhub")
    except ValueError:
        log.exception("failed")
    sent, dsn, failed = lines(json_log)
    assert sent["headers"] == {"Authorization": "[redacted]", "Accept": "text/html"}
    assert "hunter2" not in json.dumps(dsn) and "hunter2" not in json.dumps(failed)
    assert "ValueError" in failed["exception"]


def test_lines_below_the_level_are_dropped_before_any_work(json_log: io.StringIO) -> None:
    """The receiver logs each connection at debug: at info that must cost a call, not the processor chain."""
    calls = []

    class Counting(dict):  # a value whose redaction would be noticed
        def items(self):  # type: ignore[override]
            calls.append(1)
            return super().items()

    get_logger("tests.logs").debug("connection opened", details=Counting(a=1))
    assert lines(json_log) == [] and calls == []


def test_context_bound_for_a_request_reaches_every_line(json_log: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        get_logger("tests.logs").info("inside")
        logging.getLogger("tests.stdlib").info("stdlib inside")
    get_logger("tests.logs").info("outside")
    inside, stdlib_inside, outside = lines(json_log)
    assert inside["request_id"] == stdlib_inside["request_id"] == "r-1"
    assert "request_id" not in outside


def test_header_names_lists_of_pairs_multidicts_and_quoted_passwords(json_log: io.StringIO) -> None:
    from multidict import CIMultiDict

    log = get_logger("tests.logs")
    log.info("a", headers={"Set-Cookie": "sid=s3cr3t", "X-Api-Key": "s3cr3t", "Proxy-Authorization": "Basic s3cr3t"})
    log.info("b", headers=[("Authorization", "Bearer s3cr3t"), ("Accept", "*/*")], urls=["mqtt://u:s3cr3t@h"])
    log.info("c", headers=CIMultiDict({"X-Auth-Token": "s3cr3t", "Accept": "*/*"}), dsn="password='a s3cr3t' host=h")
    rendered = json_log.getvalue()
    assert "s3cr3t" not in rendered, rendered
    assert rendered.count("*/*") == 2 and "host=h" in rendered
