"""One incident for dispatchers (GET /dispatch/incidents/{incident_id}) and handling it: take, take over, release,
record a call, note, dispatch, hold, close, and attach an unknown account's incident to its enrolled account.

Every route is for staff holding Permission.TAKE_INCIDENTS; every form carries the session's CSRF token (the CSRF
middleware refuses one without); a refused form shows the page again with each error next to its field, in the
form that was sent (the page has many forms: only that one shows the errors and what was typed). The rules —
one holder, only the holder acts, a closed incident refuses everything — are shared.incidents.handling's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, viewer_of
from portal.auth.model import Permission
from portal.auth.sessions import flash
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.errors import DomainError
from shared.incidents import handling
from shared.incidents.handling import CHOSEN_DISPOSITIONS, NOTE_LIMIT, Staff
from shared.incidents.incident_page import incident_page
from shared.incidents.model import (
    CALL_OUTCOME_LABELS,
    DISPOSITION_LABELS,
    FALSE_ALARM_CAUSE_LABELS,
    SERVICE_LABELS,
    ActionKind,
    CallOutcome,
    IncidentKind,
)
from shared.incidents.priority import PrioritySettings

routes = web.RouteTableDef()
PAGE: Final = "/dispatch/incidents/{incident_id}"
TEMPLATE: Final = "dispatch/incident.html"
HANDLE: Final = (Access.STAFF, Permission.TAKE_INCIDENTS)

KIND_LABELS: Final = {
    IncidentKind.ALARM: "Alarm",
    IncidentKind.FAILURE_TO_COMMUNICATE: "Failure to communicate",
    IncidentKind.UNKNOWN_ACCOUNT: "Unknown account",
}
ACTION_LABELS: Final = {
    ActionKind.OPENED: "Opened",
    ActionKind.SIGNAL: "Signal joined",
    ActionKind.RESTORED: "Restore received",
    ActionKind.TAKEN: "Taken",
    ActionKind.TAKEN_OVER: "Taken over",
    ActionKind.RELEASED: "Released",
    ActionKind.CALL: "Call",
    ActionKind.NOTE: "Note",
    ActionKind.DISPATCH: "Dispatched",
    ActionKind.HOLD: "On hold",
    ActionKind.CLOSED: "Closed",
    ActionKind.ATTACHED: "Attached",
    ActionKind.NOTIFIED: "Customer e-mailed",
}
ROLE_LABELS: Final = {"opened": "Opened it", "joined": "Joined", "restore": "Restore"}


def interval_words(value: timedelta | None) -> str:
    """A panel's test or supervision interval as staff say it: "24 h", "90 min", "45 s"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def page_of(incident_id: int) -> str:
    return PAGE.format(incident_id=incident_id)


def staff_of(request: web.Request) -> Staff:
    viewer = viewer_of(request)
    return Staff(viewer.user_id, viewer.display_name)


def failed_form(request: web.Request, form: dict[str, str]) -> str:
    """Which of the page's forms was sent (and refused): the action's path segment; a call's names its contact."""
    if request.method != "POST":
        return ""
    action = request.path.rstrip("/").rsplit("/", 1)[-1]
    if action == "call":
        return f"call-{form.get('contact_id') or 'other'}"
    return action


async def incident_context(request: web.Request) -> dict[str, Any]:
    """Everything the dispatcher sees; also the page shown again after a refused form."""
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        found = await incident_page(connection, path_id(request, "incident_id"), staff_id=viewer.user_id)
    incident = found.incident
    return {
        "page": found,
        "item": incident,
        "holds": found.is_open and incident.holder_id == viewer.user_id,
        "hold_max": request.app[config_key]["dispatch.hold_minutes_max"],
        "note_limit": NOTE_LIMIT,
        "kind_labels": KIND_LABELS,
        "action_labels": ACTION_LABELS,
        "role_labels": ROLE_LABELS,
        "outcomes": [(o.value, CALL_OUTCOME_LABELS[o]) for o in CallOutcome],
        "outcome_labels": {o.value: label for o, label in CALL_OUTCOME_LABELS.items()},
        "services": [(s.value, label) for s, label in SERVICE_LABELS.items()],
        "service_labels": {s.value: label for s, label in SERVICE_LABELS.items()},
        "dispositions": [(d.value, DISPOSITION_LABELS[d]) for d in CHOSEN_DISPOSITIONS],
        "disposition_labels": {d.value: label for d, label in DISPOSITION_LABELS.items()},
        "causes": [(c.value, label) for c, label in FALSE_ALARM_CAUSE_LABELS.items()],
        "cause_labels": {c.value: label for c, label in FALSE_ALARM_CAUSE_LABELS.items()},
        "interval_words": interval_words,
        "failed": "",
    }


