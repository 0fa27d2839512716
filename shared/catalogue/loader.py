"""Reads and validates the catalogue CSV files shipped inside this package."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Final

from shared.catalogue.model import (
    CONTACT_ID,
    SIA_DCS,
    AlarmType,
    CatalogueEntry,
    FieldKind,
    SignalCategory,
)

CONTACT_ID_FILE: Final = "contact_id.csv"
SIA_DCS_FILE: Final = "sia_dcs.csv"

_PACKAGE: Final = __name__.rpartition(".")[0]
_COMMON_COLUMNS: Final = ("code", "category", "alarm_type", "priority", "field", "text")
CONTACT_ID_COLUMNS: Final = (*_COMMON_COLUMNS, "restore_text", "restored_by")
SIA_DCS_COLUMNS: Final = (*_COMMON_COLUMNS, "is_restore", "restores", "restored_by")

_CONTACT_ID_CODE: Final = re.compile(r"[0-9]{3}")
_SIA_DCS_CODE: Final = re.compile(r"[A-Z]{2}")
_FIELDS: Final[Mapping[str, FieldKind]] = {"zone": "zone", "user": "user"}
_BOOLEANS: Final = {"true": True, "false": False}


class CatalogueError(ValueError):
    """A catalogue file breaks a rule; the message names the file and line."""


def read_packaged(name: str) -> str:
    """The text of one data file of this package, also when installed from a wheel or a zip."""
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def load_packaged() -> tuple[tuple[CatalogueEntry, ...], tuple[CatalogueEntry, ...]]:
    """The Contact ID and the SIA DCS entries from the packaged CSV files."""
    return (
        parse_contact_id(read_packaged(CONTACT_ID_FILE), CONTACT_ID_FILE),
        parse_sia_dcs(read_packaged(SIA_DCS_FILE), SIA_DCS_FILE),
    )


def parse_contact_id(text: str, source: str = CONTACT_ID_FILE) -> tuple[CatalogueEntry, ...]:
    """Contact ID entries from CSV text; raises CatalogueError on the first broken rule."""
    entries: list[CatalogueEntry] = []
    for where, row in _rows(text, source, CONTACT_ID_COLUMNS):
        code, category, alarm_type, priority, field, label = _common(row, where, _CONTACT_ID_CODE)
        restore_text = _optional_text(row["restore_text"], where, "restore_text")
        restored_by = row["restored_by"] or None
        if category is SignalCategory.OPEN_CLOSE and restored_by is not None:
            raise CatalogueError(f"{where}: open/close code {code}: qualifier 3 is a closing, not a restore")
        if restored_by is not None and restored_by != code:
            raise CatalogueError(f"{where}: Contact ID {code} is restored by itself, not by {restored_by!r}")
        if restored_by is not None and restore_text is None:
            raise CatalogueError(f"{where}: Contact ID {code} has a restore but no restore_text")
        if restored_by is None and restore_text is not None and category is not SignalCategory.OPEN_CLOSE:
            raise CatalogueError(f"{where}: Contact ID {code} has restore_text but restored_by is empty")
        entries.append(
            CatalogueEntry(
                format=CONTACT_ID,
                code=code,
                category=category,
                alarm_type=alarm_type,
                priority=priority,
                text=label,
                restore_text=restore_text,
                is_restore=False,
                restores=None,
                restored_by=restored_by,
                field=field,
            )
        )
    _reject_duplicates(entries, source)
    return tuple(entries)


def parse_sia_dcs(text: str, source: str = SIA_DCS_FILE) -> tuple[CatalogueEntry, ...]:
    """SIA DCS entries from CSV text; raises CatalogueError on the first broken rule or pairing."""
    entries: list[CatalogueEntry] = []
    lines: dict[str, str] = {}
    for where, row in _rows(text, source, SIA_DCS_COLUMNS):
        code, category, alarm_type, priority, field, label = _common(row, where, _SIA_DCS_CODE)
        is_restore = _BOOLEANS.get(row["is_restore"])
        if is_restore is None:
            raise CatalogueError(f"{where}: is_restore must be true or false, not {row['is_restore']!r}")
        restores = row["restores"] or None
        restored_by = row["restored_by"] or None
        if is_restore != (restores is not None):
            raise CatalogueError(f"{where}: {code}: a restore code names what it restores, and only it")
        if is_restore and restored_by is not None:
            raise CatalogueError(f"{where}: {code} is a restore and cannot itself be restored")
        lines[code] = where
        entries.append(
            CatalogueEntry(
                format=SIA_DCS,
                code=code,
                category=category,
                alarm_type=alarm_type,
                priority=priority,
                text=label,
                restore_text=None,
                is_restore=is_restore,
                restores=restores,
                restored_by=restored_by,
                field=field,
            )
        )
    _reject_duplicates(entries, source)
    _check_sia_pairs({entry.code: entry for entry in entries}, lines)
    return tuple(entries)


def _check_sia_pairs(by_code: Mapping[str, CatalogueEntry], lines: Mapping[str, str]) -> None:
    for code, entry in by_code.items():
        where = lines[code]
        if entry.restored_by is not None:
            restore = by_code.get(entry.restored_by)
            if restore is None or restore.restores != code:
                raise CatalogueError(f"{where}: {code} is restored by {entry.restored_by}, which must restore it")
        if entry.restores is not None:
            target = by_code.get(entry.restores)
            if target is None or target.is_restore:
                raise CatalogueError(f"{where}: {code} restores {entry.restores}, which is no event code")
            if target.restored_by is None:
                raise CatalogueError(f"{where}: {entry.restores} is restored by {code} but names no restore")
            if target.category is not entry.category or target.alarm_type is not entry.alarm_type:
                raise CatalogueError(f"{where}: {code} and {entry.restores} differ in category or alarm type")


def _rows(text: str, source: str, columns: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text), strict=True)
    if tuple(reader.fieldnames or ()) != columns:
        raise CatalogueError(f"{source}:1: header must be {','.join(columns)}")
    for row in reader:
        where = f"{source}:{reader.line_num}"
        if None in row or any(value is None for value in row.values()):
            raise CatalogueError(f"{where}: expected {len(columns)} columns")
        yield where, row


def _common(
    row: Mapping[str, str], where: str, code_pattern: re.Pattern[str]
) -> tuple[str, SignalCategory, AlarmType | None, int, FieldKind, str]:
    code = row["code"]
    if not code_pattern.fullmatch(code):
        raise CatalogueError(f"{where}: malformed code {code!r}")
    try:
        category = SignalCategory(row["category"])
    except ValueError:
        raise CatalogueError(f"{where}: {code}: unknown category {row['category']!r}") from None
    alarm_type: AlarmType | None = None
    if row["alarm_type"]:
        try:
            alarm_type = AlarmType(row["alarm_type"])
        except ValueError:
            raise CatalogueError(f"{where}: {code}: unknown alarm_type {row['alarm_type']!r}") from None
    if (alarm_type is not None) != (category is SignalCategory.ALARM):
        raise CatalogueError(f"{where}: {code}: alarm codes, and only they, have an alarm_type")
    if not row["priority"].isdigit() or int(row["priority"]) < 1:
        raise CatalogueError(f"{where}: {code}: priority must be a whole number from 1, not {row['priority']!r}")
    field = _FIELDS.get(row["field"])
    if field is None:
        raise CatalogueError(f"{where}: {code}: field must be zone or user, not {row['field']!r}")
    label = _optional_text(row["text"], where, "text")
    if label is None:
        raise CatalogueError(f"{where}: {code}: text is empty")
    return code, category, alarm_type, int(row["priority"]), field, label


def _optional_text(value: str, where: str, column: str) -> str | None:
    if value != value.strip() or any(not character.isprintable() for character in value):
        raise CatalogueError(f"{where}: {column} has stray whitespace or control characters")
    return value or None


def _reject_duplicates(entries: list[CatalogueEntry], source: str) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.code in seen:
            raise CatalogueError(f"{source}: code {entry.code} appears more than once")
        seen.add(entry.code)
