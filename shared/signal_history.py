"""Signal history (C11): the filter, the keyset cursor, pages newest first with restores paired, and the statement
of a whole range (which shared.signal_export writes as CSV)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg

from shared.catalogue import CATEGORY_LABELS, CONTACT_ID, SIA_DCS, SignalCategory, SignalLine, entries, present
from shared.config import Config
from shared.db import Connection, Pool, pool_from_config
from shared.scope import CustomerScope
from shared.signal_partitions import month_start

PAGE_ROWS = 50
# A filtered page reads at most this many of the customer's signals (newest first from its position): a category
# that is rare, or absent, costs one bounded index walk per page instead of the customer's whole history.
SCAN_ROWS = 10_000
# A restore is paired with its event when that event is among the customer's signals just before it.
LOOKBACK_ROWS = 300
LOOKBACK = timedelta(days=31)  # as elapsed time (744 hours), whatever the database session's time zone
# Dates a person may ask for; outside them the time zone arithmetic would leave datetime's range.
FIRST_YEAR, LAST_YEAR = 1970, 2999
_EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
_LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _restore_families() -> tuple[list[str], list[str], list[str]]:
    """From the catalogue: Contact ID codes whose qualifier 3 restores qualifier 1 of the same code; and SIA DCS
    codes of a restore pair with the event code each belongs to (BA, BH and BR all belong to BA)."""
    contact_id = [
        e.code for e in entries(CONTACT_ID) if e.restored_by is not None and e.category is not SignalCategory.OPEN_CLOSE
    ]
    family: dict[str, str] = {}
    for entry in entries(SIA_DCS):
        if entry.is_restore and entry.restores is not None:
            family[entry.code] = entry.restores
            family[entry.restores] = entry.restores
    return contact_id, list(family), list(family.values())


CONTACT_ID_RESTORABLE, SIA_CODES, SIA_FAMILIES = _restore_families()


def _text_array(codes: Sequence[str]) -> str:
    """Catalogue codes as an SQL array literal, part of the statement's text: sent and parsed once per prepared
    statement, not with every page (as parameters they were a third of the page query's time)."""
    if not all(code.isascii() and code.isalnum() for code in codes):
        raise ValueError("catalogue codes are letters and digits")
    return "'{" + ",".join(codes) + "}'::text[]"


_CID_RESTORABLE, _SIA_CODES, _SIA_FAMILIES = map(_text_array, (CONTACT_ID_RESTORABLE, SIA_CODES, SIA_FAMILIES))


@dataclass(frozen=True, slots=True)
class Premises:
    id: int
    name: str
    address: str


async def premises_of(connection: Connection, scope: CustomerScope) -> list[Premises]:
    rows = await connection.fetch(
        "SELECT id, name, address FROM sites WHERE customer_id = $1 ORDER BY name, id", scope.customer_id
    )
    return [Premises(row["id"], row["name"], row["address"]) for row in rows]


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What the person asked to see: days From and To (inclusive, in the portal's time zone), categories (none:
    all) and one premises (None: all of the customer's)."""

    timezone: ZoneInfo
    start: date | None = None
    end: date | None = None
    categories: frozenset[SignalCategory] = frozenset()
    site_id: int | None = None

    @classmethod
    def parse(
        cls, query: Mapping[str, str], categories: Sequence[str], *, timezone: ZoneInfo, premises: Sequence[Premises]
    ) -> tuple[HistoryFilter, dict[str, str]]:
        """The filter from a query string, and what was wrong with it by field (a wrong field is left out)."""
        errors: dict[str, str] = {}
        start, end = _day(query.get("from", ""), "from", errors), _day(query.get("to", ""), "to", errors)
        if start and end and end < start:
            errors["to"] = "the end date is before the start date"
            end = None
        chosen: set[SignalCategory] = set()
        for value in categories:
            try:
                chosen.add(SignalCategory(value))
            except ValueError:
                errors["category"] = "choose among the categories listed"
        site_text = query.get("site", "").strip()
        site_id = _id(site_text) if site_text else None
        if site_text and (site_id is None or site_id not in {p.id for p in premises}):
            errors["site"] = "choose one of your premises"
            site_id = None
        return cls(timezone, start, end, frozenset(chosen), site_id), errors

    def bounds(self) -> tuple[datetime, datetime]:
        """[lower, upper) instants: midnight starting From and midnight ending To, in the portal's zone."""
        lower = datetime.combine(self.start, time(), self.timezone) if self.start else _EARLIEST
        upper = datetime.combine(self.end + timedelta(days=1), time(), self.timezone) if self.end else _LATEST
        return lower, upper

    def query(self) -> list[tuple[str, str]]:
        """As query-string pairs, for links that keep the filter (paging, the CSV export)."""
        pairs = [("from", self.start.isoformat())] if self.start else []
        pairs += [("to", self.end.isoformat())] if self.end else []
        pairs += [("category", c.value) for c in CATEGORY_LABELS if c in self.categories]
        pairs += [("site", str(self.site_id))] if self.site_id else []
        return pairs

    @property
    def narrowed(self) -> bool:
        """Whether rows of the range are left out by a category or premises (the page's scan is then bounded)."""
        return bool(self.categories) or self.site_id is not None


def _id(text: str) -> int | None:
    """A database id in decimal digits within bigint, else None (never a database error about the number)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value < 2**63 else None


def _day(text: str, name: str, errors: dict[str, str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors[name] = "enter a date such as 2026-12-31"
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors[name] = f"enter a date between {FIRST_YEAR} and {LAST_YEAR}"
        return None
    return day


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the history: the (received_at, id) of a signal; pages go strictly past it."""

    received_at: datetime
    id: int


class InvalidCursor(ValueError):
    """A paging cursor that this server did not make for this customer (edited, truncated or someone else's)."""


class CursorCodec:
    """Positions as opaque, URL-safe text, signed so that an edited cursor is refused rather than followed."""

    _PACK = struct.Struct(">qq")
    _MAC_BYTES = 14  # 16 + 14 bytes: 40 characters, no padding, so that every character counts
    _TEXT = re.compile(r"[A-Za-z0-9_-]{40}")

    def __init__(self, key: bytes, *previous: bytes) -> None:
        self._keys = (key, *previous)  # signs with `key`; a cursor signed with a previous one (rotation) still opens

    def encode(self, position: Position, scope: CustomerScope) -> str:
        micros = (position.received_at - _EPOCH) // timedelta(microseconds=1)
        payload = self._PACK.pack(micros, position.id)
        return base64.urlsafe_b64encode(payload + self._mac(self._keys[0], payload, scope)).decode("ascii")

    def decode(self, text: str, scope: CustomerScope) -> Position:
        if not self._TEXT.fullmatch(text):
            raise InvalidCursor("not a cursor")
        raw = base64.urlsafe_b64decode(text)
        payload, mac = raw[: self._PACK.size], raw[self._PACK.size :]
        signed = any(hmac.compare_digest(mac, self._mac(key, payload, scope)) for key in self._keys)
        if len(payload) != self._PACK.size or not signed:
            raise InvalidCursor("not a cursor of this history")
        micros, signal_id = self._PACK.unpack(payload)
        try:
            return Position(_EPOCH + timedelta(microseconds=micros), signal_id)
        except OverflowError:  # signed by us, so never; kept so that no input can become a 500
            raise InvalidCursor("cursor out of range") from None

    def _mac(self, key: bytes, payload: bytes, scope: CustomerScope) -> bytes:
        message = b"signal-history:%d:" % scope.customer_id + payload
        return hmac.new(key, message, hashlib.sha256).digest()[: self._MAC_BYTES]


class Restored(NamedTuple):
    """The event a restore ends."""

    id: int
    text: str
    at: datetime


class HistoryLine(NamedTuple):
    """One row of the history: the signal as the catalogue words it, with what the portal adds around it (a
    NamedTuple, as SignalLine is: fifty are built for every page)."""

    signal: SignalLine
    zone: str
    user: str
    partition: str
    premises: str
    restores: Restored | None  # on a restore: the event it ends, when found just before it
    restored_at: datetime | None = None  # on an event: when its restore came, if that restore is on the same page
    # Issue 14: the incident an alarm opened, for the row to link to what the central station did about it.
    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    lines: list[HistoryLine]
    older: Position | None  # where the next older page starts; None at the end of the range
    newer: Position | None  # where the next newer page starts; None on the newest page
    # When the page's bounded scan ended before it filled: signals older than this were not looked at yet.
    searched_to: datetime | None = None


_COLUMNS = (
    "id, received_at, account, category, qualifier, description, code, zone, partition, user_number, format, site_id"
)


class _Params:
    """Numbered parameters for SQL assembled from parts."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _pairing(p: _Params, scope: CustomerScope, since: datetime, until: datetime) -> str:
    """LEFT JOIN LATERAL giving each restore row of `page` the event it ends: going back through its panel's
    signals (at most LOOKBACK_ROWS, within LOOKBACK), the first signal of the same zone and code family decides —
    an event is paired; another restore means that event was restored already.

    The walk back reads signals_customer_received in order (HISTORY_SETTINGS turns bitmap scans off, so its LIMIT
    stops it early) and filters on the panel's account. `account || ''` keeps that filter out of reach of any index
    whose key starts with the account but not the time (signals_idempotency was one before sql/0025): as an index scan
    over it, the walk read every signal the panel ever sent (3.5 s a page for a panel of 500,000 signals).

    [`since`, `until`]: where every walk of the statement stays, as values PostgreSQL prunes months by while
    planning; `received_at <= page.received_at` lets it prune the rest for each walk as it runs. LOOKBACK goes in
    as seconds: an interval of days would be counted on the session's clock, an hour longer across a change of
    daylight-saving time there, and reach past `since`."""
    customer, seconds, rows = p(scope.customer_id), p(LOOKBACK // timedelta(seconds=1)), p(LOOKBACK_ROWS)
    cid, codes, families = _CID_RESTORABLE, _SIA_CODES, _SIA_FAMILIES
    return f"""
      LEFT JOIN LATERAL (
          SELECT f.id, f.received_at, f.description, f.qualifier
            FROM (SELECT id, received_at, description, qualifier, code, format, account, zone, partition
                    FROM signals
                   WHERE customer_id = {customer} AND account || '' = page.account
                     AND received_at >= {p(since)} AND received_at <= {p(until)}
                     AND (received_at, id) < (page.received_at, page.id) AND received_at <= page.received_at
                     AND received_at > page.received_at - {seconds}::bigint * interval '1 second'
                   ORDER BY received_at DESC, id DESC
                   LIMIT {rows}) AS f
           WHERE page.qualifier = 'restore'
             AND (page.format = '{CONTACT_ID}' AND page.code = ANY({cid})
                  OR page.format = '{SIA_DCS}' AND array_position({codes}, page.code) IS NOT NULL)
             AND f.account = page.account AND f.format = page.format AND f.zone IS NOT DISTINCT FROM page.zone
             AND (f.partition IS NULL OR page.partition IS NULL OR f.partition = page.partition)
             AND f.qualifier IN ('event', 'restore')
             AND (page.format = '{CONTACT_ID}' AND f.code = page.code
                  OR page.format = '{SIA_DCS}' AND ({families})[array_position({codes}, f.code)]
                                                   = ({families})[array_position({codes}, page.code)])
           ORDER BY f.received_at DESC, f.id DESC
           LIMIT 1
      ) AS restored ON restored.qualifier = 'event'"""


_PAIRED = (
    "page.*, restored.id AS restores_id, restored.received_at AS restores_at, restored.description AS restores_text"
)


# The incident a row's signal belongs to (issue 14): one probe of the unique index incident_signals_signal per row
# of the page (at most PAGE_ROWS + 2), after the page is cut: the customer's history is never joined whole.
_INCIDENT = "LEFT JOIN incident_signals AS incident ON incident.signal_id = page.id"


def _matches(p: _Params, wanted: HistoryFilter) -> str:
    parts = ["true"]
    if wanted.categories:
        parts.append(f"category = ANY({p(sorted(c.value for c in wanted.categories), '::text[]')})")
    if wanted.site_id is not None:
        parts.append(f"site_id = {p(wanted.site_id)}")
    return " AND ".join(parts)


# A page reads the months nearest its position first: PostgreSQL leaves out every month outside the statement's
# window of received_at (while planning it, or as the prepared statement starts), so a page's work does not grow
# with the length of the customer's history (over the whole history an ordered Append opened every month's index:
# 2.4 ms a page at 30 months instead of 0.8). A window holds its position's month and the one before it (after it,
# going newer); when that does not fill the page the next windows go on past it, WIDER_MONTHS wide, then to the
# filter's end.
FIRST_MONTHS = 2
WIDER_MONTHS = (6, 24)


def _windows(position: Position, wanted: HistoryFilter, *, older: bool, now: datetime) -> list[datetime]:
    """The far edges of the windows a page reads from `position` in turn, the last one the filter's own bound.
    Going older, the months are counted from `position` or from this month, whichever is earlier: the newest page's
    position is the filter's end, maybe the year 3000 (the first window still reaches up to it)."""
    lower, upper = wanted.bounds()
    if older:
        anchor, step, last = min(position.received_at, now), -1, lower
    else:
        anchor, step, last = position.received_at, 1, upper
    edges, months = [], 1 - FIRST_MONTHS if older else FIRST_MONTHS
    for width in (0, *WIDER_MONTHS):
        months += step * width
        edge = month_start(anchor, months)
        if (edge <= last) if older else (edge >= last):
            break
        edges.append(edge)
    return [*edges, last]


def _page_sql(
    scope: CustomerScope,
    wanted: HistoryFilter,
    position: Position,
    edge: datetime,
    *,
    older: bool,
    limit: int,
    scan: int,
) -> tuple[str, list[Any]]:
    """A window of a page: from `position` (exclusive) going older down to `edge` (inclusive), or newer up to
    `edge` (exclusive), `limit` + 1 matching rows at most. When the filter narrows, at most `scan` rows are read,
    and the last row read comes back too whether it matches or not (scanned_: how many were read; last_: the
    window held no more)."""
    p = _Params()
    before, order = ("<", "DESC") if older else (">", "ASC")
    at, far = p(position.received_at), p(edge)
    # received_at compared alone as well as in the row: PostgreSQL prunes months by the plain comparisons only.
    window = (
        f"received_at >= {far} AND received_at <= {at}" if older else f"received_at >= {at} AND received_at < {far}"
    )
    rows = f"""SELECT {_COLUMNS} FROM signals
                WHERE customer_id = {p(scope.customer_id)} AND {window}
                  AND (received_at, id) {before} ({at}, {p(position.id)})
                ORDER BY received_at {order}, id {order}"""
    if wanted.narrowed:
        bound = p(scan)
        page = f"""SELECT * FROM (
                       SELECT *, row_number() OVER w AS scanned_, lead(id) OVER w IS NULL AS last_,
                              {_matches(p, wanted)} AS matches_
                         FROM ({rows} LIMIT {bound}) AS s
                       WINDOW w AS (ORDER BY received_at {order}, id {order})) AS s
                    WHERE matches_ OR scanned_ = {bound} OR last_
                    ORDER BY received_at {order}, id {order}
                    LIMIT {p(limit + 2)}"""
    else:
        page = (
            f"SELECT *, 0::bigint AS scanned_, false AS last_, true AS matches_ FROM ({rows} LIMIT {p(limit + 1)}) AS s"
        )
    # The restores of the window pair with events at most LOOKBACK before its oldest possible row. In UTC: an edge
    # may be the filter's bound in the portal's zone, where subtracting days would follow its clock changes.
    since = (edge if older else position.received_at).astimezone(UTC) - LOOKBACK
    until = position.received_at if older else edge
    pairing = _pairing(p, scope, since, until)
    sql = (
        f"SELECT {_PAIRED}, incident.incident_id FROM ({page}) AS page {pairing} {_INCIDENT} "
        f"ORDER BY page.received_at {order}, page.id {order}"
    )
    return sql, p.values


def range_sql(scope: CustomerScope, wanted: HistoryFilter) -> tuple[str, list[Any]]:
    """Every signal of the filtered range, newest first, restores paired: the export's statement and values."""
    lower, upper = wanted.bounds()
    p = _Params()
    rows = f"""SELECT {_COLUMNS} FROM signals
                WHERE customer_id = {p(scope.customer_id)} AND received_at >= {p(lower)} AND received_at < {p(upper)}
                  AND {_matches(p, wanted)}
                ORDER BY received_at DESC, id DESC"""
    pairing = _pairing(p, scope, lower.astimezone(UTC) - LOOKBACK, upper)
    sql = f"SELECT {_PAIRED} FROM ({rows}) AS page {pairing} ORDER BY page.received_at DESC, page.id DESC"
    return sql, p.values


class _Read(NamedTuple):
    found: list[asyncpg.Record]  # the matching rows in the page's order: more than `limit` when there are more
    stopped: asyncpg.Record | None  # the row at which a narrowed filter's scan reached its bound, if it did


async def _read(
    connection: Connection,
    scope: CustomerScope,
    wanted: HistoryFilter,
    position: Position,
    *,
    older: bool,
    limit: int,
    scan: int,
) -> _Read:
    """A page's rows from `position`, window after window until `limit` + 1 match, the filter's range ends or
    (narrowed) `scan` rows were read in all."""
    found: list[asyncpg.Record] = []
    left = scan
    for edge in _windows(position, wanted, older=older, now=datetime.now(UTC)):
        sql, values = _page_sql(scope, wanted, position, edge, older=older, limit=limit - len(found), scan=left)
        rows = await connection.fetch(sql, *values)
        found += [row for row in rows if row["matches_"]]
        if len(found) > limit:
            return _Read(found, None)
        if wanted.narrowed:
            stopped = next((row for row in rows if row["scanned_"] == left), None)
            if stopped is not None:
                return _Read(found, stopped)
            left -= next((row["scanned_"] for row in rows if row["last_"]), 0)
        position = Position(edge, 0)  # ids are positive: strictly past the edge, in either direction
    return _Read(found, None)


async def history_page(
    connection: Connection,
    scope: CustomerScope,
    wanted: HistoryFilter,
    *,
    after: Position | None = None,
    before: Position | None = None,
    limit: int = PAGE_ROWS,
    scan: int = SCAN_ROWS,
    premises_known: Sequence[Premises] | None = None,
) -> HistoryPage:
    """Up to `limit` signals newest first: the newest page, the page older than `after`, or the page newer than
    `before` (which becomes the newest page when fewer than `limit` newer signals are left). `premises_known`:
    the customer's premises when the caller has read them already. `connection`: from a history_pool (elsewhere the
    statements run, but a busy customer's restores may be paired by bitmap scans: see HISTORY_SETTINGS)."""
    known = premises_known if premises_known is not None else await premises_of(connection, scope)
    premises = {p.id: p.name for p in known}
    if before is not None:
        return await _newer_page(connection, scope, wanted, before, premises, limit=limit, scan=scan)
    upper = wanted.bounds()[1]
    start = min(after, Position(upper, 0)) if after is not None else Position(upper, 0)
    found, sentinel = await _read(connection, scope, wanted, start, older=True, limit=limit, scan=scan)
    shown = found[:limit]
    older: Position | None = None
    searched_to = None
    if len(found) > limit:
        older = _position(shown[-1])
    elif sentinel is not None:  # the scan stopped at its bound: the next page goes on from where it stopped
        older, searched_to = _position(sentinel), sentinel["received_at"]
    newer = _position(shown[0]) if after is not None and shown else after
    if not shown and after is not None:  # an empty page: Newer must show the row `after` named again, not skip it
        newer = Position(after.received_at, after.id - 1)
    return HistoryPage(_lines(shown, premises), older=older, newer=newer, searched_to=searched_to)


async def _newer_page(
    connection: Connection,
    scope: CustomerScope,
    wanted: HistoryFilter,
    before: Position,
    premises: Mapping[int, str],
    *,
    limit: int,
    scan: int,
) -> HistoryPage:
    lower, _ = wanted.bounds()
    start = max(before, Position(lower, 0))
    found, sentinel = await _read(connection, scope, wanted, start, older=False, limit=limit, scan=scan)  # oldest first
    if len(found) <= limit and sentinel is None:  # nothing newer beyond these: the newest page, as it is now
        return await history_page(
            connection,
            scope,
            wanted,
            limit=limit,
            scan=scan,
            premises_known=[Premises(k, v, "") for k, v in premises.items()],
        )
    shown = list(reversed(found[:limit]))
    if len(found) > limit:
        newer = _position(shown[0])
    else:  # the scan stopped at its bound: the next newer page goes on from where it stopped
        assert sentinel is not None
        newer = _position(sentinel)
    # An empty page: Older must show the row `before` named again, not skip it.
    older = _position(shown[-1]) if shown else Position(before.received_at, before.id + 1)
    return HistoryPage(_lines(shown, premises), older=older, newer=newer)


# The sessions that run the page and export statements (HISTORY_SETTINGS, a pool of their own: history_pool).
#
# JIT off: the restore pairing's lateral is estimated at thousands of rows per line of a busy customer (it reads at
# most LOOKBACK_ROWS), which lifts the statement past jit_above_cost, and compiling it took ~300 ms on every page for
# a sub-millisecond query (EXPLAIN ANALYZE, a customer of 100,000 signals: 0.7 ms without JIT); a year's export
# spent 0.8 s compiling before its first row.
#
# Bitmap scans off: the pairing's walk back must be an ordered index scan that its LIMIT stops early; as a bitmap
# scan (which the planner prefers, estimating few rows) it read every signal of the customer's last 31 days for each
# restore on the page — 21,000 rows each for a customer of 500,000 signals: 140 ms a page instead of 0.45 (EXPLAIN
# ANALYZE on bench.portal's 10 million signals). The page's own scans are ordered index scans either way.
#
# Sorts off: the walk back must be read in order on partitioned signals too. Given a window of months as values
# (`since`, `until`), the planner estimated a handful of rows for it and chose to read every month of the window
# and sort instead of stopping after LOOKBACK_ROWS: 350 ms a page (EXPLAIN ANALYZE, bench.portal's 10 million
# signals). The page and export statements need no sort (their rows come from the indexes in the order shown); the
# premises list, which these sessions also read, has no other way than to sort and is planned the same either way.
#
# Set per session, not per statement: SET LOCAL needed a transaction around every page (BEGIN, SET, the page,
# COMMIT: four round trips instead of one). The rest of the portal keeps bitmap scans: BRIN and GIN indexes are read
# by nothing else.
HISTORY_SETTINGS: Final[Mapping[str, str]] = {"jit": "off", "enable_bitmapscan": "off", "enable_sort": "off"}


async def history_pool(config: Config, database_url: str) -> Pool:
    """The pool that history pages and exports borrow from: its sessions plan them with HISTORY_SETTINGS."""
    return await pool_from_config(config, database_url, server_settings=HISTORY_SETTINGS, reset=_session_kept)


async def _session_kept(_connection: Connection) -> None:
    """The history pool's reset: none beyond asyncpg's rollback of an open transaction. What the pages and the
    export do leaves nothing in a session (no SET, LISTEN or advisory lock; their cursor lives in a transaction),
    so asyncpg's reset statement would be a round trip on every page for nothing — and its RESET ALL keeps
    HISTORY_SETTINGS anyway (settings given at connect time are the session's defaults)."""


def _position(row: asyncpg.Record) -> Position:
    return Position(row["received_at"], row["id"])


def _line(row: asyncpg.Record, premises: Mapping[int, str], restored_at: datetime | None) -> HistoryLine:
    restores_id = row["restores_id"]
    return HistoryLine(
        present(row),
        row["zone"] or "",
        row["user_number"] or "",
        row["partition"] or "",
        premises.get(row["site_id"], ""),
        None if restores_id is None else Restored(restores_id, row["restores_text"], row["restores_at"]),
        restored_at,
        row.get("incident_id"),
    )


def _lines(rows: Sequence[asyncpg.Record], premises: Mapping[int, str]) -> list[HistoryLine]:
    """The page's lines; an event whose restore is on the same page says when it was restored."""
    restored_at = {row["restores_id"]: row["received_at"] for row in rows if row["restores_id"] is not None}
    return [_line(row, premises, restored_at.get(row["id"])) for row in rows]
