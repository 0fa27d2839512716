"""The dashboard's tabs (Invoices due, Paid invoices, …): each feature adds its own when it lands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from portal.auth.model import CustomerScope, Viewer

Loader = Callable[[asyncpg.Connection, CustomerScope], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class DashboardTab:
    """One tab: its label, the template that shows it, and the scoped query that fills it.

    The template is included in the dashboard and sees what `load` returned as `tab_context`.
    """

    key: str
    label: str
    template: str
    load: Loader
    visible: Callable[[Viewer], bool] = lambda viewer: True
    order: int = 100


@dataclass(slots=True)
class DashboardTabs:
    tabs: list[DashboardTab] = field(default_factory=list)

    def add(self, tab: DashboardTab) -> None:
        self.tabs.append(tab)
        self.tabs.sort(key=lambda t: t.order)

    def for_viewer(self, viewer: Viewer) -> list[DashboardTab]:
        return [tab for tab in self.tabs if tab.visible(viewer)]
