"""The served OpenAPI document, run as a property against the live API: schemathesis makes requests from each
operation's parameter schemas (valid ones, and ones the document says are invalid), with a live token of either
staff role or none; no answer may be a 5xx, and every answer must be what the document declares for its operation
and status (tests/portal/api/contract.py judges it, as it does every other API test's answers).

Besides the contract, schemathesis's own checks run on each answer (a request the document calls invalid must
be refused, one without a token must not be let in, the declared statuses and content types, …) except "positive
data acceptance": a schema-valid `after` that this server did not sign is a 400 by design (the cursor is opaque);
and a value the API trims (" 50 ", a blank one read as none) is not "invalid data accepted".

The server is the tests' aiohttp TestServer on its loop; schemathesis and hypothesis run in a thread beside it and
reach it over HTTP, as any client would."""

from __future__ import annotations

import asyncio
import json
import re
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.portal.api.contract import Api
from tests.portal.api.rows import store
from tests.portal.conftest import Customer
from tests.portal.outcomes.incidents import make_incident

EXAMPLES_PER_OPERATION = 120
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")


def placeholders(path: str) -> list[str]:
    return _PLACEHOLDER.findall(path)


@dataclass
class Findings:
    """What the run saw: every failure (all of them, not only the first), and how many answers were judged."""

    failures: list[str] = field(default_factory=list)
    judged: int = 0
    statuses: dict[str, set[int]] = field(default_factory=dict)


async def data_worth_paging(db: asyncpg.Pool, alpha: Customer, beta: Customer) -> dict[str, str]:
    """Incidents open and closed, signals of enrolled and unknown accounts: pages and details with something in
    them, so the 200 schemas are checked on real rows and not on empty lists only. Returns a real value for each
    path parameter, which the run sends besides generated ones (a random account is found by chance never)."""
    async with db.acquire() as connection:
        closed = await make_incident(connection, alpha)
        await make_incident(connection, beta, closed=False)
        for category in ("alarm", "trouble", "power", "test"):
            await store(connection, alpha.account, customer=alpha, category=category)
        await store(connection, "FFF999", description="Unknown account alarm")
    return {"account": alpha.account, "id": str(closed)}


@dataclass(frozen=True)
class Request:
    method: str
    template: str
    path: str
    query: dict[str, Any]
    who: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} query={self.query!r} as {self.who}"


def judge(api: Api, findings: Findings, request: Request, status: int, content_type: str, content: bytes) -> None:
    """One answer: no 5xx, JSON, and what the document declares for the operation and the status."""
    said = f"{request}: {status}"
    findings.statuses.setdefault(request.template, set()).add(status)
    if status >= 500:
        findings.failures.append(f"{said}: a server error: {content[:200]!r}")
        return
    if content_type.split(";", maxsplit=1)[0].strip() != "application/json":
        findings.failures.append(f"{said}: not JSON ({content_type})")
        return
    try:
        api.contract.check(request.method, request.path, status, json.loads(content))
    except Exception as error:  # the contract's AssertionError, or jsonschema's ValidationError
        findings.failures.append(f"{said}: breaks the document: {str(error).splitlines()[0]}")
        return
    findings.judged += 1


