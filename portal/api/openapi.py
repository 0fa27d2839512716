"""The OpenAPI 3.1 document, generated from what each API handler declares with @operation next to @access."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web

from portal.api.bearer import API_PREFIX
from portal.auth.access import Access, Rule, rule_of

Schema = dict[str, Any]
H = TypeVar("H", bound=Callable[..., Any])
_ATTRIBUTE = "__portal_api_operation__"
_PLACEHOLDER = re.compile(r"\{([^}:]+)")
SECURITY_SCHEME = "bearerAuth"


@dataclass(frozen=True, slots=True)
class Component:
    """A schema with a name: listed once under components/schemas and referenced wherever it is used."""

    name: str
    schema: Schema


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: Literal["path", "query"]
    schema: Schema
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """One possible answer of an operation: what it means, and the JSON it carries."""

    description: str
    schema: Schema | Component | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    responses: Mapping[int, Reply]
    parameters: tuple[Parameter, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()


ERROR = Component(
    "Error",
    {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong, for a person to read."}},
    },
)


def path_parameter(name: str, schema: Schema, description: str) -> Parameter:
    return Parameter(name, "path", schema, description, required=True)


def query_parameter(name: str, schema: Schema, description: str, *, required: bool = False) -> Parameter:
    return Parameter(name, "query", schema, description, required=required)


def operation(
    summary: str,
    *,
    responses: Mapping[int, Reply],
    parameters: tuple[Parameter, ...] = (),
    description: str = "",
    tags: tuple[str, ...] = (),
) -> Callable[[H], H]:
    """Declare what an API handler does, takes and answers; the OpenAPI document is built from these."""
    declared = Operation(summary, dict(responses), parameters, description, tags)

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, declared)
        return handler

    return mark


def operation_of(handler: object) -> Operation | None:
    declared = getattr(handler, _ATTRIBUTE, None)
    return declared if isinstance(declared, Operation) else None


def _api_routes(app: web.Application) -> Iterator[web.AbstractRoute]:
    for route in app.router.routes():
        resource = route.resource
        if resource is not None and resource.canonical.startswith(API_PREFIX) and route.method != "HEAD":
            yield route


def check_api_routes_declare_operations(app: web.Application) -> None:
    """At startup: every /api/ route declares its operation, with exactly the path parameters its path has."""
    for route in _api_routes(app):
        path = route.resource.canonical if route.resource else ""
        declared = operation_of(route.handler)
        if declared is None:
            raise RuntimeError(f"API route {route.method} {path} declares no operation (@operation)")
        in_path = set(_PLACEHOLDER.findall(path))
        in_declaration = {p.name for p in declared.parameters if p.location == "path"}
        if in_path != in_declaration:
            raise RuntimeError(
                f"API route {route.method} {path} declares path parameters {sorted(in_declaration)}, "
                f"its path has {sorted(in_path)}"
            )


def _schema(schema: Any, components: dict[str, Schema]) -> Any:
    """`schema` with every Component in it (at any depth) replaced by a $ref, and the Component listed once."""
    if isinstance(schema, Component):
        known = components.get(schema.name)
        if known is None:
            components[schema.name] = {}  # claimed first: a schema that refers to itself stops here
            components[schema.name] = _schema(schema.schema, components)
        return {"$ref": f"#/components/schemas/{schema.name}"}
    if isinstance(schema, dict):
        return {key: _schema(value, components) for key, value in schema.items()}
    if isinstance(schema, list | tuple):
        return [_schema(value, components) for value in schema]
    return schema


def _responses(declared: Operation, rule: Rule, components: dict[str, Schema]) -> dict[str, Any]:
    replies = dict(declared.responses)
    if rule.access is not Access.PUBLIC:  # what the bearer check and the access rule answer, for every route
        replies.setdefault(401, Reply("No bearer token, or one that is unknown or revoked.", ERROR))
        replies.setdefault(403, Reply(f"The token's role does not allow this: it is for {rule.access.value}.", ERROR))
    answers: dict[str, Any] = {}
    for status, reply in sorted(replies.items()):
        answer: dict[str, Any] = {"description": reply.description}
        if reply.schema is not None:
            answer["content"] = {"application/json": {"schema": _schema(reply.schema, components)}}
        answers[str(status)] = answer
    return answers


def _operation(route: web.AbstractRoute, declared: Operation, components: dict[str, Schema]) -> dict[str, Any]:
    rule = rule_of(route.handler) or Rule(Access.ADMIN)  # check_routes_declare_access has ensured there is one
    document: dict[str, Any] = {
        "operationId": route.name or route.handler.__name__,
        "summary": declared.summary,
        "responses": _responses(declared, rule, components),
    }
    access_note = f"Access: {rule.access.value}."
    document["description"] = f"{declared.description}\n\n{access_note}" if declared.description else access_note
    if declared.tags:
        document["tags"] = list(declared.tags)
    if declared.parameters:
        document["parameters"] = [
            {
                "name": p.name,
                "in": p.location,
                "required": p.required,
                "description": p.description,
                "schema": _schema(p.schema, components),
                # An optional query parameter sent empty (`?limit=`, as a form with a blank field sends it) counts
                # as left out (portal/api/paging.py): the document says so, for clients and schema-driven tests.
                **({"allowEmptyValue": True} if p.location == "query" and not p.required else {}),
            }
            for p in declared.parameters
        ]
    if rule.access is Access.PUBLIC:
        document["security"] = []
    return document


def openapi_document(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every /api/ route, from the routes' own declarations."""
    check_api_routes_declare_operations(app)
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Schema] = {}
    for route in _api_routes(app):
        declared = operation_of(route.handler)
        assert declared is not None and route.resource is not None  # checked above
        paths.setdefault(route.resource.canonical, {})[route.method.lower()] = _operation(route, declared, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "alarmhub's JSON API. Every request carries `Authorization: Bearer <token>`; tokens are made with "
                "`alarmhub admin create-api-token --name N --role dispatcher|admin` and revoked with "
                "`alarmhub admin revoke-api-token --name N` or on the admin page. Session cookies are ignored here."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `alarmhub admin create-api-token`.",
                }
            },
            "schemas": dict(sorted(components.items())),
        },
        "security": [{SECURITY_SCHEME: []}],
    }
