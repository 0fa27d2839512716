"""Domain errors: raised by domain rules, turned into a page, a JSON answer or a CLI message at the edge."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the business said no; `field` names the input at fault, when there is one."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403
