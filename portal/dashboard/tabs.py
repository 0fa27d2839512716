"""The dashboard's tabs (Invoices due, Paid invoices, …): each feature adds its own, with its access rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from portal.auth.model import CustomerScope, Viewer
from portal.auth.rules import Rule
from shared.db import Connection

Loader = Callable[[Connection, CustomerScope], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class DashboardTab:
    """One tab: its label, who may see it, the template that shows it, and the scoped query that fills it.

    The rule is required, as on routes: a tab is shown to nobody it does not name. The template is included in the
    dashboard and sees what `load` returned as `tab_context`.
    """

    key: str
    label: str
    rule: Rule
    template: str
    load: Loader
    order: int = 100


@dataclass(slots=True)
class DashboardTabs:
    tabs: list[DashboardTab] = field(default_factory=list)

    def add(self, tab: DashboardTab) -> None:
        if not isinstance(tab.rule, Rule):
            raise RuntimeError(f"dashboard tab {tab.key!r} declares no access rule")
        if any(t.key == tab.key for t in self.tabs):
            raise RuntimeError(f"two dashboard tabs share the key {tab.key!r}")
        self.tabs.append(tab)
        self.tabs.sort(key=lambda t: t.order)

    def for_viewer(self, viewer: Viewer) -> list[DashboardTab]:
        return [tab for tab in self.tabs if tab.rule.admits(viewer)]
