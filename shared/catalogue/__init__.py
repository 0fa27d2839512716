"""The event catalogue: Contact ID and SIA DCS codes with category, priority and text, kept as CSV data."""

from shared.catalogue.classify import categories, classify, entries, lookup
from shared.catalogue.loader import CatalogueError
from shared.catalogue.model import (
    CATEGORY_LABELS,
    CONTACT_ID,
    FORMATS,
    PRIORITY_LOWEST,
    SIA_DCS,
    AlarmType,
    CatalogueEntry,
    Classification,
    FieldKind,
    Qualifier,
    SignalCategory,
)
from shared.catalogue.presentation import SignalLine, category_label, category_of, present

__all__ = [
    "CATEGORY_LABELS",
    "CONTACT_ID",
    "FORMATS",
    "PRIORITY_LOWEST",
    "SIA_DCS",
    "AlarmType",
    "CatalogueEntry",
    "CatalogueError",
    "Classification",
    "FieldKind",
    "Qualifier",
    "SignalCategory",
    "SignalLine",
    "categories",
    "category_label",
    "category_of",
    "classify",
    "entries",
    "lookup",
    "present",
]
