"""The API's contract, checked on every answer the tests receive: the body must match the schema that the served
OpenAPI document declares for the operation and the status (an undeclared status fails too), every answer is
JSON and carries an X-Request-ID."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from multidict import CIMultiDictProxy
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:alarmhub:openapi"
_PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _pattern(template: str) -> re.Pattern[str]:
    """A path template of the document as a pattern that a concrete path matches."""
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in _PLACEHOLDER.split(template)) + "$")


def _date_time(value: object) -> bool:
    """RFC 3339 as the API writes it: an ISO 8601 date and time with its offset."""
    if not isinstance(value, str):
        return True  # a format applies to strings only; the type keyword judges the rest
    return datetime.fromisoformat(value).tzinfo is not None  # ValueError: not a date and time at all


@dataclass
class Contract:
    """The served document, and how many answers it has judged (so a test can prove it judged some)."""

    document: Mapping[str, Any]
    checked: int = 0
    _registry: Registry[Any] = field(init=False)
    _templates: list[tuple[re.Pattern[str], str]] = field(init=False)

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._templates = [(_pattern(path), path) for path in self.document["paths"]]

    def operation_path(self, path: str) -> str:
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        assert matches, f"{path} is no path of the OpenAPI document"
        return min(matches, key=lambda template: template.count("{"))  # a literal path wins over a template

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        """Raise (AssertionError or jsonschema's ValidationError) unless `body` is what the document promises."""
        template = self.operation_path(path)
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI document"
        reply = operation["responses"].get(str(status))
        assert reply is not None, f"{method} {path} answered {status}, which its operation does not declare"
        assert "application/json" in reply.get("content", {}), f"{method} {template} {status} declares no JSON"
        pointer = _pointer("paths", template, method.lower(), "responses", str(status), "content", "application/json")
        self._validator(f"{pointer}/schema").validate(body)
        self.checked += 1

    def check_component(self, name: str, value: Any) -> None:
        """Raise unless `value` matches the document's component schema `name`."""
        self._validator(_pointer("components", "schemas", name)).validate(value)

    def _validator(self, pointer: str) -> Draft202012Validator:
        checker = FormatChecker()
        checker.checks("date-time", raises=ValueError)(_date_time)
        return Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=self._registry, format_checker=checker
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]


class Api:
    """A client of the API whose every answer is checked against the contract before a test sees it."""

    def __init__(self, client: TestClient[Any, Any], contract: Contract) -> None:
        self.client = client
        self.contract = contract

    async def get(
        self,
        path: str,
        token: str | None = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        *,
        query: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """GET `path` with `params` (encoded), or with `query` sent as it is written; `token` as the bearer."""
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        url = f"{path}?{query}" if query is not None else path
        response = await self.client.get(url, params=params, headers=sent, allow_redirects=False)
        assert response.content_type == "application/json", (path, response.status, response.content_type)
        assert response.headers.get("X-Request-ID"), (path, response.status)
        body = await response.json()
        self.contract.check("GET", path, response.status, body)
        return Answer(response.status, body, response.headers)
