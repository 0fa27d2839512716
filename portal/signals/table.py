"""The rows of the Signal history table, written in Python rather than by the template.

A history page is fifty rows of seven cells, and in jinja2 each cell is several yields, attribute lookups and
escapes: the rows were about two thirds of the page's whole cost (cProfile, 500 requests). Here each row is one
f-string: the category cells are made once per category, and only what came from a panel or a person (the
event's text, the zone or user, partition, account, premises name) is escaped. The markup is the one
signals/_table.html had; that template still owns the table around the rows. A signal that belongs to an incident
(issue 14) links "What we did" to the customer's account of it (portal/outcomes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from html import escape as _html_escape

from markupsafe import Markup, escape

from shared.catalogue import CATEGORY_LABELS, SignalCategory
from shared.signal_history import HistoryLine

Localtime = Callable[[datetime | None], str]

_CATEGORY_CELLS: dict[SignalCategory, str] = {
    category: (f'<td data-label="Type"><span class="category category--{category.value}">{escape(label)}</span></td>')
    for category, label in CATEGORY_LABELS.items()
}
_DASH = "—"
# The cells' texts repeat (the catalogue's words, "Zone 001", the panel's account): escaped once each.
_ESCAPED: dict[str, str] = {}
_ESCAPED_MAX = 20_000


def _escaped(text: str) -> str:
    found = _ESCAPED.get(text)
    if found is None:
        if len(_ESCAPED) >= _ESCAPED_MAX:
            _ESCAPED.clear()
        found = _ESCAPED[text] = _html_escape(text)
    return found


def history_rows(lines: Iterable[HistoryLine], show_premises: bool, localtime: Localtime) -> Markup:
    """The table's <tr> elements for `lines`; `show_premises` adds the Premises cell (customers with several)."""
    out: list[str] = []
    for line in lines:
        s = line.signal
        notes = ""
        if line.restores is not None:
            notes = (
                f'<br><span class="muted">restores: {_escaped(line.restores.text)} at '
                f"{localtime(line.restores.at)}</span>"
            )
        if line.restored_at is not None:
            notes += f'<br><span class="muted">restored at {localtime(line.restored_at)}</span>'
        if line.incident_id is not None:  # an int: nothing to escape
            notes += f'<br><a class="signal__outcome" href="/signals/incidents/{line.incident_id}">What we did</a>'
        premises = f'<td data-label="Premises">{_escaped(line.premises or _DASH)}</td>' if show_premises else ""
        out.append(
            f'<tr class="signal{" signal--restore" if s.is_restore else ""}">'
            f'<td class="nowrap" data-label="Received">{localtime(s.received_at)}</td>'
            f"{_CATEGORY_CELLS[s.category]}"
            f'<td data-label="What happened">{_escaped(s.text)}{notes}</td>'
            f'<td data-label="Zone / user">{_escaped(s.who or _DASH)}</td>'
            f'<td data-label="Partition">{_escaped(line.partition or _DASH)}</td>'
            f'<td class="mono" data-label="Panel">{_escaped(s.account)}</td>'
            f"{premises}</tr>\n"
        )
    return Markup("".join(out))  # noqa: S704 - every value from a panel or a person went through _escaped
