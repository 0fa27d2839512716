"""Form handling: read the posted fields, and on a domain error show the form again with the error by its field."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from portal.render import render
from shared.errors import DomainError

FormHandler = Callable[[web.Request, "Form"], Awaitable[web.StreamResponse]]
ContextLoader = Callable[[web.Request], Awaitable[dict[str, Any]]]
# Substrings of field names whose values a re-shown form leaves empty (a routing number may be shown again).
_NEVER_ECHOED = (
    "password",
    "csrf_token",
    "dc09_key",
    "security_code",
    "proof",
    "card_number",
    "account_number",
    "card_security_code",
    "passcode",
)


class InvalidForm(DomainError):
    """Several fields are wrong at once; `errors` maps each field to what to fix."""

    status = 422

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("please correct the fields marked below", field=None)
        self.errors = dict(errors)


class Form:
    """The posted fields of one request, as trimmed strings."""

    def __init__(self, data: MultiDictProxy[Any]) -> None:
        self._data = data

    def get(self, name: str) -> str:
        value = self._data.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    def raw(self, name: str) -> str:
        """Untrimmed, for passwords: spaces in a password are part of it."""
        value = self._data.get(name, "")
        return value if isinstance(value, str) else ""

    def all(self, name: str) -> list[str]:
        return [v for v in self._data.getall(name, []) if isinstance(v, str)]

    def echo(self) -> dict[str, str]:
        """What the form shows again after an error: everything except secrets."""
        return {
            name: value
            for name, value in self._data.items()
            if isinstance(value, str) and not any(secret in name for secret in _NEVER_ECHOED)
        }


def errors_of(error: DomainError) -> dict[str, str]:
    if isinstance(error, InvalidForm):
        return error.errors
    return {error.field or "form": error.message}


class FieldErrors:
    """Runs several checks and gathers what each refused, so the form shows every wrong field at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    @contextlib.contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except DomainError as error:
            self.errors.update(errors_of(error))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidForm(self.errors)


def form_view(template: str, context: ContextLoader | None = None) -> Callable[[FormHandler], Any]:
    """Wrap a POST handler: it gets the Form; a DomainError re-renders `template` with errors next to fields."""

    def wrap(handler: FormHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            form = Form(await request.post())
            try:
                return await handler(request, form)
            except DomainError as error:
                extra = await context(request) if context is not None else {}
                page = {**extra, "form": form.echo(), "errors": errors_of(error)}
                return await render(request, template, page, status=error.status)

        return wrapper

    return wrap


def redirect(location: str) -> web.HTTPSeeOther:
    """After a successful POST: see the result with a GET (refresh never re-submits)."""
    return web.HTTPSeeOther(location)
