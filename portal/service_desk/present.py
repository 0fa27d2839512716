"""How the service desk shows a request's state, kind and age to staff."""

from __future__ import annotations

from datetime import datetime

from shared.service.model import KIND_LABELS, TIME_LABELS

# Staff's words for the states (the customer reads "Received" for a request nobody has answered yet).
STATUS_LABELS = {
    "open": "Open",
    "answered": "Answered",
    "scheduled": "Visit scheduled",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
# The badge's look by state: waiting for staff stands out, done is calm.
STATUS_BADGES = {
    "open": "badge--warn",
    "answered": "",
    "scheduled": "",
    "completed": "badge--ok",
    "cancelled": "",
}


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the two largest units that matter to a queue: "3 d 4 h", "5 h 12 min", "7 min"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "just now"


def helpers() -> dict[str, object]:
    """The labels the desk's templates use."""
    return {
        "status_labels": STATUS_LABELS,
        "status_badges": STATUS_BADGES,
        "kind_labels": KIND_LABELS,
        "preferred_times": TIME_LABELS,
    }