async def refused_context(request: web.Request) -> dict[str, Any]:
    context = await incident_context(request)
    form = Form(await request.post())
    context["failed"] = failed_form(request, form.echo())
    return context


@routes.get(PAGE, name="dispatch.incident")
@access(*HANDLE)
async def incident_view(request: web.Request) -> web.StreamResponse:
    return await render(request, TEMPLATE, await incident_context(request))


async def done(request: web.Request, message: str, anchor: str = "") -> web.HTTPSeeOther:
    flash(await get_session(request), message)
    return redirect(page_of(path_id(request, "incident_id")) + anchor)


@routes.post(PAGE + "/take", name="dispatch.take")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def take_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.take(connection, path_id(request, "incident_id"), staff_of(request))
    raise await done(request, "You hold this incident now: call, dispatch and close it below.")


@routes.post(PAGE + "/take-over", name="dispatch.take_over")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def take_over_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.take_over(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            reason=form.get("reason"),
            expected_holder_id=parse_id(form.get("holder")),
        )
    raise await done(request, "You took the incident over: its trail says from whom and why.")


@routes.post(PAGE + "/release", name="dispatch.release")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def release_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.release(connection, path_id(request, "incident_id"), staff_of(request))
    raise await done(request, "You released the incident: it is back in the queue for anyone to take.")


@routes.post(PAGE + "/call", name="dispatch.call")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def call_view(request: web.Request, form: Form) -> web.StreamResponse:
    contact_text = form.get("contact_id")
    contact_id = parse_id(contact_text) if contact_text else None
    if contact_text and contact_id is None:
        raise DomainError("That contact is not on this premises' call list.", field="contact_id")
    async with request.app[pool_key].acquire() as connection:
        await handling.record_call(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            contact_id=contact_id,
            phone=form.get("phone"),
            outcome=form.get("outcome"),
            note=form.get("note"),
            passcode_verified=form.get("passcode_verified") == "yes",
        )
    raise await done(request, "The call is recorded.", "#calls-title")


@routes.post(PAGE + "/note", name="dispatch.note")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def note_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.note(connection, path_id(request, "incident_id"), staff_of(request), text=form.get("text"))
    raise await done(request, "Your note is added.", "#trail-title")


@routes.post(PAGE + "/dispatch", name="dispatch.dispatch")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def dispatch_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.dispatch(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            service=form.get("service"),
            note=form.get("dispatch_note"),
        )
    label = {s.value: text for s, text in SERVICE_LABELS.items()}.get(form.get("service"), "Help")
    raise await done(request, f"{label} dispatched: the time is in the trail.", "#trail-title")


def seen_signal_count(form: Form) -> int:
    """The incident's signal count as the page showed it (the form's hidden signal_count); 0, which no incident has
    and so is refused as changed, when the form has none."""
    return parse_id(form.get("signal_count")) or 0


@routes.post(PAGE + "/hold", name="dispatch.hold")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def hold_view(request: web.Request, form: Form) -> web.StreamResponse:
    limit = request.app[config_key]["dispatch.hold_minutes_max"]
    errors = FieldErrors()
    minutes = 0
    with errors.check():
        text = form.get("minutes")
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            raise DomainError(f"Hold for 1 to {limit} minutes.", field="minutes")
        minutes = int(text)
    errors.raise_if_any()
    async with request.app[pool_key].acquire() as connection:
        await handling.hold(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            minutes=minutes,
            reason=form.get("hold_reason"),
            max_minutes=limit,
            seen_signal_count=seen_signal_count(form),
        )
    raise await done(request, f"The incident is on hold for {minutes} min and back in the queue then.")


@routes.post(PAGE + "/close", name="dispatch.close")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def close_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await handling.close(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            disposition=form.get("disposition"),
            cause=form.get("cause"),
            note=form.get("close_note"),
            seen_signal_count=seen_signal_count(form),
        )
    raise await done(request, "The incident is closed. The customer's signal history shows what was done.")


@routes.post(PAGE + "/attach", name="dispatch.attach")
@access(*HANDLE)
@form_view(TEMPLATE, refused_context)
async def attach_view(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        attached = await handling.attach_unknown(
            connection,
            path_id(request, "incident_id"),
            staff_of(request),
            account=form.get("account"),
            priorities=PrioritySettings.from_config(request.app[config_key]),
        )
    flash(
        await get_session(request),
        f"The signals are attached to the account: they are part of incident #{attached.incident_id} now."
        if attached.merged
        else "The signals are attached to the account: this is the premises' incident now.",
    )
    raise redirect(page_of(attached.incident_id))
