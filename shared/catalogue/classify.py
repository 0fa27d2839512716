"""Classifies decoded events from tables built once at import: the hot path of the receiver."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from shared.catalogue.loader import load_packaged
from shared.catalogue.model import (
    CATEGORY_LABELS,
    CONTACT_ID,
    PRIORITY_LOWEST,
    SIA_DCS,
    CatalogueEntry,
    Classification,
    Qualifier,
    SignalCategory,
)

_CONTACT_ID_ENTRIES, _SIA_DCS_ENTRIES = load_packaged()
_ENTRIES: Final[Mapping[str | None, tuple[CatalogueEntry, ...]]] = {
    None: _CONTACT_ID_ENTRIES + _SIA_DCS_ENTRIES,
    CONTACT_ID: _CONTACT_ID_ENTRIES,
    SIA_DCS: _SIA_DCS_ENTRIES,
}
_INDEX: Final[Mapping[str, Mapping[str, CatalogueEntry]]] = {
    CONTACT_ID: {entry.code: entry for entry in _CONTACT_ID_ENTRIES},
    SIA_DCS: {entry.code: entry for entry in _SIA_DCS_ENTRIES},
}
_FORMAT_NAMES: Final = {CONTACT_ID: "Contact ID", SIA_DCS: "SIA DCS"}

# Every spelling of a qualifier a caller may hold: the enum (equal to its value), the Contact ID
# digit, and the E/R letter of the MQTT event documents ("E130"). None means a new event.
_QUALIFIER_TOKENS: Final[Mapping[str | None, Qualifier]] = MappingProxyType(
    {
        None: Qualifier.EVENT,
        Qualifier.EVENT: Qualifier.EVENT,
        "1": Qualifier.EVENT,
        "E": Qualifier.EVENT,
        Qualifier.RESTORE: Qualifier.RESTORE,
        "3": Qualifier.RESTORE,
        "R": Qualifier.RESTORE,
        Qualifier.STATUS: Qualifier.STATUS,
        "6": Qualifier.STATUS,
    }
)


def _contact_id_results(entry: CatalogueEntry) -> dict[Qualifier, Classification]:
    """The three prebuilt results of one Contact ID code: qualifier 1, 3 and 6."""

    def result(qualifier: Qualifier, text: str, restores: str | None) -> Classification:
        return Classification(
            category=entry.category,
            alarm_type=entry.alarm_type,
            priority=entry.priority,
            text=text,
            qualifier=qualifier,
            known=True,
            restores=restores,
            field=entry.field,
        )

    if entry.category is SignalCategory.OPEN_CLOSE:
        # Qualifier 1 is an opening and 3 a closing: neither restores the other.
        return {
            Qualifier.EVENT: result(Qualifier.EVENT, entry.text, None),
            Qualifier.RESTORE: result(Qualifier.RESTORE, entry.restore_text or entry.text, None),
            Qualifier.STATUS: result(Qualifier.STATUS, f"{entry.text} — status report", None),
        }
    restores = entry.code if entry.restored_by is not None else None
    return {
        Qualifier.EVENT: result(Qualifier.EVENT, entry.text, None),
        Qualifier.RESTORE: result(Qualifier.RESTORE, entry.restore_text or f"{entry.text} — restore", restores),
        Qualifier.STATUS: result(Qualifier.STATUS, f"{entry.text} — still present", None),
    }


def _sia_dcs_result(entry: CatalogueEntry) -> Classification:
    return Classification(
        category=entry.category,
        alarm_type=entry.alarm_type,
        priority=entry.priority,
        text=entry.text,
        qualifier=Qualifier.RESTORE if entry.is_restore else Qualifier.EVENT,
        known=True,
        restores=entry.restores,
        field=entry.field,
    )


def _build_table() -> dict[str, dict[str, dict[str | None, Classification]]]:
    contact_id: dict[str, dict[str | None, Classification]] = {}
    for entry in _CONTACT_ID_ENTRIES:
        results = _contact_id_results(entry)
        by_token = {token: results[q] for token, q in _QUALIFIER_TOKENS.items()}
        contact_id[entry.code] = by_token
        # The MQTT event documents spell the qualifier into the code ("E130", "R130"); a qualifier
        # passed alongside still wins.
        contact_id[f"E{entry.code}"] = by_token
        contact_id[f"R{entry.code}"] = {**by_token, None: results[Qualifier.RESTORE]}
    sia_dcs: dict[str, dict[str | None, Classification]] = {}
    for entry in _SIA_DCS_ENTRIES:
        result = _sia_dcs_result(entry)
        # SIA DCS carries no qualifier: whatever the caller passes, the code decides.
        sia_dcs[entry.code] = dict.fromkeys(_QUALIFIER_TOKENS, result)
    return {CONTACT_ID: contact_id, SIA_DCS: sia_dcs}


_TABLE: Final = _build_table()


def classify(format: str, code: str, qualifier: Qualifier | str | None = None) -> Classification:
    """What the event ``code`` of ``format`` means; never raises, unknown or malformed codes are OTHER.

    ``qualifier`` is a Qualifier, a Contact ID digit ("1", "3", "6") or "E"/"R"; it is ignored for
    SIA DCS, whose restores are codes of their own. Results are prebuilt, frozen and shared between calls.
    """
    try:
        return _TABLE[format][code][qualifier]
    except (KeyError, TypeError):
        return _classify_uncommon(format, code, qualifier)


def entries(format: str | None = None) -> tuple[CatalogueEntry, ...]:
    """Every entry of one format (CONTACT_ID or SIA_DCS), or of both, in code order."""
    try:
        return _ENTRIES[format]
    except KeyError:
        raise ValueError(f"unknown event format {format!r}; expected {CONTACT_ID!r} or {SIA_DCS!r}") from None


def lookup(format: str, code: str) -> CatalogueEntry | None:
    """The catalogue entry of one code, or None when the catalogue does not know it."""
    return _INDEX.get(format, {}).get(code)


def categories() -> Mapping[SignalCategory, str]:
    """Each signal category with its display label, in the order the portal's filters show them."""
    return CATEGORY_LABELS


