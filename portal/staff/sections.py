"""The sections of a customer's staff record (premises, logins, billing, …): features add theirs, each with a rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from portal.auth.model import CustomerScope, Viewer
from portal.auth.rules import Rule
from shared.db import Connection

Loader = Callable[[Connection, CustomerScope], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class StaffSection:
    """One part of the staff record: its title, who may see it, the template that shows it, and its scoped query.

    The rule is required, as on routes and dashboard tabs: a section is shown to nobody it does not name. The
    template is included in staff/customer.html and sees what `load` returned as `section_context` (and the page's
    own context: `customer`, `viewer`, `form`, `errors`, `may_use`).
    """

    key: str
    title: str
    rule: Rule
    template: str
    load: Loader
    order: int = 100


@dataclass(frozen=True, slots=True)
class LoadedSection:
    section: StaffSection
    context: dict[str, Any]


@dataclass(slots=True)
class StaffSections:
    sections: list[StaffSection] = field(default_factory=list)

    def add(self, section: StaffSection) -> None:
        if not isinstance(section.rule, Rule):
            raise RuntimeError(f"staff section {section.key!r} declares no access rule")
        if any(s.key == section.key for s in self.sections):
            raise RuntimeError(f"two staff sections share the key {section.key!r}")
        self.sections.append(section)
        self.sections.sort(key=lambda s: s.order)

    def for_viewer(self, viewer: Viewer) -> list[StaffSection]:
        return [section for section in self.sections if section.rule.admits(viewer)]

    async def load(self, connection: Connection, scope: CustomerScope, viewer: Viewer) -> list[LoadedSection]:
        """Every section the viewer may see, filled for the customer of `scope`, in order."""
        return [LoadedSection(section, await section.load(connection, scope)) for section in self.for_viewer(viewer)]
