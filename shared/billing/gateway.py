"""The payment gateway interface: what the billing code asks of any gateway, its values and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from shared.errors import DomainError

if TYPE_CHECKING:
    from shared.config import Config
    from shared.db import Pool

MethodKind = Literal["card", "bank_account"]
AccountType = Literal["checking", "savings"]
ChargeStatus = Literal["succeeded", "declined", "failed"]

SANDBOX_LABEL = "Sandbox — no real money"


class GatewayTimeout(Exception):
    """No answer in time: the outcome is unknown. Look the charge up later by its key; never charge again."""


class GatewayUnavailable(Exception):
    """The gateway could not be reached (or the answer was lost): treat like a timeout."""


class GatewayError(Exception):
    """The gateway refused a request as malformed (a reused idempotency key, a refund above the charge, ...)."""


class TokeniseRefused(DomainError):
    """The gateway would not take these card or bank details; `field` names the form field at fault."""


def mask_number(number: str) -> str:
    """What may be shown of a card or account number: its last four digits, and only when it is long enough."""
    digits = "".join(character for character in number if character.isdigit())
    # A short input (a typo, a routing number in the wrong field) would be mostly revealed by its last four.
    return f"•••• {digits[-4:]}" if len(digits) >= 8 else "••••"


@dataclass(frozen=True, repr=False)
class CardDetails:
    """A card as typed by its holder; lives only on the way to the gateway (never stored, logged or echoed)."""

    number: str
    exp_month: int
    exp_year: int
    security_code: str
    holder_name: str
    billing_address: str

    def __repr__(self) -> str:
        # Whatever ends up printing this (a traceback's locals, a debug log) must never show the number or code.
        return (
            f"CardDetails(number={mask_number(self.number)!r}, exp_month={self.exp_month!r}, "
            f"exp_year={self.exp_year!r}, security_code='•••', holder_name={self.holder_name!r}, "
            f"billing_address={self.billing_address!r})"
        )


@dataclass(frozen=True, repr=False)
class BankAccountDetails:
    """A bank account as typed by its holder; the account number is never stored, logged or echoed."""

    routing_number: str
    account_number: str
    account_type: AccountType
    holder_name: str
    billing_address: str

    def __repr__(self) -> str:
        return (
            f"BankAccountDetails(routing_number={self.routing_number!r}, "
            f"account_number={mask_number(self.account_number)!r}, account_type={self.account_type!r}, "
            f"holder_name={self.holder_name!r}, billing_address={self.billing_address!r})"
        )


@dataclass(frozen=True)
class Tokenised:
    """What the gateway gives back for card or bank details: a token to charge, and what a person recognises."""

    token: str
    kind: MethodKind
    brand: str  # Visa, Mastercard, ... or the bank's name
    last4: str
    exp_month: int | None
    exp_year: int | None


@dataclass(frozen=True)
class Charge:
    """The outcome of one charge, as the gateway recorded it under its idempotency key."""

    id: str
    idempotency_key: str
    amount: Decimal
    status: ChargeStatus
    failure_code: str
    failure_message: str  # for the customer: says what happened and what to do, never a card number


@dataclass(frozen=True)
class RefundResult:
    id: str
    charge_id: str
    amount: Decimal


class PaymentGateway(Protocol):
    """A payment gateway. Charges and refunds are idempotent by key: the same key never moves money twice."""

    name: str  # stored in payment_methods.gateway
    is_sandbox: bool
    label: str  # shown wherever a customer pays when is_sandbox

    async def tokenise_card(self, card: CardDetails) -> Tokenised:
        """A token for the card; TokeniseRefused when the gateway will not take it."""
        ...

    async def tokenise_bank_account(self, account: BankAccountDetails) -> Tokenised:
        """A token for the bank account; TokeniseRefused when the gateway will not take it."""
        ...

    async def charge(self, token: str, amount: Decimal, *, idempotency_key: str, description: str) -> Charge:
        """Charge once per key: a repeated key answers the first charge's outcome.

        Raises GatewayTimeout / GatewayUnavailable when the outcome is unknown (find_charge tells it later), and
        GatewayError when the key was used before for another amount or token.
        """
        ...

    async def refund(self, charge_id: str, amount: Decimal, *, idempotency_key: str) -> RefundResult:
        """Refund part or all of a succeeded charge, once per key; GatewayError above what is left to refund."""
        ...

    async def find_charge(self, idempotency_key: str) -> Charge | None:
        """The charge made under this key, or None when no charge was made."""
        ...


def gateway_from_config(config: Config, pool: Pool) -> PaymentGateway:
    """The gateway `billing.gateway` names, built on the pool (the sandbox keeps its records in the database)."""
    name = config["billing.gateway"]
    if name == "sandbox":
        from shared.billing.sandbox import SandboxGateway

        return SandboxGateway(pool, timeout=float(config["billing.gateway_timeout"]))
    raise ValueError(f"unknown payment gateway {name!r}")  # config's parser allows only the names above