def with_empty_values_allowed(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the API behaves (and GET /api/v1/signals says in words): an optional query parameter sent
    empty counts as left out, and the served document says so (allowEmptyValue, checked below); kept so that the
    property run does not depend on it."""
    copy = deepcopy(document)
    for item in copy["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter["required"]:
                    parameter["allowEmptyValue"] = True
    return copy


def trimmed(query: dict[str, Any] | None) -> bool:
    """Whether the API trims a value of `query` (portal/api/paging.py single_values) before it reads it."""
    return any(isinstance(value, str) and value != value.strip() for value in (query or {}).values())


def first_line(failure: Failure) -> str:
    return str(failure).strip().splitlines()[0]


def fuzz(api: Api, base_url: str, tokens: dict[str, str], real: dict[str, str], findings: Findings) -> list[str]:
    """Every operation of the document, up to EXAMPLES_PER_OPERATION requests each; the operations run."""
    schema = schemathesis.openapi.from_dict(with_empty_values_allowed(api.contract.document))
    session = requests.Session()
    run = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ]
        if names := placeholders(operation.path):
            known = {name: real[name] for name in names}
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=known))
        cases = st.one_of(strategies)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests every run: a finding is reproduced, never a flake
            phases=[Phase.explicit, Phase.generate],  # every failure is collected, none shrunk away
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, who=st.sampled_from(sorted(tokens)))
        def requests_to(case: Any, who: str) -> None:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
            response = case.call(base_url=base_url, session=session, headers=headers, allow_redirects=False)
            request = Request(case.method, case.path, case.formatted_path, dict(case.query or {}), who)
            content_type = ", ".join(response.headers.get("content-type", []))
            judge(api, findings, request, response.status_code, content_type, response.content)
            try:  # schemathesis's own checks besides: invalid data refused, the token really required, …
                case.validate_response(response, excluded_checks=[positive_data_acceptance])
            except (Failure, FailureGroup) as failed:
                failures = list(failed.exceptions) if isinstance(failed, FailureGroup) else [failed]
                if trimmed(case.query):  # the API reads " 50 " as 50 and a blank value as none, as its forms do
                    failures = [f for f in failures if not isinstance(f, AcceptedNegativeData)]
                findings.failures += [
                    f"{request}: {response.status_code}: schemathesis: {first_line(f)}" for f in failures
                ]

        requests_to()
        run.append(f"{operation.method.upper()} {operation.path}")
    session.close()
    return run


async def test_every_request_the_document_allows_or_forbids_gets_a_documented_answer_and_never_a_5xx(
    api: Api,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    dispatcher_token: str,
    admin_token: str,
) -> None:
    real = await data_worth_paging(db, *customers)
    tokens = {"dispatcher": dispatcher_token, "admin": admin_token, "nobody": ""}
    findings = Findings()
    base_url = str(api.client.make_url("")).rstrip("/")
    run = await asyncio.get_running_loop().run_in_executor(None, fuzz, api, base_url, tokens, real, findings)
    assert not findings.failures, f"{len(findings.failures)} answers failed:\n  " + "\n  ".join(
        sorted(set(findings.failures))
    )
    assert set(run) == {
        f"{method.upper()} {path}" for path, item in api.contract.document["paths"].items() for method in item
    }
    assert len(run) >= 5 and findings.judged >= (len(run) - 1) * EXAMPLES_PER_OPERATION * 0.9, (run, findings.judged)
    # Not every request was refused: valid ones reached the handlers and were answered 200, invalid ones 400.
    assert all(200 in statuses for statuses in findings.statuses.values()), findings.statuses
    assert 400 in findings.statuses["/api/v1/signals"] and 401 in findings.statuses["/api/v1/signals"]


@pytest.mark.parametrize("status", [500, 502])
def test_the_judge_reports_a_server_error_and_an_answer_outside_the_document(api: Api, status: int) -> None:
    """The property above could pass by judging nothing: a 5xx, a body or a status the document does not declare,
    and an answer that is not JSON are each a finding; a good answer is judged and counted."""

    request = Request("GET", "/api/v1/signals", "/api/v1/signals", {}, "admin")
    json_type = "application/json; charset=utf-8"
    findings = Findings()
    judge(api, findings, request, status, json_type, b'{"error": "boom"}')
    judge(api, findings, request, 200, json_type, b'{"items": "not a list", "next_after": null}')
    judge(api, findings, request, 404, json_type, b'{"error": "undocumented status"}')
    judge(api, findings, request, 200, "text/html", b"<p>a page</p>")
    judge(api, findings, request, 200, json_type, b'{"items": [], "next_after": null}')
    assert len(findings.failures) == 4 and findings.judged == 1, findings.failures


def test_the_document_declares_that_an_empty_query_parameter_counts_as_left_out(api: Api) -> None:
    undeclared = [
        f"{path} {parameter['name']}"
        for path, item in api.contract.document["paths"].items()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and not parameter["required"] and parameter.get("allowEmptyValue") is not True
    ]
    assert not undeclared, undeclared
