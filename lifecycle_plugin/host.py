"""The host interface: what the engine needs from the store it runs in.

Two hosts implement it: the Saleor host (`lifecycle_plugin.saleor.host`) in
production and the sandbox host (`lifecycle_plugin.sandbox.host`) for demos,
development and tests. The host-contract tests in `tests/contract/` run against
both, so the engine cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from .rules import CustomerFacts


def normalise_email(email: str) -> str:
    """The customer key: hosts match history by user or by case-insensitive e-mail."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Who a customer is: their normalised e-mail, and their account id if they have one."""

    email: str
    user_id: int | None = None

    @classmethod
    def of(cls, email: str, user_id: int | None = None) -> CustomerRef:
        return cls(normalise_email(email), user_id)


@dataclass(frozen=True, slots=True)
class Projection:
    """The read-only copy of a decision that the host shows storefronts and staff."""

    customer: CustomerRef
    stage: str
    tier: str | None
    profile: Mapping[str, Any]  # JSON summary kept in private metadata


@dataclass(frozen=True, slots=True)
class VoucherRequest:
    customer: CustomerRef
    channel: str
    discount_type: str  # "percentage" or "fixed"
    value: Decimal
    valid_until: datetime
    name: str
    currency: str | None = None  # required for fixed amounts


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    code: str
    voucher_id: str
    channel: str
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Message:
    customer: CustomerRef
    action: str
    subject: str
    text: str
    html: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    channel: str  # "email", "notify", "outbox", ...
    reference: str = ""


@runtime_checkable
class Host(Protocol):
    """The small surface a store offers the engine. Every read is set-based."""

    name: str

    def customer_chunks(self, chunk_size: int, start_after: str | None = None) -> Iterator[list[CustomerRef]]:
        """Every customer (accounts and guest e-mails), ordered by e-mail, in chunks.

        `start_after` resumes after that e-mail, so a backfill can continue where it stopped.
        """
        ...

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """Facts for many customers with a constant number of queries.

        Orders are matched by account or by case-insensitive e-mail, so guest orders
        placed before sign-up count. The result has an entry for every customer asked.
        """
        ...

    def write_projection(self, projections: Sequence[Projection]) -> None:
        """Show the decisions to storefronts and staff (Saleor: user metadata)."""
        ...

    def issue_voucher(self, request: VoucherRequest) -> IssuedVoucher:
        """Create a personal, single-use voucher with a code that cannot be guessed."""
        ...

    def deliver_message(self, message: Message) -> DeliveryReceipt:
        """Hand a message to the customer (or to an outbox the store owner reads)."""
        ...
