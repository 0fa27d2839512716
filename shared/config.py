"""Configuration: every key declared once (type, default, documentation), loaded from TOML and the environment."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "ALARMHUB_"


class ConfigError(Exception):
    """An invalid configuration value or an unknown key; `key` is `section.name`."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


Parser = Callable[[object], Any]


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration key: where it lives, how it is parsed, its default and what it means."""

    section: str
    name: str
    parse: Parser
    default: Any
    doc: str
    secret: bool = False

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env_var(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"


# -- parsers: each takes a TOML value or an environment string and returns the typed value or raises ValueError


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _integer(low: int, high: int) -> Parser:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer from {low} to {high}, got {value!r}")
        try:
            number = int(value) if isinstance(value, int | str) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value!r}")
        return number

    return parse


def _number(low: float, high: float) -> Parser:
    def parse(value: object) -> float:
        try:
            number = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {value!r}")
        return number

    return parse


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _choice(*options: str) -> Parser:
    def parse(value: object) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    return parse


def _url(*schemes: str, empty: bool = True, extra: tuple[str, ...] = ()) -> Parser:
    def parse(value: object) -> str:
        text = _string(value)
        if (empty and text == "") or text in extra:
            return text
        if urlsplit(text).scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            also = "".join(f" or {e!r}" for e in (("",) if empty else ()) + extra)
            raise ValueError(f"expected a URL starting with {allowed}{also}, got {text!r}")
        return text

    return parse


def _networks(value: object) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    text = _string(value)
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"expected comma-separated addresses or networks (CIDR), got {text!r}: {error}") from None


def _optional_host_port(value: object) -> tuple[str, int] | None:
    return None if value == "" else _host_port(value)


def _host_port(value: object) -> tuple[str, int]:
    text = _string(value)
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), _integer(1, 65535)(port)


def _timezone(value: object) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = _string(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as UTC or Europe/Berlin, got {text!r}") from None
    return text


def _currency(value: object) -> str:
    text = _string(value).strip().upper()
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        raise ValueError(f"expected a three-letter ISO 4217 code such as USD, got {value!r}")
    return text


def _topics(value: object) -> tuple[str, ...]:
    """A list of choices a form offers: a TOML array of strings, or one string with `;` between them."""
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"expected a list of strings, got {value!r}")
    topics = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not topics:
        raise ValueError("expected at least one entry")
    if any(len(t) > 80 for t in topics):
        raise ValueError("each entry is at most 80 characters")
    return topics


def _priorities(value: object) -> dict[str, int]:
    """Alarm type → priority overrides: "fire=1, gas=2" (or a TOML table); empty: the event catalogue's own."""
    from shared.catalogue.model import AlarmType

    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, number = item.partition("=")
            if not sep:
                raise ValueError(f"expected alarm-type=priority pairs, got {item.strip()!r}")
            pairs.append((name.strip(), number.strip()))
    else:
        raise ValueError(f"expected alarm-type=priority pairs, got {value!r}")
    known = {t.value for t in AlarmType}
    result: dict[str, int] = {}
    for name, number in pairs:
        if name not in known:
            raise ValueError(f"{name!r} is not an alarm type ({', '.join(sorted(known))})")
        result[str(name)] = _integer(1, 9)(number)
    return result


def _session_key(value: object) -> str:
    import base64
    import binascii

    text = _string(value).strip()
    if text:
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise ValueError("expected 32 bytes in url-safe base64 (44 characters), e.g. from Fernet.generate_key()")
    return text


def _previous_session_keys(value: object) -> tuple[str, ...]:
    """Keys as a TOML list or comma-separated (the environment); a bad one is named by position, never quoted."""
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list):
        items = list(value)
    else:
        raise ValueError("expected a list of keys, or keys separated by commas")
    keys: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            key = _session_key(item) if isinstance(item, str) else None
        except ValueError as error:
            raise ValueError(f"key {position}: {error}") from None
        if key is None:
            raise ValueError(f"key {position}: expected a string")
        if key:
            keys.append(key)
    return tuple(keys)


