"""The served OpenAPI document describes the three list and detail endpoints, and the contract check that every
API test relies on refuses what breaks it (so the tests that pass through it could not pass by checking nothing)."""

from __future__ import annotations

import jsonschema
import pytest

from tests.portal.api.contract import Api
from tests.portal.conftest import Customer

SIGNALS, INCIDENTS, INCIDENT = "/api/v1/signals", "/api/v1/incidents", "/api/v1/incidents/{id}"


async def test_the_document_describes_signals_and_incidents(api: Api) -> None:
    paths = api.contract.document["paths"]
    signals, incidents, incident = paths[SIGNALS]["get"], paths[INCIDENTS]["get"], paths[INCIDENT]["get"]
    assert [p["name"] for p in signals["parameters"]] == ["account", "since", "until", "category", "limit", "after"]
    assert all(p["in"] == "query" and not p["required"] for p in signals["parameters"])
    assert [p["name"] for p in incidents["parameters"]] == ["status", "limit", "after"]
    assert [(p["name"], p["in"], p["required"]) for p in incident["parameters"]] == [("id", "path", True)]
    assert set(signals["responses"]) == set(incidents["responses"]) == {"200", "400", "401", "403"}
    assert set(incident["responses"]) == {"200", "401", "403", "404"}
    ok = {"$ref": "#/components/schemas/{}"}
    assert signals["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": ok["$ref"].format("SignalsPage")
    }
    assert incident["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": ok["$ref"].format("IncidentDetail")
    }
    assert {"SignalEntry", "Incident", "IncidentAction", "IncidentSignal", "ParameterError"} <= set(
        api.contract.document["components"]["schemas"]
    )
    assert "Access: a dispatcher or an admin." in incident["description"]


GOOD_PAGE = {
    "items": [
        {
            "id": 1,
            "account": "A1A1",
            "customer_id": None,
            "site_id": None,
            "incident_id": None,
            "received_at": "2026-12-01T08:00:00+00:00",
            "panel_time": None,
            "category": "alarm",
            "format": "ADM-CID",
            "code": "130",
            "qualifier": "event",
            "description": "Burglary alarm",
            "zone": "001",
            "partition": None,
            "user": None,
        }
    ],
    "next_after": None,
}


def _broken(**changes: object) -> dict[str, object]:
    return {**GOOD_PAGE, "items": [{**GOOD_PAGE["items"][0], **changes}]}  # type: ignore[dict-item]


async def test_the_contract_check_accepts_a_good_body_and_refuses_each_kind_of_bad_one(api: Api) -> None:
    contract = api.contract
    contract.check("GET", SIGNALS, 200, GOOD_PAGE)
    bad_bodies = [
        _broken(id="1"),  # a wrong type
        _broken(category="fire"),  # not in the enum
        _broken(received_at="yesterday"),  # not a date-time
        _broken(received_at="2026-12-01T08:00:00"),  # a date-time without its offset
        {"items": GOOD_PAGE["items"]},  # next_after missing
        {key: value for key, value in GOOD_PAGE.items() if key != "items"},
    ]
    without_zone = dict(GOOD_PAGE["items"][0])  # type: ignore[call-overload]
    del without_zone["zone"]
    bad_bodies.append({"items": [without_zone], "next_after": None})
    for body in bad_bodies:
        with pytest.raises(jsonschema.ValidationError):
            contract.check("GET", SIGNALS, 200, body)
    with pytest.raises(jsonschema.ValidationError):
        contract.check("GET", SIGNALS, 400, {"error": "bad"})  # a 400 names the parameter
    with pytest.raises(AssertionError, match="does not declare"):
        contract.check("GET", SIGNALS, 404, {"error": "no"})
    with pytest.raises(AssertionError, match="no path"):
        contract.check("GET", "/api/v1/nothing", 200, {})
    # An action's detail carries only the fields the document lists: a passcode would not pass.
    action = {
        "id": 1,
        "at": "2026-12-01T08:00:00+00:00",
        "kind": "call",
        "by": None,
        "customer_visible": True,
        "detail": {"outcome": "answered", "passcode_verified": True},
    }
    contract.check_component("IncidentAction", action)
    with pytest.raises(jsonschema.ValidationError, match="passcode"):
        contract.check_component("IncidentAction", {**action, "detail": {"outcome": "answered", "passcode": "1234"}})


async def test_every_answer_through_the_client_is_counted_as_checked(
    api: Api, dispatcher_token: str, customers: tuple[Customer, Customer]
) -> None:
    before = api.contract.checked
    await api.get(SIGNALS, dispatcher_token)
    await api.get(SIGNALS, None)
    await api.get(INCIDENTS, dispatcher_token, {"status": "nope"})
    assert api.contract.checked == before + 3