def _classify_uncommon(format: object, code: object, qualifier: object) -> Classification:
    """The slow path: spelling variants, unknown codes and garbage, cached so repeats stay cheap."""
    try:
        return _classify_normalised(format, code, qualifier)
    except TypeError:  # an unhashable argument cannot be cached
        return _unknown(_display(format), _display(code), Qualifier.EVENT)


@lru_cache(maxsize=1024)
def _classify_normalised(format: object, code: object, qualifier: object) -> Classification:
    name = format.strip().upper() if isinstance(format, str) else None
    raw = code.strip().upper() if isinstance(code, str) else ""
    wanted = _qualifier(qualifier)
    if name == CONTACT_ID and len(raw) == 4 and raw[0] in "ER136":
        # "E130" (MQTT event documents) or "1130" (qualifier digit and code in one field).
        if qualifier is None:
            wanted = _QUALIFIER_TOKENS[raw[0]]
        raw = raw[1:]
    table = _TABLE.get(name or "")
    if table is not None and raw in table:
        return table[raw][wanted]
    return _unknown(_display(format) if name is None else name, _display(raw or code), wanted)


def _qualifier(qualifier: object) -> Qualifier:
    if isinstance(qualifier, int) and not isinstance(qualifier, bool):
        qualifier = str(qualifier)
    if isinstance(qualifier, str):
        token = qualifier.strip()
        for spelling in (token, token.lower(), token.upper()):
            if spelling in _QUALIFIER_TOKENS:
                return _QUALIFIER_TOKENS[spelling]
    # A qualifier the standard does not define still describes an event.
    return Qualifier.EVENT


def _unknown(format: str, code: str, qualifier: Qualifier) -> Classification:
    name = _FORMAT_NAMES.get(format, format)
    return Classification(
        category=SignalCategory.OTHER,
        alarm_type=None,
        priority=PRIORITY_LOWEST,
        text=f"Unknown {name} event {code}".replace("  ", " ").strip(),
        qualifier=qualifier,
        known=False,
        restores=None,
    )


def _display(value: object) -> str:
    """A short, printable rendering of caller input for an 'unknown' text."""
    text = value if isinstance(value, str) else "" if value is None else repr(value)
    return "".join(character for character in text if character.isprintable()).strip()[:16]