def _processes(value: object) -> int:
    if value == "auto":
        return _cpu_cores()
    try:
        count: int = _integer(1, MAX_PROCESSES)(value)
    except ValueError:
        raise ValueError(f'expected an integer from 1 to {MAX_PROCESSES} or "auto", got {value!r}') from None
    return count


def _cpu_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the whole machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


MAX_PROCESSES = 1024
_PORT = _integer(1, 65535)

SETTINGS: tuple[Setting, ...] = (
    # database
    Setting(
        "database",
        "url",
        _url("postgresql", "postgres"),
        "",
        "PostgreSQL URL; empty starts an embedded PostgreSQL (pgserver) with its data under `var/pgdata`.",
    ),
    Setting("database", "pool_min_size", _integer(1, 100), 2, "Smallest number of connections each pool keeps."),
    Setting(
        "database",
        "pool_max_size",
        _integer(1, 200),
        10,
        "Largest number of connections each pool opens; a portal has two (its own and the signal history's), so "
        "up to twice this (docs/operations.md counts every process's connections).",
    ),
    Setting("database", "connect_timeout", _number(0.5, 120), 10.0, "Seconds to wait for a database connection."),
    # portal
    Setting("portal", "host", _string, "127.0.0.1", "Address the portal listens on."),
    Setting("portal", "port", _PORT, 8080, "TCP port of the portal."),
    Setting(
        "portal",
        "metrics_allow",
        _networks,
        "127.0.0.0/8,::1",
        "Addresses or networks (CIDR, comma-separated) allowed to read /metrics; others get 404.",
    ),
    Setting(
        "portal",
        "trusted_proxies",
        _networks,
        "",
        "Reverse proxies (CIDR, comma-separated) whose X-Forwarded-For names the client; empty trusts none.",
    ),
    Setting(
        "portal",
        "public_url",
        _url("http", "https"),
        "",
        "Address customers use to reach the portal (links in e-mail); empty means http://HOST:PORT.",
    ),
    Setting(
        "portal",
        "session_key",
        _session_key,
        "",
        "32-byte url-safe base64 key that encrypts session cookies; empty generates one into `var/`.",
        secret=True,
    ),
    Setting(
        "portal",
        "session_key_previous",
        _previous_session_keys,
        "",
        "Earlier session keys (comma-separated; secret), still accepted but never used for new cookies or links: "
        "keeps logins, device cookies and page links alive while `portal.session_key` is rotated; empty accepts "
        "only the current key.",
    ),
    Setting(
        "portal",
        "company_name",
        _string,
        "Sentinel Monitoring",
        "White-label: the monitoring company's name.",
    ),
    Setting("portal", "company_phone", _string, "+1 555 0100", "White-label: the phone number customers call."),
    Setting(
        "portal",
        "company_address",
        _string,
        "100 Main Street, Springfield",
        "White-label: the company's postal address.",
    ),
    Setting("portal", "logo_text", _string, "Sentinel", "White-label: the short name shown as the logo."),
    Setting(
        "portal",
        "remittance_address",
        _string,
        "",
        "White-label: where customers mail cheques (printed on invoices); empty means `portal.company_address`.",
    ),
    Setting(
        "portal",
        "licence_text",
        _string,
        "",
        "White-label: the company's licence as invoices and insurance certificates print it; empty prints none.",
    ),
    Setting("portal", "timezone", _timezone, "UTC", "IANA time zone the portal shows times in, e.g. America/Chicago."),
    Setting("portal", "session_hours", _number(0.1, 720), 12.0, "Hours a login lasts before the user logs in again."),
    Setting(
        "portal",
        "reset_link_minutes",
        _integer(5, 1440),
        60,
        "Minutes a password-reset link stays valid (it works once).",
    ),
    Setting(
        "portal",
        "invitation_days",
        _integer(1, 60),
        7,
        "Days an invitation link (secondary users) and an e-mail confirmation link stay valid.",
    ),
    Setting(
        "portal",
        "throttle_minutes",
        _integer(1, 1440),
        15,
        "Window for login throttling: failures older than this no longer count.",
    ),
    Setting(
        "portal",
        "account_max_failures",
        _integer(1, 1000),
        5,
        "Failed logins (or registrations) at one account within the window before attempts at it are refused, "
        "except from the account's known browsers (device cookie).",
    ),
    Setting(
        "portal",
        "address_max_failures",
        _integer(1, 10000),
        20,
        "Logins: different accounts failed at from one network address within the window before its login attempts "
        "are slowed (2 s between attempts, doubling up to 60 s; known browsers exempt). Registrations and reset "
        "requests: failures from one address within the window before it is refused.",
    ),
    Setting(
        "portal",
        "device_cookie_days",
        _integer(1, 730),
        90,
        "Days a browser stays known to an account after a login there (its device cookie exempts it from throttling).",
    ),
    # receiver
    Setting("receiver", "dc09_host", _string, "127.0.0.1", "Address the DC-09 receiver listens on (TCP and UDP)."),
    Setting("receiver", "dc09_port", _PORT, 12000, "Port of the DC-09 receiver (TCP and UDP)."),
    Setting("receiver", "udp_enabled", _boolean, True, "Also listen for DC-09 over UDP on the same port."),
    Setting(
        "receiver",
        "receiver_number",
        _string,
        "1",
        "Receiver number (hex) this receiver answers as when a frame carries none.",
    ),
    Setting(
        "receiver",
        "max_frame_length",
        _integer(64, 65536),
        1024,
        "Longest DC-09 frame in bytes; longer input is rejected and the stream resynchronised.",
    ),
    Setting("receiver", "max_connections", _integer(1, 1_000_000), 10000, "Most TCP connections open at once."),
    Setting(
        "receiver",
        "max_connections_per_address",
        _integer(0, 1_000_000),
        1000,
        "Most TCP connections open at once from one network address (0: no cap), so that one address cannot fill "
        "`receiver.max_connections` for everyone. Panels behind a carrier's NAT share an address: size it for them.",
    ),
    Setting(
        "receiver",
        "idle_timeout",
        _number(1, 86400),
        600.0,
        "Seconds a TCP connection may stay silent before it is closed.",
    ),
    Setting(
        "receiver",
        "write_timeout",
        _number(0.1, 600),
        10.0,
        "Seconds a slow reader may hold unsent answers before its connection is cut.",
    ),
    Setting(
        "receiver",
        "enforce_plain_timestamps",
        _boolean,
        False,
        "Also enforce the timestamp window (-40 s/+20 s) on unencrypted messages.",
    ),
    Setting(
        "receiver",
        "retransmission_window",
        _number(0, 86400),
        180.0,
        "Seconds within which a message without a timestamp that repeats the panel's previous one (same account, "
        "receiver, line, sequence number and content) is a retransmission and stored once; 0: never merged.",
    ),
    Setting(
        "receiver",
        "retransmission_horizon",
        _number(3600, 90 * 86400),
        7 * 86400.0,
        "Seconds a timed message's key (account, receiver, line, sequence, panel time and event) is kept in "
        "signal_keys: a retransmission arriving within it is stored once; one arriving later would be stored again. "
        "The table holds about this long's worth of signals (sql/0023_signal_keys.sql).",
    ),
    Setting("receiver", "batch_max_size", _integer(1, 100000), 2000, "Most signals written in one transaction."),
    Setting(
        "receiver",
        "batch_writers",
        _integer(1, 16),
        1,
        "Database connections writing batches. One is best measured (bench/RESULTS.md): more split the frames "
        "in flight into smaller batches, each paying its own commit.",
    ),
    Setting(
        "receiver",
        "frame_timeout",
        _number(1, 3600),
        30.0,
        "Seconds within which a frame, once begun, must be complete; slower senders are cut off.",
    ),
    Setting(
        "receiver",
        "metrics_listen",
        _optional_host_port,
        "",
        "HOST:PORT where a standalone `alarmhub receiver` serves /metrics; empty: off (inside `alarmhub run` the "
        "portal's /metrics shows the receiver too).",
    ),
    Setting(
        "receiver",
        "processes",
        _processes,
        1,
        "Processes a standalone `alarmhub receiver` runs, each a whole receiver on the same DC-09 port (Linux "
        "SO_REUSEPORT spreads the connections); `auto`: one per CPU core. Above 1 a supervisor starts and restarts "
        "them, worker i serves /metrics on `receiver.metrics_listen`'s port + i and only worker 0 speaks MQTT. "
        "`alarmhub run` ignores it and keeps its one receiver in-process.",
    ),
    Setting(
        "receiver",
        "rejected_frames_kept",
        _integer(100, 100_000_000),
        100000,
        "Rows kept in the bounded rejected_frames table (oldest removed first).",
    ),
    # dispatch
    Setting(
        "dispatch",
        "priorities",
        _priorities,
        "",
        "Incident priority by alarm type, overriding the event catalogue's (1 most urgent): e.g. `fire=1, "
        "panic=1, medical=1, duress=1, holdup=1, gas=2, co=2, burglary=3`; empty: the catalogue's.",
    ),
    Setting(
        "dispatch",
        "failure_priority",
        _integer(1, 9),
        5,
        "Priority of a failure-to-communicate incident (1 most urgent).",
    ),
    Setting(
        "dispatch",
        "unknown_priority",
        _integer(1, 9),
        4,
        "Priority of an incident from an unknown account (1 most urgent).",
    ),
    Setting(
        "dispatch",
        "supervision_interval",
        _number(1, 3600),
        15.0,
        "Seconds between the supervision's checks for panels that missed their test or link supervision deadline.",
    ),
    Setting(
        "dispatch",
        "supervision_grace",
        _number(0, 86400),
        30.0,
        "Seconds past a panel's deadline (last traffic + its test or supervision interval) before it fails to "
        "communicate; with the checks' interval, its incident opens within grace + interval (45 s) of the deadline.",
    ),
    Setting(
        "dispatch",
        "console_queue",
        _integer(10, 1_000_000),
        1000,
        "Messages a dispatcher's console may fall behind before its connection is cut (it reconnects and catches up).",
    ),
    Setting(
        "dispatch",
        "session_recheck",
        _number(0.5, 300),
        5.0,
        "Seconds between checks that a live console's session is still valid (logged out or revoked: closed).",
    ),
    Setting("dispatch", "max_test_hours", _integer(1, 720), 72, "Longest a customer may put their system on test."),
    Setting(
        "dispatch", "hold_minutes_max", _integer(1, 10080), 240, "Longest a dispatcher may put an incident on hold."
    ),
    # mqtt
    Setting(
        "mqtt",
        "url",
        _url("mqtt", "mqtts", extra=("embedded",)),
        "embedded",
        "`embedded` starts an amqtt broker inside `alarmhub run`; a mqtt:// or mqtts:// URL connects to a "
        "broker (user:password@ allowed); empty turns MQTT off.",
    ),
    Setting("mqtt", "embedded_listen", _host_port, "127.0.0.1:11883", "HOST:PORT of the embedded broker."),
    Setting(
        "mqtt",
        "client_id",
        _string,
        "alarmhub-receiver-1",
        "Fixed MQTT client id (persistent session); give each receiver its own.",
    ),
    Setting("mqtt", "ca_file", _string, "", "CA bundle for mqtts:// brokers; empty uses the system's."),
    Setting(
        "mqtt",
        "shared_group",
        _string,
        "alarmhub",
        "Shared-subscription group (`$share/GROUP/...`) so several receivers split the load; empty subscribes "
        "plainly (one receiver, or a broker without shared subscriptions). Not used with the embedded broker.",
    ),
    Setting(
        "mqtt",
        "protocol",
        _choice("5", "3.1.1"),
        "5",
        "MQTT version spoken to the broker; 5 lets the receiver hold thousands of messages awaiting their commit, "
        "3.1.1 leaves that window to the broker (Mosquitto: 20). The embedded broker always uses 3.1.1.",
    ),
    # email
    Setting(
        "email",
        "smtp_url",
        _url("smtp", "smtps"),
        "",
        "smtp://user:password@host:port (STARTTLS when offered) or smtps://; empty keeps mail in the outbox.",
    ),
    Setting(
        "email",
        "from_address",
        _string,
        "Sentinel Monitoring <noreply@example.com>",
        "Sender of every e-mail.",
    ),
    Setting(
        "email",
        "poll_interval",
        _number(0.1, 3600),
        5.0,
        "Seconds between the worker's looks at the outbox when no new-mail notice arrives.",
    ),
    # worker
    Setting(
        "worker",
        "housekeeping_interval",
        _number(0.5, 86400),
        3600.0,
        "Seconds between prunings of ended sessions, used links, old failed logins and DC-09 keys past their "
        "rotation overlap: a singleton job, run once "
        "per interval by one of the processes running the worker (`alarmhub run`, `alarmhub worker`).",
    ),
    Setting(
        "worker",
        "partitions_interval",
        _number(60, 86400),
        3600.0,
        "Seconds between the singleton job's checks that signals has its monthly partitions for this month and the "
        "next `worker.partitions_ahead` (sql/0025_signals_partitioned.sql); a missing month is created ahead.",
    ),
    Setting(
        "worker",
        "partitions_ahead",
        _integer(1, 24),
        3,
        "Months of signals partitions kept ready beyond the current one. A signal whose month has no partition "
        "cannot be stored (it goes unacknowledged), so keep this above the longest time the worker may be down.",
    ),
    Setting(
        "worker",
        "billing_interval",
        _number(1, 86400),
        3600.0,
        "Seconds between runs of the billing cycle, which issues each customer's monthly invoice once per month "
        "(a singleton job; a run finds what is due and issues what is missing).",
    ),
    Setting(
        "worker",
        "autopay_interval",
        _number(1, 86400),
        300.0,
        "Seconds between runs of the autopay job, which drafts each autopay customer's balance on their draft "
        "day, retries declined drafts and settles payments left pending by a gateway timeout (a singleton job).",
    ),
    Setting(
        "worker",
        "metrics_listen",
        _optional_host_port,
        "",
        "HOST:PORT where the worker (`alarmhub worker`, or the one inside `alarmhub run`) serves /healthz (the "
        "database answers and its job runners run) and /metrics (its jobs, the outbox's and the incident opener's "
        "backlogs, the signals partitions ahead, and the rest of the process); empty: off. No access control: bind it "
        "to a private address.",
    ),
    # billing
    Setting(
        "billing",
        "gateway",
        _choice("sandbox"),
        "sandbox",
        "Payment gateway. `sandbox` is the built-in test gateway: no real money moves, and the portal says so "
        "wherever a customer pays; its test cards and bank accounts are listed in README.md.",
    ),
    Setting(
        "billing",
        "gateway_timeout",
        _number(0.05, 300),
        20.0,
        "Seconds to wait for the gateway's answer to a charge; an unanswered charge is not a failure: the payment "
        "stays pending and the worker looks it up by its idempotency key (never charging again).",
    ),
    Setting("billing", "currency", _currency, "USD", "ISO 4217 code of the currency invoices and payments are in."),
    Setting(
        "billing",
        "invoice_due_days",
        _integer(0, 120),
        15,
        "Days from issue to due date of the monthly invoice (and the default for invoices staff create).",
    ),
    Setting(
        "billing",
        "monthly_fee_description",
        _string,
        "Monthly monitoring",
        "The line the billing cycle writes on each monthly invoice, followed by the month.",
    ),
    Setting(
        "billing",
        "autopay_retries",
        _integer(0, 10),
        2,
        "How many times a declined autopay draft is tried again before autopay stops for that month "
        "(the customer is e-mailed after each decline and when it stops).",
    ),
    Setting(
        "billing",
        "autopay_retry_hours",
        _number(0.001, 720),
        48.0,
        "Hours between a declined autopay draft and its next try.",
    ),
    Setting(
        "billing",
        "reconcile_after",
        _number(0.1, 3600),
        60.0,
        "Seconds a payment may stay pending (its charge unanswered) before the worker asks the gateway about it.",
    ),
    # service
    Setting(
        "service",
        "inquiry_topics",
        _topics,
        ["False alarm", "System trouble", "Billing question", "Moving", "Add equipment", "Cancel service", "Other"],
        "The issues a customer chooses from in General Inquiries (a TOML array, or one string with `;` between "
        "entries in the environment).",
    ),
    Setting(
        "service",
        "service_topics",
        _topics,
        ["Repair", "Inspection", "Add equipment", "Move equipment", "Battery replacement", "Other"],
        "The kinds of work a customer chooses from in Request service.",
    ),
    Setting(
        "service",
        "response_promise",
        _string,
        "24 to 48 hours",
        "How soon the confirmation of an inquiry or service request says a representative will be in touch.",
    ),
    Setting(
        "service",
        "certificate_valid_days",
        _integer(1, 3660),
        365,
        "Days an insurance certificate of monitoring is valid from the day it is issued (printed on it and shown "
        "by the public verification page).",
    ),
    # run
    Setting(
        "run",
        "demo_data",
        _boolean,
        False,
        "`alarmhub run` loads the demo customers and logins (their password is published) into a configured "
        "database too; without it (or `--demo`) only a new embedded database gets them. Never for production.",
    ),
    # log
    Setting("log", "level", _choice("debug", "info", "warning", "error"), "info", "Lowest level logged."),
    Setting(
        "log",
        "format",
        _choice("auto", "json", "console"),
        "auto",
        "`auto`: readable in a terminal, JSON otherwise.",
    ),
    # paths
    Setting("paths", "var_dir", _string, "var", "Where generated secrets and the embedded database live."),
)

