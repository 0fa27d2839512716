"""How a call list's history reads: each change as what happened, and the fields before → after in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from shared.call_list import Change

LABELS: Final = {
    "position": "Position",
    "name": "Name",
    "phone": "Phone",
    "phone_alt": "Second phone",
    "relation": "Relation",
    "has_keys": "Has keys",
    "notes": "Notes",
}


@dataclass(frozen=True, slots=True)
class ChangeLine:
    change: Change
    what: str
    before: list[str]
    after: list[str]


def _value(field: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value not in ("", None) else "—"


def _lines(fields: dict[str, Any], only: list[str]) -> list[str]:
    return [f"{LABELS[name]}: {_value(name, fields.get(name))}" for name in only]


def _name(change: Change) -> str:
    fields = change.after or change.before or {}
    return str(fields.get("name", "a contact"))


def describe(change: Change) -> ChangeLine:
    """One row of the history table."""
    before, after = change.before or {}, change.after or {}
    if change.action == "added":
        shown = [name for name in LABELS if name == "position" or after.get(name) not in ("", None, False)]
        return ChangeLine(change, f"Added {_name(change)}", [], _lines(after, shown))
    if change.action == "removed":
        shown = [name for name in LABELS if name == "position" or before.get(name) not in ("", None, False)]
        return ChangeLine(change, f"Removed {_name(change)}", _lines(before, shown), [])
    if change.action == "moved":
        what = f"Moved {_name(change)} from position {before.get('position')} to {after.get('position')}"
        return ChangeLine(change, what, _lines(before, ["position"]), _lines(after, ["position"]))
    if change.action == "edited":
        changed = [name for name in LABELS if before.get(name) != after.get(name)]
        return ChangeLine(change, f"Changed {_name(change)}", _lines(before, changed), _lines(after, changed))
    # The verbal passcode: the history never held its value, only that there was one.
    if change.action == "passcode_set":
        what = "Changed the verbal passcode" if before else "Set the verbal passcode"
        return ChangeLine(change, what, ["a passcode was set"] if before else ["no passcode"], ["a new passcode"])
    return ChangeLine(change, "Cleared the verbal passcode", ["a passcode was set"], ["no passcode"])