_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))


@dataclass(frozen=True, slots=True)
class Config:
    """The loaded configuration: typed values by `section.name`, plus the file it came from."""

    values: Mapping[str, Any]
    path: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    def __getitem__(self, key: str) -> Any:
        if key not in _BY_KEY:
            raise KeyError(key)
        return self.values[key]

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with some keys replaced (keys as `section__name`), parsed like any other value."""
        values = dict(self.values)
        for raw_key, value in overrides.items():
            key = raw_key.replace("__", ".", 1)
            values[key] = _parse(key, value)
        return Config(values, self.path, self.base_dir)

    @property
    def var_dir(self) -> Path:
        path = Path(self["paths.var_dir"])
        return path if path.is_absolute() else self.base_dir / path


def _parse(key: str, value: object) -> Any:
    setting = _BY_KEY.get(key)
    if setting is None:
        raise ConfigError(key, "unknown configuration key")
    try:
        return setting.parse(value)
    except ValueError as error:
        raise ConfigError(key, str(error)) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (if it exists), apply ALARMHUB_<SECTION>_<KEY> overrides, validate every value."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.key: s.parse(s.default) for s in SETTINGS}  # defaults are written as in TOML
    if path is not None and path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(str(path), f"not valid TOML: {error}") from None
        for section, table in document.items():
            if not isinstance(table, dict):
                raise ConfigError(section, "expected a [section] table")
            for name, value in table.items():
                key = f"{section}.{name}"
                values[key] = _parse(key, value)
    for setting in SETTINGS:
        if setting.env_var in environ:
            values[setting.key] = _parse(setting.key, environ[setting.env_var])
    known_vars = {s.env_var for s in SETTINGS}
    for var in environ:
        if var.startswith(ENV_PREFIX) and var not in known_vars and not var.startswith(f"{ENV_PREFIX}TEST_"):
            raise ConfigError(var, "unknown configuration variable")
    base_dir = path.resolve().parent if path is not None else Path.cwd()
    return Config(values, path, base_dir)


def settings_table() -> str:
    """The README's configuration table, generated from SETTINGS (`python -m shared.config`)."""
    lines = ["| key | default | environment variable | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        text = str(s.default).lower() if isinstance(s.default, bool) else str(s.default)
        shown = "(generated)" if s.secret else f"`{text}`" if text else '`""`'
        lines.append(f"| `{s.key}` | {shown} | `{s.env_var}` | {s.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
